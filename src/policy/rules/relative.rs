//! `relative`: replace values by their difference to the activity's minimum (e.g. altitude
//! above the activity's lowest point): the profile (ascent) stays, the absolute level, which
//! narrows down the place (Meteriz 2020), goes. ISO/IEC 20889 generalization (shift).
//!
//! ```toml
//! [[tables.records.rules]]
//! rule = "relative"
//! columns = ["altitude_m"]
//! ```

use serde::Serialize;

use super::RuleDef;
use crate::policy::PolicyError;
use crate::policy::TablePolicy;
use crate::policy::compile::ident;
use crate::policy::params::Type;
use crate::policy::validate::RuleInput;

/// Replace values by their difference to the activity's minimum (same unit as the column).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Relative {
    /// Numeric columns.
    pub columns: Vec<String>,
}

impl RuleDef for Relative {
    const PARAMS: &'static [(&'static str, Type)] = &[("columns", Type::Columns)];
    const WINDOW_OR_GROUPING: bool = true;

    fn validate(r: &RuleInput<'_>) -> Result<Self, PolicyError> {
        if !r.table.is_canonical() {
            return Err(r.needs(
                "rule",
                "rule 'relative' applies to the activity tables (values relative to each activity's minimum)",
            ));
        }
        Ok(Relative {
            columns: r.columns(&|t| t.is_numeric(), "a number")?,
        })
    }

    fn columns(&self) -> Vec<&str> {
        self.columns.iter().map(String::as_str).collect()
    }

    fn expr(&self, _table: &TablePolicy, col: &str) -> String {
        format!(
            "{c} - min({c}) OVER (PARTITION BY \"activity_id\")",
            c = ident(col)
        )
    }
}
