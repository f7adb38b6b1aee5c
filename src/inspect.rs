//! `datamin inspect`: what one activity file contains.

use std::fmt::Write as _;

use datafusion::arrow::array::Array;
use serde::Serialize;

use crate::format::{Activity, ActivityFormat, DecodeError, Quarantined, read_activity};
use crate::schema::Table;

/// Fetches and decodes the file at `location` (a local path or URL, e.g.
/// `s3://bucket/a.fit`; format from the extension, case-insensitive, through `.gz`) with
/// [`crate::format::read_activity`], and inspects it.
///
/// Returns `Ok(Ok(inspection))`, or `Ok(Err(quarantined))` when the file is not a decodable
/// FIT/TCX/GPX file (its quarantine record: URL, size, SHA-256 and reason).
///
/// # Errors
/// [`crate::Error::Location`] for a location that is not a `.fit`/`.tcx`/`.gpx` file or cannot be
/// resolved or read.
pub async fn inspect_location(location: &str) -> crate::Result<Result<Inspection, Quarantined>> {
    let loc = |message: String| crate::Error::Location {
        location: location.to_string(),
        message,
    };
    let url = crate::store::location_to_url(location)
        .map_err(|e| loc(crate::error::engine_message(&e)))?;
    let Some(format) = ActivityFormat::from_path(url.path()) else {
        return Err(loc("not a .fit, .tcx or .gpx file (optionally .gz)".into()));
    };
    let r =
        crate::store::Location::from_url(url).map_err(|e| loc(crate::error::engine_message(&e)))?;
    let decoded = match read_activity(r.store(), r.path(), r.url().as_str(), format)
        .await
        .map_err(|e| loc(crate::error::engine_message(&e)))?
    {
        Ok(d) => d,
        Err(q) => return Ok(Err(q)),
    };
    let inspection = inspect(&decoded.activity, decoded.size).map_err(|e| loc(e.to_string()))?;
    Ok(Ok(inspection))
}

/// Rows of one table and, per column, how many values are present (non-null).
#[derive(Debug, Clone, Serialize)]
pub struct TableFields {
    /// Table name.
    pub table: String,
    /// Rows.
    pub rows: usize,
    /// (column, non-null values), in schema order.
    pub present: Vec<(String, usize)>,
}

/// Summary of one decoded file.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// File URL or path.
    pub file: String,
    /// `fit`, `tcx` or `gpx`.
    pub format: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Stable activity id.
    pub activity_id: String,
    /// Message (FIT) or element (TCX) counts by type.
    pub messages: std::collections::BTreeMap<String, u64>,
    /// First and last record timestamp (RFC 3339, UTC).
    pub time_range: Option<(String, String)>,
    /// FIT file type.
    pub file_type: Option<String>,
    /// Device manufacturer.
    pub manufacturer: Option<String>,
    /// Device product.
    pub product: Option<String>,
    /// Device serial number.
    pub serial_number: Option<i64>,
    /// Per table: rows, and for each column the number of non-null values.
    pub tables: Vec<TableFields>,
    /// Decoding warnings.
    pub warnings: Vec<String>,
}

fn rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| us.to_string())
}

/// Inspects a decoded activity of `bytes` bytes.
///
/// # Errors
/// A [`DecodeError`] if the activity's batches cannot be built (a bug).
pub fn inspect(a: &Activity, bytes: u64) -> Result<Inspection, DecodeError> {
    let first = a.records.iter().find_map(|r| r.timestamp_us);
    let last = a.records.iter().rev().find_map(|r| r.timestamp_us);
    let mut tables = Vec::new();
    for t in Table::ALL {
        let b = a.to_batch(t).map_err(|e| DecodeError::Fit {
            offset: 0,
            reason: e.to_string(),
        })?;
        let cols = b
            .schema()
            .fields()
            .iter()
            .zip(b.columns())
            .map(|(f, c)| (f.name().clone(), c.len() - c.null_count()))
            .collect();
        tables.push(TableFields {
            table: t.name().to_string(),
            rows: b.num_rows(),
            present: cols,
        });
    }
    Ok(Inspection {
        file: a.source_file.clone(),
        format: a.file_format.to_string(),
        bytes,
        activity_id: a.activity_id.clone(),
        messages: a.message_counts.clone(),
        time_range: first.zip(last).map(|(a, b)| (rfc3339(a), rfc3339(b))),
        file_type: a.info.file_type.clone(),
        manufacturer: a.info.manufacturer.clone(),
        product: a.info.product.clone(),
        serial_number: a.info.serial_number,
        tables,
        warnings: a.warnings.clone(),
    })
}

impl Inspection {
    /// Human-readable report.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "file:        {} ({} bytes, {})",
            self.file, self.bytes, self.format
        );
        let _ = writeln!(s, "activity_id: {}", self.activity_id);
        let _ = writeln!(
            s,
            "device:      {} {} (serial {})",
            self.manufacturer.as_deref().unwrap_or("?"),
            self.product.as_deref().unwrap_or("?"),
            self.serial_number
                .map_or("?".to_string(), |n| n.to_string())
        );
        let _ = writeln!(
            s,
            "file type:   {}",
            self.file_type.as_deref().unwrap_or("?")
        );
        match &self.time_range {
            Some((a, b)) => {
                let _ = writeln!(s, "time range:  {a} .. {b}");
            }
            None => {
                let _ = writeln!(s, "time range:  (no timestamped records)");
            }
        }
        let _ = writeln!(s, "messages:");
        for (k, v) in &self.messages {
            let _ = writeln!(s, "  {k:<24} {v:>8}");
        }
        for TableFields {
            table: t,
            rows,
            present: cols,
        } in &self.tables
        {
            let present: Vec<String> = cols
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(c, n)| {
                    if n == rows {
                        c.clone()
                    } else {
                        format!("{c} ({n})")
                    }
                })
                .collect();
            let _ = writeln!(
                s,
                "{t}: {rows} rows; fields present: {}",
                present.join(", ")
            );
        }
        for w in &self.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        s
    }
}
