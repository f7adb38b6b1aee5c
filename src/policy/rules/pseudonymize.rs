//! `pseudonymize`: replace identifiers by keyed pseudonyms, through the SQL function
//! `pseudonymize` ([`datamin_udfs::pseudonymize`]): lowercase hex of HMAC-SHA256 (RFC 2104,
//! FIPS 180-4) with the secret key, or with the per-purpose subkey
//! `HMAC-SHA256(key, "datamin/purpose/" ‖ purpose)`. ISO/IEC 20889 pseudonymization; GDPR
//! Art. 4(5); ENISA *Pseudonymisation techniques* (2019) recommends a keyed hash.
//!
//! ```toml
//! [[tables.records.rules]]
//! rule = "pseudonymize"
//! columns = ["activity_id"]
//! purpose = "research"   # optional: other purposes give unlinkable pseudonyms
//! ```

use serde::Serialize;

use super::RuleDef;
use crate::policy::PolicyError;
use crate::policy::TablePolicy;
use crate::policy::compile::{ident, literal};
use crate::policy::params::Type;
use crate::policy::validate::RuleInput;

/// Replace each column by its keyed HMAC-SHA256 pseudonym (64 lowercase hex characters).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pseudonymize {
    /// Columns to pseudonymize, any type (hashed as their string form).
    pub columns: Vec<String>,
    /// Optional purpose for domain separation (not empty).
    pub purpose: Option<String>,
}

impl RuleDef for Pseudonymize {
    const PARAMS: &'static [(&'static str, Type)] =
        &[("columns", Type::Columns), ("purpose", Type::Text)];
    const NEEDS_KEY: bool = true;

    fn validate(r: &RuleInput<'_>) -> Result<Self, PolicyError> {
        let columns = r.columns(&|_| true, "any type")?;
        let purpose = match r.text("purpose") {
            Some(p) if p.get_ref().trim().is_empty() => {
                return Err(r.err(p.span(), "purpose", "purpose must not be empty"));
            }
            p => p.map(|p| p.get_ref().clone()),
        };
        Ok(Pseudonymize { columns, purpose })
    }

    fn columns(&self) -> Vec<&str> {
        self.columns.iter().map(String::as_str).collect()
    }

    fn expr(&self, _table: &TablePolicy, col: &str) -> String {
        match &self.purpose {
            Some(p) => format!("pseudonymize({}, {})", ident(col), literal(p)),
            None => format!("pseudonymize({})", ident(col)),
        }
    }

    /// Pseudonyms are strings: the first (smallest) of the bucket.
    fn aggregate(&self, c: &str) -> Option<String> {
        Some(format!("min({c})"))
    }
}
