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

pub mod mask;
mod operator;
pub mod summary;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::format::Activity;
use crate::schema::Table;

pub use operator::{PrivacyZone, ZonedActivity, zone_activity};

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
pub(crate) fn keyed_uniform(key: &[u8], domain: &[u8], parts: &[&[u8]]) -> (f64, f64) {
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

/// What the privacy zone hid (one activity, or summed over a batch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ZoneStats {
    /// Records before.
    pub records_in: usize,
    /// Records removed.
    pub records_hidden: usize,
    /// Laps removed (no visible record left).
    pub laps_removed: usize,
}

impl ZoneStats {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &ZoneStats) {
        self.records_in += other.records_in;
        self.records_hidden += other.records_hidden;
        self.laps_removed += other.laps_removed;
    }
}

/// Applies the zone to one decoded activity in place, for `subject` (the same code as
/// [`PrivacyZone::apply`], on the activity's batches). `key` is required for the keyed
/// parts ([`ZoneConfig::is_keyed`]); without it they are off.
///
/// # Errors
/// The activity's rows do not form valid canonical batches (a decoder bug).
pub fn apply_zone(
    a: &mut Activity,
    cfg: &ZoneConfig,
    key: Option<&[u8]>,
    subject: &str,
) -> datafusion::common::Result<ZoneStats> {
    let z = zone_activity(
        cfg,
        key,
        subject,
        &a.activity_id,
        &a.to_batch(Table::Records)?,
        &a.to_batch(Table::Laps)?,
        &a.to_batch(Table::Sessions)?,
    )?;
    a.records = crate::format::from_arrow::read_records(&z.records)?;
    a.laps = crate::format::from_arrow::read_summaries(&z.laps)?;
    a.sessions = crate::format::from_arrow::read_summaries(&z.sessions)?;
    Ok(z.stats)
}
