//! Location privacy zones that survive the published attacks.
//!
//! Fitness platforms hide the start and end of an activity inside a circle ("privacy zone").
//! Hassan et al. (USENIX Security 2018) recover 84% of hidden homes by fitting a circle to
//! the points where tracks enter or leave it; Dhondt et al. (ACM CCS 2022) locate 85.55% of
//! homes behind 200 m zones within 22.95 m from the *distance* values activities still
//! publish. [`apply_zone`] defends against both:
//!
//! 1. **Hidden points are removed.** A point is hidden if it lies inside the zone around the
//!    activity's start or end (automatic zones) or inside an explicit zone of the subject.
//! 2. **The zone centre is shifted** by a keyed offset that is stable per subject
//!    ([`subject_offset`]: bearing and distance from HMAC-SHA256(key, subject), distance
//!    uniform in [`ZoneConfig::offset_range`]·R, default [`OFFSET_RANGE`]), never re-drawn
//!    per activity (re-drawing lets an attacker average it away). The zone's radius grows by
//!    the same distance (`R + |o|`), so every point within `R` of the true start/end is still
//!    hidden while the circle an attacker fits is centred on the shifted point, far from the
//!    home. Beyond each zone edge a keyed random stretch of path ([`ZoneConfig::trim_m`]) is
//!    hidden too, so the visible endpoints do not lie on one circle. The radius also grows
//!    by a keyed per-subject slack ([`subject_slack`]), so that the fitted radius does not
//!    give away the offset length.
//! 3. **Gate.** For a keyed share of activities ([`ZoneConfig::gate_share`]) everything on
//!    the home side of the line through the shifted centre is hidden too, so the visible
//!    ends no longer cluster next to the home.
//! 4. **Derived values are recomputed from what remains.** Cumulative distance is re-based at
//!    the first visible point (the hidden distance is gone, which defeats the distance
//!    attack) and rounded to `distance_quantum_m`; lap and session start/end times and
//!    positions, bounding boxes, distance, elapsed time, ascent/descent, speed and heart-rate
//!    summaries are recomputed from the visible points; timer time and calories, which
//!    cannot be, are removed; a lap without visible points is removed.
//!
//! Records without a position take the hidden state of the last positioned record before
//! them (hidden before the first visible one), so time-only samples near home go too.

pub mod evaluate;

use datamin_udfs::geo::{LocalFrame, destination, haversine_m};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::format::{Activity, RecordRow, SummaryRow};

/// An explicit zone: a circle around a place to hide (a home, a workplace).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplicitZone {
    /// Centre latitude, degrees.
    pub lat: f64,
    /// Centre longitude, degrees.
    pub long: f64,
    /// Radius, metres.
    pub radius_m: f64,
    /// Only for this subject (`None`: every subject).
    pub subject: Option<String>,
}

/// Parameters of the privacy-zone rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneConfig {
    /// Radius R of the automatic zones around every activity's start and end, metres
    /// (0: no automatic zones, only explicit ones).
    pub radius_m: f64,
    /// Published distances are rounded to a multiple of this, metres (0: not rounded).
    pub distance_quantum_m: f64,
    /// Shift zone centres by the keyed per-subject offset (needs the key).
    pub offset: bool,
    /// Range of the offset length as multiples of R, `[lo, hi)`; see [`subject_offset`].
    pub offset_range: (f64, f64),
    /// Beyond every zone boundary a track crosses, hide a further keyed random stretch of
    /// path, uniform in `[0, trim_m)` metres and drawn per activity and crossing (needs the
    /// key; 0: off). The points where tracks leave the zone then no longer lie on its
    /// circle, so the circle an attacker fits through them is blurred too.
    pub trim_m: f64,
    /// Keyed per-subject slack added to the zone radius, uniform in `[0, radius_slack_m)`
    /// metres (needs the key; 0: off). Without it the fitted circle's radius minus R is
    /// exactly the offset length, and an attacker who knows the mechanism walks that far
    /// from the fitted centre; see [`subject_slack`].
    pub radius_slack_m: f64,
    /// Share of activities, chosen per activity from the key, whose automatic zones are
    /// *gated*: besides the zone, everything on the home side of the line through the
    /// shifted centre (perpendicular to the offset) is hidden, so these activities only
    /// show points on the far side, away from the home (0: off; needs the offset). Visible
    /// ends of ungated activities cluster on the home side of the zone; the gated ones
    /// pull the centroid of all ends away from it. See [`ZoneConfig::gated`].
    pub gate_share: f64,
    /// Explicit zones.
    pub zones: Vec<ExplicitZone>,
}

