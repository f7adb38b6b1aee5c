//! Row structs that decoders fill, and their conversion into canonical Arrow batches.
//!
//! Decoders push plain Rust rows; [`Activity::to_batches`] turns them into one
//! [`RecordBatch`] per [`Table`], with the schemas of [`crate::schema`].

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float64Array, Int16Array, Int32Array, Int64Array, RecordBatch, RecordBatchOptions,
    StringArray, TimestampMicrosecondArray,
};
use arrow_schema::ArrowError;

use crate::schema::Table;

/// One sample (FIT `record`, TCX `Trackpoint`, GPX `trkpt`). Units as in [`crate::schema::records_schema`].
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
    /// FIT developer fields of the sample (empty: none; the column is then NULL).
    pub developer_fields: Vec<DeveloperField>,
}

/// One FIT developer field value (see [`crate::schema::developer_fields_type`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DeveloperField {
    /// `field_description.field_name`.
    pub name: Arc<str>,
    /// `field_description.units`.
    pub units: Option<Arc<str>>,
    /// The value, `raw / scale - offset` with the description's scale and offset; `None`
    /// for text, arrays and invalid values.
    pub value: Option<f64>,
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
    /// `fit`, `tcx` or `gpx`.
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

/// The `developer_fields` column of `rows` (NULL where a row has none).
fn developer_fields(rows: &[RecordRow]) -> ArrayRef {
    use arrow_array::builder::{Float64Builder, ListBuilder, StringBuilder, StructBuilder};
    let fields = crate::schema::developer_field_fields();
    let item = StructBuilder::new(
        fields.clone(),
        vec![
            Box::new(StringBuilder::new()),
            Box::new(StringBuilder::new()),
            Box::new(Float64Builder::new()),
        ],
    );
    let mut b = ListBuilder::new(item).with_field(Arc::new(arrow_schema::Field::new_list_field(
        arrow_schema::DataType::Struct(fields),
        true,
    )));
    for r in rows {
        if r.developer_fields.is_empty() {
            b.append_null();
            continue;
        }
        let s = b.values();
        for f in &r.developer_fields {
            s.field_builder::<StringBuilder>(0)
                .expect("name")
                .append_value(&f.name);
            s.field_builder::<StringBuilder>(1)
                .expect("units")
                .append_option(f.units.as_deref());
            s.field_builder::<Float64Builder>(2)
                .expect("value")
                .append_option(f.value);
            s.append(true);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

fn ts<I: IntoIterator<Item = Option<i64>>>(it: I) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter(it).with_timezone("UTC"))
}

impl Activity {
    /// Builds the batch of `table` for this file (all columns of the canonical schema).
    ///
    /// # Errors
    /// An [`ArrowError`] if the columns do not fit the schema (a bug).
    pub fn to_batch(&self, table: Table) -> Result<RecordBatch, ArrowError> {
        self.to_batch_projected(table, None)
    }

    /// Number of rows this file has in `table` (`activities`: always 1; a declared table:
    /// none).
    pub fn num_rows(&self, table: Table) -> usize {
        match table {
            Table::Records => self.records.len(),
            Table::Laps => self.laps.len(),
            Table::Sessions => self.sessions.len(),
            Table::Activities => 1,
            Table::Declared(_) => 0,
        }
    }

    /// Builds the batch of `table` with only the columns at `projection` (indices into
    /// [`Table::schema`], in the order given; `None`: all columns). Columns that are not
    /// projected are never built. An empty projection gives a batch with no columns and
    /// [`Activity::num_rows`] rows (what `count(*)` reads).
    ///
    /// # Errors
    /// An [`ArrowError`] if an index is out of range for the table's schema, or `table` is
    /// a declared table (a decoded file fills the canonical tables only).
    pub fn to_batch_projected(
        &self,
        table: Table,
        projection: Option<&[usize]>,
    ) -> Result<RecordBatch, ArrowError> {
        let Some(full) = table.canonical_schema() else {
            return Err(ArrowError::SchemaError(format!(
                "{table} is a declared table; activity files fill records, laps, sessions and activities"
            )));
        };
        let n = full.fields().len();
        let all: Vec<usize>;
        let indices = match projection {
            Some(p) => p,
            None => {
                all = (0..n).collect();
                &all
            }
        };
        if let Some(bad) = indices.iter().find(|&&i| i >= n) {
            return Err(ArrowError::SchemaError(format!(
                "column index {bad} out of range for table {table} ({n} columns)"
            )));
        }
        let schema = if projection.is_none() {
            full
        } else {
            Arc::new(full.project(indices)?)
        };
        let cols: Vec<ArrayRef> = indices.iter().map(|&i| self.column(table, i)).collect();
        let options = RecordBatchOptions::new().with_row_count(Some(self.num_rows(table)));
        RecordBatch::try_new_with_options(schema, cols, &options)
    }

    /// Builds column `i` of `table` (an index into [`Table::schema`], checked by the caller).
    fn column(&self, table: Table, i: usize) -> ArrayRef {
        match table {
            Table::Records => self.records_column(i),
            Table::Laps => self.summary_column(&self.laps, i),
            Table::Sessions => self.summary_column(&self.sessions, i),
            Table::Activities => self.activities_column(i),
            Table::Declared(_) => unreachable!("checked by to_batch_projected"),
        }
    }

    fn records_column(&self, i: usize) -> ArrayRef {
        let r = &self.records;
        match i {
            0 => strs(r.len(), &self.activity_id),
            1 => strs(r.len(), &self.source_file),
            2 => ts(r.iter().map(|x| x.timestamp_us)),
            3 => col!(Float64Array, r, position_lat),
            4 => col!(Float64Array, r, position_long),
            5 => col!(Float64Array, r, altitude_m),
            6 => col!(Float64Array, r, distance_m),
            7 => col!(Float64Array, r, speed_m_s),
            8 => col!(Int16Array, r, heart_rate_bpm),
            9 => col!(Int16Array, r, cadence_rpm),
            10 => col!(Int32Array, r, power_w),
            11 => col!(Int16Array, r, temperature_c),
            12 => developer_fields(r),
            _ => unreachable!("records has 13 columns"),
        }
    }

    fn summary_column(&self, r: &[SummaryRow], i: usize) -> ArrayRef {
        match i {
            0 => strs(r.len(), &self.activity_id),
            1 => strs(r.len(), &self.source_file),
            2 => Arc::new(Int32Array::from_iter_values(
                r.iter().map(|x| x.message_index),
            )),
            3 => col!(StringArray, r, sport),
            4 => col!(StringArray, r, sub_sport),
            5 => ts(r.iter().map(|x| x.start_time_us)),
            6 => ts(r.iter().map(|x| x.end_time_us)),
            7 => col!(Float64Array, r, start_position_lat),
            8 => col!(Float64Array, r, start_position_long),
            9 => col!(Float64Array, r, end_position_lat),
            10 => col!(Float64Array, r, end_position_long),
            11 => col!(Float64Array, r, nec_lat),
            12 => col!(Float64Array, r, nec_long),
            13 => col!(Float64Array, r, swc_lat),
            14 => col!(Float64Array, r, swc_long),
            15 => col!(Float64Array, r, total_elapsed_time_s),
            16 => col!(Float64Array, r, total_timer_time_s),
            17 => col!(Float64Array, r, total_distance_m),
            18 => col!(Float64Array, r, total_ascent_m),
            19 => col!(Float64Array, r, total_descent_m),
            20 => col!(Int16Array, r, avg_heart_rate_bpm),
            21 => col!(Int16Array, r, max_heart_rate_bpm),
            22 => col!(Float64Array, r, avg_speed_m_s),
            23 => col!(Float64Array, r, max_speed_m_s),
            24 => col!(Int32Array, r, total_calories_kcal),
            _ => unreachable!("laps and sessions have 25 columns"),
        }
    }

    fn activities_column(&self, i: usize) -> ArrayRef {
        let info = std::slice::from_ref(&self.info);
        match i {
            0 => strs(1, &self.activity_id),
            1 => strs(1, &self.source_file),
            2 => strs(1, self.file_format),
            3 => col!(StringArray, info, file_type),
            4 => col!(StringArray, info, manufacturer),
            5 => col!(StringArray, info, product),
            6 => col!(Int64Array, info, serial_number),
            7 => ts([self.info.time_created_us]),
            8 => col!(StringArray, info, software_version),
            9 => Arc::new(StringArray::from(vec![
                self.sessions.iter().find_map(|s| s.sport.clone()),
            ])),
            10 => ts([self.records.iter().find_map(|r| r.timestamp_us)]),
            11 => ts([self.records.iter().rev().find_map(|r| r.timestamp_us)]),
            12 => Arc::new(Int64Array::from(vec![self.records.len() as i64])),
            13 => col!(StringArray, info, user_friendly_name),
            14 => col!(StringArray, info, user_gender),
            15 => col!(Int16Array, info, user_age_years),
            16 => col!(Float64Array, info, user_height_m),
            17 => col!(Float64Array, info, user_weight_kg),
            18 => col!(Int16Array, info, user_resting_heart_rate_bpm),
            _ => unreachable!("activities has 19 columns"),
        }
    }

    /// Builds the batches of all four tables, in [`Table::ALL`] order.
    ///
    /// # Errors
    /// Arrow rejects a column (cannot happen for the canonical schemas unless memory runs out).
    pub fn to_batches(&self) -> Result<[RecordBatch; 4], ArrowError> {
        Ok([
            self.to_batch(Table::Records)?,
            self.to_batch(Table::Laps)?,
            self.to_batch(Table::Sessions)?,
            self.to_batch(Table::Activities)?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity() -> Activity {
        Activity {
            activity_id: "id".into(),
            source_file: "s3://b/subject=a/x.fit".into(),
            file_format: "fit",
            records: vec![
                RecordRow {
                    timestamp_us: Some(1_000_000),
                    heart_rate_bpm: Some(120),
                    ..Default::default()
                },
                RecordRow {
                    timestamp_us: Some(2_000_000),
                    heart_rate_bpm: None,
                    power_w: Some(250),
                    ..Default::default()
                },
            ],
            laps: vec![SummaryRow {
                message_index: 0,
                sport: Some("running".into()),
                ..Default::default()
            }],
            sessions: vec![],
            ..Default::default()
        }
    }

    #[test]
    fn every_projected_column_equals_the_full_batch_column() {
        let a = activity();
        for t in Table::ALL {
            let full = a.to_batch(t).unwrap();
            assert_eq!(full.schema(), t.schema());
            assert_eq!(full.num_rows(), a.num_rows(t));
            for i in 0..t.schema().fields().len() {
                let one = a.to_batch_projected(t, Some(&[i])).unwrap();
                assert_eq!(one.num_columns(), 1);
                assert_eq!(one.schema().field(0), t.schema().field(i));
                assert_eq!(one.column(0), full.column(i), "{t} column {i}");
            }
        }
    }

    #[test]
    fn projection_builds_only_the_projected_columns_in_order() {
        let a = activity();
        // records: power_w (10), heart_rate_bpm (8)
        let b = a
            .to_batch_projected(Table::Records, Some(&[10, 8]))
            .unwrap();
        let names: Vec<_> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["power_w", "heart_rate_bpm"]);
        assert_eq!(
            b.column(0).as_ref(),
            &Int32Array::from(vec![None, Some(250)]) as &dyn arrow_array::Array
        );
        assert_eq!(
            b.column(1).as_ref(),
            &Int16Array::from(vec![Some(120), None]) as &dyn arrow_array::Array
        );
        // no columns: only the row count (count(*))
        let empty = a.to_batch_projected(Table::Records, Some(&[])).unwrap();
        assert_eq!((empty.num_columns(), empty.num_rows()), (0, 2));
        let empty = a.to_batch_projected(Table::Activities, Some(&[])).unwrap();
        assert_eq!((empty.num_columns(), empty.num_rows()), (0, 1));
        // out of range is an error, not a panic
        assert!(a.to_batch_projected(Table::Laps, Some(&[25])).is_err());
    }
}
