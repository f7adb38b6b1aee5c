//! Location privacy zones that survive an attacker who knows the mechanism.
//!
//! Fitness platforms hide the start and end of an activity inside a circle ("privacy zone").
//! Hassan et al. (USENIX Security 2018) recover 84% of hidden homes by fitting a circle to
//! the points where tracks enter or leave it; Dhondt et al. (ACM CCS 2022) locate 85.55% of
//! homes behind 200 m zones within 22.95 m from the *distance* values activities still
//! publish. Both work because the hidden region is a function of the home: a circle around
//! it. [`apply_zone`] hides a region that is *the same for every home inside a cell*:
//!
//! 1. **Keyed cells.** Each subject has a hexagonal grid of cells (circumradius
//!    [`ZoneConfig::cell_m`], area `3√3/2·cell_m²`) whose origin and rotation come from
//!    HMAC-SHA256(key, subject) ([`cells::Grid`]): stable per subject, unpredictable without
//!    the key. The start and the end of every activity are replaced by the centre of the
//!    cell that holds them (a *spatial cloaking* region in the sense of Gruteser and Grunwald,
//!    MobiSys 2003, with a per-user keyed grid).
//! 2. **Hidden disks around cell centres.** Every point within `1.06·cell_m + radius_m` of such a
//!    centre is hidden. The disk covers the whole cell with a margin of at least
//!    [`ZoneConfig::radius_m`] around every point of it, so every point within `radius_m` of
//!    the true start/end is hidden, and the disk's centre and radius are the same for every
//!    home in the cell: fitting the circle (Hassan et al.) yields the cell, never the home.
//! 3. **Keyed trim.** Beyond every zone edge a track crosses, a further stretch of path is
//!    hidden, uniform in `[0, trim_m)` and drawn per activity and crossing, so visible ends and
//!    their headings do not sit exactly on the circle.
//! 4. **Derived values are recomputed from what remains, or removed.** Cumulative distance is
//!    re-based at the first visible point and rounded to `distance_quantum_m`; session start
//!    and end times and positions, bounding boxes, distance, elapsed time, ascent/descent,
//!    speed and heart-rate summaries are recomputed from the visible points; timer time and
//!    calories are removed; **laps are removed** from every activity the zone hid anything
//!    of (their boundaries sit at fixed distances or times from the hidden start, which is
//!    what Dhondt et al.'s distance attack needs); `activities.time_created` is removed and
//!    `start_time`/`end_time`/`record_count` describe the visible samples.
//! 5. **Keyed displacement.** Every published position of a subject (records, and the
//!    positions and bounding boxes of laps and sessions, which are recomputed from them) is
//!    moved by one vector per subject, uniform by area in an annulus of
//!    [`ZoneConfig::displacement_min_m`]..[`ZoneConfig::displacement_max_m`] ([`displace`]),
//!    so that what the visible tracks say about where they began locates only the displaced
//!    home. Shapes, distances, speeds and times are unchanged.
//!
//! Records without a position take the hidden state of the last positioned record before
//! them (hidden before the first visible one), so time-only samples near home go too.
//!
//! What the visible tracks' exits and headings say about where inside its cell a home lies
//! points at the displaced home; the home itself stays uniform over the displacement's
//! annulus around it (`π·(max² − min²)`, 1.51 km² by default) for an attacker who cannot tie
//! a published track to the ground. `docs/principles.md` states the argument, its limits
//! and the measured attacks.

pub mod cells;
pub mod displace;
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
    /// Margin R, metres: every point within R of an activity's start or end (or of any
    /// point of its cell) is hidden (0: no automatic zones, only explicit ones).
    pub radius_m: f64,
    /// Published distances are rounded to a multiple of this, metres (0: not rounded).
    pub distance_quantum_m: f64,
    /// Circumradius (= side) of the keyed hexagonal cells, metres (0: no cells; the zone is
    /// then a plain circle of radius R around the start/end, as platforms do, and offers
    /// no protection against circle fitting). The home is hidden among all points of its
    /// cell, `3√3/2 · cell_m²` m² (0.65 km² at the default 500 m).
    pub cell_m: f64,
    /// Beyond every zone boundary a track crosses, hide a further keyed random stretch of
    /// path, uniform in `[0, trim_m)` metres and drawn per activity and crossing (needs the
    /// key; 0: off).
    pub trim_m: f64,
    /// Smallest length of the keyed per-subject displacement of every published position,
    /// metres ([`displace`]).
    pub displacement_min_m: f64,
    /// Largest length of the keyed per-subject displacement, metres (0: positions are
    /// published where they were recorded). The length is uniform by area in
    /// `[displacement_min_m, displacement_max_m]`, the direction uniform.
    pub displacement_max_m: f64,
    /// Explicit zones: hidden as if an activity started at their centre, with their radius
    /// as the margin.
    pub zones: Vec<ExplicitZone>,
}

