//! `truncate_time`: round timestamps down to a second, minute, hour or UTC day, through the
//! SQL function `truncate_time` ([`datamin_udfs::truncate_time`]). ISO/IEC 20889
//! generalization (rounding): hides exact times, such as when someone leaves home.
//!
//! ```toml
//! [[tables.records.rules]]
//! rule = "truncate_time"
//! columns = ["timestamp"]
//! unit = "minute"   # second | minute | hour | day
//! ```

use datafusion::arrow::datatypes::DataType;
use serde::Serialize;

use super::RuleDef;
use crate::policy::PolicyError;
use crate::policy::TablePolicy;
use crate::policy::compile::{ident, literal};
use crate::policy::params::Type;
use crate::policy::validate::RuleInput;

/// Round timestamps down to `unit`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TruncateTime {
    /// Timestamp columns.
    pub columns: Vec<String>,
    /// `second`, `minute`, `hour` or `day` (UTC).
    pub unit: String,
}

impl RuleDef for TruncateTime {
    const PARAMS: &'static [(&'static str, Type)] =
        &[("columns", Type::Columns), ("unit", Type::Text)];

    fn validate(r: &RuleInput<'_>) -> Result<Self, PolicyError> {
        let columns = r.columns(&|t| matches!(t, DataType::Timestamp(..)), "a timestamp")?;
        let Some(u) = r.text("unit") else {
            return Err(r.needs(
                "unit",
                "rule 'truncate_time' needs 'unit' (second, minute, hour or day)",
            ));
        };
        if datamin_udfs::truncate_time::unit_micros(u.get_ref()).is_none() {
            return Err(r.err(
                u.span(),
                "unit",
                format!(
                    "unknown unit '{}'; expected second, minute, hour or day",
                    u.get_ref()
                ),
            ));
        }
        Ok(TruncateTime {
            columns,
            unit: u.get_ref().clone(),
        })
    }

    fn columns(&self) -> Vec<&str> {
        self.columns.iter().map(String::as_str).collect()
    }

    fn expr(&self, _table: &TablePolicy, col: &str) -> String {
        format!("truncate_time({}, {})", ident(col), literal(&self.unit))
    }
}