impl ZoneConfig {
    /// Whether the rule draws from the secret key (the offset or the trimming).
    pub fn is_keyed(&self) -> bool {
        self.offset || self.trim_m > 0.0 || self.radius_slack_m > 0.0
    }

    /// Whether the automatic zones of activity `activity_id` are gated (see
    /// [`ZoneConfig::gate_share`]): `HMAC-SHA256(key, "datamin/zone-gate/" || activity_id)`
    /// read as a number in [0, 1) is below `gate_share`.
    pub fn gated(&self, key: &[u8], activity_id: &str) -> bool {
        self.offset
            && self.gate_share > 0.0
            && keyed_uniform(key, b"datamin/zone-gate/", &[activity_id.as_bytes()]).0
                < self.gate_share
    }
}

impl Default for ZoneConfig {
    fn default() -> Self {
        Self {
            radius_m: 200.0,
            distance_quantum_m: 100.0,
            offset: true,
            offset_range: OFFSET_RANGE,
            trim_m: 300.0,
            radius_slack_m: RADIUS_SLACK_M,
            gate_share: GATE_SHARE,
            zones: Vec::new(),
        }
    }
}

/// Default [`ZoneConfig::radius_slack_m`], metres.
pub const RADIUS_SLACK_M: f64 = 300.0;

/// Default [`ZoneConfig::gate_share`].
pub const GATE_SHARE: f64 = 0.6;

/// Default range of the zone-centre offset as multiples of R: `[lo, hi)`.
pub const OFFSET_RANGE: (f64, f64) = (2.5, 3.5);

/// Two numbers uniform in [0, 1) from `HMAC-SHA256(key, domain || parts...)`.
fn keyed_uniform(key: &[u8], domain: &[u8], parts: &[&[u8]]) -> (f64, f64) {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(domain);
    for p in parts {
        m.update(p);
    }
    let h = m.finalize().into_bytes();
    let u = |b: &[u8]| u64::from_be_bytes(b.try_into().expect("8 bytes")) as f64 / 2f64.powi(64);
    (u(&h[0..8]), u(&h[8..16]))
}

/// The keyed, per-subject stable offset of zone centres: `(bearing in radians, distance in
/// metres)`, bearing uniform in [0, 2π), distance uniform in `range`·R. Derived from
/// `HMAC-SHA256(key, "datamin/zone-offset/" || subject)`: the same key and subject always
/// give the same offset, and without the key it cannot be predicted.
pub fn subject_offset(key: &[u8], subject: &str, radius_m: f64, range: (f64, f64)) -> (f64, f64) {
    let (a, b) = keyed_uniform(key, b"datamin/zone-offset/", &[subject.as_bytes()]);
    let (lo, hi) = range;
    (a * std::f64::consts::TAU, radius_m * (lo + (hi - lo) * b))
}

/// The keyed, per-subject stable slack added to zone radii, metres: uniform in
/// `[0, slack_m)`, from `HMAC-SHA256(key, "datamin/zone-slack/" || subject)`.
pub fn subject_slack(key: &[u8], subject: &str, slack_m: f64) -> f64 {
    slack_m * keyed_uniform(key, b"datamin/zone-slack/", &[subject.as_bytes()]).0
}

/// Extends the hidden stretches of `keep` (one flag per record, `false` = hidden): every run
/// of visible records that borders a hidden one loses a keyed random path length, uniform in
/// `[0, trim_m)` metres, at that border. Drawn from
/// `HMAC-SHA256(key, "datamin/zone-trim/" || activity_id || run || side)`, so reruns are
/// identical.
fn trim_borders(recs: &[RecordRow], keep: &mut [bool], trim_m: f64, key: &[u8], activity: &str) {
    let n = keep.len();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < n {
        if keep[i] {
            let s = i;
            while i < n && keep[i] {
                i += 1;
            }
            runs.push((s, i));
        } else {
            i += 1;
        }
    }
    for (k, &(s, e)) in runs.iter().enumerate() {
        let (u_start, u_end) = keyed_uniform(
            key,
            b"datamin/zone-trim/",
            &[activity.as_bytes(), &(k as u64).to_be_bytes()],
        );
        let mut hide = |order: &mut dyn Iterator<Item = usize>, len: f64| {
            let (mut walked, mut prev) = (0.0, None::<(f64, f64)>);
            for j in order {
                if let Some(p) = recs[j].position_lat.zip(recs[j].position_long) {
                    if let Some(q) = prev {
                        walked += haversine_m(q.0, q.1, p.0, p.1);
                    }
                    prev = Some(p);
                }
                if walked >= len {
                    break;
                }
                keep[j] = false;
            }
        };
        if s > 0 {
            hide(&mut (s..e), u_start * trim_m);
        }
        if e < n {
            hide(&mut (s..e).rev(), u_end * trim_m);
        }
    }
}

