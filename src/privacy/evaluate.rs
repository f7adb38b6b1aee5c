//! Privacy evaluation: do the published home-location attacks still work on the output?
//!
//! A labelled set of synthetic subjects is built from **real tracks**: each subject gets a
//! secret home and `activities` tracks taken from real activity files, rotated by a random
//! angle and moved so that they start at the home and end there too: even-numbered
//! activities run a track out and back, odd-numbered ones are loops (half of one track out,
//! half of another back, so the way home differs).
//! A [`Defence`] is applied, then six attacks run on what it publishes:
//!
//! - **endpoint fitting** (Hassan et al., USENIX Security 2018): a least-squares circle
//!   (Kåsa fit) through the first and last visible points of all of a subject's activities;
//!   the estimate is its centre;
//! - **distance leakage** (Dhondt et al., ACM CCS 2022, without the road graph): every first
//!   (last) visible point publishes how far along the track it is from the start (from the
//!   end); the estimate is the point whose distances to those points best match
//!   (Gauss–Newton multilateration);
//! - **naive centroid** of the first and last visible points;
//! - **offset-aware centroid** (ours, against datamin's own design): tracks leaving a circle
//!   from a point inside it exit more densely on the side nearest that point, so the centroid
//!   of the exits lies halfway between the fitted circle's centre and the home; the estimate
//!   is the centroid reflected through the fitted centre, `2·centroid − centre`;
//! - **heading extrapolation**: a track leaves home along its first visible heading, so the
//!   home lies near the line through the first (last) visible point in the direction of the
//!   next (previous) ~100 m of track; the estimate is the least-squares point nearest to all
//!   these lines;
//! - **mechanism-aware** (ours: the attacker knows how datamin's zone works, only not the
//!   key): the visible ends lie on a circle of radius `R + |offset| + slack` around the
//!   shifted centre, with the home inside it on the side where ends cluster. The estimate
//!   walks `s·(r − R − k)` from the robustly fitted centre towards the centroid of the ends
//!   (`r` the fitted radius); the sign `s` and shift `k` are calibrated on the other half
//!   of the subjects (two-fold), as an attacker would on data they simulate themselves.
//!
//! An attack succeeds on a subject when its estimate is within 22.95 m (Dhondt et al.'s
//! threshold) or 100 m of the true home.

use datamin_udfs::geo::{LocalFrame, destination, haversine_m};
use serde::Serialize;

use super::{ZoneConfig, apply_zone};
use crate::format::{Activity, RecordRow};

/// Decodes every FIT/TCX file below `location` (path or URL), skipping undecodable ones.
pub async fn load_activities(location: &str) -> datafusion::common::Result<Vec<Activity>> {
    use datafusion::datasource::listing::ListingTableUrl;
    use datafusion::object_store::ObjectStoreExt;
    let ctx = crate::context::session_context(None, 1);
    let url = ListingTableUrl::parse(crate::store::location_to_url(location)?.as_str())?;
    let store = ctx.runtime_env().object_store(url.object_store())?;
    let files = crate::source::files::list_activity_files(
        &ctx.state(),
        &store,
        &url,
        &[
            crate::format::ActivityFormat::Fit,
            crate::format::ActivityFormat::Tcx,
        ],
    )
    .await?;
    let mut out = Vec::new();
    for f in files {
        let bytes = store.get(&f.meta.location).await?.bytes().await?;
        if let Ok(a) = crate::format::decode(f.format, &f.url, &bytes) {
            out.push(a);
        }
    }
    Ok(out)
}

/// A track in local metres: (east, north, seconds since start).
pub type Track = Vec<(f64, f64, f64)>;

