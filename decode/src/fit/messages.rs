//! FIT data messages (their slots, read by a [`Layout`](super::layout::Layout)) into the
//! canonical rows.
//!
//! Conversions (FIT profile 21.x): positions `sint32` semicircles → degrees
//! (`· 180 / 2³¹`); `speed`, `altitude`, `avg_speed`, `max_speed` are components of their
//! `enhanced_*` fields (same scale and offset), and, as in the FIT SDK's decoder, a valid
//! component's expansion replaces the `enhanced_*` value, which counts only when the base
//! field is absent or invalid (files normally write one, or both with the same value);
//! timestamps are seconds since 1989-12-31T00:00:00Z, turned into UTC microseconds; values
//! below `0x10000000` are device-relative "system time" (FIT profile, `date_time`) and become
//! `NULL`, since they cannot be placed on the UTC time line (those of `record`s are counted,
//! for a warning).
//!
//! Not done, unlike the FIT SDK's `Decoder.read()` defaults: heart rates of `hr` messages
//! (HRM-Pro/swim buffering) are not merged into `records` (its `merge_heart_rates`), and
//! `developer_data_id` messages are not required before a `field_description` (the last
//! description of a field wins). Strings that are not valid UTF-8 are NULL.

use super::layout::{DeveloperOp, Layout};
use super::layout::{Field, Kind, MAX_SLOTS, Message, Raw};
use super::profile::{device_info, field_description, file_id, lap, record, session, user_profile};
use crate::rows::{Activity, ActivityRow, DeveloperField, RecordRow, SummaryRow};
use crate::schema::DEGREES_PER_SEMICIRCLE;

/// Seconds from the Unix epoch to the FIT epoch, 1989-12-31T00:00:00Z (FIT profile, `date_time`).
const FIT_EPOCH_UNIX_S: i64 = 631_065_600;

/// FIT `date_time` values below this are "system time" — seconds since the device was switched
/// on — not absolute times (FIT profile, type `date_time`, `min = 0x10000000`).
const FIT_MIN_ABSOLUTE_S: i64 = 0x1000_0000;

/// The profile message datamin reads for global message `global`, if any.
pub(super) fn message(global: u16) -> Option<&'static Message> {
    Some(match global {
        record::NUM => &record::MESSAGE,
        lap::NUM => &lap::MESSAGE,
        session::NUM => &session::MESSAGE,
        file_id::NUM => &file_id::MESSAGE,
        device_info::NUM => &device_info::MESSAGE,
        field_description::NUM => &field_description::MESSAGE,
        user_profile::NUM => &user_profile::MESSAGE,
        _ => return None,
    })
}

/// Per-file state of the conversion.
#[derive(Debug, Default)]
pub(super) struct State {
    /// Expansion of `record.compressed_speed_distance` (reset with each chained file).
    pub csd: CompressedSpeedDistance,
    /// Record timestamps that were device-relative.
    pub relative_times: u64,
    /// Developer field descriptions by (`developer_data_index`, `field_definition_number`)
    /// (reset with each chained file).
    pub descriptions: std::collections::HashMap<(u8, u8), Description>,
    /// Developer field values without a description (skipped).
    pub undescribed: u64,
}

/// A developer field's `field_description` (FIT profile message 206).
#[derive(Debug, Clone)]
pub(super) struct Description {
    name: std::sync::Arc<str>,
    units: Option<std::sync::Arc<str>>,
    base: u8,
    scale: f64,
    offset: f64,
}

impl State {
    /// Appends the developer fields `ops` of data message content `msg` (read by `layout`)
    /// to the last record of `out`.
    pub fn developer_fields(
        &mut self,
        layout: &Layout,
        msg: &[u8],
        ops: &[DeveloperOp],
        out: &mut Activity,
    ) {
        let Some(row) = out.records.last_mut() else {
            return;
        };
        for op in ops {
            let Some(d) = self.descriptions.get(&(op.index, op.num)) else {
                self.undescribed += 1;
                continue;
            };
            let value = layout.developer_value(msg, op, d.base).number();
            row.developer_fields.push(DeveloperField {
                name: d.name.clone(),
                units: d.units.clone(),
                value: value.map(|x| {
                    if d.scale != 1.0 || d.offset != 0.0 {
                        x / d.scale - d.offset
                    } else {
                        x
                    }
                }),
            });
        }
    }
}

