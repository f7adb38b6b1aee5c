//! The home-location attacks, run on what a defence publishes.
//!
//! All positions are local metres (east, north) in a frame centred on the subject's true
//! home, so an estimate's error is its distance from the origin. The attacks, in the order of
//! [`ATTACKS`]:
//!
//! - **endpoint fitting** (Hassan et al., USENIX Security 2018): a least-squares circle
//!   ([`fit_circle`], Kåsa fit) through the first and last visible points of all of a
//!   subject's activities; the estimate is its centre;
//! - **distance leakage** (Dhondt et al., ACM CCS 2022, without the road graph): every first
//!   (last) visible point publishes how far along the track it is from the start (from the
//!   end); the estimate is the point whose distances to those points best match
//!   ([`multilaterate`], Gauss–Newton);
//! - **naive centroid** of the first and last visible points;
//! - **offset-aware centroid** (ours, against datamin's own design): tracks leaving a circle
//!   from a point inside it exit more densely on the side nearest that point, so the centroid
//!   of the exits lies halfway between the fitted circle's centre and the home; the estimate
//!   is the centroid reflected through the fitted centre, `2·centroid − centre`;
//! - **heading extrapolation**: a track leaves home along its first visible heading, so the
//!   home lies near the line through the first (last) visible point in the direction of the
//!   next (previous) [`HEADING_BASELINE_M`] of track; the estimate is the least-squares point
//!   nearest to all these lines ([`nearest_to_lines`]);
//! - **mechanism-aware** ([`mechanism_aware`]; ours: the attacker knows how datamin's zone
//!   works, only not the key): the visible ends lie on a circle of radius
//!   `R + |offset| + slack` around the shifted centre, with the home inside it on the side
//!   where ends cluster. The estimate walks `s·(r − R − k)` from the robustly fitted centre
//!   ([`fit_circle_robust`]) towards the centroid of the ends (`r` the fitted radius); the
//!   sign `s` and shift `k` are calibrated on the other half of the subjects (two-fold), as
//!   an attacker would on data they simulate themselves.

use datamin::format::{Activity, RecordRow};
use datamin::udfs::geo::LocalFrame;

/// Names of the attacks, in the order of [`attack`]'s estimates, then the mechanism-aware
/// one and the four that know datamin's keyed cells and displacement: [`crate::likelihood`],
/// [`crate::learned`], the displacement-aware step from the likelihood estimate
/// ([`displacement_aware`]) and [`crate::side_channel`] (reported as
/// `side channel: <column>`, the column that worked best).
pub const ATTACKS: [&str; 10] = [
    "endpoint circle fit",
    "distance leakage",
    "naive centroid",
    "offset-aware centroid",
    "heading extrapolation",
    "mechanism-aware",
    "maximum likelihood",
    "learned",
    "displacement-aware",
    "side channel",
];

/// The displacement-aware estimate: `estimate` (of the *displaced* home, as every attack on
/// the published tracks alone gives) moved by the displacement's median length by area,
/// `sqrt((min² + max²)/2)`, towards `bearing_rad` (the attacker's own random draw: the
/// displacement's direction is uniform and keyed, so no direction is better than another).
/// With no displacement (`max_m` = 0) the estimate is returned as it is.
///
/// Against an annulus `[min, max]` uniform by area, no guess beats the share
/// `100² / (max² − min²)` of an exact estimate within 100 m; stepping off the estimate is
/// how an attacker who knows the mechanism gets it (the estimate itself is always at least
/// `min` away).
pub fn displacement_aware(
    estimate: Option<Point>,
    min_m: f64,
    max_m: f64,
    bearing_rad: f64,
) -> Option<Point> {
    let r = if max_m > 0.0 {
        ((min_m * min_m + max_m * max_m) / 2.0).sqrt()
    } else {
        0.0
    };
    estimate.map(|(x, y)| (x + r * bearing_rad.sin(), y + r * bearing_rad.cos()))
}

/// How far along the track from a visible end the heading attack takes its direction,
/// metres.
pub const HEADING_BASELINE_M: f64 = 100.0;

/// The mechanism-aware attack calibrates for success within this distance of the home,
/// metres.
pub const CALIBRATION_TARGET_M: f64 = 100.0;

/// A point in local metres: (east, north).
pub type Point = (f64, f64);

/// A line in local metres: (a point on it, unit direction).
pub type Line = (Point, (f64, f64));