/// Turns decoded activities into tracks of at most `max_points` positioned samples (those
/// with at least `min_points`), in metres relative to their first point.
pub fn tracks_from(activities: &[Activity], min_points: usize, max_points: usize) -> Vec<Track> {
    let mut out = Vec::new();
    for a in activities {
        let pts: Vec<&RecordRow> = a
            .records
            .iter()
            .filter(|r| {
                r.position_lat.is_some() && r.position_long.is_some() && r.timestamp_us.is_some()
            })
            .take(max_points)
            .collect();
        if pts.len() < min_points {
            continue;
        }
        let (la0, lo0) = (pts[0].position_lat.unwrap(), pts[0].position_long.unwrap());
        let t0 = pts[0].timestamp_us.unwrap();
        let f = LocalFrame::new(la0, lo0);
        let t: Track = pts
            .iter()
            .map(|r| {
                let (x, y) = f.to_xy(r.position_lat.unwrap(), r.position_long.unwrap());
                (x, y, (r.timestamp_us.unwrap() - t0) as f64 / 1e6)
            })
            .collect();
        // skip tracks that never leave the start (indoor, GPS off)
        if t.iter().map(|p| p.0.hypot(p.1)).fold(0.0, f64::max) > 1000.0 {
            out.push(t);
        }
    }
    out
}

/// A deterministic pseudo-random generator (SplitMix64), so evaluations are reproducible.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// Next value, uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / 2f64.powi(64)
    }
}

/// A synthetic subject: its secret home and its activities.
#[derive(Debug, Clone)]
pub struct Subject {
    /// Subject id (used as the `subject=` path segment).
    pub id: String,
    /// True home, degrees.
    pub home: (f64, f64),
    /// Activities that start and end at the home.
    pub activities: Vec<Activity>,
}

/// Builds `n_subjects` subjects with `per_subject` activities each from `tracks`.
pub fn synthesize(
    tracks: &[Track],
    n_subjects: usize,
    per_subject: usize,
    seed: u64,
) -> Vec<Subject> {
    assert!(!tracks.is_empty(), "no usable tracks");
    let mut rng = SplitMix64::new(seed);
    let city = (50.8503, 4.3517); // homes within ±10 km of a city centre
    let mut out = Vec::new();
    for s in 0..n_subjects {
        let home = destination(
            city.0,
            city.1,
            rng.next_f64() * std::f64::consts::TAU,
            rng.next_f64() * 10_000.0,
        );
        let frame = LocalFrame::new(home.0, home.1);
        let id = format!("s{s:04}");
        let mut acts = Vec::new();
        for k in 0..per_subject {
            let t = &tracks[(rng.next_f64() * tracks.len() as f64) as usize];
            let th = rng.next_f64() * std::f64::consts::TAU;
            let t_start: i64 = 1_700_000_000_000_000 + (s * 1000 + k) as i64 * 86_400_000_000;
            let rot = |th: f64, p: &(f64, f64, f64)| {
                let (c, sn) = (th.cos(), th.sin());
                (p.0 * c - p.1 * sn, p.0 * sn + p.1 * c, p.2)
            };
            let path: Vec<(f64, f64, f64)> = if k % 2 == 0 {
                // out and back: the track, then the same track reversed, ending at the home
                let last_t = t.last().map_or(0.0, |p| p.2);
                t.iter()
                    .map(|p| rot(th, p))
                    .chain(
                        t.iter()
                            .rev()
                            .map(|p| rot(th, &(p.0, p.1, 2.0 * last_t - p.2 + 1.0))),
                    )
                    .collect()
            } else {
                // a loop: the first half of the track out, then the first half of another
                // track, turned to meet it, back to the home (the route home differs)
                let u = &tracks[(rng.next_f64() * tracks.len() as f64) as usize];
                let (a, b) = (&t[..t.len() / 2], &u[..u.len() / 2]);
                let (pa, pb) = (a[a.len() - 1], b[b.len() - 1]);
                let th_b = th + pa.1.atan2(pa.0) - pb.1.atan2(pb.0);
                let (t_a, t_b) = (pa.2, pb.2);
                a.iter()
                    .map(|p| rot(th, p))
                    .chain(
                        b.iter()
                            .rev()
                            .map(|p| rot(th_b, &(p.0, p.1, t_a + 1.0 + t_b - p.2))),
                    )
                    .collect()
            };
            let mut records = Vec::new();
            let mut dist = 0.0;
            let mut prev: Option<(f64, f64)> = None;
            for (x, y, ts) in path {
                let (la, lo) = frame.to_latlon(x, y);
                if let Some((pa, po)) = prev {
                    dist += haversine_m(pa, po, la, lo);
                }
                prev = Some((la, lo));
                records.push(RecordRow {
                    timestamp_us: Some(t_start + (ts * 1e6) as i64),
                    position_lat: Some(la),
                    position_long: Some(lo),
                    distance_m: Some(dist),
                    ..Default::default()
                });
            }
            let mut a = Activity {
                activity_id: format!("{id}-a{k:02}"),
                source_file: format!("synthetic/subject={id}/a{k:02}.fit"),
                file_format: "fit",
                records,
                ..Default::default()
            };
            let first = a.records.first().cloned().unwrap_or_default();
            let last = a.records.last().cloned().unwrap_or_default();
            a.sessions.push(crate::format::SummaryRow {
                start_time_us: first.timestamp_us,
                end_time_us: last.timestamp_us,
                start_position_lat: first.position_lat,
                start_position_long: first.position_long,
                end_position_lat: last.position_lat,
                end_position_long: last.position_long,
                total_distance_m: last.distance_m,
                ..Default::default()
            });
            acts.push(a);
        }
        out.push(Subject {
            id,
            home,
            activities: acts,
        });
    }
    out
}

