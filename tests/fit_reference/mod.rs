//! The reference FIT decoder of the differential test: fitparser 0.11's message parser and
//! profile, mapped into datamin's canonical rows the way datamin mapped them before its own
//! decoder (this is that code, kept as the independent implementation to compare with).
//!
//! The FIT stream is walked message by message with [`FitStreamProcessor`], so that:
//! - chained FIT files (several header + data + CRC sections in one file) decode as one
//!   activity, with the decoder state reset at every CRC as the FIT protocol requires;
//! - compressed-timestamp headers and accumulated fields are expanded by fitparser;
//! - developer fields are decoded (their descriptions are honoured) and then ignored;
//! - a CRC mismatch is *lenient*: the data is kept and a warning recorded (as `fitdecode`
//!   does with `check_crc=WARN`), while a structural error (truncation, undefined local
//!   message, bad header) rejects the file with its byte offset.
//!
//! Conversions (FIT profile 21.x): positions `sint32` semicircles → degrees
//! (`· 180 / 2³¹`); `enhanced_speed`/`enhanced_altitude` win over `speed`/`altitude`;
//! timestamps are seconds since 1989-12-31T00:00:00Z, turned into UTC microseconds; values
//! below `0x10000000` are device-relative "system time" (FIT profile, `date_time`) and become
//! `NULL` with a warning, since they cannot be placed on the UTC time line.

use fitparser::de::{DecodeOption, FitObject, FitStreamProcessor};
use fitparser::profile::MesgNum;
use fitparser::{ErrorKind, FitDataField, FitDataRecord, Value};

use datamin::format::{Activity, ActivityRow, DecodeError, RecordRow, SummaryRow};
use datamin::schema::DEGREES_PER_SEMICIRCLE;

/// Decodes the FIT bytes `data` into `out` (rows are appended). See the module docs.
///
/// # Errors
/// A bad header, a CRC mismatch or a message that cannot be parsed; rows decoded before the
/// error stay in `out`.
pub fn decode_into(data: &[u8], out: &mut Activity) -> Result<(), DecodeError> {
    let mut p = FitStreamProcessor::new();
    p.add_option(DecodeOption::UseGenericSubFieldName);
    // Keep `compressed_speed_distance` as raw bytes: fitparser's expansion of its 12-bit
    // accumulated distance is wrong (it adds instead of unwrapping the rollover), so
    // datamin expands it itself (see `CompressedSpeedDistance`).
    p.add_option(DecodeOption::KeepCompositeFields);
    let mut csd = CompressedSpeedDistance::default();
    let mut buf = data;
    let mut sections = 0usize;
    let mut relative_times = 0u64;
    if data.len() < 12 {
        return Err(DecodeError::Fit {
            offset: 0,
            reason: format!(
                "file is {} bytes, shorter than a FIT header (12)",
                data.len()
            ),
        });
    }
    while !buf.is_empty() {
        let offset = data.len() - buf.len();
        match p.deserialize_next(buf) {
            Ok((rest, obj)) => {
                match obj {
                    FitObject::Crc(_) => {
                        p.reset();
                        csd = CompressedSpeedDistance::default();
                    }
                    FitObject::Header(_) => sections += 1,
                    FitObject::DataMessage(msg) => {
                        let rec = p.decode_message(msg).map_err(|e| DecodeError::Fit {
                            offset,
                            reason: e.to_string(),
                        })?;
                        accept(rec, out, &mut relative_times, &mut csd);
                    }
                    FitObject::DefinitionMessage(_) => {}
                }
                buf = rest;
            }
            Err(e) => match *e {
                ErrorKind::InvalidCrc((rest, obj, stored, computed)) => {
                    let what = match obj {
                        FitObject::Header(_) => {
                            sections += 1;
                            "header"
                        }
                        _ => {
                            p.reset();
                            csd = CompressedSpeedDistance::default();
                            "data"
                        }
                    };
                    out.warnings.push(format!(
                        "FIT {what} CRC mismatch at byte {offset} (stored {stored:#06x}, computed {computed:#06x}); data kept"
                    ));
                    buf = &data[data.len() - rest.len()..];
                }
                other => {
                    let reason = match other {
                        ErrorKind::UnexpectedEof(_) => {
                            "unexpected end of file (truncated FIT data)".to_string()
                        }
                        ErrorKind::ParseError(pos, kind) => {
                            format!("FIT parse error at byte {pos} ({kind:?})")
                        }
                        ErrorKind::MissingDefinitionMessage(n, pos) => format!(
                            "data message for local message type {n} at byte {pos} has no definition"
                        ),
                        o => o.to_string(),
                    };
                    return Err(DecodeError::Fit { offset, reason });
                }
            },
        }
    }
    if sections == 0 {
        return Err(DecodeError::Fit {
            offset: 0,
            reason: "no FIT header found".into(),
        });
    }
    if relative_times > 0 {
        out.warnings.push(format!(
            "{relative_times} record timestamp(s) are device-relative system times (FIT date_time < 0x10000000), not UTC: set to NULL"
        ));
    }
    Ok(())
}

