//! Canonical Arrow batches → row structs, and recomputed summary rows back into a batch.
//!
//! Activity-level operators (the privacy zone) take any batches that carry the canonical
//! columns, whatever decoded them (a FIT file, a Kafka stream of samples). Columns are found
//! by name and cast to the canonical type; a missing optional column reads as `NULL`.
//! Columns that are not canonical pass through untouched.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int16Array, Int32Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int16Type, Int32Type, Int64Type};
use datafusion::common::{Result, plan_err};

use super::{DeveloperField, RecordRow, SummaryRow};
use crate::schema::timestamp_type;

/// Column `name` of `batch` cast to `to`; `None` when absent.
fn column_as(batch: &RecordBatch, name: &str, to: &DataType) -> Result<Option<ArrayRef>> {
    match batch.column_by_name(name) {
        Some(c) if c.data_type() == to => Ok(Some(Arc::clone(c))),
        Some(c) => Ok(Some(cast(c, to)?)),
        None => Ok(None),
    }
}

/// Float64 values of column `name` (all `None` when absent).
pub(crate) fn f64s(batch: &RecordBatch, name: &str) -> Result<Vec<Option<f64>>> {
    Ok(match column_as(batch, name, &DataType::Float64)? {
        Some(a) => a.as_primitive::<Float64Type>().iter().collect(),
        None => vec![None; batch.num_rows()],
    })
}

pub(crate) fn i16s(batch: &RecordBatch, name: &str) -> Result<Vec<Option<i16>>> {
    Ok(match column_as(batch, name, &DataType::Int16)? {
        Some(a) => a.as_primitive::<Int16Type>().iter().collect(),
        None => vec![None; batch.num_rows()],
    })
}

