//! The `datamin-eval` command line: measures how well home-location attacks work on the
//! output of a privacy zone (a thin shell over [`datamin_eval::run`]).
//!
//! Exit codes: 0 success; 2 error (bad arguments, unreadable input, no usable track).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use datamin::privacy::{GATE_SHARE, OFFSET_RANGE, RADIUS_SLACK_M, ZoneConfig};
use datamin_eval::{DEFAULT_INPUT, EvalOptions};

/// Measure how well home-location attacks work on the output of a privacy zone.
///
/// Builds synthetic subjects (secret home + real tracks from INPUT, out and back from
/// home), publishes them raw, behind a Strava-style zone, and behind datamin's
/// privacy_zone rule, and runs six attacks on each (three published, three aimed at
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
    /// Range of the keyed zone-centre offset, multiples of R: `LO,HI`.
    #[arg(long, value_delimiter = ',', default_values_t = [OFFSET_RANGE.0, OFFSET_RANGE.1])]
    offset_range: Vec<f64>,
    /// Largest keyed extra path length hidden beyond each zone boundary, metres.
    #[arg(long, default_value_t = ZoneConfig::default().trim_m)]
    trim_m: f64,
    /// Largest keyed per-subject slack added to the zone radius, metres.
    #[arg(long, default_value_t = RADIUS_SLACK_M)]
    radius_slack_m: f64,
    /// Share of activities (keyed) whose zones are gated: the home side of the line
    /// through the shifted centre is hidden too.
    #[arg(long, default_value_t = GATE_SHARE)]
    gate_share: f64,
    /// Seed of the synthetic data (homes, track choice, rotation).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print JSON (the results of every defence).
    #[arg(long)]
    json: bool,
}

/// The evaluation the command line asks for.
fn options(cli: &Cli) -> Result<EvalOptions, &'static str> {
    let [lo, hi] = cli.offset_range[..] else {
        return Err("--offset-range takes two numbers: LO,HI");
    };
    Ok(EvalOptions {
        input: cli.input.clone(),
        subjects: cli.subjects,
        activities: cli.activities,
        radius_m: cli.radius_m,
        distance_quantum_m: cli.distance_quantum_m,
        offset_range: (lo, hi),
        trim_m: cli.trim_m,
        radius_slack_m: cli.radius_slack_m,
        gate_share: cli.gate_share,
        seed: cli.seed,
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
            "--offset-range",
            "2,3",
            "--trim-m",
            "10",
            "--radius-slack-m",
            "20",
            "--gate-share",
            "0.5",
            "--seed",
            "7",
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
                offset_range: (2.0, 3.0),
                trim_m: 10.0,
                radius_slack_m: 20.0,
                gate_share: 0.5,
                seed: 7,
            }
        );
        assert!(cli.json);
        let bad = Cli::parse_from(["datamin-eval", "--offset-range", "1"]);
        assert!(options(&bad).is_err());
    }
}