/// What is published.
#[derive(Debug, Clone, PartialEq)]
pub enum Defence {
    /// Everything as recorded.
    Raw,
    /// Points within `radius_m` of the true home removed; centre exactly on the home;
    /// distances kept as recorded (Strava/Garmin Connect style).
    PlatformZone {
        /// Zone radius, metres.
        radius_m: f64,
    },
    /// datamin's privacy-zone rule.
    Datamin(ZoneConfig),
}

impl Defence {
    /// A short name for tables.
    pub fn name(&self) -> String {
        match self {
            Defence::Raw => "raw data".into(),
            Defence::PlatformZone { radius_m } => {
                format!("platform zone {radius_m} m (Strava-style)")
            }
            Defence::Datamin(c) => format!("datamin privacy_zone {} m", c.radius_m),
        }
    }
}

/// Applies `d` to a subject's activities.
pub fn publish(s: &Subject, d: &Defence, key: &[u8]) -> Vec<Activity> {
    s.activities
        .iter()
        .map(|a| {
            let mut a = a.clone();
            match d {
                Defence::Raw => {}
                Defence::PlatformZone { radius_m } => {
                    a.records.retain(|r| {
                        haversine_m(
                            r.position_lat.unwrap(),
                            r.position_long.unwrap(),
                            s.home.0,
                            s.home.1,
                        ) >= *radius_m
                    });
                }
                Defence::Datamin(cfg) => {
                    apply_zone(&mut a, cfg, Some(key), &s.id)
                        .expect("synthetic activities are canonical");
                }
            }
            a
        })
        .collect()
}

/// Least-squares circle through points (Kåsa fit); `None` when degenerate.
pub fn fit_circle(pts: &[(f64, f64)]) -> Option<(f64, f64)> {
    if pts.len() < 3 {
        return None;
    }
    let n = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let (mut suu, mut svv, mut suv, mut suuu, mut svvv, mut suvv, mut svuu) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for &(x, y) in pts {
        let (u, v) = (x - mx, y - my);
        suu += u * u;
        svv += v * v;
        suv += u * v;
        suuu += u * u * u;
        svvv += v * v * v;
        suvv += u * v * v;
        svuu += v * u * u;
    }
    let det = suu * svv - suv * suv;
    if det.abs() < 1e-9 {
        // all points (nearly) on a line or one spot: the best "centre" is their mean
        return Some((mx, my));
    }
    let b1 = 0.5 * (suuu + suvv);
    let b2 = 0.5 * (svvv + svuu);
    let uc = (b1 * svv - b2 * suv) / det;
    let vc = (suu * b2 - suv * b1) / det;
    Some((uc + mx, vc + my))
}

