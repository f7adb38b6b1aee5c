//! The learned attacker: simulates its own subjects, publishes them with the same defence
//! under its own key, and learns from them what the published tables say about the home.
//!
//! [`Attacker::train`] takes the attacker's own subjects (built by
//! [`crate::synthesis::synthesize`] with another seed, [`ATTACKER_SEED`]), publishes them
//! with [`ATTACKER_KEY`] and
//!
//! - calibrates the [maximum-likelihood](crate::likelihood) weights ([`Weights`]: exit
//!   angles, headings, lines; best candidate or posterior mean) for the most homes found
//!   within 100 m;
//! - fits a ridge regression ([`ridge`], closed form) of `place − c` (`c` the fitted disk
//!   centre, `place` the protected place nearest it) on vector features of the published
//!   output relative to `c` ([`features`]): exit-angle harmonic, mean heading, the point
//!   nearest the heading lines, the centroids of the ends and of all visible points, the
//!   maximum-likelihood estimate, each also scaled by the number of ends, the session
//!   durations and distances and the first visible heart rate. One weight per feature
//!   serves both axes, so the model turns with the data (it is rotation-equivariant);
//! - fits the side-channel regressions ([`crate::side_channel`]).
//!
//! Positions are local metres (east, north).

use datamin::format::Activity;
use datamin::udfs::geo::LocalFrame;

use crate::attacks::{Line, Point, nearest_to_lines};
use crate::defences::{Defence, publish};
use crate::likelihood::{
    End, Fitted, Mechanism, Scores, Weights, ends_of, fit, score_grid, visible,
};
use crate::side_channel::{self, ColumnFit};
use crate::synthesis::Subject;

/// The key under which the attacker publishes its own subjects (not the evaluation's).
pub const ATTACKER_KEY: &[u8] = b"attacker-own-key";

/// The attacker's subjects are synthesized with the evaluation's seed XOR this.
pub const ATTACKER_SEED: u64 = 0xA77AC;

/// Ridge penalty, relative to the mean diagonal of `XᵀX`.
pub const RIDGE_LAMBDA: f64 = 1e-2;

/// The success radius the attacker calibrates for, metres.
pub const CALIBRATION_M: f64 = 100.0;

/// What the attacker reads from one subject's published activities.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Every visible end.
    pub ends: Vec<End>,
    /// The main disk (`None` without visible ends).
    pub fitted: Option<Fitted>,
    /// The candidate homes around it, scored.
    pub scores: Option<Scores>,
    /// Per published activity, the centroid of its visible points (local metres).
    pub centroids: Vec<Option<Point>>,
}

impl Observed {
    /// Reads `published` (local metres in `frame`) under mechanism `m`.
    pub fn new(published: &[Activity], frame: &LocalFrame, m: &Mechanism) -> Self {
        let ends = ends_of(published, frame);
        let fitted = fit(&ends, m);
        let scores = fitted.as_ref().map(|f| score_grid(f, m));
        let centroids = published
            .iter()
            .map(|a| {
                let v = visible(a);
                let n = v.len() as f64;
                (!v.is_empty()).then(|| {
                    v.iter()
                        .map(|r| frame.to_xy(r.position_lat.unwrap(), r.position_long.unwrap()))
                        .fold((0.0, 0.0), |s, p| (s.0 + p.0 / n, s.1 + p.1 / n))
                })
            })
            .collect();
        Self {
            ends,
            fitted,
            scores,
            centroids,
        }
    }
}

/// A trained attacker against one defence.
#[derive(Debug, Clone)]
pub struct Attacker {
    /// What it knows of the defence.
    pub mechanism: Mechanism,
    /// The maximum-likelihood attack's calibrated weights.
    pub weights_ml: Weights,
    /// Ridge weights, one per feature of [`features`] (empty: untrained).
    pub weights: Vec<f64>,
    /// Side-channel regressions, one per column of [`side_channel::COLUMNS`].
    pub side: Vec<ColumnFit>,
}

/// Distance from `p` to the nearest of `places`, metres (infinite without places).
pub fn nearest(p: Point, places: &[Point]) -> (f64, Point) {
    places
        .iter()
        .map(|q| ((p.0 - q.0).hypot(p.1 - q.1), *q))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap_or((f64::INFINITY, p))
}

