//! The `datamin-eval` command line: measures how well home-location attacks work on the
//! output of a privacy zone (a thin shell over [`datamin_eval::run`]).
//!
//! Exit codes: 0 success; 2 error (bad arguments, unreadable input, no usable track).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use datamin::privacy::{CELL_M, DISPLACEMENT_MAX_M, DISPLACEMENT_MIN_M, TRIM_M};
use datamin_eval::{DEFAULT_INPUT, EvalOptions};

/// Measure how well home-location attacks work on the output of a privacy zone.
///
/// Builds synthetic subjects (secret home + real tracks from INPUT, out and back from
/// home), publishes them raw, behind a Strava-style zone, and behind datamin's
/// privacy_zone rule, and runs ten attacks on each (three published, seven aimed at
/// datamin's own design).
#[derive(Parser)]
#[command(
    name = "datamin-eval",
    version,
    after_help = "Exit codes: 0 ok, 2 error.\nDocs: README.md (privacy zones)."
)]
struct Cli {
    /// Directory (path or URL) of FIT/TCX files whose GPS tracks are reused.
    #[arg(short, long, default_value = DEFAULT_INPUT)]
    input: String,
    /// Number of synthetic subjects.
    #[arg(long, default_value_t = 50)]
    subjects: usize,
    /// Activities per subject.
    #[arg(long, default_value_t = 10)]
    activities: usize,
    /// Zone radius R, metres.
    #[arg(long, default_value_t = 200.0)]
    radius_m: f64,
    /// Rounding quantum of published distances, metres.
    #[arg(long, default_value_t = 100.0)]
    distance_quantum_m: f64,
    /// Circumradius of the keyed hexagonal cells, metres.
    #[arg(long, default_value_t = CELL_M)]
    cell_m: f64,
    /// Largest keyed extra path length hidden beyond each zone boundary, metres.
    #[arg(long, default_value_t = TRIM_M)]
    trim_m: f64,
    /// Smallest length of the keyed per-subject displacement of published positions, metres.
    #[arg(long, default_value_t = DISPLACEMENT_MIN_M)]
    displacement_min_m: f64,
    /// Largest length of the displacement, metres (0: positions are not displaced).
    #[arg(long, default_value_t = DISPLACEMENT_MAX_M)]
    displacement_max_m: f64,
    /// Seed of the synthetic data (homes, track choice, rotation).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Subjects the learned attacker simulates and publishes under its own key to train on.
    #[arg(long, default_value_t = 200)]
    attacker_subjects: usize,
    /// Print JSON (the results of every defence).
    #[arg(long)]
    json: bool,
}

/// The evaluation the command line asks for.
fn options(cli: &Cli) -> Result<EvalOptions, &'static str> {
    if !(cli.cell_m >= 0.0 && cli.trim_m >= 0.0 && cli.radius_m >= 0.0) {
        return Err("--cell-m, --trim-m and --radius-m take metres >= 0");
    }
    if !(cli.displacement_min_m >= 0.0 && cli.displacement_max_m >= 0.0)
        || (cli.displacement_max_m > 0.0 && cli.displacement_min_m > cli.displacement_max_m)
    {
        return Err("--displacement-min-m and --displacement-max-m take metres, 0 <= min <= max");
    }
    Ok(EvalOptions {
        input: cli.input.clone(),
        subjects: cli.subjects,
        activities: cli.activities,
        radius_m: cli.radius_m,
        distance_quantum_m: cli.distance_quantum_m,
        cell_m: cli.cell_m,
        trim_m: cli.trim_m,
        displacement_min_m: cli.displacement_min_m,
        displacement_max_m: cli.displacement_max_m,
        seed: cli.seed,
        attacker_subjects: cli.attacker_subjects,
    })
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DATAMIN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    let opts = match options(&cli) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(datamin_eval::run(&opts)) {
        Ok(report) => {
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report.results).expect("serializable")
                );
            } else {
                print!("{}", report.render());
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_library_defaults() {
        let cli = Cli::parse_from(["datamin-eval"]);
        assert_eq!(options(&cli).unwrap(), EvalOptions::default());
        assert!(!cli.json);
    }

    #[test]
    fn flags_set_the_options() {
        let cli = Cli::parse_from([
            "datamin-eval",
            "--input",
            "x",
            "--subjects",
            "20",
            "--activities",
            "5",
            "--radius-m",
            "300",
            "--distance-quantum-m",
            "50",
            "--cell-m",
            "900",
            "--trim-m",
            "10",
            "--displacement-min-m",
            "50",
            "--displacement-max-m",
            "300",
            "--seed",
            "7",
            "--attacker-subjects",
            "30",
            "--json",
        ]);
        let o = options(&cli).unwrap();
        assert_eq!(
            o,
            EvalOptions {
                input: "x".into(),
                subjects: 20,
                activities: 5,
                radius_m: 300.0,
                distance_quantum_m: 50.0,
                cell_m: 900.0,
                trim_m: 10.0,
                displacement_min_m: 50.0,
                displacement_max_m: 300.0,
                seed: 7,
                attacker_subjects: 30,
            }
        );
        assert!(cli.json);
        let bad = Cli::parse_from(["datamin-eval", "--cell-m=-1"]);
        assert!(options(&bad).is_err());
        let bad = Cli::parse_from(["datamin-eval", "--displacement-min-m=800"]);
        assert!(options(&bad).is_err());
    }
}