/// Records a `field_description`.
fn describe(s: &Slots<'_, '_>, state: &mut State) {
    use field_description as f;
    let (Some(index), Some(num)) = (
        s.int::<u8>(f::DEVELOPER_DATA_INDEX),
        s.int::<u8>(f::FIELD_DEFINITION_NUMBER),
    ) else {
        return;
    };
    let name = s
        .text(f::FIELD_NAME)
        .unwrap_or_else(|| format!("developer_{index}_{num}"));
    // a scale of 0 (or none) means unscaled
    let scale = s.num(f::SCALE).filter(|&x| x != 0.0).unwrap_or(1.0);
    state.descriptions.insert(
        (index, num),
        Description {
            name: name.into(),
            units: s.text(f::UNITS).map(Into::into),
            base: s.int::<u8>(f::FIT_BASE_TYPE_ID).unwrap_or(0x0D),
            scale,
            offset: s.num(f::OFFSET).unwrap_or(0.0),
        },
    );
}

/// Slots of one data message with their profile fields.
pub(super) struct Slots<'a, 'm> {
    pub message: &'m Message,
    pub raw: &'m [Raw<'a>; MAX_SLOTS],
}

impl Slots<'_, '_> {
    fn field(&self, slot: usize) -> (&Field, Raw<'_>) {
        (&self.message.fields[slot], self.raw[slot])
    }

    /// Scaled number: `raw / scale - offset` (as fitparser and the FIT SDKs compute it).
    fn num(&self, slot: usize) -> Option<f64> {
        let (f, r) = self.field(slot);
        let x = r.number()?;
        Some(if f.scale != 1.0 || f.offset != 0.0 {
            x / f.scale - f.offset
        } else {
            x
        })
    }

    fn int<T: TryFrom<i64>>(&self, slot: usize) -> Option<T> {
        T::try_from(self.num(slot)?.round() as i64).ok()
    }

    fn degrees(&self, slot: usize) -> Option<f64> {
        match self.raw[slot] {
            Raw::Int(x) => Some(x as f64 * DEGREES_PER_SEMICIRCLE),
            _ => None,
        }
    }

    /// Seconds since the FIT epoch (`date_time` is a `uint32`: other values are not times).
    fn fit_seconds(&self, slot: usize) -> Option<i64> {
        match self.raw[slot] {
            Raw::Int(s) if (0..=i64::from(u32::MAX)).contains(&s) => Some(s),
            _ => None,
        }
    }

    /// UTC µs of an absolute FIT timestamp; `None` for device-relative ("system") times.
    fn time_us(&self, slot: usize) -> Option<i64> {
        let s = self.fit_seconds(slot)?;
        (s >= FIT_MIN_ABSOLUTE_S).then(|| (s + FIT_EPOCH_UNIX_S) * 1_000_000)
    }

    /// Text of a string, enum name, or number (`3.3`, `12`).
    fn text(&self, slot: usize) -> Option<String> {
        let (f, r) = self.field(slot);
        if let Raw::Str(b) = r {
            let s = std::str::from_utf8(b).ok()?.trim();
            return (!s.is_empty()).then(|| s.to_string());
        }
        let names = f
            .sub_fields
            .iter()
            .find(|s| self.raw[s.ref_slot] == Raw::Int(s.ref_value.into()))
            .map(|s| s.names)
            .or(match f.kind {
                Kind::Enum(names) => Some(names),
                _ => None,
            });
        if let (Some(names), Raw::Int(v)) = (names, r)
            && let Some(name) = u32::try_from(v).ok().and_then(names)
        {
            return Some(name.to_string());
        }
        let x = match f.kind {
            Kind::DateTime | Kind::Text => return None,
            Kind::Enum(_) => r.number()?,
            Kind::Number => self.num(slot)?,
        };
        Some(if x.fract() == 0.0 {
            format!("{}", x as i64)
        } else {
            format!("{x}")
        })
    }
}