/// The subject an activity belongs to: a Hive-style `subject=<id>` segment of its path,
/// else the device serial number, else the activity id.
pub fn subject_of(a: &Activity) -> String {
    if let Some(seg) = a
        .source_file
        .split('/')
        .find_map(|s| s.strip_prefix("subject="))
    {
        return seg.to_string();
    }
    match a.info.serial_number {
        Some(s) => format!("serial:{s}"),
        None => format!("activity:{}", a.activity_id),
    }
}

/// What [`apply_zone`] did to one activity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ZoneStats {
    /// Records before.
    pub records_in: usize,
    /// Records removed.
    pub records_hidden: usize,
    /// Laps removed (no visible record left).
    pub laps_removed: usize,
}

struct Circle {
    lat: f64,
    long: f64,
    radius_m: f64,
}

/// Applies the privacy zones to `a` in place (see the module docs). `key` is required when
/// `cfg.offset` is set.
pub fn apply_zone(
    a: &mut Activity,
    cfg: &ZoneConfig,
    key: Option<&[u8]>,
    subject: &str,
) -> ZoneStats {
    let mut stats = ZoneStats {
        records_in: a.records.len(),
        ..Default::default()
    };
    let (bearing, dist) = match (cfg.offset, key) {
        (true, Some(k)) => subject_offset(k, subject, cfg.radius_m.max(1.0), cfg.offset_range),
        _ => (0.0, 0.0),
    };
    let slack = match key {
        Some(k) if cfg.radius_slack_m > 0.0 => subject_slack(k, subject, cfg.radius_slack_m),
        _ => 0.0,
    };
    let shifted = |lat: f64, long: f64, r: f64| {
        let (la, lo) = if dist > 0.0 {
            destination(lat, long, bearing, dist)
        } else {
            (lat, long)
        };
        Circle {
            lat: la,
            long: lo,
            radius_m: r + dist + slack,
        }
    };
    let mut circles = Vec::new();
    // gates: (frame at a shifted centre); hidden where (x, y)·toward < 0, toward = the
    // offset direction (from the anchor to the shifted centre)
    let mut gates = Vec::new();
    let gated = dist > 0.0 && key.is_some_and(|k| cfg.gated(k, &a.activity_id));
    let pos = |r: &RecordRow| r.position_lat.zip(r.position_long);
    if cfg.radius_m > 0.0 {
        let ends = [
            a.records.iter().find_map(pos),
            a.records.iter().rev().find_map(pos),
        ];
        for (la, lo) in ends.into_iter().flatten() {
            let c = shifted(la, lo, cfg.radius_m);
            if gated {
                gates.push(LocalFrame::new(c.lat, c.long));
            }
            circles.push(c);
        }
    }
    let toward = (bearing.sin(), bearing.cos());
    let behind_gate = |la: f64, lo: f64| {
        gates.iter().any(|f| {
            let (x, y) = f.to_xy(la, lo);
            x * toward.0 + y * toward.1 < 0.0
        })
    };
    for z in &cfg.zones {
        if z.subject.as_deref().is_none_or(|s| s == subject) {
            circles.push(shifted(z.lat, z.long, z.radius_m));
        }
    }
    // 1. hide
    let mut hidden_state = true;
    let mut keep: Vec<bool> = a
        .records
        .iter()
        .map(|r| {
            if let Some((la, lo)) = pos(r) {
                hidden_state = circles
                    .iter()
                    .any(|c| haversine_m(la, lo, c.lat, c.long) < c.radius_m)
                    || behind_gate(la, lo);
            }
            !hidden_state
        })
        .collect();
    if let (Some(k), true) = (key, cfg.trim_m > 0.0) {
        trim_borders(&a.records, &mut keep, cfg.trim_m, k, &a.activity_id);
    }
    let mut it = keep.iter();
    a.records
        .retain(|_| *it.next().expect("one flag per record"));
    stats.records_hidden = stats.records_in - a.records.len();

    // 2. re-base and round cumulative distance
    let quant = |d: f64| {
        if cfg.distance_quantum_m > 0.0 {
            (d / cfg.distance_quantum_m).round() * cfg.distance_quantum_m
        } else {
            d
        }
    };
    let base = a.records.iter().find_map(|r| r.distance_m);
    let raw_distance: Vec<Option<f64>> = a.records.iter().map(|r| r.distance_m).collect();
    if let Some(b) = base {
        for r in &mut a.records {
            r.distance_m = r.distance_m.map(|d| quant((d - b).max(0.0)));
        }
    }

    // 3. recompute laps and sessions from the visible records
    let recs = &a.records;
    let summarize = |s: &mut SummaryRow| -> bool {
        let in_range = |r: &RecordRow| match (r.timestamp_us, s.start_time_us, s.end_time_us) {
            (Some(t), Some(a), Some(b)) => t >= a && t <= b,
            (Some(t), Some(a), None) => t >= a,
            _ => false,
        };
        let idx: Vec<usize> = (0..recs.len()).filter(|&i| in_range(&recs[i])).collect();
        recompute(s, recs, &raw_distance, &idx, &quant)
    };
    let before = a.laps.len();
    a.laps.retain_mut(|l| summarize(l));
    stats.laps_removed = before - a.laps.len();
    let single_session = a.sessions.len() == 1;
    for s in &mut a.sessions {
        let visible = if single_session {
            let idx: Vec<usize> = (0..recs.len()).collect();
            recompute(s, recs, &raw_distance, &idx, &quant)
        } else {
            summarize(s)
        };
        if !visible {
            clear_location(s);
        }
    }
    stats
}

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