/// Int64 values of column `name` (all `None` when absent).
pub(crate) fn i64s(batch: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>> {
    Ok(match column_as(batch, name, &DataType::Int64)? {
        Some(a) => a.as_primitive::<Int64Type>().iter().collect(),
        None => vec![None; batch.num_rows()],
    })
}

fn i32s(batch: &RecordBatch, name: &str) -> Result<Vec<Option<i32>>> {
    Ok(match column_as(batch, name, &DataType::Int32)? {
        Some(a) => a.as_primitive::<Int32Type>().iter().collect(),
        None => vec![None; batch.num_rows()],
    })
}

/// Timestamp values of column `name` as µs since the epoch, UTC (all `None` when absent).
pub(crate) fn times_us(batch: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>> {
    Ok(match column_as(batch, name, &timestamp_type())? {
        Some(a) => a
            .as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>()
            .iter()
            .collect(),
        None => vec![None; batch.num_rows()],
    })
}

/// String values of column `name` (all `None` when absent).
pub(crate) fn strings(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    Ok(match column_as(batch, name, &DataType::Utf8)? {
        Some(a) => a
            .as_string::<i32>()
            .iter()
            .map(|s| s.map(str::to_string))
            .collect(),
        None => vec![None; batch.num_rows()],
    })
}

/// The `records` rows of `batch`.
///
/// # Errors
/// A canonical column whose type cannot be cast to the canonical one.
pub fn read_records(batch: &RecordBatch) -> Result<Vec<RecordRow>> {
    let ts = times_us(batch, "timestamp")?;
    let lat = f64s(batch, "position_lat")?;
    let long = f64s(batch, "position_long")?;
    let alt = f64s(batch, "altitude_m")?;
    let dist = f64s(batch, "distance_m")?;
    let speed = f64s(batch, "speed_m_s")?;
    let hr = i16s(batch, "heart_rate_bpm")?;
    let cad = i16s(batch, "cadence_rpm")?;
    let power = i32s(batch, "power_w")?;
    let temp = i16s(batch, "temperature_c")?;
    let mut dev = developer_fields(batch)?;
    Ok((0..batch.num_rows())
        .map(|i| RecordRow {
            timestamp_us: ts[i],
            position_lat: lat[i],
            position_long: long[i],
            altitude_m: alt[i],
            distance_m: dist[i],
            speed_m_s: speed[i],
            heart_rate_bpm: hr[i],
            cadence_rpm: cad[i],
            power_w: power[i],
            temperature_c: temp[i],
            developer_fields: std::mem::take(&mut dev[i]),
        })
        .collect())
}

/// The `developer_fields` of each row of `batch` (empty where NULL or absent).
///
/// # Errors
/// The column exists with another type than [`crate::schema::developer_fields_type`].
fn developer_fields(batch: &RecordBatch) -> Result<Vec<Vec<DeveloperField>>> {
    let n = batch.num_rows();
    let Some(col) = batch.column_by_name("developer_fields") else {
        return Ok(vec![Vec::new(); n]);
    };
    if col.data_type() != &crate::schema::developer_fields_type() {
        return plan_err!(
            "developer_fields has type {}, expected {}",
            col.data_type(),
            crate::schema::developer_fields_type()
        );
    }
    let list = col.as_list::<i32>();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if list.is_null(i) {
            out.push(Vec::new());
            continue;
        }
        let items = list.value(i);
        let items = items.as_struct();
        let (name, units) = (
            items.column(0).as_string::<i32>(),
            items.column(1).as_string::<i32>(),
        );
        let value = items.column(2).as_primitive::<Float64Type>();
        out.push(
            (0..items.len())
                .map(|j| DeveloperField {
                    name: name.value(j).into(),
                    units: units.is_valid(j).then(|| units.value(j).into()),
                    value: value.is_valid(j).then(|| value.value(j)),
                })
                .collect(),
        );
    }
    Ok(out)
}

/// The `laps` / `sessions` rows of `batch`.
///
/// # Errors
/// A canonical column whose type cannot be cast to the canonical one.
pub fn read_summaries(batch: &RecordBatch) -> Result<Vec<SummaryRow>> {
    let n = batch.num_rows();
    let index = i32s(batch, "message_index")?;
    let sport = strings(batch, "sport")?;
    let sub_sport = strings(batch, "sub_sport")?;
    let start = times_us(batch, "start_time")?;
    let end = times_us(batch, "end_time")?;
    let f = |name| f64s(batch, name);
    let (slat, slong, elat, elong) = (
        f("start_position_lat")?,
        f("start_position_long")?,
        f("end_position_lat")?,
        f("end_position_long")?,
    );
    let (nlat, nlong, swlat, swlong) =
        (f("nec_lat")?, f("nec_long")?, f("swc_lat")?, f("swc_long")?);
    let (elapsed, timer, dist, asc, desc) = (
        f("total_elapsed_time_s")?,
        f("total_timer_time_s")?,
        f("total_distance_m")?,
        f("total_ascent_m")?,
        f("total_descent_m")?,
    );
    let (avg_hr, max_hr) = (
        i16s(batch, "avg_heart_rate_bpm")?,
        i16s(batch, "max_heart_rate_bpm")?,
    );
    let (avg_speed, max_speed) = (f("avg_speed_m_s")?, f("max_speed_m_s")?);
    let kcal = i32s(batch, "total_calories_kcal")?;
    Ok((0..n)
        .map(|i| SummaryRow {
            message_index: index[i].unwrap_or(i as i32),
            sport: sport[i].clone(),
            sub_sport: sub_sport[i].clone(),
            start_time_us: start[i],
            end_time_us: end[i],
            start_position_lat: slat[i],
            start_position_long: slong[i],
            end_position_lat: elat[i],
            end_position_long: elong[i],
            nec_lat: nlat[i],
            nec_long: nlong[i],
            swc_lat: swlat[i],
            swc_long: swlong[i],
            total_elapsed_time_s: elapsed[i],
            total_timer_time_s: timer[i],
            total_distance_m: dist[i],
            total_ascent_m: asc[i],
            total_descent_m: desc[i],
            avg_heart_rate_bpm: avg_hr[i],
            max_heart_rate_bpm: max_hr[i],
            avg_speed_m_s: avg_speed[i],
            max_speed_m_s: max_speed[i],
            total_calories_kcal: kcal[i],
        })
        .collect())
}

/// Replaces the column `name` of `batch` (when present) by `values`, cast to its type.
pub(crate) fn replace_column(
    batch: &RecordBatch,
    name: &str,
    values: ArrayRef,
) -> Result<RecordBatch> {
    let Ok(i) = batch.schema().index_of(name) else {
        return Ok(batch.clone());
    };
    if values.len() != batch.num_rows() {
        return plan_err!(
            "replacing column {name}: {} values for {} rows",
            values.len(),
            batch.num_rows()
        );
    }
    let want = batch.schema().field(i).data_type().clone();
    let values = if values.data_type() == &want {
        values
    } else {
        cast(&values, &want)?
    };
    let mut cols = batch.columns().to_vec();
    cols[i] = values;
    Ok(RecordBatch::try_new(batch.schema(), cols)?)
}

/// A timestamp array (µs, UTC) of `values`.
pub(crate) fn timestamp_array(values: impl IntoIterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter(values).with_timezone("UTC"))
}