fn accept(
    rec: FitDataRecord,
    out: &mut Activity,
    relative_times: &mut u64,
    csd: &mut CompressedSpeedDistance,
) {
    let kind = rec.kind();
    *out.message_counts.entry(kind.to_string()).or_default() += 1;
    match kind {
        MesgNum::Record => {
            if rec
                .fields()
                .iter()
                .any(|f| f.name() == "timestamp" && is_relative_time(f.value()))
            {
                *relative_times += 1;
            }
            out.records.push(record_row(rec.fields(), csd))
        }
        MesgNum::Lap => {
            let mut s = summary_row(rec.fields());
            s.message_index = out.laps.len() as i32;
            out.laps.push(s);
        }
        MesgNum::Session => {
            let mut s = summary_row(rec.fields());
            s.message_index = out.sessions.len() as i32;
            out.sessions.push(s);
        }
        MesgNum::FileId => file_id(rec.fields(), &mut out.info),
        MesgNum::UserProfile => user_profile(rec.fields(), &mut out.info),
        MesgNum::DeviceInfo => device_info(rec.fields(), &mut out.info),
        _ => {}
    }
}

/// Numeric value of a field, `None` for strings, arrays and invalid values.
pub fn num(v: &Value) -> Option<f64> {
    Some(match v {
        Value::Byte(x) | Value::Enum(x) | Value::UInt8(x) | Value::UInt8z(x) => *x as f64,
        Value::SInt8(x) => *x as f64,
        Value::SInt16(x) => *x as f64,
        Value::UInt16(x) | Value::UInt16z(x) => *x as f64,
        Value::SInt32(x) => *x as f64,
        Value::UInt32(x) | Value::UInt32z(x) => *x as f64,
        Value::SInt64(x) => *x as f64,
        Value::UInt64(x) | Value::UInt64z(x) => *x as f64,
        Value::Float32(x) if x.is_finite() => *x as f64,
        Value::Float64(x) if x.is_finite() => *x,
        _ => return None,
    })
}

fn int<T: TryFrom<i64>>(v: &Value) -> Option<T> {
    let x = num(v)?;
    T::try_from(x.round() as i64).ok()
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let s = s.trim_end_matches('\0').trim();
            (!s.is_empty()).then(|| s.to_string())
        }
        Value::Timestamp(_) | Value::Array(_) | Value::Invalid => None,
        other => num(other).map(|x| {
            if x.fract() == 0.0 {
                format!("{}", x as i64)
            } else {
                format!("{x}")
            }
        }),
    }
}

/// Seconds from the Unix epoch to the FIT epoch, 1989-12-31T00:00:00Z (FIT profile, `date_time`).
const FIT_EPOCH_UNIX_S: i64 = 631_065_600;

/// FIT `date_time` values below this are "system time" — seconds since the device was switched
/// on — not absolute times (FIT profile, type `date_time`, `min = 0x10000000`).
const FIT_MIN_ABSOLUTE_S: i64 = 0x1000_0000;

/// UTC microseconds of an absolute FIT timestamp; `None` for other values and for
/// device-relative ("system") times, which have no place on the UTC time line.
fn time_us(v: &Value) -> Option<i64> {
    match v {
        Value::Timestamp(t) if t.timestamp() - FIT_EPOCH_UNIX_S >= FIT_MIN_ABSOLUTE_S => {
            Some(t.timestamp_micros())
        }
        _ => None,
    }
}

fn is_relative_time(v: &Value) -> bool {
    matches!(v, Value::Timestamp(t) if t.timestamp() - FIT_EPOCH_UNIX_S < FIT_MIN_ABSOLUTE_S)
}

fn degrees(v: &Value) -> Option<f64> {
    match v {
        Value::SInt32(x) => Some(*x as f64 * DEGREES_PER_SEMICIRCLE),
        _ => None,
    }
}

/// Expansion of the `record.compressed_speed_distance` field (FIT profile: 3 bytes; bits
/// 0–11 speed, scale 100, m/s; bits 12–23 distance, scale 16, m, *accumulated*). The 12-bit
/// distance rolls over every 256 m; the FIT SDK's accumulation unwraps it:
/// `acc += (raw − last) mod 2¹²`. State lasts for one FIT file (reset at its CRC).
#[derive(Debug, Default)]
pub struct CompressedSpeedDistance {
    last: u32,
    acc: u64,
}

impl CompressedSpeedDistance {
    /// (speed m/s, cumulative distance m) from the three raw bytes.
    fn expand(&mut self, v: &Value) -> Option<(f64, f64)> {
        let Value::Array(bytes) = v else {
            return None;
        };
        let b: Vec<u32> = bytes
            .iter()
            .map(|x| match x {
                Value::Byte(b) | Value::UInt8(b) | Value::UInt8z(b) | Value::Enum(b) => {
                    Some(*b as u32)
                }
                _ => None,
            })
            .collect::<Option<_>>()?;
        let [b0, b1, b2] = b.as_slice() else {
            return None;
        };
        let speed_raw = b0 | ((b1 & 0x0F) << 8);
        let dist_raw = (b1 >> 4) | (b2 << 4);
        self.acc += u64::from(dist_raw.wrapping_sub(self.last) & 0x0FFF);
        self.last = dist_raw;
        Some((speed_raw as f64 / 100.0, self.acc as f64 / 16.0))
    }
}

