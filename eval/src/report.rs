//! Running the attacks on every defence, and the results as typed values and a table.

use datamin::udfs::geo::LocalFrame;
use serde::Serialize;

use crate::attacks::{ATTACKS, Point, attack, displacement_aware, mechanism_aware};
use crate::defences::{Defence, publish};
use crate::learned::{Attacker, Observed, nearest};
use crate::side_channel::{COLUMNS, estimate};
use crate::synthesis::{SplitMix64, Subject};

/// An attack succeeds on a subject when its estimate is within this distance of the nearest
/// protected place (Dhondt et al.'s threshold), metres.
pub const SUCCESS_NEAR_M: f64 = 22.95;

/// The coarser success threshold, metres.
pub const SUCCESS_FAR_M: f64 = 100.0;

/// The coarsest success threshold, metres.
pub const SUCCESS_200_M: f64 = 200.0;

/// How one attack did against one defence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackOutcome {
    /// The attack's name (one of [`ATTACKS`]; the side channel's is followed by `: ` and the
    /// column that worked best).
    pub attack: String,
    /// Share of subjects, in [0, 1], whose home the attack located within
    /// [`SUCCESS_NEAR_M`] (22.95 m).
    pub within_22_95m: f64,
    /// Share of subjects, in [0, 1], whose home the attack located within
    /// [`SUCCESS_FAR_M`] (100 m).
    pub within_100m: f64,
    /// Share of subjects, in [0, 1], whose home the attack located within
    /// [`SUCCESS_200_M`] (200 m).
    pub within_200m: f64,
    /// Median distance between the estimate and the nearest protected place, metres
    /// (infinite when the attack has no estimate for at least half of the subjects; `null`
    /// in JSON).
    pub median_error_m: f64,
}

/// Results of one defence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DefenceResult {
    /// The defence ([`Defence::name`]).
    pub defence: String,
    /// Per attack, in the order of [`ATTACKS`].
    pub attacks: Vec<AttackOutcome>,
    /// The side channel per column swept ([`COLUMNS`]; `side channel: <column>`); the best
    /// of them is the last of `attacks`.
    pub side_channels: Vec<AttackOutcome>,
    /// Share of points published, in [0, 1].
    pub points_kept: f64,
    /// Mean absolute difference between the published session distance and the recorded
    /// one, metres: the utility cost of hiding (and the leak when it is 0).
    pub total_distance_error_m: f64,
}

impl DefenceResult {
    /// The outcome of the attack called `name` (one of [`ATTACKS`]; `side channel` finds
    /// `side channel: <column>`).
    pub fn attack(&self, name: &str) -> Option<&AttackOutcome> {
        self.attacks.iter().find(|a| {
            a.attack == name
                || a.attack
                    .strip_prefix(name)
                    .is_some_and(|r| r.starts_with(": "))
        })
    }
}

/// A whole evaluation: what it ran on and the results of every defence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Where the real tracks came from (path or URL).
    pub input: String,
    /// Number of real tracks the subjects' activities were built from.
    pub tracks: usize,
    /// Number of synthetic subjects.
    pub subjects: usize,
    /// Activities per subject.
    pub activities_per_subject: usize,
    /// One result per defence, in the order they were given.
    pub results: Vec<DefenceResult>,
}

impl Report {
    /// The report as text: a line naming the tracks, then [`render`]'s table.
    pub fn render(&self) -> String {
        format!(
            "{} real tracks from {}\n{}",
            self.tracks,
            self.input,
            render(&self.results, self.subjects, self.activities_per_subject)
        )
    }
}

/// Runs the attacks on what each of `defences` publishes for `subjects` (`key`: the key of
/// datamin's keyed zone); one result per defence. The learned attacks train on `training`,
/// the attacker's own subjects ([`Attacker::train`]).
pub fn evaluate(
    subjects: &[Subject],
    defences: &[Defence],
    key: &[u8],
    training: &[Subject],
) -> Vec<DefenceResult> {
    defences
        .iter()
        .map(|d| evaluate_one(subjects, d, key, training))
        .collect()
}

