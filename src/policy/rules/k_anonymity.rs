//! `k_anonymity`: drop the rows whose combination of quasi-identifiers (output values, after
//! their own rules) occurs fewer than `k` times in the batch. k-anonymity (Sweeney 2002),
//! ISO/IEC 20889 formal model with record suppression: no re-identification by a rare
//! combination within the batch.
//!
//! ```toml
//! [[tables.activities.rules]]
//! rule = "k_anonymity"
//! columns = ["sport", "user_age_years"]   # quasi-identifiers
//! k = 5
//! ```

use serde::Serialize;

use super::RuleDef;
use crate::policy::PolicyError;
use crate::policy::compile::ident;
use crate::policy::params::Type;
use crate::policy::validate::RuleInput;

/// Drop rows whose combination of quasi-identifiers (output values) occurs fewer than
/// `k` times in the batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KAnonymity {
    /// Quasi-identifier columns (kept columns, after their own rules; `columns` in the
    /// policy).
    pub quasi_identifiers: Vec<String>,
    /// Minimum group size, >= 2.
    pub k: u64,
}

impl RuleDef for KAnonymity {
    const PARAMS: &'static [(&'static str, Type)] =
        &[("columns", Type::Columns), ("k", Type::Integer)];
    const REMOVES_ROWS: bool = true;
    const WINDOW_OR_GROUPING: bool = true;

    fn validate(r: &RuleInput<'_>) -> Result<Self, PolicyError> {
        let quasi_identifiers = r.columns(&|_| true, "any type")?;
        let Some(k) = r.integer("k") else {
            return Err(r.needs("k", "rule 'k_anonymity' needs 'k' (>= 2)"));
        };
        if *k.get_ref() < 2 {
            return Err(r.err(
                k.span(),
                "k",
                format!("k must be >= 2, got {}", k.get_ref()),
            ));
        }
        Ok(KAnonymity {
            quasi_identifiers,
            k: *k.get_ref() as u64,
        })
    }
}

impl KAnonymity {
    /// The rows of `sql` (with output columns `out_cols`, quoted) whose quasi-identifier
    /// group has at least `k` rows.
    pub(crate) fn filter_groups(&self, out_cols: &[String], sql: &str) -> String {
        let qis: Vec<String> = self.quasi_identifiers.iter().map(|c| ident(c)).collect();
        format!(
            "SELECT {cols}\nFROM (SELECT *, count(*) OVER (PARTITION BY {qis}) AS \"__group_size\" FROM (\n{sql}\n) AS minimized) AS grouped\nWHERE \"__group_size\" >= {k}",
            cols = out_cols.join(", "),
            qis = qis.join(", "),
            k = self.k
        )
    }
}