fn record_row(fields: &[FitDataField], csd: &mut CompressedSpeedDistance) -> RecordRow {
    let mut r = RecordRow::default();
    let (mut speed, mut altitude) = (None, None);
    let mut compressed = None;
    for f in fields {
        let v = f.value();
        match f.name() {
            "compressed_speed_distance" => compressed = csd.expand(v),
            "timestamp" => r.timestamp_us = time_us(v),
            "position_lat" => r.position_lat = degrees(v),
            "position_long" => r.position_long = degrees(v),
            "enhanced_altitude" => r.altitude_m = num(v),
            "altitude" => altitude = num(v),
            "distance" => r.distance_m = num(v),
            "enhanced_speed" => r.speed_m_s = num(v),
            "speed" => speed = num(v),
            "heart_rate" => r.heart_rate_bpm = int(v),
            "cadence" => r.cadence_rpm = int(v),
            "power" => r.power_w = int(v),
            "temperature" => r.temperature_c = int(v),
            _ => {}
        }
    }
    r.speed_m_s = r.speed_m_s.or(speed);
    r.altitude_m = r.altitude_m.or(altitude);
    if let Some((s, d)) = compressed {
        r.speed_m_s = Some(s);
        r.distance_m = Some(d);
    }
    r
}

fn summary_row(fields: &[FitDataField]) -> SummaryRow {
    let mut s = SummaryRow::default();
    let (mut avg_speed, mut max_speed) = (None, None);
    for f in fields {
        let v = f.value();
        match f.name() {
            "sport" => s.sport = text(v),
            "sub_sport" => s.sub_sport = text(v),
            "start_time" => s.start_time_us = time_us(v),
            "timestamp" => s.end_time_us = time_us(v),
            "start_position_lat" => s.start_position_lat = degrees(v),
            "start_position_long" => s.start_position_long = degrees(v),
            "end_position_lat" => s.end_position_lat = degrees(v),
            "end_position_long" => s.end_position_long = degrees(v),
            "nec_lat" => s.nec_lat = degrees(v),
            "nec_long" => s.nec_long = degrees(v),
            "swc_lat" => s.swc_lat = degrees(v),
            "swc_long" => s.swc_long = degrees(v),
            "total_elapsed_time" => s.total_elapsed_time_s = num(v),
            "total_timer_time" => s.total_timer_time_s = num(v),
            "total_distance" => s.total_distance_m = num(v),
            "total_ascent" => s.total_ascent_m = num(v),
            "total_descent" => s.total_descent_m = num(v),
            "avg_heart_rate" => s.avg_heart_rate_bpm = int(v),
            "max_heart_rate" => s.max_heart_rate_bpm = int(v),
            "enhanced_avg_speed" => s.avg_speed_m_s = num(v),
            "avg_speed" => avg_speed = num(v),
            "enhanced_max_speed" => s.max_speed_m_s = num(v),
            "max_speed" => max_speed = num(v),
            "total_calories" => s.total_calories_kcal = int(v),
            _ => {}
        }
    }
    s.avg_speed_m_s = s.avg_speed_m_s.or(avg_speed);
    s.max_speed_m_s = s.max_speed_m_s.or(max_speed);
    s
}

fn file_id(fields: &[FitDataField], a: &mut ActivityRow) {
    // A chained file has one file_id per section: the first one describes the file.
    if a.file_type.is_some() || a.manufacturer.is_some() {
        return;
    }
    for f in fields {
        let v = f.value();
        match f.name() {
            "type" => a.file_type = text(v),
            "manufacturer" => a.manufacturer = text(v),
            "product" | "garmin_product" | "favero_product" => a.product = text(v),
            "serial_number" => a.serial_number = num(v).map(|x| x as i64),
            "time_created" => a.time_created_us = time_us(v),
            _ => {}
        }
    }
}

fn user_profile(fields: &[FitDataField], a: &mut ActivityRow) {
    for f in fields {
        let v = f.value();
        match f.name() {
            "friendly_name" => a.user_friendly_name = a.user_friendly_name.take().or(text(v)),
            "gender" => a.user_gender = a.user_gender.take().or(text(v)),
            "age" => a.user_age_years = a.user_age_years.or(int(v)),
            "height" => a.user_height_m = a.user_height_m.or(num(v)),
            "weight" => a.user_weight_kg = a.user_weight_kg.or(num(v)),
            "resting_heart_rate" => {
                a.user_resting_heart_rate_bpm = a.user_resting_heart_rate_bpm.or(int(v))
            }
            _ => {}
        }
    }
}

fn device_info(fields: &[FitDataField], a: &mut ActivityRow) {
    if a.software_version.is_some() {
        return;
    }
    let mut creator = false;
    let mut version = None;
    for f in fields {
        match f.name() {
            "device_index" => creator = matches!(text(f.value()).as_deref(), Some("creator" | "0")),
            "software_version" => version = text(f.value()),
            _ => {}
        }
    }
    if creator {
        a.software_version = version;
    }
}
