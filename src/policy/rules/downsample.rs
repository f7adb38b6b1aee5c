//! `downsample`: keep at most one record per activity per bucket (the first): per
//! `interval_s` seconds of a timestamp column (buckets aligned to the Unix epoch), or per
//! `spacing_m` metres of a cumulative distance column. Records only. ISO/IEC 20889 sampling:
//! less fine-grained tracking.
//!
//! ```toml
//! [[tables.records.rules]]
//! rule = "downsample"
//! interval_s = 10        # or: spacing_m = 50 (column default: distance_m)
//! column = "timestamp"   # default with interval_s
//! ```

use serde::Serialize;

use super::RuleDef;
use crate::policy::PolicyError;
use crate::policy::compile::{RowFilter, float, ident, time_bucket};
use crate::policy::params::Type;
use crate::policy::validate::{RuleInput, column_type};

/// Keep at most one record per activity per bucket of `column` (the first): per
/// `interval_s` seconds of a timestamp column, or per `spacing_m` metres of a cumulative
/// distance column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Downsample {
    /// Timestamp column (`interval_s`) or cumulative distance column (`spacing_m`).
    pub column: String,
    /// Bucket width (> 0): seconds for a timestamp column, metres for a distance column.
    pub width: f64,
    /// Whether `column` is a distance in metres (else a timestamp).
    pub by_distance: bool,
}

impl RuleDef for Downsample {
    const PARAMS: &'static [(&'static str, Type)] = &[
        ("column", Type::Text),
        ("interval_s", Type::Number),
        ("spacing_m", Type::Number),
    ];
    const REMOVES_ROWS: bool = true;
    const WINDOW_OR_GROUPING: bool = true;

    fn validate(r: &RuleInput<'_>) -> Result<Self, PolicyError> {
        r.records_only("")?;
        let by_distance = match (r.number("interval_s"), r.number("spacing_m")) {
            (Some(_), None) => false,
            (None, Some(_)) => true,
            _ => {
                return Err(r.needs(
                    "rule",
                    "rule 'downsample' needs exactly one of 'interval_s' (seconds) or 'spacing_m' (metres)",
                ));
            }
        };
        let col = r.column_or(
            "column",
            if by_distance {
                "distance_m"
            } else {
                "timestamp"
            },
        );
        let column = if by_distance {
            match column_type(r.schema, col.get_ref()) {
                Some(t) if t.is_numeric() => col.get_ref().clone(),
                _ => {
                    return Err(r.err(
                        col.span(),
                        "column",
                        format!(
                            "column '{}' is not a number; 'spacing_m' needs a cumulative distance column (metres)",
                            col.get_ref()
                        ),
                    ));
                }
            }
        } else {
            r.timestamp_column(&col, "column")?
        };
        let width = r.positive(if by_distance {
            "spacing_m"
        } else {
            "interval_s"
        })?;
        Ok(Downsample {
            column,
            width,
            by_distance,
        })
    }

    /// `__sample_<i> = 1`, with the helper `row_number() OVER (PARTITION BY activity, bucket
    /// ORDER BY timestamp, column) AS __sample_<i>`.
    fn row_filter(&self, i: usize) -> Option<RowFilter> {
        let h = ident(&format!("__sample_{i}"));
        let c = ident(&self.column);
        let bucket = if self.by_distance {
            format!("floor({c} / {})", float(self.width))
        } else {
            time_bucket(&c, self.width)
        };
        Some(RowFilter {
            helper: Some(format!(
                "row_number() OVER (PARTITION BY \"activity_id\", {bucket} ORDER BY \"timestamp\", {c}) AS {h}"
            )),
            condition: format!("{h} = 1"),
        })
    }
}