/// Least-squares circle through points (Kåsa fit): its centre, metres; `None` with fewer
/// than three points. When the points are (nearly) on a line or one spot, their mean.
pub fn fit_circle(pts: &[Point]) -> Option<Point> {
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

/// Multilateration: the point whose distances (metres) to `pts` best match `dists`
/// (Gauss–Newton from the centroid); `None` without points.
pub fn multilaterate(pts: &[Point], dists: &[f64]) -> Option<Point> {
    if pts.is_empty() {
        return None;
    }
    let n = pts.len() as f64;
    let centroid = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    Some(gauss_newton_ranges(centroid, pts, dists))
}

/// Least-squares point whose distances to `pts` match `dists` (metres), by Gauss–Newton
/// from `start`: at most 50 steps, stopping when a step is under 1 mm or the normal
/// equations are singular.
pub fn gauss_newton_ranges(start: Point, pts: &[Point], dists: &[f64]) -> Point {
    let (mut x, mut y) = start;
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
    (x, y)
}

/// What the mechanism-aware attack measures on one subject: the robustly fitted circle
/// (centre, radius; metres) and the centroid of the visible ends.
#[derive(Debug, Clone, Copy)]
pub struct EndGeometry {
    /// Centre of the circle through the visible ends (outliers dropped), local metres.
    pub centre: Point,
    /// Its radius, metres.
    pub radius_m: f64,
    /// Centroid of the visible ends, local metres.
    pub centroid: Point,
}

impl EndGeometry {
    /// The mechanism-aware estimate, local metres: `centre + s·(α·(radius − r0) − k)·
    /// unit(centroid − centre)`, with `r0` and `k` in metres, `s` a sign and `α` a weight.
    pub fn estimate(&self, s: f64, alpha: f64, r0: f64, k: f64) -> Point {
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
/// the circle is at most `max(3 × median, 50 m)`. Returns (centre, radius), metres.
pub fn fit_circle_robust(pts: &[Point]) -> Option<(Point, f64)> {
    let radius = |c: Point, p: &[Point]| {
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
        let kept: Vec<Point> = pts
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

/// The attacks' estimates (metres in `frame`, a frame at the true home) for one subject, in
/// the order of [`ATTACKS`] without the last (mechanism-aware) one, which needs calibration
/// across subjects: its inputs are returned instead.
pub fn attack(
    published: &[Activity],
    frame: &LocalFrame,
) -> ([Option<Point>; 5], Option<EndGeometry>) {
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
        let xy: Vec<Point> = vis
            .iter()
            .map(|r| frame.to_xy(r.position_lat.unwrap(), r.position_long.unwrap()))
            .collect();
        for (p0, rest) in [(pf, xy.clone()), (pl, xy.iter().rev().copied().collect())] {
            if let Some(q) = rest
                .iter()
                .find(|q| (q.0 - p0.0).hypot(q.1 - p0.1) >= HEADING_BASELINE_M)
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
/// shift that succeed most often (within [`CALIBRATION_TARGET_M`]) on the *other* half are
/// used. `r0` is the zone radius R the attacker knows from the policy, metres; `places`
/// the protected places of each subject (local metres, same frame as its geometry). Returns
/// the error per subject (distance to the nearest place), metres (infinite where there is no
/// geometry).
pub fn mechanism_aware(
    geometry: &[Option<EndGeometry>],
    r0: f64,
    places: &[Vec<Point>],
) -> Vec<f64> {
    let err_at = |i: usize, p: (f64, f64, f64)| {
        geometry[i].map_or(f64::INFINITY, |g| {
            let e = g.estimate(p.0, p.1, r0, p.2);
            places[i]
                .iter()
                .map(|q| (e.0 - q.0).hypot(e.1 - q.1))
                .fold(f64::INFINITY, f64::min)
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
                (0..geometry.len())
                    .filter(|i| fold(*i) != f && err_at(*i, *p) <= CALIBRATION_TARGET_M)
                    .count()
            })
            .expect("parameters")
    };
    let best = [best_for(0), best_for(1)];
    (0..geometry.len())
        .map(|i| err_at(i, best[fold(i)]))
        .collect()
}

/// The point nearest (least squares) to lines given as (point, unit direction), local
/// metres; `None` when they are (nearly) parallel or fewer than two.
pub fn nearest_to_lines(lines: &[Line]) -> Option<Point> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn near(a: Point, b: Point) -> bool {
        (a.0 - b.0).hypot(a.1 - b.1) < 1e-6
    }

    #[test]
    fn circle_lines_and_distances_locate_a_known_point() {
        let home = (120.0, -40.0);
        let ring: Vec<Point> = (0..12)
            .map(|i| {
                let a = f64::from(i) * 0.5;
                (home.0 + 300.0 * a.cos(), home.1 + 300.0 * a.sin())
            })
            .collect();
        assert!(near(fit_circle(&ring).unwrap(), home));
        let (c, r) = fit_circle_robust(&ring).unwrap();
        assert!(near(c, home) && (r - 300.0).abs() < 1e-6);
        assert!(near(multilaterate(&ring, &[300.0; 12]).unwrap(), home));
        let lines: Vec<Line> = ring
            .iter()
            .map(|p| {
                let (dx, dy) = (p.0 - home.0, p.1 - home.1);
                let n = dx.hypot(dy);
                (*p, (dx / n, dy / n))
            })
            .collect();
        assert!(near(nearest_to_lines(&lines).unwrap(), home));
        assert_eq!(fit_circle(&ring[..2]), None);
        assert_eq!(nearest_to_lines(&lines[..1]), None);
    }

    #[test]
    fn the_mechanism_aware_estimate_walks_from_the_centre_towards_the_centroid() {
        let g = EndGeometry {
            centre: (0.0, 0.0),
            radius_m: 900.0,
            centroid: (0.0, 50.0),
        };
        // radius 900 m − R 200 m − k 100 m = 600 m towards the centroid
        assert!(near(g.estimate(1.0, 1.0, 200.0, 100.0), (0.0, 600.0)));
        assert!(near(g.estimate(-1.0, 0.0, 200.0, 100.0), (0.0, 100.0)));
    }
}
