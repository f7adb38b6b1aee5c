//! Row structs that decoders fill, and their conversion into canonical Arrow batches.
//!
//! Decoders push plain Rust rows; [`Activity::to_batches`] turns them into one
//! [`RecordBatch`] per [`Table`], with the schemas of [`crate::schema`].

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int16Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::error::ArrowError;

use crate::schema::Table;

/// One sample (FIT `record`, TCX `Trackpoint`). Units as in [`crate::schema::records_schema`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordRow {
    /// Microseconds since the Unix epoch, UTC.
    pub timestamp_us: Option<i64>,
    /// Degrees.
    pub position_lat: Option<f64>,
    /// Degrees.
    pub position_long: Option<f64>,
    /// Metres.
    pub altitude_m: Option<f64>,
    /// Metres, cumulative from the start of the activity.
    pub distance_m: Option<f64>,
    /// Metres per second.
    pub speed_m_s: Option<f64>,
    /// Beats per minute.
    pub heart_rate_bpm: Option<i16>,
    /// Revolutions (or strides) per minute.
    pub cadence_rpm: Option<i16>,
    /// Watts.
    pub power_w: Option<i32>,
    /// Degrees Celsius.
    pub temperature_c: Option<i16>,
}

/// One lap or session. Units as in [`crate::schema::laps_schema`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SummaryRow {
    /// 0-based order in the file.
    pub message_index: i32,
    /// Sport name (FIT `sport` enum name or TCX `Sport` attribute).
    pub sport: Option<String>,
    /// FIT `sub_sport` enum name.
    pub sub_sport: Option<String>,
    /// µs since the epoch, UTC.
    pub start_time_us: Option<i64>,
    /// µs since the epoch, UTC.
    pub end_time_us: Option<i64>,
    /// Degrees.
    pub start_position_lat: Option<f64>,
    /// Degrees.
    pub start_position_long: Option<f64>,
    /// Degrees.
    pub end_position_lat: Option<f64>,
    /// Degrees.
    pub end_position_long: Option<f64>,
    /// Degrees.
    pub nec_lat: Option<f64>,
    /// Degrees.
    pub nec_long: Option<f64>,
    /// Degrees.
    pub swc_lat: Option<f64>,
    /// Degrees.
    pub swc_long: Option<f64>,
    /// Seconds.
    pub total_elapsed_time_s: Option<f64>,
    /// Seconds.
    pub total_timer_time_s: Option<f64>,
    /// Metres.
    pub total_distance_m: Option<f64>,
    /// Metres.
    pub total_ascent_m: Option<f64>,
    /// Metres.
    pub total_descent_m: Option<f64>,
    /// bpm.
    pub avg_heart_rate_bpm: Option<i16>,
    /// bpm.
    pub max_heart_rate_bpm: Option<i16>,
    /// m/s.
    pub avg_speed_m_s: Option<f64>,
    /// m/s.
    pub max_speed_m_s: Option<f64>,
    /// kcal.
    pub total_calories_kcal: Option<i32>,
}

/// The per-file row of `activities`. Units as in [`crate::schema::activities_schema`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivityRow {
    /// FIT `file_id.type` enum name.
    pub file_type: Option<String>,
    /// FIT `file_id.manufacturer` enum name.
    pub manufacturer: Option<String>,
    /// Product name or number.
    pub product: Option<String>,
    /// Device serial number.
    pub serial_number: Option<i64>,
    /// µs since the epoch, UTC.
    pub time_created_us: Option<i64>,
    /// Firmware or software version.
    pub software_version: Option<String>,
    /// User's name as stored on the device.
    pub user_friendly_name: Option<String>,
    /// `male` / `female`.
    pub user_gender: Option<String>,
    /// Years.
    pub user_age_years: Option<i16>,
    /// Metres.
    pub user_height_m: Option<f64>,
    /// Kilograms.
    pub user_weight_kg: Option<f64>,
    /// bpm.
    pub user_resting_heart_rate_bpm: Option<i16>,
}

/// Everything decoded from one file.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    /// Stable id derived from the file content (see [`super::activity_id`]).
    pub activity_id: String,
    /// Location of the file.
    pub source_file: String,
    /// `fit` or `tcx`.
    pub file_format: &'static str,
    /// Samples in file order.
    pub records: Vec<RecordRow>,
    /// Laps in file order.
    pub laps: Vec<SummaryRow>,
    /// Sessions in file order.
    pub sessions: Vec<SummaryRow>,
    /// File-level fields.
    pub info: ActivityRow,
    /// Problems that did not stop decoding (e.g. a CRC mismatch that lenient decoding
    /// accepted), for the run summary.
    pub warnings: Vec<String>,
    /// Count of decoded messages by FIT message name (or TCX element), for `inspect`.
    pub message_counts: std::collections::BTreeMap<String, u64>,
}