impl Attacker {
    /// Trains on `training` (the attacker's own subjects) published with `d` under
    /// [`ATTACKER_KEY`].
    pub fn train(training: &[Subject], d: &Defence) -> Self {
        let m = Mechanism::of(d);
        let mut data = Vec::new();
        for s in training {
            let published = publish(s, d, ATTACKER_KEY);
            let frame = LocalFrame::new(s.home.0, s.home.1);
            let places: Vec<Point> = s.places.iter().map(|p| frame.to_xy(p.0, p.1)).collect();
            let o = Observed::new(&published, &frame, &m);
            data.push((published, o, places));
        }
        // maximum likelihood: the weights that find the most homes
        let mut best = (
            Weights {
                lambda: 1.0,
                kappa: 1.0,
                mu: 0.0,
                posterior_mean: false,
            },
            f64::NEG_INFINITY,
        );
        for posterior_mean in [false, true] {
            for lambda in [0.0, 0.5, 1.0, 2.0] {
                for kappa in [0.0, 1.0, 4.0, 16.0] {
                    for mu in [0.0, 0.25, 1.0, 4.0] {
                        let w = Weights {
                            lambda,
                            kappa,
                            mu,
                            posterior_mean,
                        };
                        let errs: Vec<f64> = data
                            .iter()
                            .filter_map(|(_, o, pl)| {
                                Some(nearest(o.scores.as_ref()?.estimate(&w)?, pl).0)
                            })
                            .collect();
                        let hit = errs.iter().filter(|e| **e <= CALIBRATION_M).count() as f64;
                        let spread = errs.iter().map(|e| e.min(1000.0)).sum::<f64>() / 1e7;
                        if hit - spread > best.1 {
                            best = (w, hit - spread);
                        }
                    }
                }
            }
        }
        let mut a = Self {
            mechanism: m,
            weights_ml: best.0,
            weights: Vec::new(),
            side: Vec::new(),
        };
        // ridge regression of (place − c) on the features
        let (mut rows, mut ys) = (Vec::new(), Vec::new());
        for (published, o, places) in &data {
            let (Some(f), Some(x)) = (&o.fitted, a.features_of(o, published)) else {
                continue;
            };
            let target = nearest(f.centre, places).1;
            rows.push(x.iter().map(|v| v.0).collect::<Vec<f64>>());
            ys.push(target.0 - f.centre.0);
            rows.push(x.iter().map(|v| v.1).collect());
            ys.push(target.1 - f.centre.1);
        }
        a.weights = ridge(&rows, &ys, RIDGE_LAMBDA).unwrap_or_default();
        a.side = side_channel::train(
            data.iter()
                .map(|(p, o, pl)| (p.as_slice(), o, pl.as_slice())),
        );
        a
    }

    /// The maximum-likelihood estimate, local metres.
    pub fn ml(&self, o: &Observed) -> Option<Point> {
        o.scores.as_ref()?.estimate(&self.weights_ml)
    }

    /// The learned estimate, local metres.
    pub fn learned(&self, o: &Observed, published: &[Activity]) -> Option<Point> {
        let f = o.fitted.as_ref()?;
        let x = self.features_of(o, published)?;
        if self.weights.len() != x.len() {
            return Some(f.centre);
        }
        let (dx, dy) = x
            .iter()
            .zip(&self.weights)
            .fold((0.0, 0.0), |acc, (v, w)| (acc.0 + w * v.0, acc.1 + w * v.1));
        Some((f.centre.0 + dx, f.centre.1 + dy))
    }

    fn features_of(&self, o: &Observed, published: &[Activity]) -> Option<Vec<Point>> {
        features(o, published, &self.mechanism, self.ml(o))
    }
}