impl ZoneConfig {
    /// Whether the rule draws from the secret key (the cells' grid, the trimming or the
    /// displacement).
    pub fn is_keyed(&self) -> bool {
        self.cell_m > 0.0 || self.trim_m > 0.0 || self.displacement_max_m > 0.0
    }

    /// Area of the annulus the displacement is drawn from, m²
    /// (`π·(displacement_max_m² − displacement_min_m²)`): the region over which a home stays
    /// uniformly uncertain around an exact estimate of its displaced position.
    pub fn displacement_area_m2(&self) -> f64 {
        std::f64::consts::PI
            * (self.displacement_max_m.powi(2) - self.displacement_min_m.powi(2)).max(0.0)
    }

    /// Radius of the hidden disk around a cell centre for margin `margin_m`, metres:
    /// `1.06 · cell_m + margin_m`. The factor bounds how far a cell reaches from its centre
    /// on the ground (the projection's shear, see [`cells`]), so the disk covers the whole
    /// cell with at least `margin_m` to spare.
    pub fn disk_radius_m(&self, margin_m: f64) -> f64 {
        cells::GROUND_REACH * self.cell_m + margin_m
    }

    /// Area of one cell, m² (`3√3/2 · cell_m²`): the region over which the home stays
    /// hidden.
    pub fn cell_area_m2(&self) -> f64 {
        1.5 * 3f64.sqrt() * self.cell_m * self.cell_m
    }
}

impl Default for ZoneConfig {
    fn default() -> Self {
        Self {
            radius_m: 200.0,
            distance_quantum_m: 100.0,
            cell_m: CELL_M,
            trim_m: TRIM_M,
            displacement_min_m: DISPLACEMENT_MIN_M,
            displacement_max_m: DISPLACEMENT_MAX_M,
            zones: Vec::new(),
        }
    }
}

/// Default [`ZoneConfig::cell_m`], metres.
pub const CELL_M: f64 = 500.0;

/// Default [`ZoneConfig::trim_m`], metres.
pub const TRIM_M: f64 = 150.0;

/// Default [`ZoneConfig::displacement_min_m`], metres.
pub const DISPLACEMENT_MIN_M: f64 = 100.0;

/// Default [`ZoneConfig::displacement_max_m`], metres.
pub const DISPLACEMENT_MAX_M: f64 = 700.0;

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

/// What the privacy zone hid (one activity, or summed over a batch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ZoneStats {
    /// Records before.
    pub records_in: usize,
    /// Records removed.
    pub records_hidden: usize,
    /// Laps removed (no visible record left).
    pub laps_removed: usize,
    /// Activities whose subject was unknown (no `subject` column, no `subject=<id>` folder,
    /// no device serial number): each was zoned as its own subject, so its cells, anchors
    /// and displacement are not shared with the person's other activities.
    pub activities_without_subject: usize,
}

impl ZoneStats {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &ZoneStats) {
        self.records_in += other.records_in;
        self.records_hidden += other.records_hidden;
        self.laps_removed += other.laps_removed;
        self.activities_without_subject += other.activities_without_subject;
    }
}

/// Applies the zone to one decoded activity in place, for `subject`, without anchors (each
/// end uses its own cell; [`PrivacyZone::apply_activity`] keeps a subject's anchors across
/// activities and is what the pipeline does). `key` is required for the keyed parts
/// ([`ZoneConfig::is_keyed`]); without it the grid is unkeyed, trimming is off and nothing
/// is displaced.
/// `info.time_created_us` is removed as [`PrivacyZone::apply`] removes
/// `activities.time_created`.
///
/// # Errors
/// The activity's rows do not form valid canonical batches (a decoder bug).
pub fn apply_zone(
    a: &mut Activity,
    cfg: &ZoneConfig,
    key: Option<&[u8]>,
    subject: &str,
) -> datafusion::common::Result<ZoneStats> {
    zone_in_place(a, cfg, key, subject, None)
}

/// [`zone_activity`] on a decoded activity, written back into it (`time_created` removed).
pub(crate) fn zone_in_place(
    a: &mut Activity,
    cfg: &ZoneConfig,
    key: Option<&[u8]>,
    subject: &str,
    anchors: Option<&mut Vec<cells::Cell>>,
) -> datafusion::common::Result<ZoneStats> {
    let z = zone_activity(
        cfg,
        key,
        subject,
        &a.activity_id,
        &a.to_batch(Table::Records)?,
        &a.to_batch(Table::Laps)?,
        &a.to_batch(Table::Sessions)?,
        anchors,
    )?;
    a.records = crate::format::from_arrow::read_records(&z.records)?;
    a.laps = crate::format::from_arrow::read_summaries(&z.laps)?;
    a.sessions = crate::format::from_arrow::read_summaries(&z.sessions)?;
    a.info.time_created_us = None;
    Ok(z.stats)
}
