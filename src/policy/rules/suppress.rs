//! `suppress`: replace the values of columns by NULL, keeping the column and its type.
//! ISO/IEC 20889 local suppression. (To drop a column, leave it out of `keep`.)
//!
//! ```toml
//! [[tables.records.rules]]
//! rule = "suppress"
//! columns = ["temperature_c"]
//! ```

use serde::Serialize;

use super::RuleDef;
use crate::policy::PolicyError;
use crate::policy::TablePolicy;
use crate::policy::compile::ident;
use crate::policy::params::Type;
use crate::policy::validate::RuleInput;

/// Replace the values of columns by NULL (local suppression).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suppress {
    /// Columns, any type.
    pub columns: Vec<String>,
}

impl RuleDef for Suppress {
    const PARAMS: &'static [(&'static str, Type)] = &[("columns", Type::Columns)];

    fn validate(r: &RuleInput<'_>) -> Result<Self, PolicyError> {
        Ok(Suppress {
            columns: r.columns(&|_| true, "any type")?,
        })
    }

    fn columns(&self) -> Vec<&str> {
        self.columns.iter().map(String::as_str).collect()
    }

    /// A NULL of the column's type.
    fn expr(&self, _table: &TablePolicy, col: &str) -> String {
        format!("CASE WHEN false THEN {} END", ident(col))
    }
}
