//! Lap and session summaries recomputed from the samples the privacy zone left visible, so
//! that no published total, position or bounding box reveals a hidden sample.

use super::mask::LatLong;
use crate::format::SummaryRow;

/// The visible samples of one activity, in time order (units as in
/// [`crate::schema::records_schema`]). `raw_distance_m` is the cumulative distance as
/// recorded, before re-basing and rounding.
#[derive(Debug, Default, Clone)]
pub struct VisibleTrack {
    /// µs since the epoch, UTC.
    pub timestamp_us: Vec<Option<i64>>,
    /// Degrees.
    pub position: Vec<Option<LatLong>>,
    /// Metres, cumulative as recorded.
    pub raw_distance_m: Vec<Option<f64>>,
    /// m/s.
    pub speed_m_s: Vec<Option<f64>>,
    /// Metres.
    pub altitude_m: Vec<Option<f64>>,
    /// bpm.
    pub heart_rate_bpm: Vec<Option<i16>>,
}

impl VisibleTrack {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.timestamp_us.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.timestamp_us.is_empty()
    }

    /// Indexes of the samples whose timestamp lies in the summary's `[start, end]` (or after
    /// `start` when the summary has no end).
    fn in_range(&self, s: &SummaryRow) -> Vec<usize> {
        (0..self.len())
            .filter(
                |&i| match (self.timestamp_us[i], s.start_time_us, s.end_time_us) {
                    (Some(t), Some(a), Some(b)) => t >= a && t <= b,
                    (Some(t), Some(a), None) => t >= a,
                    _ => false,
                },
            )
            .collect()
    }
}

/// Recomputes lap `s` from the visible samples in its time range; `false` (remove the lap)
/// when it has none.
pub fn recompute_lap(s: &mut SummaryRow, track: &VisibleTrack, quant: &dyn Fn(f64) -> f64) -> bool {
    let idx = track.in_range(s);
    recompute(s, track, &idx, quant)
}

/// Recomputes session `s` from the visible samples: all of them when the activity has one
/// session, else those in its time range. A session without visible samples keeps its
/// time and sport but loses every location-derived value.
pub fn recompute_session(
    s: &mut SummaryRow,
    track: &VisibleTrack,
    single_session: bool,
    quant: &dyn Fn(f64) -> f64,
) {
    let idx = if single_session {
        (0..track.len()).collect()
    } else {
        track.in_range(s)
    };
    if !recompute(s, track, &idx, quant) {
        clear_location(s);
    }
}

/// Removes every value of `s` that is derived from positions or that cannot be recomputed
/// from the visible samples (timer time, calories).
fn clear_location(s: &mut SummaryRow) {
    s.start_position_lat = None;
    s.start_position_long = None;
    s.end_position_lat = None;
    s.end_position_long = None;
    s.nec_lat = None;
    s.nec_long = None;
    s.swc_lat = None;
    s.swc_long = None;
    s.total_distance_m = None;
    s.total_ascent_m = None;
    s.total_descent_m = None;
    s.total_timer_time_s = None;
    s.total_calories_kcal = None;
    s.avg_speed_m_s = None;
    s.max_speed_m_s = None;
}

/// Recomputes the summary `s` from the visible samples `idx` (in time order); `false` when
/// there are none.
fn recompute(
    s: &mut SummaryRow,
    t: &VisibleTrack,
    idx: &[usize],
    quant: &dyn Fn(f64) -> f64,
) -> bool {
    if idx.is_empty() {
        return false;
    }
    clear_location(s);
    let t0 = idx.iter().find_map(|&i| t.timestamp_us[i]);
    let t1 = idx.iter().rev().find_map(|&i| t.timestamp_us[i]);
    s.start_time_us = t0;
    s.end_time_us = t1;
    s.total_elapsed_time_s = t0.zip(t1).map(|(a, b)| (b - a) as f64 / 1e6);
    if let Some((la, lo)) = idx.iter().find_map(|&i| t.position[i]) {
        (s.start_position_lat, s.start_position_long) = (Some(la), Some(lo));
    }
    if let Some((la, lo)) = idx.iter().rev().find_map(|&i| t.position[i]) {
        (s.end_position_lat, s.end_position_long) = (Some(la), Some(lo));
    }
    for (la, lo) in idx.iter().filter_map(|&i| t.position[i]) {
        s.nec_lat = Some(s.nec_lat.map_or(la, |v| v.max(la)));
        s.nec_long = Some(s.nec_long.map_or(lo, |v| v.max(lo)));
        s.swc_lat = Some(s.swc_lat.map_or(la, |v| v.min(la)));
        s.swc_long = Some(s.swc_long.map_or(lo, |v| v.min(lo)));
    }
    let d0 = idx.iter().find_map(|&i| t.raw_distance_m[i]);
    let d1 = idx.iter().rev().find_map(|&i| t.raw_distance_m[i]);
    if let (Some(a), Some(b)) = (d0, d1) {
        let d = quant((b - a).max(0.0));
        s.total_distance_m = Some(d);
        if let Some(e) = s.total_elapsed_time_s.filter(|e| *e > 0.0) {
            s.avg_speed_m_s = Some(d / e);
        }
    }
    s.max_speed_m_s = idx
        .iter()
        .filter_map(|&i| t.speed_m_s[i])
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let alts: Vec<f64> = idx.iter().filter_map(|&i| t.altitude_m[i]).collect();
    if alts.len() > 1 {
        let (mut up, mut down) = (0.0, 0.0);
        for w in alts.windows(2) {
            let d = w[1] - w[0];
            if d > 0.0 { up += d } else { down -= d }
        }
        s.total_ascent_m = Some(up.round());
        s.total_descent_m = Some(down.round());
    }
    let hr: Vec<i64> = idx
        .iter()
        .filter_map(|&i| t.heart_rate_bpm[i].map(i64::from))
        .collect();
    if !hr.is_empty() {
        s.avg_heart_rate_bpm =
            Some((hr.iter().sum::<i64>() as f64 / hr.len() as f64).round() as i16);
        s.max_heart_rate_bpm = hr.iter().max().map(|v| *v as i16);
    }
    true
}