/// The regression's features for one subject, each a vector (metres) relative to the fitted
/// centre `c`: `ρ·(mean cos φ, mean sin φ)` of the exit angles, 100 × the mean heading, the
/// point nearest the heading lines, the centroid of the ends, the centroid of the visible
/// points of the activities with an end on the disk (each clamped to `2ρ`), and the
/// maximum-likelihood estimate `ml`; each also multiplied by the number of ends / 20, the
/// mean session elapsed time (hours), the mean session distance (10 km) and the mean first
/// visible heart rate (/ 150 bpm). `None` without a fitted disk.
pub fn features(
    o: &Observed,
    published: &[Activity],
    m: &Mechanism,
    ml: Option<Point>,
) -> Option<Vec<Point>> {
    let f = o.fitted.as_ref()?;
    let c = f.centre;
    let rel = |p: Point| (p.0 - c.0, p.1 - c.1);
    let clamp = |v: Point| {
        let lim = (2.0 * m.rho_m).max(200.0);
        let n = v.0.hypot(v.1);
        if n > lim {
            (v.0 * lim / n, v.1 * lim / n)
        } else {
            v
        }
    };
    let mean = |v: &[Point]| {
        let n = v.len().max(1) as f64;
        (
            v.iter().map(|p| p.0).sum::<f64>() / n,
            v.iter().map(|p| p.1).sum::<f64>() / n,
        )
    };
    let rho = m.rho_m.max(1.0);
    let harmonic: Vec<Point> = f
        .exits
        .iter()
        .map(|(e, _)| {
            let a = (e.1 - c.1).atan2(e.0 - c.0);
            (rho * a.cos(), rho * a.sin())
        })
        .collect();
    let headings: Vec<Point> = f
        .exits
        .iter()
        .filter_map(|(_, h)| h.map(|h| (100.0 * h.0, 100.0 * h.1)))
        .collect();
    let lines: Vec<Line> = f
        .exits
        .iter()
        .filter_map(|(e, h)| h.map(|h| (*e, h)))
        .collect();
    let ends: Vec<Point> = f.ends.iter().map(|&i| rel(o.ends[i].at)).collect();
    let mut acts: Vec<usize> = f.ends.iter().map(|&i| o.ends[i].activity).collect();
    acts.sort_unstable();
    acts.dedup();
    let mut centroids = Vec::new();
    let (mut elapsed, mut dist, mut hr, mut n_hr) = (0.0, 0.0, 0.0, 0.0);
    for &i in &acts {
        let a = &published[i];
        let vis = visible(a);
        if let Some(p) = o.centroids.get(i).copied().flatten() {
            centroids.push(rel(p));
        }
        let s = a.sessions.first();
        elapsed += s.and_then(|s| s.total_elapsed_time_s).unwrap_or(0.0) / 3600.0;
        dist += s.and_then(|s| s.total_distance_m).unwrap_or(0.0) / 10_000.0;
        if let Some(h) = vis.iter().find_map(|r| r.heart_rate_bpm) {
            hr += f64::from(h) / 150.0;
            n_hr += 1.0;
        }
    }
    let na = acts.len().max(1) as f64;
    let vectors = [
        mean(&harmonic),
        mean(&headings),
        clamp(nearest_to_lines(&lines).map_or((0.0, 0.0), rel)),
        clamp(mean(&ends)),
        clamp(mean(&centroids)),
        ml.map_or((0.0, 0.0), |p| clamp(rel(p))),
    ];
    let scalars = [
        1.0,
        f.ends.len() as f64 / 20.0,
        elapsed / na,
        dist / na,
        if n_hr > 0.0 { hr / n_hr } else { 0.0 },
    ];
    let mut out = Vec::with_capacity(vectors.len() * scalars.len());
    for s in scalars {
        for v in vectors {
            out.push((v.0 * s, v.1 * s));
        }
    }
    Some(out)
}

/// Ridge regression in closed form: the `w` minimising `|Xw − y|² + λ·s·|w|²` (`s` the mean
/// diagonal of `XᵀX`, `rows` the rows of `X`), by Gaussian elimination with partial
/// pivoting. `None` without rows or when the system is singular.
pub fn ridge(rows: &[Vec<f64>], y: &[f64], lambda: f64) -> Option<Vec<f64>> {
    let k = rows.first()?.len();
    let mut a = vec![vec![0.0; k + 1]; k];
    for (r, yi) in rows.iter().zip(y) {
        for i in 0..k {
            for j in 0..k {
                a[i][j] += r[i] * r[j];
            }
            a[i][k] += r[i] * yi;
        }
    }
    let scale = (0..k).map(|i| a[i][i]).sum::<f64>() / k as f64;
    for (i, row) in a.iter_mut().enumerate() {
        row[i] += lambda * scale.max(1e-12);
    }
    for col in 0..k {
        let piv = (col..k).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        let pivot_row = a[col].clone();
        for (i, row) in a.iter_mut().enumerate() {
            if i != col {
                let f = row[col] / pivot_row[col];
                for (x, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *x -= f * p;
                }
            }
        }
    }
    Some((0..k).map(|i| a[i][k] / a[i][i]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ridge_recovers_known_coefficients() {
        let w = [2.0, -3.0, 0.5];
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for i in 0..50 {
            let x = [1.0, f64::from(i).sin() * 10.0, f64::from(i * i % 17)];
            y.push(x.iter().zip(&w).map(|(a, b)| a * b).sum());
            rows.push(x.to_vec());
        }
        let got = ridge(&rows, &y, 0.0).unwrap();
        for (g, e) in got.iter().zip(&w) {
            assert!((g - e).abs() < 1e-9, "{got:?}");
        }
        // a penalty shrinks them
        let shrunk = ridge(&rows, &y, 10.0).unwrap();
        assert!(shrunk.iter().map(|v| v * v).sum::<f64>() < 13.25);
        assert_eq!(ridge(&[], &[], 0.0), None);
    }

    #[test]
    fn nearest_picks_the_closest_place() {
        let (d, q) = nearest((10.0, 0.0), &[(0.0, 0.0), (13.0, 4.0)]);
        assert_eq!((d, q), (5.0, (13.0, 4.0)));
        assert!(nearest((0.0, 0.0), &[]).0.is_infinite());
    }
}
