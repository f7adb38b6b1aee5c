//! `retention`: drop rows older than `max_age_days` before the newest value of a timestamp
//! column in the batch (event time, so a replay drops the same rows). GDPR Art. 5(1)(e)
//! storage limitation.
//!
//! ```toml
//! [[tables.records.rules]]
//! rule = "retention"
//! column = "timestamp"   # default
//! max_age_days = 30
//! ```

use serde::Serialize;

use super::RuleDef;
use crate::policy::PolicyError;
use crate::policy::compile::{RowFilter, ident};
use crate::policy::params::Type;
use crate::policy::validate::RuleInput;

/// Drop rows older than `max_age_days` before the newest value of `column` in the batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Retention {
    /// Timestamp column (event time; default `timestamp`), kept or not.
    pub column: String,
    /// Maximum age in days (> 0; compiled to whole seconds).
    pub max_age_days: f64,
}

impl RuleDef for Retention {
    const PARAMS: &'static [(&'static str, Type)] =
        &[("column", Type::Text), ("max_age_days", Type::Number)];
    const REMOVES_ROWS: bool = true;
    const WINDOW_OR_GROUPING: bool = true;

    fn validate(r: &RuleInput<'_>) -> Result<Self, PolicyError> {
        Ok(Retention {
            column: r.timestamp_column(&r.column_or("column", "timestamp"), "column")?,
            max_age_days: r.positive("max_age_days")?,
        })
    }

    /// `column >= __newest_<i> - INTERVAL '<seconds> seconds'`, with the helper
    /// `max(column) OVER () AS __newest_<i>`.
    fn row_filter(&self, i: usize) -> Option<RowFilter> {
        let h = ident(&format!("__newest_{i}"));
        let c = ident(&self.column);
        let secs = (self.max_age_days * 86_400.0).round() as i64;
        Some(RowFilter {
            helper: Some(format!("max({c}) OVER () AS {h}")),
            condition: format!("{c} >= {h} - INTERVAL '{secs} seconds'"),
        })
    }
}
