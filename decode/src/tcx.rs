//! Garmin Training Center XML (TCX v2) decoding with quick-xml's streaming reader (no DOM).
//!
//! Mapping (TCX v2 schema, `TrainingCenterDatabasev2.xsd`, and the `ActivityExtension/v2`
//! `TPX`/`LX` extensions):
//! - `Activity@Sport` → session `sport`; `Activity/Id` (an ISO 8601 time) → `time_created`;
//! - `Lap@StartTime`, `TotalTimeSeconds` (timer time, s), `DistanceMeters` (m),
//!   `MaximumSpeed` (m/s), `Calories` (kcal), `AverageHeartRateBpm`/`MaximumHeartRateBpm`,
//!   `LX/AvgSpeed` → one `laps` row; start/end position and end time from its trackpoints;
//! - `Trackpoint`: `Time`, `Position/LatitudeDegrees`/`LongitudeDegrees`, `AltitudeMeters`,
//!   `DistanceMeters`, `HeartRateBpm/Value`, `Cadence`, `TPX/Speed`, `TPX/RunCadence`,
//!   `TPX/Watts` → one `records` row;
//! - `Creator/Name`, `Creator/UnitId` (the device serial number), `Creator/Version` →
//!   `activities`. The session's totals are summed over its laps and its bounding box is
//!   computed from its trackpoints.

use quick_xml::Reader;
use quick_xml::events::Event;

use super::DecodeError;
use super::rows::{Activity, RecordRow, SummaryRow};

/// Parses an ISO 8601 / RFC 3339 time into UTC microseconds; a time without an offset is
/// taken as UTC (as Garmin writes it).
pub fn parse_time_us(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp_micros())
}

#[derive(Default)]
struct Version {
    major: Option<String>,
    minor: Option<String>,
}