/// Converts one data message of global message `global` into `out`.
pub(super) fn accept(global: u16, s: &Slots<'_, '_>, state: &mut State, out: &mut Activity) {
    match global {
        record::NUM => {
            if s.fit_seconds(record::TIMESTAMP)
                .is_some_and(|t| t < FIT_MIN_ABSOLUTE_S)
            {
                state.relative_times += 1;
            }
            out.records.push(record_row(s, &mut state.csd));
        }
        lap::NUM => {
            let mut r = summary_row(s);
            r.message_index = out.laps.len() as i32;
            out.laps.push(r);
        }
        session::NUM => {
            let mut r = summary_row(s);
            r.message_index = out.sessions.len() as i32;
            out.sessions.push(r);
        }
        file_id::NUM => file_id(s, &mut out.info),
        user_profile::NUM => user_profile(s, &mut out.info),
        device_info::NUM => device_info(s, &mut out.info),
        field_description::NUM => describe(s, state),
        _ => {}
    }
}

/// Expansion of the `record.compressed_speed_distance` field (FIT profile: 3 bytes; bits
/// 0–11 speed, scale 100, m/s; bits 12–23 distance, scale 16, m, *accumulated*). The 12-bit
/// distance rolls over every 256 m; the FIT SDK's accumulation unwraps it:
/// `acc += (raw − last) mod 2¹²`. State lasts for one FIT file (reset at its CRC).
#[derive(Debug, Default)]
pub(super) struct CompressedSpeedDistance {
    last: u32,
    acc: u64,
}

impl CompressedSpeedDistance {
    /// (speed m/s, cumulative distance m) from the three raw bytes.
    fn expand(&mut self, v: Raw<'_>) -> Option<(f64, f64)> {
        let Raw::Bytes(&[b0, b1, b2]) = v else {
            return None;
        };
        let (b0, b1, b2) = (u32::from(b0), u32::from(b1), u32::from(b2));
        let speed_raw = b0 | ((b1 & 0x0F) << 8);
        let dist_raw = (b1 >> 4) | (b2 << 4);
        self.acc += u64::from(dist_raw.wrapping_sub(self.last) & 0x0FFF);
        self.last = dist_raw;
        Some((speed_raw as f64 / 100.0, self.acc as f64 / 16.0))
    }
}

fn record_row(s: &Slots<'_, '_>, csd: &mut CompressedSpeedDistance) -> RecordRow {
    use record as r;
    let mut row = RecordRow {
        timestamp_us: s.time_us(r::TIMESTAMP),
        position_lat: s.degrees(r::POSITION_LAT),
        position_long: s.degrees(r::POSITION_LONG),
        altitude_m: s.num(r::ALTITUDE).or(s.num(r::ENHANCED_ALTITUDE)),
        distance_m: s.num(r::DISTANCE),
        speed_m_s: s.num(r::SPEED).or(s.num(r::ENHANCED_SPEED)),
        heart_rate_bpm: s.int(r::HEART_RATE),
        cadence_rpm: s.int(r::CADENCE),
        power_w: s.int(r::POWER),
        temperature_c: s.int(r::TEMPERATURE),
        developer_fields: Vec::new(),
    };
    if let Some((speed, distance)) = csd.expand(s.raw[r::COMPRESSED_SPEED_DISTANCE]) {
        row.speed_m_s = Some(speed);
        row.distance_m = Some(distance);
    }
    row
}