/// `batch` with the canonical summary columns (everything but the ids, `message_index`,
/// `sport` and `sub_sport`) replaced by the values of `rows` (one per row of `batch`).
///
/// # Errors
/// `rows` and `batch` differ in length, or a column cannot be cast back to its type.
pub fn write_summaries(batch: &RecordBatch, rows: &[SummaryRow]) -> Result<RecordBatch> {
    macro_rules! f64col {
        ($f:ident) => {
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.$f))) as ArrayRef
        };
    }
    let cols: Vec<(&str, ArrayRef)> = vec![
        (
            "start_time",
            timestamp_array(rows.iter().map(|r| r.start_time_us)),
        ),
        (
            "end_time",
            timestamp_array(rows.iter().map(|r| r.end_time_us)),
        ),
        ("start_position_lat", f64col!(start_position_lat)),
        ("start_position_long", f64col!(start_position_long)),
        ("end_position_lat", f64col!(end_position_lat)),
        ("end_position_long", f64col!(end_position_long)),
        ("nec_lat", f64col!(nec_lat)),
        ("nec_long", f64col!(nec_long)),
        ("swc_lat", f64col!(swc_lat)),
        ("swc_long", f64col!(swc_long)),
        ("total_elapsed_time_s", f64col!(total_elapsed_time_s)),
        ("total_timer_time_s", f64col!(total_timer_time_s)),
        ("total_distance_m", f64col!(total_distance_m)),
        ("total_ascent_m", f64col!(total_ascent_m)),
        ("total_descent_m", f64col!(total_descent_m)),
        (
            "avg_heart_rate_bpm",
            Arc::new(Int16Array::from_iter(
                rows.iter().map(|r| r.avg_heart_rate_bpm),
            )),
        ),
        (
            "max_heart_rate_bpm",
            Arc::new(Int16Array::from_iter(
                rows.iter().map(|r| r.max_heart_rate_bpm),
            )),
        ),
        ("avg_speed_m_s", f64col!(avg_speed_m_s)),
        ("max_speed_m_s", f64col!(max_speed_m_s)),
        (
            "total_calories_kcal",
            Arc::new(Int32Array::from_iter(
                rows.iter().map(|r| r.total_calories_kcal),
            )),
        ),
    ];
    let mut out = batch.clone();
    for (name, values) in cols {
        out = replace_column(&out, name, values)?;
    }
    Ok(out)
}

/// Whether column `name` of `batch` exists; used to require the columns an operator needs.
pub(crate) fn has_column(batch: &RecordBatch, name: &str) -> bool {
    batch.column_by_name(name).is_some()
}

/// The first value of the string column `name` (e.g. the `activity_id` of a one-activity
/// batch), `None` when absent, empty or null.
pub(crate) fn first_string(batch: &RecordBatch, name: &str) -> Option<String> {
    let c = batch.column_by_name(name)?;
    if c.is_empty() || c.is_null(0) {
        return None;
    }
    let c = cast(c, &DataType::Utf8).ok()?;
    let s: &StringArray = c.as_string::<i32>();
    Some(s.value(0).to_string())
}