/// Multilateration: the point whose distances to `pts` best match `dists` (Gauss–Newton
/// from the centroid).
pub fn multilaterate(pts: &[(f64, f64)], dists: &[f64]) -> Option<(f64, f64)> {
    if pts.is_empty() {
        return None;
    }
    let n = pts.len() as f64;
    let mut x = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let mut y = pts.iter().map(|p| p.1).sum::<f64>() / n;
    for _ in 0..50 {
        let (mut a11, mut a12, mut a22, mut b1, mut b2) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (p, d) in pts.iter().zip(dists) {
            let (dx, dy) = (x - p.0, y - p.1);
            let r = dx.hypot(dy).max(1e-6);
            let (jx, jy) = (dx / r, dy / r);
            let res = r - d;
            a11 += jx * jx;
            a12 += jx * jy;
            a22 += jy * jy;
            b1 += jx * res;
            b2 += jy * res;
        }
        let det = a11 * a22 - a12 * a12;
        if det.abs() < 1e-12 {
            break;
        }
        let sx = (a22 * b1 - a12 * b2) / det;
        let sy = (a11 * b2 - a12 * b1) / det;
        x -= sx;
        y -= sy;
        if sx.hypot(sy) < 1e-3 {
            break;
        }
    }
    Some((x, y))
}

/// What the mechanism-aware attack measures on one subject: the robustly fitted circle
/// (centre, radius; metres) and the centroid of the visible ends.
#[derive(Debug, Clone, Copy)]
pub struct EndGeometry {
    /// Centre of the circle through the visible ends (outliers dropped), local metres.
    pub centre: (f64, f64),
    /// Its radius, metres.
    pub radius_m: f64,
    /// Centroid of the visible ends, local metres.
    pub centroid: (f64, f64),
}

impl EndGeometry {
    /// The mechanism-aware estimate: `centre + s·(α·(radius − r0) − k)·unit(centroid −
    /// centre)`.
    pub fn estimate(&self, s: f64, alpha: f64, r0: f64, k: f64) -> (f64, f64) {
        let (dx, dy) = (
            self.centroid.0 - self.centre.0,
            self.centroid.1 - self.centre.1,
        );
        let n = dx.hypot(dy).max(1e-9);
        let w = s * (alpha * (self.radius_m - r0) - k);
        (self.centre.0 + w * dx / n, self.centre.1 + w * dy / n)
    }
}

/// A circle fit that drops outliers: Kåsa fits, each keeping the ends whose distance to
/// the circle is at most `max(3 × median, 50 m)`. Returns (centre, radius).
pub fn fit_circle_robust(pts: &[(f64, f64)]) -> Option<((f64, f64), f64)> {
    let radius = |c: (f64, f64), p: &[(f64, f64)]| {
        p.iter().map(|q| (q.0 - c.0).hypot(q.1 - c.1)).sum::<f64>() / p.len().max(1) as f64
    };
    let mut c = fit_circle(pts)?;
    let mut r = radius(c, pts);
    for _ in 0..5 {
        let mut res: Vec<f64> = pts
            .iter()
            .map(|q| ((q.0 - c.0).hypot(q.1 - c.1) - r).abs())
            .collect();
        let mut sorted = res.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let limit = (3.0 * sorted[sorted.len() / 2]).max(50.0);
        let kept: Vec<(f64, f64)> = pts
            .iter()
            .zip(res.drain(..))
            .filter(|(_, e)| *e <= limit)
            .map(|(p, _)| *p)
            .collect();
        if kept.len() < 3 {
            break;
        }
        c = fit_circle(&kept)?;
        r = radius(c, &kept);
    }
    Some((c, r))
}

