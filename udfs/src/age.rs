//! `age_years(birth_date, at)`: completed years of age at a date, from a birth date.
//!
//! Keeping an age (then a band of it with `generalize_number`) instead of a birth date is
//! generalization (ISO/IEC 20889): a birth date with a postcode and gender singles out most
//! people (Sweeney, 2000), an age band does not. Inputs: dates, timestamps or
//! `YYYY-MM-DD` strings (cast to Date32, proleptic Gregorian calendar, UTC); output Int32
//! years. A birthday on 29 February counts as reached on 1 March in common years. `NULL` in,
//! or `at` before the birth date, gives `NULL`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{AsArray, Int32Builder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::DOC_SECTION_DATAMIN;

/// The `age_years` scalar function. See the [module docs](self).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AgeYearsFunc {
    signature: Signature,
}

impl Default for AgeYearsFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl AgeYearsFunc {
    /// Creates the function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// Civil date `(year, month, day)` of `days` since 1970-01-01 (H. Hinnant's
/// `civil_from_days`, proleptic Gregorian).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Completed years between the days `birth` and `at` (days since 1970-01-01); `None` when
/// `at` is before `birth`.
pub fn age_years(birth: i32, at: i32) -> Option<i32> {
    if at < birth {
        return None;
    }
    let (by, bm, bd) = civil_from_days(birth.into());
    let (ay, am, ad) = civil_from_days(at.into());
    let before_birthday = (am, ad) < (bm, bd);
    Some((ay - by - i64::from(before_birthday)) as i32)
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_DATAMIN,
        "Completed years of age at `at` for someone born on `birth_date` (keep an age band, \
         not the birth date).",
        "age_years(birth_date, at)",
    )
    .with_sql_example("SELECT age_years(DATE '1990-05-17', DATE '2026-05-16');")
    .with_argument("birth_date", "Date, timestamp or 'YYYY-MM-DD' string.")
    .with_argument(
        "at",
        "Date, timestamp or 'YYYY-MM-DD' string (e.g. the activity's start).",
    )
    .build()
});

impl ScalarUDFImpl for AgeYearsFunc {
    fn name(&self) -> &str {
        "age_years"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return plan_err!(
                "age_years takes 2 arguments (birth_date, at), got {}",
                arg_types.len()
            );
        }
        for t in arg_types {
            let ok = matches!(
                t,
                DataType::Date32
                    | DataType::Date64
                    | DataType::Timestamp(..)
                    | DataType::Utf8
                    | DataType::LargeUtf8
                    | DataType::Utf8View
                    | DataType::Null
            );
            if !ok {
                return plan_err!(
                    "age_years: arguments must be dates, timestamps or strings, got {t}"
                );
            }
        }
        Ok(vec![DataType::Date32, DataType::Date32])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let b = cast(&args.args[0].clone().into_array(n)?, &DataType::Date32)?;
        let a = cast(&args.args[1].clone().into_array(n)?, &DataType::Date32)?;
        let (b, a) = (
            b.as_primitive::<Date32Type>(),
            a.as_primitive::<Date32Type>(),
        );
        let mut out = Int32Builder::with_capacity(n);
        for (b, a) in b.iter().zip(a.iter()) {
            out.append_option(b.zip(a).and_then(|(b, a)| age_years(b, a)));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_589), (2026, 5, 16));
    }
}
