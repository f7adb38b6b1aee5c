//! The side-channel sweep: does any published column say how much was hidden before the
//! first visible point (or after the last)?
//!
//! For every column the published activity holds ([`COLUMNS`]), [`column_value`] derives one
//! number per visible end that could measure the hidden stretch (the first visible
//! `distance_m`, the first visible timestamp minus `time_created` or the session's start,
//! the first heart rate of a warm-up, the lap boundaries, ...). On the attacker's own
//! published subjects ([`crate::learned`]) a line `d = a + b·x` is fitted per column and
//! per end (start or end of the activity), `d` the straight distance from the visible end to
//! the nearest protected place ([`train`]); on the target the predicted distances of the
//! ends of the main disk are multilaterated (Dhondt et al.,
//! [`crate::attacks::multilaterate`]) into one estimate per column ([`estimate`]).
//!
//! Positions are local metres (east, north).

use datamin::format::{Activity, RecordRow};

use crate::attacks::{Point, multilaterate};
use crate::learned::{Observed, nearest};
use crate::likelihood::visible;

/// The columns swept, in the order of [`column_value`]'s `col`.
pub const COLUMNS: [&str; 12] = [
    "records.distance_m",
    "records.timestamp (time of day)",
    "activities.time_created",
    "sessions.start_time/end_time",
    "sessions.total_elapsed_time",
    "sessions.total_distance",
    "records.heart_rate",
    "records.speed",
    "laps.start_time/end_time",
    "laps.total_distance",
    "activities.record_count",
    "sessions.avg_speed",
];

/// Seconds per day.
const DAY_S: f64 = 86_400.0;

/// A line `y = a + b·x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineFit {
    /// Intercept, metres.
    pub a: f64,
    /// Slope, metres per unit of the column.
    pub b: f64,
}

/// One column's lines: for the first visible point and for the last (`None`: the column
/// had no value there in training).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ColumnFit {
    /// For the first visible point.
    pub start: Option<LineFit>,
    /// For the last visible point.
    pub end: Option<LineFit>,
}

