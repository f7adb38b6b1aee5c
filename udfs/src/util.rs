//! Helpers shared by the functions: reading constant arguments.

use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::ColumnarValue;

/// Returns the constant Float64 value of argument `idx` of `func`, or an error when the
/// argument is not a constant (the parameter must be the same for every row).
pub(crate) fn const_f64(func: &str, name: &str, arg: &ColumnarValue) -> Result<Option<f64>> {
    match arg {
        ColumnarValue::Scalar(s) => {
            match s.cast_to(&datafusion::arrow::datatypes::DataType::Float64)? {
                ScalarValue::Float64(v) => Ok(v),
                other => exec_err!("{func}: `{name}` must be a number, got {other:?}"),
            }
        }
        ColumnarValue::Array(_) => {
            plan_err!("{func}: `{name}` must be a constant, not a column")
        }
    }
}

/// Returns the constant string value of an argument.
pub(crate) fn const_str(func: &str, name: &str, arg: &ColumnarValue) -> Result<Option<String>> {
    match arg {
        ColumnarValue::Scalar(s) => match s {
            ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => {
                Ok(v.clone())
            }
            other => exec_err!("{func}: `{name}` must be a string, got {other:?}"),
        },
        ColumnarValue::Array(_) => {
            plan_err!("{func}: `{name}` must be a constant, not a column")
        }
    }
}
