//! `generalize_number`: replace numbers by band labels with bottom and top coding
//! (`<e0`, `[a, b)`, `>=en`), through the SQL function `generalize_number`
//! ([`datamin_udfs::generalize_number`]). ISO/IEC 20889 generalization (top/bottom coding):
//! rare ages or weights no longer single someone out.
//!
//! ```toml
//! [[tables.activities.rules]]
//! rule = "generalize_number"
//! columns = ["user_age_years"]
//! edges = [18, 30, 40, 50, 65]   # "<18", "[18, 30)", …, ">=65"
//! ```

use serde::Serialize;

use super::RuleDef;
use crate::policy::PolicyError;
use crate::policy::TablePolicy;
use crate::policy::compile::{float, ident};
use crate::policy::params::Type;
use crate::policy::validate::RuleInput;

/// Replace numbers by band labels with top/bottom coding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeneralizeNumber {
    /// Numeric columns.
    pub columns: Vec<String>,
    /// Strictly increasing band edges (units of the column).
    pub edges: Vec<f64>,
}

impl RuleDef for GeneralizeNumber {
    const PARAMS: &'static [(&'static str, Type)] =
        &[("columns", Type::Columns), ("edges", Type::Numbers)];

    fn validate(r: &RuleInput<'_>) -> Result<Self, PolicyError> {
        let columns = r.columns(&|t| t.is_numeric(), "a number")?;
        let Some(e) = r.numbers("edges") else {
            return Err(r.needs(
                "edges",
                "rule 'generalize_number' needs 'edges' (increasing band edges)",
            ));
        };
        let edges = e.get_ref().clone();
        if edges.is_empty()
            || edges.iter().any(|v| !v.is_finite())
            || edges.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(r.err(
                e.span(),
                "edges",
                "edges must be a non-empty list of strictly increasing numbers",
            ));
        }
        Ok(GeneralizeNumber { columns, edges })
    }

    fn columns(&self) -> Vec<&str> {
        self.columns.iter().map(String::as_str).collect()
    }

    fn expr(&self, _table: &TablePolicy, col: &str) -> String {
        let e: Vec<String> = self.edges.iter().map(|v| float(*v)).collect();
        format!(
            "generalize_number({}, make_array({}))",
            ident(col),
            e.join(", ")
        )
    }

    /// Band labels are strings: the first (smallest) of the bucket.
    fn aggregate(&self, c: &str) -> Option<String> {
        Some(format!("min({c})"))
    }
}
