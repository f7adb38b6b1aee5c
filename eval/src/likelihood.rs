//! The maximum-likelihood attack on datamin's keyed cells: what a visible track's ends say
//! about where inside the hidden disk it began.
//!
//! The attacker knows the mechanism and its parameters ([`Mechanism`]), not the key. The
//! visible ends of a subject's activities are grouped by the hidden disk they leave
//! ([`main_cluster`]: single linkage, ends of one disk are at most `2·(ρ + trim)` apart);
//! the disk's centre `c` is fitted with the known radius ([`fit_centre`]); every visible
//! end is walked back along its heading to the disk's edge (its *exit*, [`Fitted::exits`]).
//! Then every candidate home `p` within [`Mechanism::search_m`] of `c` (a grid of
//! [`GRID_STEP_M`]) is scored ([`score_grid`]) by
//!
//! - the log-likelihood of the exit angles under straight departures in uniform directions
//!   from `p` ([`exit_density`]): `f(φ | p) = (ρ² − ρ·d·cos(φ − α)) / (2π·(ρ² + d² −
//!   2ρ·d·cos(φ − α)))`, `(d, α)` the polar coordinates of `p − c`;
//! - a von Mises heading term: `Σ cos∠(h, exit − p)`, `h` the visible heading pointing away
//!   from the zone (a track that left `p` keeps going the way it went);
//! - a robust line term: `−Σ min((dist(p, line)/100 m)², 4)`, the lines through the exits
//!   along their headings (the heading-extrapolation attack, confined to the disk);
//!
//! weighted `λ·ll + κ·heading + μ·line` ([`Weights`]); the estimate is the best candidate ([`Scores::best`]) or the
//! posterior mean ([`Scores::mean`]). `λ`, `κ` and the choice between the two are calibrated
//! on the attacker's own simulated subjects ([`crate::learned`]).
//!
//! Positions are local metres (east, north), as in [`crate::attacks`].

use crate::attacks::Point;
use crate::defences::Defence;
pub use crate::ends::{End, HEADING_M, ends_of, main_cluster, visible};

/// Spacing of the candidate homes, metres.
pub const GRID_STEP_M: f64 = 20.0;

/// What the attacker knows of a defence (from its policy): the hidden disk's radius, the
/// trim and how far from the disk's centre the home can be. Metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mechanism {
    /// Radius ρ of the hidden disk, metres (0 for raw data).
    pub rho_m: f64,
    /// Largest extra path hidden beyond the disk's edge, metres.
    pub trim_m: f64,
    /// The home is within this distance of the disk's centre, metres.
    pub search_m: f64,
}

impl Mechanism {
    /// The mechanism of `d`: raw data hides nothing; a platform zone is a disk of radius R
    /// centred on the home; datamin's disk has radius `1.06·cell_m + R` around the centre of
    /// the home's cell (within `1.06·cell_m` of it), plus the trim.
    pub fn of(d: &Defence) -> Self {
        match d {
            Defence::Raw => Self {
                rho_m: 0.0,
                trim_m: 0.0,
                search_m: 100.0,
            },
            Defence::PlatformZone { radius_m } => Self {
                rho_m: *radius_m,
                trim_m: 0.0,
                search_m: 100.0,
            },
            Defence::Datamin(c) => Self {
                rho_m: c.disk_radius_m(c.radius_m),
                trim_m: c.trim_m,
                search_m: if c.cell_m > 0.0 {
                    datamin::privacy::cells::GROUND_REACH * c.cell_m
                } else {
                    100.0
                },
            },
        }
    }

    /// Ends of one disk are at most this far apart (plus slack), metres.
    pub fn link_m(&self) -> f64 {
        (2.1 * (self.rho_m + self.trim_m)).max(300.0)
    }
}