/// Least-squares line through `(x, y)` pairs (flat at the mean when `x` does not vary);
/// `None` without pairs.
pub fn fit_line(xy: &[(f64, f64)]) -> Option<LineFit> {
    if xy.is_empty() {
        return None;
    }
    let n = xy.len() as f64;
    let (mx, my) = (
        xy.iter().map(|p| p.0).sum::<f64>() / n,
        xy.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxx: f64 = xy.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = xy.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let b = if sxx > 1e-9 * n { sxy / sxx } else { 0.0 };
    Some(LineFit { a: my - b * mx, b })
}

fn secs(us: Option<i64>) -> Option<f64> {
    us.map(|t| t as f64 / 1e6)
}

/// The value column `col` of [`COLUMNS`] gives for the first (`start`) or last visible point
/// of `a`, in the column's units (seconds, metres, bpm, m/s, counts); `None` when the column
/// is absent.
pub fn column_value(a: &Activity, start: bool, col: usize) -> Option<f64> {
    let vis: Vec<&RecordRow> = visible(a);
    let (f, l) = (*vis.first()?, *vis.last()?);
    let s = a.sessions.first();
    let (tf, tl) = (secs(f.timestamp_us), secs(l.timestamp_us));
    let pick = |x: Option<f64>, y: Option<f64>| if start { x } else { y };
    match col {
        0 => pick(
            f.distance_m,
            s.and_then(|s| s.total_distance_m)
                .zip(l.distance_m)
                .map(|(t, d)| t - d),
        ),
        1 => pick(tf, tl).map(|t| t.rem_euclid(DAY_S)),
        2 => secs(a.info.time_created_us).and_then(|c| pick(tf.map(|t| t - c), tl.map(|t| t - c))),
        3 => pick(
            tf.zip(s.and_then(|s| secs(s.start_time_us)))
                .map(|(t, s)| t - s),
            secs(s.and_then(|s| s.end_time_us))
                .zip(tl)
                .map(|(e, t)| e - t),
        ),
        4 => s
            .and_then(|s| s.total_elapsed_time_s)
            .zip(tf.zip(tl))
            .map(|(e, (a, b))| e - (b - a)),
        5 => s
            .and_then(|s| s.total_distance_m)
            .zip(f.distance_m.zip(l.distance_m))
            .map(|(t, (a, b))| t - (b - a)),
        6 => pick(
            vis.iter().find_map(|r| r.heart_rate_bpm).map(f64::from),
            vis.iter()
                .rev()
                .find_map(|r| r.heart_rate_bpm)
                .map(f64::from),
        ),
        7 => pick(
            vis.iter().find_map(|r| r.speed_m_s),
            vis.iter().rev().find_map(|r| r.speed_m_s),
        ),
        8 => pick(
            tf.zip(a.laps.first().and_then(|l| secs(l.start_time_us)))
                .map(|(t, s)| t - s),
            a.laps
                .last()
                .and_then(|l| secs(l.end_time_us))
                .zip(tl)
                .map(|(e, t)| e - t),
        ),
        9 => {
            let lap = if start { a.laps.first() } else { a.laps.last() }?;
            let d = lap.total_distance_m?;
            let inside: Vec<f64> = vis
                .iter()
                .filter(|r| {
                    r.timestamp_us
                        .zip(lap.start_time_us.zip(lap.end_time_us))
                        .is_some_and(|(t, (s, e))| t >= s && t <= e)
                })
                .filter_map(|r| r.distance_m)
                .collect();
            let span = inside
                .last()
                .zip(inside.first())
                .map_or(0.0, |(a, b)| a - b);
            Some(d - span)
        }
        10 => Some(a.records.len() as f64),
        11 => s.and_then(|s| s.avg_speed_m_s),
        _ => None,
    }
}

/// Fits every column's lines on the attacker's own published subjects: (published
/// activities, what was read from them, protected places in the same frame).
pub fn train<'a>(
    data: impl Iterator<Item = (&'a [Activity], &'a Observed, &'a [Point])>,
) -> Vec<ColumnFit> {
    let mut pairs: Vec<[Vec<(f64, f64)>; 2]> = vec![Default::default(); COLUMNS.len()];
    for (published, o, places) in data {
        let Some(f) = &o.fitted else { continue };
        for &i in &f.ends {
            let e = &o.ends[i];
            let d = nearest(e.at, places).0;
            for (col, p) in pairs.iter_mut().enumerate() {
                if let Some(x) = column_value(&published[e.activity], e.start, col) {
                    p[usize::from(!e.start)].push((x, d));
                }
            }
        }
    }
    pairs
        .iter()
        .map(|[s, e]| ColumnFit {
            start: fit_line(s),
            end: fit_line(e),
        })
        .collect()
}

/// One estimate per column of [`COLUMNS`] (local metres): the multilateration of the main
/// disk's ends with their predicted distances; `None` with fewer than three ends that have
/// the column.
pub fn estimate(fits: &[ColumnFit], published: &[Activity], o: &Observed) -> Vec<Option<Point>> {
    fits.iter()
        .enumerate()
        .map(|(col, fit)| {
            let f = o.fitted.as_ref()?;
            let (mut pts, mut ds) = (Vec::new(), Vec::new());
            for &i in &f.ends {
                let e = &o.ends[i];
                let line = if e.start { fit.start } else { fit.end };
                if let (Some(l), Some(x)) =
                    (line, column_value(&published[e.activity], e.start, col))
                {
                    pts.push(e.at);
                    ds.push((l.a + l.b * x).max(0.0));
                }
            }
            if pts.len() < 3 {
                return None;
            }
            multilaterate(&pts, &ds)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datamin::format::SummaryRow;

    #[test]
    fn lines_fit_exactly_and_columns_read_the_visible_ends() {
        let l = fit_line(&[(0.0, 10.0), (1.0, 12.0), (2.0, 14.0)]).unwrap();
        assert!((l.a - 10.0).abs() < 1e-12 && (l.b - 2.0).abs() < 1e-12);
        assert_eq!(
            fit_line(&[(1.0, 3.0), (1.0, 5.0)]),
            Some(LineFit { a: 4.0, b: 0.0 })
        );
        let rec = |t: i64, d: f64| RecordRow {
            timestamp_us: Some(t * 1_000_000),
            position_lat: Some(50.0),
            position_long: Some(4.0),
            distance_m: Some(d),
            heart_rate_bpm: Some(120),
            ..Default::default()
        };
        let mut a = Activity {
            records: vec![rec(100, 400.0), rec(200, 900.0)],
            ..Default::default()
        };
        a.info.time_created_us = Some(40_000_000);
        a.sessions.push(SummaryRow {
            start_time_us: Some(90_000_000),
            end_time_us: Some(230_000_000),
            total_distance_m: Some(1200.0),
            total_elapsed_time_s: Some(140.0),
            ..Default::default()
        });
        assert_eq!(column_value(&a, true, 0), Some(400.0));
        assert_eq!(column_value(&a, false, 0), Some(300.0));
        assert_eq!(column_value(&a, true, 2), Some(60.0));
        assert_eq!(column_value(&a, true, 3), Some(10.0));
        assert_eq!(column_value(&a, false, 3), Some(30.0));
        assert_eq!(column_value(&a, true, 4), Some(40.0));
        assert_eq!(column_value(&a, true, 5), Some(700.0));
        assert_eq!(column_value(&a, true, 6), Some(120.0));
        assert_eq!(column_value(&a, true, 8), None);
        assert_eq!(column_value(&a, true, 10), Some(2.0));
    }
}