/// A `lap` or `session` row (the two profile messages list the same names in the same slots,
/// scripts/gen_fit_profile.py `SUMMARY`; their field numbers differ).
fn summary_row(s: &Slots<'_, '_>) -> SummaryRow {
    use lap as l;
    SummaryRow {
        message_index: 0,
        sport: s.text(l::SPORT),
        sub_sport: s.text(l::SUB_SPORT),
        start_time_us: s.time_us(l::START_TIME),
        end_time_us: s.time_us(l::TIMESTAMP),
        start_position_lat: s.degrees(l::START_POSITION_LAT),
        start_position_long: s.degrees(l::START_POSITION_LONG),
        end_position_lat: s.degrees(l::END_POSITION_LAT),
        end_position_long: s.degrees(l::END_POSITION_LONG),
        nec_lat: s.degrees(l::NEC_LAT),
        nec_long: s.degrees(l::NEC_LONG),
        swc_lat: s.degrees(l::SWC_LAT),
        swc_long: s.degrees(l::SWC_LONG),
        total_elapsed_time_s: s.num(l::TOTAL_ELAPSED_TIME),
        total_timer_time_s: s.num(l::TOTAL_TIMER_TIME),
        total_distance_m: s.num(l::TOTAL_DISTANCE),
        total_ascent_m: s.num(l::TOTAL_ASCENT),
        total_descent_m: s.num(l::TOTAL_DESCENT),
        avg_heart_rate_bpm: s.int(l::AVG_HEART_RATE),
        max_heart_rate_bpm: s.int(l::MAX_HEART_RATE),
        avg_speed_m_s: s.num(l::AVG_SPEED).or(s.num(l::ENHANCED_AVG_SPEED)),
        max_speed_m_s: s.num(l::MAX_SPEED).or(s.num(l::ENHANCED_MAX_SPEED)),
        total_calories_kcal: s.int(l::TOTAL_CALORIES),
    }
}

fn file_id(s: &Slots<'_, '_>, a: &mut ActivityRow) {
    // A chained file has one file_id per section: the first one describes the file.
    if a.file_type.is_some() || a.manufacturer.is_some() {
        return;
    }
    a.file_type = s.text(file_id::TYPE);
    a.manufacturer = s.text(file_id::MANUFACTURER);
    a.product = s.text(file_id::PRODUCT);
    a.serial_number = s.num(file_id::SERIAL_NUMBER).map(|x| x as i64);
    a.time_created_us = s.time_us(file_id::TIME_CREATED);
}

fn user_profile(s: &Slots<'_, '_>, a: &mut ActivityRow) {
    use user_profile as u;
    a.user_friendly_name = a.user_friendly_name.take().or(s.text(u::FRIENDLY_NAME));
    a.user_gender = a.user_gender.take().or(s.text(u::GENDER));
    a.user_age_years = a.user_age_years.or(s.int(u::AGE));
    a.user_height_m = a.user_height_m.or(s.num(u::HEIGHT));
    a.user_weight_kg = a.user_weight_kg.or(s.num(u::WEIGHT));
    a.user_resting_heart_rate_bpm = a
        .user_resting_heart_rate_bpm
        .or(s.int(u::RESTING_HEART_RATE));
}

fn device_info(s: &Slots<'_, '_>, a: &mut ActivityRow) {
    if a.software_version.is_some() {
        return;
    }
    // the creator device (device_index 0, "creator") tells the software version
    if matches!(
        s.text(device_info::DEVICE_INDEX).as_deref(),
        Some("creator" | "0")
    ) {
        a.software_version = s.text(device_info::SOFTWARE_VERSION);
    }
}

#[cfg(test)]
mod tests {
    use super::super::profile::{lap, session};

    #[test]
    fn lap_and_session_list_the_summary_fields_in_the_same_slots() {
        let names = |m: &super::Message| m.fields.iter().map(|f| f.name).collect::<Vec<_>>();
        assert_eq!(names(&lap::MESSAGE), names(&session::MESSAGE));
    }
}