/// Centre of the circle of known radius `r` (metres) that best fits `pts` (Gauss–Newton from
/// the Kåsa fit, then dropping points whose residual exceeds `max(3 × median, 150 m)`);
/// the points' mean when `r` is 0 or there are fewer than three. `None` without points.
pub fn fit_centre(pts: &[Point], r: f64) -> Option<Point> {
    if pts.is_empty() {
        return None;
    }
    let n = pts.len() as f64;
    let mean = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    if r < 1.0 || pts.len() < 3 {
        return Some(mean);
    }
    let gauss_newton =
        |c: Point, pts: &[Point]| crate::attacks::gauss_newton_ranges(c, pts, &vec![r; pts.len()]);
    let mut c = gauss_newton(crate::attacks::fit_circle(pts).unwrap_or(mean), pts);
    for _ in 0..3 {
        let res: Vec<f64> = pts
            .iter()
            .map(|p| ((p.0 - c.0).hypot(p.1 - c.1) - r).abs())
            .collect();
        let mut sorted = res.clone();
        sorted.sort_by(f64::total_cmp);
        let limit = (3.0 * sorted[sorted.len() / 2]).max(150.0);
        let kept: Vec<Point> = pts
            .iter()
            .zip(&res)
            .filter(|(_, e)| **e <= limit)
            .map(|(p, _)| *p)
            .collect();
        if kept.len() < 3 || kept.len() == pts.len() {
            break;
        }
        c = gauss_newton(c, &kept);
    }
    Some(c)
}

/// The main disk of a subject: its fitted centre and, per end of [`main_cluster`], the exit
/// (where the track crossed the disk's edge) and the heading.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    /// Fitted centre `c`, local metres.
    pub centre: Point,
    /// Per end: the exit on the circle of radius ρ around `c` (walked back along the heading,
    /// else radially), local metres, and the heading (unit).
    pub exits: Vec<(Point, Option<Point>)>,
    /// The ends of the cluster (indexes into the ends given to [`fit`]).
    pub ends: Vec<usize>,
}

/// Groups `ends`, fits the main disk of `m` and walks each of its ends back to the disk's
/// edge; `None` without ends.
pub fn fit(ends: &[End], m: &Mechanism) -> Option<Fitted> {
    let idx = main_cluster(ends, m.link_m());
    let pts: Vec<Point> = idx.iter().map(|&i| ends[i].at).collect();
    let c = fit_centre(&pts, m.rho_m + m.trim_m / 2.0)?;
    let exits = idx
        .iter()
        .map(|&i| {
            let e = &ends[i];
            let q = (e.at.0 - c.0, e.at.1 - c.1);
            let qn = q.0.hypot(q.1).max(1e-9);
            let radial = (c.0 + m.rho_m * q.0 / qn, c.1 + m.rho_m * q.1 / qn);
            let exit = e.heading.map_or(radial, |h| {
                let qh = q.0 * h.0 + q.1 * h.1;
                let disc = qh * qh - qn * qn + m.rho_m * m.rho_m;
                if disc < 0.0 {
                    return radial;
                }
                let t = qh - disc.sqrt();
                if !(0.0..=1.5 * m.trim_m.max(1.0)).contains(&t) {
                    return radial;
                }
                (e.at.0 - t * h.0, e.at.1 - t * h.1)
            });
            (exit, e.heading)
        })
        .collect();
    Some(Fitted {
        centre: c,
        exits,
        ends: idx,
    })
}

/// Density of the exit angle `phi` (radians, around the disk's centre) of a straight path
/// leaving a point at distance `d` (metres, `d < rho`) and angle `alpha` from the centre of a
/// disk of radius `rho` (metres) in a uniformly random direction, per radian.
pub fn exit_density(phi: f64, d: f64, alpha: f64, rho: f64) -> f64 {
    let c = (phi - alpha).cos();
    (rho * rho - rho * d * c)
        / (std::f64::consts::TAU * (rho * rho + d * d - 2.0 * rho * d * c).max(1e-9))
}

/// The candidate homes of one subject with their two score terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    /// Candidate homes, local metres.
    pub candidates: Vec<Point>,
    /// Log-likelihood of the exit angles per candidate (0 where the disk has no radius).
    pub angle_ll: Vec<f64>,
    /// Heading agreement per candidate: `Σ cos∠(h, exit − p)`.
    pub heading: Vec<f64>,
    /// Line agreement per candidate: `−Σ min((dist(p, line) / LINE_SIGMA_M)², 4)` over the
    /// lines through the exits along their headings (4 when `p` is ahead of the exit).
    pub line: Vec<f64>,
}

/// Scale of the line term's distances, metres.
pub const LINE_SIGMA_M: f64 = 100.0;