/// The attacks' estimates (metres in a frame at the true home) for one subject, in the order
/// of [`ATTACKS`] without the last (mechanism-aware) one, which needs calibration across
/// subjects: its inputs are returned instead.
pub fn attack(
    published: &[Activity],
    frame: &LocalFrame,
) -> ([Option<(f64, f64)>; 5], Option<EndGeometry>) {
    let mut ends = Vec::new();
    let mut lines: Vec<Line> = Vec::new();
    let mut ml_pts = Vec::new();
    let mut ml_d = Vec::new();
    for a in published {
        let vis: Vec<&RecordRow> = a
            .records
            .iter()
            .filter(|r| r.position_lat.is_some())
            .collect();
        let (Some(f), Some(l)) = (vis.first(), vis.last()) else {
            continue;
        };
        let pf = frame.to_xy(f.position_lat.unwrap(), f.position_long.unwrap());
        let pl = frame.to_xy(l.position_lat.unwrap(), l.position_long.unwrap());
        ends.push(pf);
        ends.push(pl);
        let xy: Vec<(f64, f64)> = vis
            .iter()
            .map(|r| frame.to_xy(r.position_lat.unwrap(), r.position_long.unwrap()))
            .collect();
        for (p0, rest) in [(pf, xy.clone()), (pl, xy.iter().rev().copied().collect())] {
            if let Some(q) = rest
                .iter()
                .find(|q| (q.0 - p0.0).hypot(q.1 - p0.1) >= 100.0)
            {
                let (dx, dy) = (q.0 - p0.0, q.1 - p0.1);
                let n = dx.hypot(dy);
                lines.push((p0, (dx / n, dy / n)));
            }
        }
        let total = a
            .sessions
            .first()
            .and_then(|s| s.total_distance_m)
            .or(l.distance_m);
        if let Some(df) = f.distance_m {
            ml_pts.push(pf);
            ml_d.push(df);
        }
        if let (Some(dl), Some(t)) = (l.distance_m, total) {
            ml_pts.push(pl);
            ml_d.push((t - dl).max(0.0));
        }
    }
    let centroid = (!ends.is_empty()).then(|| {
        let n = ends.len() as f64;
        (
            ends.iter().map(|p| p.0).sum::<f64>() / n,
            ends.iter().map(|p| p.1).sum::<f64>() / n,
        )
    });
    let circle = fit_circle(&ends);
    let reflected = circle
        .zip(centroid)
        .map(|(c, m)| (2.0 * m.0 - c.0, 2.0 * m.1 - c.1));
    let geometry = fit_circle_robust(&ends)
        .zip(centroid)
        .map(|((centre, radius_m), centroid)| EndGeometry {
            centre,
            radius_m,
            centroid,
        });
    (
        [
            circle,
            multilaterate(&ml_pts, &ml_d),
            centroid,
            reflected,
            nearest_to_lines(&lines),
        ],
        geometry,
    )
}

/// The mechanism-aware attack on every subject: for each half of the subjects, the sign and
/// shift that succeed most often (within 100 m) on the *other* half are used. `r0` is the
/// zone radius R the attacker knows from the policy. Returns the error per subject, metres.
pub fn mechanism_aware(geometry: &[Option<EndGeometry>], r0: f64) -> Vec<f64> {
    let err = |g: &Option<EndGeometry>, p: (f64, f64, f64)| {
        g.map_or(f64::INFINITY, |g| {
            let e = g.estimate(p.0, p.1, r0, p.2);
            e.0.hypot(e.1)
        })
    };
    let mut params = Vec::new();
    for s in [1.0, -1.0] {
        for alpha in [0.0, 1.0] {
            for k in (-20..=60).map(|i| f64::from(i) * 25.0) {
                params.push((s, alpha, k));
            }
        }
    }
    let fold = |i: usize| i % 2;
    let best_for = |f: usize| {
        params
            .iter()
            .copied()
            .max_by_key(|p| {
                geometry
                    .iter()
                    .enumerate()
                    .filter(|(i, g)| fold(*i) != f && err(g, *p) <= 100.0)
                    .count()
            })
            .expect("parameters")
    };
    let best = [best_for(0), best_for(1)];
    geometry
        .iter()
        .enumerate()
        .map(|(i, g)| err(g, best[fold(i)]))
        .collect()
}

/// A line in local metres: (a point on it, unit direction).
pub type Line = ((f64, f64), (f64, f64));