fn strs(n: usize, v: &str) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(std::iter::repeat_n(v, n)))
}

macro_rules! col {
    ($arr:ty, $rows:expr, $f:ident) => {
        Arc::new(<$arr>::from_iter($rows.iter().map(|r| r.$f.clone()))) as ArrayRef
    };
}

fn ts<I: IntoIterator<Item = Option<i64>>>(it: I) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter(it).with_timezone("UTC"))
}

impl Activity {
    /// Builds the batch of `table` for this file.
    pub fn to_batch(&self, table: Table) -> Result<RecordBatch, ArrowError> {
        let schema = table.schema();
        let cols: Vec<ArrayRef> = match table {
            Table::Records => {
                let r = &self.records;
                vec![
                    strs(r.len(), &self.activity_id),
                    strs(r.len(), &self.source_file),
                    ts(r.iter().map(|x| x.timestamp_us)),
                    col!(Float64Array, r, position_lat),
                    col!(Float64Array, r, position_long),
                    col!(Float64Array, r, altitude_m),
                    col!(Float64Array, r, distance_m),
                    col!(Float64Array, r, speed_m_s),
                    col!(Int16Array, r, heart_rate_bpm),
                    col!(Int16Array, r, cadence_rpm),
                    col!(Int32Array, r, power_w),
                    col!(Int16Array, r, temperature_c),
                ]
            }
            Table::Laps | Table::Sessions => {
                let r = if table == Table::Laps {
                    &self.laps
                } else {
                    &self.sessions
                };
                vec![
                    strs(r.len(), &self.activity_id),
                    strs(r.len(), &self.source_file),
                    Arc::new(Int32Array::from_iter_values(
                        r.iter().map(|x| x.message_index),
                    )),
                    col!(StringArray, r, sport),
                    col!(StringArray, r, sub_sport),
                    ts(r.iter().map(|x| x.start_time_us)),
                    ts(r.iter().map(|x| x.end_time_us)),
                    col!(Float64Array, r, start_position_lat),
                    col!(Float64Array, r, start_position_long),
                    col!(Float64Array, r, end_position_lat),
                    col!(Float64Array, r, end_position_long),
                    col!(Float64Array, r, nec_lat),
                    col!(Float64Array, r, nec_long),
                    col!(Float64Array, r, swc_lat),
                    col!(Float64Array, r, swc_long),
                    col!(Float64Array, r, total_elapsed_time_s),
                    col!(Float64Array, r, total_timer_time_s),
                    col!(Float64Array, r, total_distance_m),
                    col!(Float64Array, r, total_ascent_m),
                    col!(Float64Array, r, total_descent_m),
                    col!(Int16Array, r, avg_heart_rate_bpm),
                    col!(Int16Array, r, max_heart_rate_bpm),
                    col!(Float64Array, r, avg_speed_m_s),
                    col!(Float64Array, r, max_speed_m_s),
                    col!(Int32Array, r, total_calories_kcal),
                ]
            }
            Table::Activities => {
                let i = std::slice::from_ref(&self.info);
                let first_ts = self.records.iter().find_map(|r| r.timestamp_us);
                let last_ts = self.records.iter().rev().find_map(|r| r.timestamp_us);
                let sport = self.sessions.iter().find_map(|s| s.sport.clone());
                vec![
                    strs(1, &self.activity_id),
                    strs(1, &self.source_file),
                    strs(1, self.file_format),
                    col!(StringArray, i, file_type),
                    col!(StringArray, i, manufacturer),
                    col!(StringArray, i, product),
                    col!(Int64Array, i, serial_number),
                    ts([self.info.time_created_us]),
                    col!(StringArray, i, software_version),
                    Arc::new(StringArray::from(vec![sport])),
                    ts([first_ts]),
                    ts([last_ts]),
                    Arc::new(Int64Array::from(vec![self.records.len() as i64])),
                    col!(StringArray, i, user_friendly_name),
                    col!(StringArray, i, user_gender),
                    col!(Int16Array, i, user_age_years),
                    col!(Float64Array, i, user_height_m),
                    col!(Float64Array, i, user_weight_kg),
                    col!(Int16Array, i, user_resting_heart_rate_bpm),
                ]
            }
        };
        RecordBatch::try_new(schema, cols)
    }

    /// Builds the batches of all four tables, in [`Table::ALL`] order.
    pub fn to_batches(&self) -> Result<[RecordBatch; 4], ArrowError> {
        Ok([
            self.to_batch(Table::Records)?,
            self.to_batch(Table::Laps)?,
            self.to_batch(Table::Sessions)?,
            self.to_batch(Table::Activities)?,
        ])
    }
}
