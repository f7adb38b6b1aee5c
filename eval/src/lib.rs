//! # datamin-eval
//!
//! Privacy evaluation of datamin's privacy zones: do the published home-location attacks
//! still work on what datamin publishes?
//!
//! A labelled set of synthetic subjects is built from **real tracks** ([`synthesis`]): each
//! subject gets a secret home and activities taken from real activity files, rotated by a
//! random angle and moved so that they start at the home and end there too. A [`Defence`]
//! is applied ([`defences`]): raw data, a platform-style zone centred on the home, or
//! datamin's `privacy_zone` rule. Then ten attacks run on what it publishes: three
//! published ones (endpoint circle fit, distance leakage, naive centroid), three aimed at
//! datamin's earlier offset design (offset-aware centroid, heading extrapolation,
//! mechanism-aware; [`attacks`]), and four that know the keyed cells, the displacement and
//! their parameters, not the key: a maximum-likelihood search over candidate homes
//! ([`likelihood`]), a learned attacker trained on subjects it simulates and publishes
//! itself ([`learned`]), a displacement-aware step away from the likelihood estimate
//! ([`attacks::displacement_aware`]), and a sweep of every published column for a side
//! channel ([`side_channel`]). An attack succeeds on a
//! subject when its estimate is within 22.95 m (Dhondt et al.'s threshold), 100 m or 200 m of
//! the nearest protected place (home, or workplace of a commuter; [`report`]).
//!
//! [`run`] does it all from [`EvalOptions`] (what the `datamin-eval` command line takes) and
//! returns a typed [`Report`]; [`Report::render`] gives the Markdown table.
//!
//! Distances are in metres, shares in [0, 1].
#![warn(missing_docs)]

pub mod attacks;
pub mod defences;
pub mod ends;
pub mod learned;
pub mod likelihood;
pub mod report;
pub mod side_channel;
pub mod synthesis;

use datamin::privacy::{CELL_M, DISPLACEMENT_MAX_M, DISPLACEMENT_MIN_M, TRIM_M, ZoneConfig};

pub use attacks::{ATTACKS, EndGeometry, Line, Point};
pub use defences::{Defence, publish};
pub use report::{AttackOutcome, DefenceResult, Report, evaluate, render};
pub use synthesis::{SplitMix64, Subject, Track, load_activities, synthesize, tracks_from};

/// Activities with fewer positioned samples than this are not used as tracks.
pub const MIN_TRACK_POINTS: usize = 300;

/// Tracks are cut to at most this many positioned samples (the first ones): about an hour
/// at one sample a second, a typical real activity.
pub const MAX_TRACK_POINTS: usize = 3600;

/// Default location of the real activity files, relative to the working directory (the
/// `shared/` folder beside the checkout).
pub const DEFAULT_INPUT: &str = "../shared/data";

/// What to evaluate: the data, its size and the datamin zone's settings. The defaults are
/// those of the `datamin-eval` command.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalOptions {
    /// Directory (path or URL) of FIT/TCX files whose GPS tracks are reused.
    pub input: String,
    /// Number of synthetic subjects.
    pub subjects: usize,
    /// Activities per subject.
    pub activities: usize,
    /// Zone radius R of both zones, metres.
    pub radius_m: f64,
    /// Rounding quantum of the distances datamin publishes, metres.
    pub distance_quantum_m: f64,
    /// Circumradius of the keyed hexagonal cells, metres.
    pub cell_m: f64,
    /// Largest keyed extra path length hidden beyond each zone boundary, metres.
    pub trim_m: f64,
    /// Smallest length of datamin's keyed per-subject displacement, metres.
    pub displacement_min_m: f64,
    /// Largest length of the displacement, metres (0: off).
    pub displacement_max_m: f64,
    /// Seed of the synthetic data (homes, track choice, rotation) and of the key.
    pub seed: u64,
    /// Number of subjects the learned attacker simulates to train on (its own, with the
    /// seed XOR [`learned::ATTACKER_SEED`] and its own key).
    pub attacker_subjects: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            input: DEFAULT_INPUT.into(),
            subjects: 50,
            activities: 10,
            radius_m: 200.0,
            distance_quantum_m: 100.0,
            cell_m: CELL_M,
            trim_m: TRIM_M,
            displacement_min_m: DISPLACEMENT_MIN_M,
            displacement_max_m: DISPLACEMENT_MAX_M,
            seed: 1,
            attacker_subjects: 200,
        }
    }
}

impl EvalOptions {
    /// The defences compared: raw data, a platform-style zone of radius R centred on the
    /// home, and datamin's privacy zone with these settings.
    pub fn defences(&self) -> Vec<Defence> {
        vec![
            Defence::Raw,
            Defence::PlatformZone {
                radius_m: self.radius_m,
            },
            Defence::Datamin(ZoneConfig {
                radius_m: self.radius_m,
                distance_quantum_m: self.distance_quantum_m,
                cell_m: self.cell_m,
                trim_m: self.trim_m,
                displacement_min_m: self.displacement_min_m,
                displacement_max_m: self.displacement_max_m,
                ..ZoneConfig::default()
            }),
        ]
    }

    /// The key of datamin's keyed zone in this evaluation, derived from the seed (the
    /// attacker does not know it, but it is reproducible).
    pub fn key(&self) -> Vec<u8> {
        evaluation_key(self.seed)
    }
}

/// The evaluation key for `seed`: `evaluation-key-<seed>`.
pub fn evaluation_key(seed: u64) -> Vec<u8> {
    format!("evaluation-key-{seed}").into_bytes()
}

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The input could not be listed or read.
    #[error(transparent)]
    Load(#[from] datafusion::error::DataFusionError),
    /// No activity under the input has a usable GPS track.
    #[error("no GPS track of at least {MIN_TRACK_POINTS} points under {input}")]
    NoTracks {
        /// The input location.
        input: String,
    },
}

/// Loads the real tracks of `opts.input` ([`MIN_TRACK_POINTS`] to [`MAX_TRACK_POINTS`]
/// samples), builds the synthetic subjects and the learned attacker's own ones
/// ([`EvalOptions::attacker_subjects`], same tracks, another seed), and runs every attack on
/// each of [`EvalOptions::defences`] with [`EvalOptions::key`].
pub async fn run(opts: &EvalOptions) -> Result<Report, EvalError> {
    let acts = load_activities(&opts.input).await?;
    let tracks = tracks_from(&acts, MIN_TRACK_POINTS, MAX_TRACK_POINTS);
    if tracks.is_empty() {
        return Err(EvalError::NoTracks {
            input: opts.input.clone(),
        });
    }
    let subjects = synthesize(&tracks, opts.subjects, opts.activities, opts.seed);
    let training = synthesize(
        &tracks,
        opts.attacker_subjects,
        opts.activities,
        opts.seed ^ learned::ATTACKER_SEED,
    );
    let results = evaluate(&subjects, &opts.defences(), &opts.key(), &training);
    Ok(Report {
        input: opts.input.clone(),
        tracks: tracks.len(),
        subjects: opts.subjects,
        activities_per_subject: opts.activities,
        results,
    })
}