/// Decodes TCX bytes into `out`. A malformed document or a `Trackpoint`/`Lap` outside an
/// `Activity` is an error that names the byte position.
///
/// # Errors
/// Malformed XML, a value that is not a number or time where one is expected, or a
/// `Trackpoint`/`Lap` outside an `Activity`, with the byte position.
pub fn decode_into(data: &[u8], out: &mut Activity) -> Result<(), DecodeError> {
    let mut reader = Reader::from_reader(data);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut path: Vec<Vec<u8>> = Vec::with_capacity(16);
    let mut tp: Option<RecordRow> = None;
    let mut lap: Option<SummaryRow> = None;
    let mut lap_first_tp = 0usize;
    let mut session: Option<SummaryRow> = None;
    let mut session_first_lap = 0usize;
    let mut session_first_tp = 0usize;
    let mut version = Version::default();
    let mut saw_root = false;

    loop {
        let pos = reader.buffer_position();
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| DecodeError::Tcx {
                offset: pos as usize,
                reason: e.to_string(),
            })?;
        match ev {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_vec();
                match name.as_slice() {
                    b"TrainingCenterDatabase" => saw_root = true,
                    b"Activity" => {
                        let mut s = SummaryRow {
                            message_index: out.sessions.len() as i32,
                            ..Default::default()
                        };
                        for a in e.attributes().flatten() {
                            if a.key.local_name().as_ref() == b"Sport" {
                                s.sport = Some(String::from_utf8_lossy(&a.value).into_owned());
                            }
                        }
                        session = Some(s);
                        session_first_lap = out.laps.len();
                        session_first_tp = out.records.len();
                    }
                    b"Lap" if path.last().map(|p| p.as_slice()) == Some(b"Activity") => {
                        let mut l = SummaryRow {
                            message_index: out.laps.len() as i32,
                            sport: session.as_ref().and_then(|s| s.sport.clone()),
                            ..Default::default()
                        };
                        for a in e.attributes().flatten() {
                            if a.key.local_name().as_ref() == b"StartTime" {
                                l.start_time_us = parse_time_us(&String::from_utf8_lossy(&a.value));
                            }
                        }
                        lap = Some(l);
                        lap_first_tp = out.records.len();
                    }
                    b"Trackpoint" => tp = Some(RecordRow::default()),
                    _ => {}
                }
                path.push(name);
            }
            Event::End(e) => {
                let name = e.local_name();
                match name.as_ref() {
                    b"Trackpoint" => {
                        if let Some(r) = tp.take() {
                            *out.message_counts.entry("Trackpoint".into()).or_default() += 1;
                            out.records.push(r);
                        }
                    }
                    b"Lap" if path.len() >= 2 && path[path.len() - 2] == b"Activity" => {
                        if let Some(mut l) = lap.take() {
                            finish_from_points(&mut l, &out.records[lap_first_tp..], false);
                            *out.message_counts.entry("Lap".into()).or_default() += 1;
                            out.laps.push(l);
                        }
                    }
                    b"Activity" => {
                        if let Some(mut s) = session.take() {
                            let laps = &out.laps[session_first_lap..];
                            s.start_time_us = laps.iter().find_map(|l| l.start_time_us);
                            s.total_timer_time_s = sum(laps.iter().map(|l| l.total_timer_time_s));
                            s.total_distance_m = sum(laps.iter().map(|l| l.total_distance_m));
                            s.total_calories_kcal = laps
                                .iter()
                                .map(|l| l.total_calories_kcal)
                                .try_fold(0i32, |acc, c| c.map(|c| acc + c));
                            s.max_heart_rate_bpm =
                                laps.iter().filter_map(|l| l.max_heart_rate_bpm).max();
                            s.max_speed_m_s = laps
                                .iter()
                                .filter_map(|l| l.max_speed_m_s)
                                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
                            finish_from_points(&mut s, &out.records[session_first_tp..], true);
                            *out.message_counts.entry("Activity".into()).or_default() += 1;
                            out.sessions.push(s);
                        }
                    }
                    _ => {}
                }
                path.pop();
            }
            Event::Text(t) => {
                let text = t.xml_content().map_err(|e| DecodeError::Tcx {
                    offset: pos as usize,
                    reason: e.to_string(),
                })?;
                on_text(&path, text.trim(), &mut tp, &mut lap, out, &mut version);
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !saw_root {
        return Err(DecodeError::Tcx {
            offset: 0,
            reason: "no TrainingCenterDatabase element: not a TCX document".into(),
        });
    }
    if !path.is_empty() {
        return Err(DecodeError::Tcx {
            offset: data.len(),
            reason: "unexpected end of document (truncated TCX)".into(),
        });
    }
    if let (Some(a), b) = (version.major, version.minor) {
        out.info.software_version = Some(match b {
            Some(b) => format!("{a}.{b}"),
            None => a,
        });
    }
    out.info.file_type = Some("activity".into());
    Ok(())
}

fn sum(it: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let mut any = false;
    let mut total = 0.0;
    for v in it.flatten() {
        any = true;
        total += v;
    }
    any.then_some(total)
}

/// Fills the values TCX (or GPX) does not state for a lap/session from its points: end time,
/// start time when unset, start/end position, elapsed time and (with `bbox`) the bounding box.
pub(super) fn finish_from_points(s: &mut SummaryRow, pts: &[RecordRow], bbox: bool) {
    let first_pos = pts
        .iter()
        .find(|p| p.position_lat.is_some() && p.position_long.is_some());
    let last_pos = pts
        .iter()
        .rev()
        .find(|p| p.position_lat.is_some() && p.position_long.is_some());
    if let Some(p) = first_pos {
        s.start_position_lat = p.position_lat;
        s.start_position_long = p.position_long;
    }
    if let Some(p) = last_pos {
        s.end_position_lat = p.position_lat;
        s.end_position_long = p.position_long;
    }
    s.end_time_us = pts.iter().rev().find_map(|p| p.timestamp_us);
    if s.start_time_us.is_none() {
        s.start_time_us = pts.iter().find_map(|p| p.timestamp_us);
    }
    if let (Some(a), Some(b)) = (s.start_time_us, s.end_time_us) {
        s.total_elapsed_time_s = Some((b - a) as f64 / 1e6);
    }
    if bbox {
        for p in pts {
            if let (Some(la), Some(lo)) = (p.position_lat, p.position_long) {
                s.nec_lat = Some(s.nec_lat.map_or(la, |v: f64| v.max(la)));
                s.nec_long = Some(s.nec_long.map_or(lo, |v: f64| v.max(lo)));
                s.swc_lat = Some(s.swc_lat.map_or(la, |v: f64| v.min(la)));
                s.swc_long = Some(s.swc_long.map_or(lo, |v: f64| v.min(lo)));
            }
        }
    }
}

pub(super) fn f64_of(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

pub(super) fn int_of<T: TryFrom<i64>>(s: &str) -> Option<T> {
    f64_of(s).and_then(|v| T::try_from(v.round() as i64).ok())
}

fn on_text(
    path: &[Vec<u8>],
    text: &str,
    tp: &mut Option<RecordRow>,
    lap: &mut Option<SummaryRow>,
    out: &mut Activity,
    version: &mut Version,
) {
    let n = path.len();
    if n < 2 {
        return;
    }
    let leaf = path[n - 1].as_slice();
    let parent = path[n - 2].as_slice();
    let grand = if n >= 3 { path[n - 3].as_slice() } else { b"" };
    if let Some(r) = tp.as_mut() {
        match (parent, leaf) {
            (b"Trackpoint", b"Time") => r.timestamp_us = parse_time_us(text),
            (b"Position", b"LatitudeDegrees") => r.position_lat = f64_of(text),
            (b"Position", b"LongitudeDegrees") => r.position_long = f64_of(text),
            (b"Trackpoint", b"AltitudeMeters") => r.altitude_m = f64_of(text),
            (b"Trackpoint", b"DistanceMeters") => r.distance_m = f64_of(text),
            (b"HeartRateBpm", b"Value") => r.heart_rate_bpm = int_of(text),
            (b"Trackpoint", b"Cadence") => r.cadence_rpm = int_of(text),
            (b"TPX", b"Speed") => r.speed_m_s = f64_of(text),
            (b"TPX", b"RunCadence") => r.cadence_rpm = r.cadence_rpm.or(int_of(text)),
            (b"TPX", b"Watts") => r.power_w = int_of(text),
            _ => {}
        }
        return;
    }
    if let Some(l) = lap.as_mut() {
        match (parent, leaf) {
            (b"Lap", b"TotalTimeSeconds") => l.total_timer_time_s = f64_of(text),
            (b"Lap", b"DistanceMeters") => l.total_distance_m = f64_of(text),
            (b"Lap", b"MaximumSpeed") => l.max_speed_m_s = f64_of(text),
            (b"Lap", b"Calories") => l.total_calories_kcal = int_of(text),
            (b"AverageHeartRateBpm", b"Value") if grand == b"Lap" => {
                l.avg_heart_rate_bpm = int_of(text)
            }
            (b"MaximumHeartRateBpm", b"Value") if grand == b"Lap" => {
                l.max_heart_rate_bpm = int_of(text)
            }
            (b"LX", b"AvgSpeed") => l.avg_speed_m_s = f64_of(text),
            _ => {}
        }
        return;
    }
    let in_creator = path.iter().any(|p| p.as_slice() == b"Creator");
    match (parent, leaf) {
        (b"Activity", b"Id") => out.info.time_created_us = parse_time_us(text),
        (b"Creator", b"Name") => out.info.product = Some(text.to_string()),
        (b"Creator", b"UnitId") => out.info.serial_number = int_of(text),
        (b"Version", b"VersionMajor") if in_creator => version.major = Some(text.to_string()),
        (b"Version", b"VersionMinor") if in_creator => version.minor = Some(text.to_string()),
        _ => {}
    }
}
