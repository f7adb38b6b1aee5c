//! `aggregate`: replace the records by one summary row per activity (or per `interval_s`
//! seconds of it, buckets aligned to the Unix epoch), computed from the *minimized* values.
//! Records only (laps and sessions are summaries already). ISO/IEC 20889 aggregation
//! (micro-aggregation): no sample-level tracks or fine-grained health series.
//!
//! ```toml
//! [[tables.records.rules]]
//! rule = "aggregate"
//! interval_s = 300   # optional; without it, one row per activity
//! ```
//!
//! Each kept column is summarized by what its own rule made of it (pseudonyms, ciphertexts
//! and band labels: the first; noised and quantized numbers: the average), else by its type:
//! the maximum of the cumulative `distance_m`, the average of other numbers (integers rounded
//! back to their type), the first of timestamps and strings. A `sample_count` column is added.

use serde::Serialize;

use super::RuleDef;
use crate::policy::compile::{ident, time_bucket};
use crate::policy::params::Type;
use crate::policy::validate::{RuleInput, column_type};
use crate::policy::{PolicyError, TablePolicy};

/// Replace the records by one summary row per activity (or per `interval_s` seconds of
/// it), computed from the minimized values: averages (integers rounded, same type), the
/// maximum of `distance_m`, the first of timestamps and strings, and `sample_count`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggregate {
    /// Bucket width in seconds, > 0 (`None`: the whole activity).
    pub interval_s: Option<f64>,
}

impl RuleDef for Aggregate {
    const PARAMS: &'static [(&'static str, Type)] = &[("interval_s", Type::Number)];
    const REMOVES_ROWS: bool = true;
    const WINDOW_OR_GROUPING: bool = true;

    fn validate(r: &RuleInput<'_>) -> Result<Self, PolicyError> {
        r.records_only(" (laps and sessions are summaries already)")?;
        Ok(Aggregate {
            interval_s: match r.number("interval_s") {
                Some(_) => Some(r.positive("interval_s")?),
                None => None,
            },
        })
    }
}

impl Aggregate {
    /// The grouping keys the minimized rows get (`… AS "__activity"`, `… AS "__bucket"`).
    pub(crate) fn group_keys(&self) -> [String; 2] {
        [
            "\"activity_id\" AS \"__activity\"".into(),
            match self.interval_s {
                Some(w) => format!("{} AS \"__bucket\"", time_bucket("\"timestamp\"", w)),
                None => "0 AS \"__bucket\"".into(),
            },
        ]
    }

    /// The column the summary adds: the number of records summarized.
    pub(crate) const COUNT_COLUMN: &'static str = "sample_count";

    /// One row per activity and bucket of `sql`, the minimized rows of `t` with the
    /// [`group_keys`](Self::group_keys).
    pub(crate) fn group(&self, t: &TablePolicy, sql: &str) -> String {
        let aggs: Vec<String> = t
            .keep
            .iter()
            .map(|c| format!("{} AS {}", summary(t, c), ident(c)))
            .collect();
        format!(
            "SELECT {}, count(*) AS {}\nFROM (\n{sql}\n) AS minimized\nGROUP BY \"__activity\", \"__bucket\"",
            aggs.join(", "),
            ident(Self::COUNT_COLUMN)
        )
    }
}

/// The aggregate of kept column `col` of `t`, from its minimized value: as the rule that
/// wrote it says ([`RuleDef::aggregate`]), else the maximum of the cumulative `distance_m`,
/// the average of other numbers (integers rounded back to their type), the first of strings
/// and timestamps.
fn summary(t: &TablePolicy, col: &str) -> String {
    let c = ident(col);
    let by_rule = t
        .rules
        .iter()
        .filter(|r| r.enabled)
        .find(|r| r.kind.columns().contains(&col))
        .and_then(|r| r.kind.aggregate(&c));
    if let Some(s) = by_rule {
        return s;
    }
    match column_type(&t.raw_schema, col) {
        _ if col == "distance_m" => format!("max({c})"),
        Some(dt) if dt.is_integer() => format!("arrow_cast(round(avg({c})), '{dt}')"),
        Some(dt) if dt.is_numeric() => format!("avg({c})"),
        _ => format!("min({c})"),
    }
}
