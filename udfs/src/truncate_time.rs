//! `truncate_time(ts, unit)`: round a timestamp down to the start of its second, minute,
//! hour or day (UTC).
//!
//! Input: any Arrow `Timestamp` (it is cast to microseconds, keeping its time zone); `unit` a
//! constant, one of `'second'`, `'minute'`, `'hour'`, `'day'`. Output: the same
//! `Timestamp(µs, tz)` type; `NULL` stays `NULL`. Days are UTC days (00:00:00Z), so the
//! result does not depend on the host's time zone.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, AsArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::DOC_SECTION_DATAMIN;
use crate::util::const_str;

/// The units `truncate_time` accepts, with their length in microseconds.
pub const UNITS: [(&str, i64); 4] = [
    ("second", 1_000_000),
    ("minute", 60_000_000),
    ("hour", 3_600_000_000),
    ("day", 86_400_000_000),
];

/// Length in microseconds of `unit`, or `None` for an unknown unit.
pub fn unit_micros(unit: &str) -> Option<i64> {
    UNITS.iter().find(|(n, _)| *n == unit).map(|(_, us)| *us)
}

/// The `truncate_time` scalar function. See the [module docs](self).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TruncateTimeFunc {
    signature: Signature,
}

impl Default for TruncateTimeFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl TruncateTimeFunc {
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
        "Rounds a timestamp down to the start of its second, minute, hour or UTC day.",
        "truncate_time(ts, unit)",
    )
    .with_sql_example("SELECT truncate_time(TIMESTAMP '2024-05-01T10:17:42Z', 'hour');")
    .with_argument("ts", "Timestamp (any precision; returned in microseconds).")
    .with_argument("unit", "Constant: 'second', 'minute', 'hour' or 'day'.")
    .build()
});

impl ScalarUDFImpl for TruncateTimeFunc {
    fn name(&self) -> &str {
        "truncate_time"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return plan_err!(
                "truncate_time takes 2 arguments (ts, unit), got {}",
                arg_types.len()
            );
        }
        let ts = match &arg_types[0] {
            DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
            DataType::Null => DataType::Timestamp(TimeUnit::Microsecond, None),
            other => return plan_err!("truncate_time: ts must be a timestamp, got {other}"),
        };
        Ok(vec![ts, DataType::Utf8])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let unit = const_str("truncate_time", "unit", &args.args[1])?.unwrap_or_default();
        let Some(step) = unit_micros(&unit) else {
            return exec_err!(
                "truncate_time: unknown unit '{unit}'; expected one of 'second', 'minute', 'hour', 'day'"
            );
        };
        let n = args.number_rows;
        let input = args.args[0].clone().into_array(n)?;
        let DataType::Timestamp(_, tz) = input.data_type().clone() else {
            return exec_err!("truncate_time: ts must be a timestamp");
        };
        let ts = input.as_primitive::<TimestampMicrosecondType>();
        let out: TimestampMicrosecondArray = ts.unary(|v| v - v.rem_euclid(step));
        Ok(ColumnarValue::Array(Arc::new(out.with_timezone_opt(tz))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_ordered_and_known() {
        assert_eq!(unit_micros("hour"), Some(3_600_000_000));
        assert_eq!(unit_micros("week"), None);
        // pre-1970 values round down, not toward zero
        let v: i64 = -1;
        assert_eq!(v - v.rem_euclid(1_000_000), -1_000_000);
    }
}