/// The point nearest (least squares) to lines given as (point, unit direction); `None` when
/// they are (nearly) parallel or fewer than two.
pub fn nearest_to_lines(lines: &[Line]) -> Option<(f64, f64)> {
    if lines.len() < 2 {
        return None;
    }
    // sum of (I - d dᵀ) x = sum of (I - d dᵀ) p
    let (mut a11, mut a12, mut a22, mut b1, mut b2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &((px, py), (dx, dy)) in lines {
        let (m11, m12, m22) = (1.0 - dx * dx, -dx * dy, 1.0 - dy * dy);
        a11 += m11;
        a12 += m12;
        a22 += m22;
        b1 += m11 * px + m12 * py;
        b2 += m12 * px + m22 * py;
    }
    let det = a11 * a22 - a12 * a12;
    if det.abs() < 1e-9 {
        return None;
    }
    Some(((a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det))
}

/// Names of the attacks, in the order of [`attack`].
pub const ATTACKS: [&str; 6] = [
    "endpoint circle fit",
    "distance leakage",
    "naive centroid",
    "offset-aware centroid",
    "heading extrapolation",
    "mechanism-aware",
];

/// Results of one defence.
#[derive(Debug, Clone, Serialize)]
pub struct DefenceResult {
    /// The defence.
    pub defence: String,
    /// Per attack: (name, success rate within 22.95 m, within 100 m, median error m).
    pub attacks: Vec<(String, f64, f64, f64)>,
    /// Share of points published.
    pub points_kept: f64,
    /// Mean absolute difference between the published session distance and the recorded
    /// one, metres: the utility cost of hiding (and the leak when it is 0).
    pub total_distance_error_m: f64,
}

/// Runs the evaluation of `defences` on `subjects`.
pub fn evaluate(subjects: &[Subject], defences: &[Defence], key: &[u8]) -> Vec<DefenceResult> {
    defences
        .iter()
        .map(|d| {
            let mut errs: [Vec<f64>; 6] = Default::default();
            let mut geometry = Vec::new();
            let (mut kept, mut total, mut dist_err, mut n_sessions) = (0usize, 0usize, 0.0, 0usize);
            for s in subjects {
                let published = publish(s, d, key);
                total += s.activities.iter().map(|a| a.records.len()).sum::<usize>();
                kept += published.iter().map(|a| a.records.len()).sum::<usize>();
                for (a, orig) in published.iter().zip(&s.activities) {
                    let recorded = orig.sessions.first().and_then(|x| x.total_distance_m);
                    let shown = a.sessions.first().and_then(|x| x.total_distance_m);
                    if let Some(r) = recorded {
                        dist_err += (shown.unwrap_or(0.0) - r).abs();
                        n_sessions += 1;
                    }
                }
                let frame = LocalFrame::new(s.home.0, s.home.1);
                let (estimates, g) = attack(&published, &frame);
                for (i, e) in estimates.into_iter().enumerate() {
                    errs[i].push(e.map_or(f64::INFINITY, |(x, y)| x.hypot(y)));
                }
                geometry.push(g);
            }
            let r0 = match d {
                Defence::Raw => 0.0,
                Defence::PlatformZone { radius_m } => *radius_m,
                Defence::Datamin(c) => c.radius_m,
            };
            errs[5] = mechanism_aware(&geometry, r0);
            let attacks = errs
                .iter_mut()
                .enumerate()
                .map(|(i, e)| {
                    let n = e.len().max(1) as f64;
                    let within = |m: f64| e.iter().filter(|v| **v <= m).count() as f64 / n;
                    let (a, b) = (within(22.95), within(100.0));
                    e.sort_by(|a, b| a.total_cmp(b));
                    (
                        ATTACKS[i].to_string(),
                        a,
                        b,
                        e.get(e.len() / 2).copied().unwrap_or(f64::NAN),
                    )
                })
                .collect();
            DefenceResult {
                defence: d.name(),
                attacks,
                points_kept: kept as f64 / total.max(1) as f64,
                total_distance_error_m: dist_err / n_sessions.max(1) as f64,
            }
        })
        .collect()
}

/// Renders results as a Markdown table.
pub fn render(results: &[DefenceResult], subjects: usize, per_subject: usize) -> String {
    let mut s = format!(
        "{subjects} subjects × {per_subject} activities (real tracks, out-and-back and loops from a secret home)\n\n\
         | defence | attack | success ≤ 22.95 m | success ≤ 100 m | median error (m) | points kept | session distance change (m) |\n|---|---|---|---|---|---|---|\n"
    );
    for r in results {
        for (name, a, b, med) in &r.attacks {
            s.push_str(&format!(
                "| {} | {} | {:.1}% | {:.1}% | {:.0} | {:.1}% | {:.1} |\n",
                r.defence,
                name,
                a * 100.0,
                b * 100.0,
                med,
                r.points_kept * 100.0,
                r.total_distance_error_m
            ));
        }
    }
    s
}