/// Recomputes the summary `s` from the visible records `idx` (in time order); `false` when
/// there are none.
fn recompute(
    s: &mut SummaryRow,
    recs: &[RecordRow],
    raw_distance: &[Option<f64>],
    idx: &[usize],
    quant: &dyn Fn(f64) -> f64,
) -> bool {
    if idx.is_empty() {
        return false;
    }
    clear_location(s);
    let rows = idx.iter().map(|&i| &recs[i]);
    let t0 = rows.clone().find_map(|r| r.timestamp_us);
    let t1 = rows.clone().rev().find_map(|r| r.timestamp_us);
    s.start_time_us = t0;
    s.end_time_us = t1;
    s.total_elapsed_time_s = t0.zip(t1).map(|(a, b)| (b - a) as f64 / 1e6);
    let pos = |r: &&RecordRow| r.position_lat.zip(r.position_long);
    if let Some((la, lo)) = rows.clone().find_map(|r| pos(&r)) {
        (s.start_position_lat, s.start_position_long) = (Some(la), Some(lo));
    }
    if let Some((la, lo)) = rows.clone().rev().find_map(|r| pos(&r)) {
        (s.end_position_lat, s.end_position_long) = (Some(la), Some(lo));
    }
    for (la, lo) in rows.clone().filter_map(|r| pos(&r)) {
        s.nec_lat = Some(s.nec_lat.map_or(la, |v| v.max(la)));
        s.nec_long = Some(s.nec_long.map_or(lo, |v| v.max(lo)));
        s.swc_lat = Some(s.swc_lat.map_or(la, |v| v.min(la)));
        s.swc_long = Some(s.swc_long.map_or(lo, |v| v.min(lo)));
    }
    let d0 = idx.iter().find_map(|&i| raw_distance[i]);
    let d1 = idx.iter().rev().find_map(|&i| raw_distance[i]);
    if let (Some(a), Some(b)) = (d0, d1) {
        let d = quant((b - a).max(0.0));
        s.total_distance_m = Some(d);
        if let Some(e) = s.total_elapsed_time_s.filter(|e| *e > 0.0) {
            s.avg_speed_m_s = Some(d / e);
        }
    }
    s.max_speed_m_s = rows
        .clone()
        .filter_map(|r| r.speed_m_s)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let alts: Vec<f64> = rows.clone().filter_map(|r| r.altitude_m).collect();
    if alts.len() > 1 {
        let (mut up, mut down) = (0.0, 0.0);
        for w in alts.windows(2) {
            let d = w[1] - w[0];
            if d > 0.0 { up += d } else { down -= d }
        }
        s.total_ascent_m = Some(up.round());
        s.total_descent_m = Some(down.round());
    }
    let hr: Vec<i64> = rows
        .clone()
        .filter_map(|r| r.heart_rate_bpm.map(i64::from))
        .collect();
    if !hr.is_empty() {
        s.avg_heart_rate_bpm =
            Some((hr.iter().sum::<i64>() as f64 / hr.len() as f64).round() as i16);
        s.max_heart_rate_bpm = hr.iter().max().map(|v| *v as i16);
    }
    true
}