/// Weights of the score terms: exit angles `λ`, headings `κ`, lines `μ`, and whether the
/// estimate is the posterior mean (else the best candidate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    /// Weight of the exit-angle log-likelihood.
    pub lambda: f64,
    /// Weight (von Mises concentration) of the heading term.
    pub kappa: f64,
    /// Weight of the line term.
    pub mu: f64,
    /// Posterior mean (else the best candidate).
    pub posterior_mean: bool,
}

impl Scores {
    fn total(&self, w: &Weights, k: usize) -> f64 {
        w.lambda * self.angle_ll[k] + w.kappa * self.heading[k] + w.mu * self.line[k]
    }

    /// The candidate with the highest weighted score; `None` without candidates.
    pub fn best(&self, w: &Weights) -> Option<Point> {
        (0..self.candidates.len())
            .max_by(|&i, &j| self.total(w, i).total_cmp(&self.total(w, j)))
            .map(|i| self.candidates[i])
    }

    /// The posterior mean of the candidates, each weighted `exp(score)` (a flat prior over
    /// the disk): nearer the centre than [`Scores::best`] when the evidence is weak. `None`
    /// without candidates.
    pub fn mean(&self, w: &Weights) -> Option<Point> {
        let s: Vec<f64> = (0..self.candidates.len())
            .map(|k| self.total(w, k))
            .collect();
        let top = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !top.is_finite() {
            return None;
        }
        let (mut sw, mut x, mut y) = (0.0, 0.0, 0.0);
        for (v, p) in s.iter().zip(&self.candidates) {
            let e = (v - top).exp();
            sw += e;
            x += e * p.0;
            y += e * p.1;
        }
        Some((x / sw, y / sw))
    }

    /// [`Scores::mean`] or [`Scores::best`], as `w` says.
    pub fn estimate(&self, w: &Weights) -> Option<Point> {
        if w.posterior_mean {
            self.mean(w)
        } else {
            self.best(w)
        }
    }
}

/// Scores every candidate home on a [`GRID_STEP_M`] grid within `m.search_m` of the fitted
/// centre (see the module docs).
pub fn score_grid(f: &Fitted, m: &Mechanism) -> Scores {
    let c = f.centre;
    let rho = m.rho_m;
    let k = (m.search_m / GRID_STEP_M).ceil() as i64;
    let angles: Vec<f64> = f
        .exits
        .iter()
        .map(|(e, _)| (e.1 - c.1).atan2(e.0 - c.0))
        .collect();
    let mut s = Scores {
        candidates: Vec::new(),
        angle_ll: Vec::new(),
        heading: Vec::new(),
        line: Vec::new(),
    };
    for i in -k..=k {
        for j in -k..=k {
            let u = (i as f64 * GRID_STEP_M, j as f64 * GRID_STEP_M);
            let d = u.0.hypot(u.1);
            if d > m.search_m {
                continue;
            }
            let p = (c.0 + u.0, c.1 + u.1);
            let alpha = u.1.atan2(u.0);
            let ll: f64 = if rho > 1.0 && d < 0.98 * rho {
                angles
                    .iter()
                    .map(|&phi| exit_density(phi, d, alpha, rho).max(1e-12).ln())
                    .sum()
            } else {
                0.0
            };
            let head: f64 = f
                .exits
                .iter()
                .filter_map(|(e, h)| {
                    let h = (*h)?;
                    let (vx, vy) = (e.0 - p.0, e.1 - p.1);
                    let n = vx.hypot(vy);
                    (n > 1e-6).then(|| (vx * h.0 + vy * h.1) / n)
                })
                .sum();
            let line: f64 = f
                .exits
                .iter()
                .filter_map(|(e, h)| {
                    let h = (*h)?;
                    let (vx, vy) = (e.0 - p.0, e.1 - p.1);
                    let ahead = vx * h.0 + vy * h.1;
                    let perp = (vx * h.1 - vy * h.0) / LINE_SIGMA_M;
                    Some(if ahead < 0.0 {
                        -4.0
                    } else {
                        -(perp * perp).min(4.0)
                    })
                })
                .sum();
            s.candidates.push(p);
            s.line.push(line);
            s.angle_ll.push(ll);
            s.heading.push(head);
        }
    }
    s
}

#[cfg(test)]
#[path = "likelihood_tests.rs"]
mod tests;
