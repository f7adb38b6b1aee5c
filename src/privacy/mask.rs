//! Which samples of one activity the privacy zone hides: disks around the centres of the
//! subject's keyed cells that hold the activity's start and end (and around explicit zones),
//! and the keyed trimming beyond every zone edge.
//!
//! Input is the activity's positions in time order (`None` for samples without a fix);
//! output is one flag per sample, `true` = published. Nothing here knows about Arrow or
//! files, so the same decision serves decoded files and streamed sessions.

use datamin_udfs::geo::haversine_m;

use super::cells::{Cell, GROUND_REACH, Grid};
use super::{ZoneConfig, keyed_uniform};

/// A position in degrees: `(latitude, longitude)`.
pub type LatLong = (f64, f64);

/// A hidden disk: centre (degrees) and radius (metres).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Disk {
    /// Centre latitude, degrees.
    pub lat: f64,
    /// Centre longitude, degrees.
    pub long: f64,
    /// Radius, metres.
    pub radius_m: f64,
}

impl Disk {
    fn contains(&self, (lat, long): LatLong) -> bool {
        haversine_m(lat, long, self.lat, self.long) < self.radius_m
    }
}

/// The hidden disks of one activity whose first and last positions are `ends`: for each
/// end (and each explicit zone of `subject`) the disk of radius `1.06·cell_m + margin`
/// around the centre of its cell in the subject's keyed grid ([`Grid`]); with `cell_m = 0`,
/// the disk of radius `margin` around the point itself. `margin` is `radius_m` for ends and
/// the zone's own radius for explicit zones.
///
/// `anchors` are the cells the subject's earlier activities were anchored to (see
/// [`super::PrivacyZone`]): an end within `1.06·cell_m` of an anchor's centre uses that
/// anchor's cell (the first such anchor) even when it lies just across the cell's edge, so
/// that starts scattered around one home (a walk before the watch starts, GPS warm-up) keep
/// showing one cell; the disk still reaches `margin` beyond the end. An end no anchor
/// captures uses its own cell, which becomes a new anchor. `None`: every end uses its own
/// cell.
pub fn hidden_disks(
    ends: &[LatLong],
    cfg: &ZoneConfig,
    key: Option<&[u8]>,
    subject: &str,
    mut anchors: Option<&mut Vec<Cell>>,
) -> Vec<Disk> {
    let grid = (cfg.cell_m > 0.0).then(|| Grid::new(key, subject, cfg.cell_m));
    let core = GROUND_REACH * cfg.cell_m;
    let mut out = Vec::new();
    let mut push = |d: Disk| {
        if !out.contains(&d) {
            out.push(d);
        }
    };
    if cfg.radius_m > 0.0 {
        for &(lat, long) in ends {
            let (clat, clong) = match (&grid, anchors.as_deref_mut()) {
                (None, _) => (lat, long),
                (Some(g), None) => g.cell_centre(lat, long),
                (Some(g), Some(known)) => {
                    let captured = known
                        .iter()
                        .map(|c| g.centre(*c))
                        .find(|c| haversine_m(lat, long, c.0, c.1) <= core);
                    captured.unwrap_or_else(|| {
                        let cell = g.cell_of(lat, long);
                        known.push(cell);
                        g.centre(cell)
                    })
                }
            };
            push(Disk {
                lat: clat,
                long: clong,
                radius_m: cfg.disk_radius_m(cfg.radius_m),
            });
        }
    }
    for z in &cfg.zones {
        if z.subject.as_deref().is_none_or(|s| s == subject) {
            let (lat, long) = grid.map_or((z.lat, z.long), |g| g.cell_centre(z.lat, z.long));
            push(Disk {
                lat,
                long,
                radius_m: cfg.disk_radius_m(z.radius_m),
            });
        }
    }
    out
}

/// The publish mask of one activity (see the module docs and [`super`]).
///
/// `positions`: one entry per sample, in time order. `key`: the secret, required for the
/// keyed parts (grid, trim; without it the grid is unkeyed and trimming is off). `subject`
/// selects the keyed per-subject grid and the subject's explicit zones; `activity_id` the
/// keyed per-activity trim; `anchors` the subject's anchored cells ([`hidden_disks`]).
///
/// Samples without a position take the state of the last positioned sample before them
/// (hidden before the first positioned one), so time-only samples near home go too.
pub fn visible(
    positions: &[Option<LatLong>],
    cfg: &ZoneConfig,
    key: Option<&[u8]>,
    subject: &str,
    activity_id: &str,
    anchors: Option<&mut Vec<Cell>>,
) -> Vec<bool> {
    let ends: Vec<LatLong> = [
        positions.iter().find_map(|p| *p),
        positions.iter().rev().find_map(|p| *p),
    ]
    .into_iter()
    .flatten()
    .collect();
    let disks = hidden_disks(&ends, cfg, key, subject, anchors);
    let mut hidden_state = true;
    let mut keep: Vec<bool> = positions
        .iter()
        .map(|p| {
            if let Some(p) = *p {
                hidden_state = disks.iter().any(|d| d.contains(p));
            }
            !hidden_state
        })
        .collect();
    if let (Some(k), true) = (key, cfg.trim_m > 0.0) {
        trim_borders(positions, &mut keep, cfg.trim_m, k, activity_id);
    }
    keep
}

/// Extends the hidden stretches of `keep`: every run of visible samples that borders a
/// hidden one loses a keyed random path length, uniform in `[0, trim_m)` metres, at that
/// border. Drawn from `HMAC-SHA256(key, "datamin/zone-trim/" || activity_id || run)`, so
/// reruns are identical.
fn trim_borders(
    positions: &[Option<LatLong>],
    keep: &mut [bool],
    trim_m: f64,
    key: &[u8],
    activity: &str,
) {
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
            let (mut walked, mut prev) = (0.0, None::<LatLong>);
            for j in order {
                if let Some(p) = positions[j] {
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
