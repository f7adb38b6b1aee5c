//! `encrypt`: reversible encryption of column values with AES-256-GCM-SIV (RFC 8452), through
//! the SQL function `encrypt` ([`datamin_udfs::encrypt`]); the key holder recovers them with
//! `datamin decrypt`. ISO/IEC 20889 deterministic encryption; GDPR Art. 32.
//!
//! ```toml
//! [[tables.activities.rules]]
//! rule = "encrypt"
//! columns = ["serial_number"]
//! deterministic = true   # default: equal values give equal ciphertexts (joinable)
//! ```

use serde::Serialize;

use super::RuleDef;
use crate::policy::PolicyError;
use crate::policy::TablePolicy;
use crate::policy::compile::{ident, literal, row_identity};
use crate::policy::params::Type;
use crate::policy::validate::RuleInput;

/// Encrypt columns with AES-256-GCM-SIV; values become `dm1:` + hex strings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Encrypt {
    /// Columns, any type (encrypted as their string form).
    pub columns: Vec<String>,
    /// `true` (default): equal values give equal ciphertexts (joinable; equality is all that
    /// leaks). `false`: the nonce comes from the cell's row identity and column name, so
    /// equal values in different rows give different ciphertexts.
    pub deterministic: bool,
}

impl RuleDef for Encrypt {
    const PARAMS: &'static [(&'static str, Type)] =
        &[("columns", Type::Columns), ("deterministic", Type::Boolean)];
    const NEEDS_KEY: bool = true;

    fn validate(r: &RuleInput<'_>) -> Result<Self, PolicyError> {
        Ok(Encrypt {
            columns: r.columns(&|_| true, "any type")?,
            deterministic: r.boolean("deterministic").is_none_or(|d| *d.get_ref()),
        })
    }

    fn columns(&self) -> Vec<&str> {
        self.columns.iter().map(String::as_str).collect()
    }

    fn expr(&self, table: &TablePolicy, col: &str) -> String {
        if self.deterministic {
            format!("encrypt({})", ident(col))
        } else {
            format!("encrypt({}, {})", ident(col), cell_seed(table, col))
        }
    }

    /// Ciphertexts are strings: the first (smallest) of the bucket.
    fn aggregate(&self, c: &str) -> Option<String> {
        Some(format!("min({c})"))
    }
}

/// The nonce seed of non-deterministic `encrypt` for a cell: the row's identity and the
/// column name joined by `|`, so nonces differ between cells and are stable across runs.
fn cell_seed(table: &TablePolicy, col: &str) -> String {
    format!("concat_ws('|', {}, {})", row_identity(table), literal(col))
}
