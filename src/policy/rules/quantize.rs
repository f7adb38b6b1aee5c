//! `quantize`: round numbers to the nearest multiple of `step`, through the SQL function
//! `quantize` ([`datamin_udfs::quantize`]). ISO/IEC 20889 generalization (rounding): coarsens
//! side channels such as altitude (elevation profiles locate a place, Meteriz 2020) and speed.
//!
//! ```toml
//! [[tables.records.rules]]
//! rule = "quantize"
//! columns = ["altitude_m"]
//! step = 10   # in the column's unit (here metres)
//! ```

use serde::Serialize;

use super::RuleDef;
use crate::policy::PolicyError;
use crate::policy::TablePolicy;
use crate::policy::compile::{float, ident};
use crate::policy::params::Type;
use crate::policy::validate::RuleInput;

/// Round numbers to a multiple of `step` (altitude, speed side channels).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantize {
    /// Numeric columns.
    pub columns: Vec<String>,
    /// Step, > 0, in the column's unit.
    pub step: f64,
}

impl RuleDef for Quantize {
    const PARAMS: &'static [(&'static str, Type)] =
        &[("columns", Type::Columns), ("step", Type::Number)];

    fn validate(r: &RuleInput<'_>) -> Result<Self, PolicyError> {
        let columns = r.columns(&|t| t.is_numeric(), "a number")?;
        Ok(Quantize {
            columns,
            step: r.positive("step")?,
        })
    }

    fn columns(&self) -> Vec<&str> {
        self.columns.iter().map(String::as_str).collect()
    }

    fn expr(&self, _table: &TablePolicy, col: &str) -> String {
        format!("quantize({}, {})", ident(col), float(self.step))
    }

    /// The average of the bucket (not rounded back to the column's type).
    fn aggregate(&self, c: &str) -> Option<String> {
        Some(format!("avg({c})"))
    }
}
