//! `quantize(value, step)`: round a number to the nearest multiple of `step`.
//!
//! Used against side channels: altitude profiles locate people (Meteriz et al., ICDCS
//! 2020), fine speed series reveal paths. Input: any number (cast to Float64); `step` a
//! positive constant in the column's unit. Output: Float64, `round(value / step) · step`
//! (half away from zero); `NULL` stays `NULL`. ISO/IEC 20889 generalization (rounding).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{AsArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::DOC_SECTION_DATAMIN;
use crate::util::const_f64;

/// The `quantize` scalar function. See the [module docs](self).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct QuantizeFunc {
    signature: Signature,
}

impl Default for QuantizeFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl QuantizeFunc {
    /// Creates the function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_DATAMIN,
        "Rounds a number to the nearest multiple of `step` (e.g. altitude to 10 m, speed to 0.5 m/s).",
        "quantize(value, step)",
    )
    .with_sql_example("SELECT quantize(123.4, 10);")
    .with_argument("value", "The number.")
    .with_argument("step", "Constant step > 0, in the unit of the value.")
    .build()
});

impl ScalarUDFImpl for QuantizeFunc {
    fn name(&self) -> &str {
        "quantize"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return plan_err!(
                "quantize takes 2 arguments (value, step), got {}",
                arg_types.len()
            );
        }
        for t in arg_types {
            if !t.is_numeric() && !t.is_null() {
                return plan_err!("quantize: arguments must be numbers, got {t}");
            }
        }
        Ok(vec![DataType::Float64; 2])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let step = match const_f64("quantize", "step", &args.args[1])? {
            Some(s) if s.is_finite() && s > 0.0 => s,
            other => return exec_err!("quantize: step must be a positive number, got {other:?}"),
        };
        let v = args.args[0].clone().into_array(args.number_rows)?;
        let out: Float64Array = v
            .as_primitive::<Float64Type>()
            .unary(|x| (x / step).round() * step);
        Ok(ColumnarValue::Array(Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
