//! Which samples of one activity the privacy zone hides: the zone circles (automatic and
//! explicit, centres shifted by the keyed offset, radii grown by the offset and the keyed
//! slack), the gate, and the keyed trimming beyond every zone edge.
//!
//! Input is the activity's positions in time order (`None` for samples without a fix);
//! output is one flag per sample, `true` = published. Nothing here knows about Arrow or
//! files, so the same decision serves decoded files and streamed sessions.

use datamin_udfs::geo::{LocalFrame, destination, haversine_m};

use super::{ZoneConfig, keyed_uniform, subject_offset, subject_slack};

/// A position in degrees: `(latitude, longitude)`.
pub type LatLong = (f64, f64);

struct Circle {
    lat: f64,
    long: f64,
    radius_m: f64,
}

/// The publish mask of one activity (see the module docs and [`super`]).
///
/// `positions`: one entry per sample, in time order. `key`: the secret, required for the
/// keyed parts (offset, slack, gate, trim; without it they are off). `subject` selects the
/// keyed per-subject offset and slack and the subject's explicit zones; `activity_id` the
/// keyed per-activity gate and trim.
///
/// Samples without a position take the state of the last positioned sample before them
/// (hidden before the first positioned one), so time-only samples near home go too.
pub fn visible(
    positions: &[Option<LatLong>],
    cfg: &ZoneConfig,
    key: Option<&[u8]>,
    subject: &str,
    activity_id: &str,
) -> Vec<bool> {
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
    // gates: frames at shifted centres; hidden where (x, y)·toward < 0, toward = the offset
    // direction (from the anchor to the shifted centre)
    let mut gates = Vec::new();
    let gated = dist > 0.0 && key.is_some_and(|k| cfg.gated(k, activity_id));
    if cfg.radius_m > 0.0 {
        let ends = [
            positions.iter().find_map(|p| *p),
            positions.iter().rev().find_map(|p| *p),
        ];
        for (la, lo) in ends.into_iter().flatten() {
            let c = shifted(la, lo, cfg.radius_m);
            if gated {
                gates.push(LocalFrame::new(c.lat, c.long));
            }
            circles.push(c);
        }
    }
    for z in &cfg.zones {
        if z.subject.as_deref().is_none_or(|s| s == subject) {
            circles.push(shifted(z.lat, z.long, z.radius_m));
        }
    }
    let toward = (bearing.sin(), bearing.cos());
    let behind_gate = |la: f64, lo: f64| {
        gates.iter().any(|f| {
            let (x, y) = f.to_xy(la, lo);
            x * toward.0 + y * toward.1 < 0.0
        })
    };
    let mut hidden_state = true;
    let mut keep: Vec<bool> = positions
        .iter()
        .map(|p| {
            if let Some((la, lo)) = *p {
                hidden_state = circles
                    .iter()
                    .any(|c| haversine_m(la, lo, c.lat, c.long) < c.radius_m)
                    || behind_gate(la, lo);
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