/// [`evaluate`] for one defence.
fn evaluate_one(
    subjects: &[Subject],
    d: &Defence,
    key: &[u8],
    training: &[Subject],
) -> DefenceResult {
    let attacker = Attacker::train(training, d);
    let mut errs: Vec<Vec<f64>> = vec![Vec::new(); ATTACKS.len() - 1];
    let mut side: Vec<Vec<f64>> = vec![Vec::new(); COLUMNS.len()];
    let mut geometry = Vec::new();
    let mut all_places = Vec::new();
    let (mut kept, mut total, mut dist_err, mut n_sessions) = (0usize, 0usize, 0.0, 0usize);
    // the displacement-aware attacker's own random bearings, and what it knows of the policy
    let mut ring = SplitMix64::new(0x5eed_d15c);
    let (lo, hi) = d.displacement_m();
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
        // the frame only fixes coordinates: attacks read nothing but `published`
        let frame = LocalFrame::new(s.home.0, s.home.1);
        let places: Vec<Point> = s.places.iter().map(|p| frame.to_xy(p.0, p.1)).collect();
        let err = |e: Option<Point>| e.map_or(f64::INFINITY, |p| nearest(p, &places).0);
        let (estimates, g) = attack(&published, &frame);
        for (i, e) in estimates.into_iter().enumerate() {
            errs[i].push(err(e));
        }
        geometry.push(g);
        let o = Observed::new(&published, &frame, &attacker.mechanism);
        let ml = attacker.ml(&o);
        errs[6].push(err(ml));
        errs[7].push(err(attacker.learned(&o, &published)));
        let bearing = std::f64::consts::TAU * ring.next_f64();
        errs[8].push(err(displacement_aware(ml, lo, hi, bearing)));
        for (c, e) in estimate(&attacker.side, &published, &o)
            .into_iter()
            .enumerate()
        {
            side[c].push(err(e));
        }
        all_places.push(places);
    }
    errs[5] = mechanism_aware(&geometry, d.radius_m(), &all_places);
    let mut attacks: Vec<AttackOutcome> = errs
        .into_iter()
        .zip(ATTACKS)
        .map(|(e, name)| outcome(name.to_string(), e))
        .collect();
    // the side channel: the column that did best (the worst case for the defence)
    let side_channels: Vec<AttackOutcome> = side
        .into_iter()
        .zip(COLUMNS)
        .map(|(e, c)| outcome(format!("{}: {c}", ATTACKS[ATTACKS.len() - 1]), e))
        .collect();
    let best = side_channels
        .iter()
        .max_by(|a, b| {
            (
                a.within_22_95m,
                a.within_100m,
                a.within_200m,
                -a.median_error_m,
            )
                .partial_cmp(&(
                    b.within_22_95m,
                    b.within_100m,
                    b.within_200m,
                    -b.median_error_m,
                ))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .expect("columns")
        .clone();
    attacks.push(best);
    DefenceResult {
        defence: d.name(),
        attacks,
        side_channels,
        points_kept: kept as f64 / total.max(1) as f64,
        total_distance_error_m: dist_err / n_sessions.max(1) as f64,
    }
}

/// Success shares and median of per-subject errors (metres).
fn outcome(attack: String, mut e: Vec<f64>) -> AttackOutcome {
    let n = e.len().max(1) as f64;
    let within = |m: f64| e.iter().filter(|v| **v <= m).count() as f64 / n;
    let (near, far, w200) = (
        within(SUCCESS_NEAR_M),
        within(SUCCESS_FAR_M),
        within(SUCCESS_200_M),
    );
    e.sort_by(|a, b| a.total_cmp(b));
    AttackOutcome {
        attack,
        within_22_95m: near,
        within_100m: far,
        within_200m: w200,
        median_error_m: e.get(e.len() / 2).copied().unwrap_or(f64::NAN),
    }
}

/// Renders results as a Markdown table, under a line naming the data set (`subjects` ×
/// `per_subject` activities).
pub fn render(results: &[DefenceResult], subjects: usize, per_subject: usize) -> String {
    let mut s = format!(
        "{subjects} subjects × {per_subject} activities (real tracks, out-and-back and loops from a secret home)\n\n\
         | defence | attack | success ≤ 22.95 m | success ≤ 100 m | success ≤ 200 m | median error (m) | points kept | session distance change (m) |\n|---|---|---|---|---|---|---|---|\n"
    );
    for r in results {
        for a in &r.attacks {
            s.push_str(&format!(
                "| {} | {} | {:.1}% | {:.1}% | {:.1}% | {:.0} | {:.1}% | {:.1} |\n",
                r.defence,
                a.attack,
                a.within_22_95m * 100.0,
                a.within_100m * 100.0,
                a.within_200m * 100.0,
                a.median_error_m,
                r.points_kept * 100.0,
                r.total_distance_error_m
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result() -> DefenceResult {
        DefenceResult {
            defence: "raw data".into(),
            attacks: vec![AttackOutcome {
                attack: ATTACKS[0].into(),
                within_22_95m: 0.25,
                within_100m: 1.0,
                within_200m: 1.0,
                median_error_m: 12.4,
            }],
            side_channels: Vec::new(),
            points_kept: 0.5,
            total_distance_error_m: 3.0,
        }
    }

    #[test]
    fn json_field_names_are_stable() {
        let v = serde_json::to_value(result()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "defence": "raw data",
                "attacks": [{
                    "attack": "endpoint circle fit",
                    "within_22_95m": 0.25,
                    "within_100m": 1.0,
                    "within_200m": 1.0,
                    "median_error_m": 12.4
                }],
                "side_channels": [],
                "points_kept": 0.5,
                "total_distance_error_m": 3.0
            })
        );
        assert_eq!(
            result().attack("endpoint circle fit").unwrap().within_100m,
            1.0
        );
        assert!(result().attack("nope").is_none());
    }

    #[test]
    fn table_rows_are_percentages_and_metres() {
        let t = render(&[result()], 2, 3);
        assert!(t.starts_with("2 subjects × 3 activities"), "{t}");
        assert!(
            t.ends_with(
                "| raw data | endpoint circle fit | 25.0% | 100.0% | 100.0% | 12 | 50.0% | 3.0 |\n"
            ),
            "{t}"
        );
    }
}
