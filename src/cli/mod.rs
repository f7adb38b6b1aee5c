//! The `datamin` command line: a thin shell over the library.
//!
//! [`args`] parses the arguments, [`commands`] calls the library for each subcommand,
//! [`repl`] reads SQL statements from stdin. Everything is written through [`out`] (a locked
//! stdout); a reader that goes away (`datamin … | head`) ends the program quietly with exit
//! code 0, as ripgrep does.
//!
//! Exit codes: 0 success; 1 finished, but some input files were quarantined (or a file to
//! inspect is corrupt); 2 error (bad arguments, bad policy, missing key, I/O failure). Every
//! error is printed as `error: <message>`, the message of a [`datamin::Error`] (without
//! DataFusion's category prefixes).

mod args;
mod commands;
mod repl;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;

/// Why a command stopped.
#[derive(Debug)]
pub(crate) enum Failure {
    /// An error of the library (or of the arguments): printed, exit code 2.
    Error(datamin::Error),
    /// Writing to stdout failed; a broken pipe (the reader went away) is a quiet end.
    Output(io::Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Error(e) => e.fmt(f),
            Failure::Output(e) => write!(f, "cannot write the output: {e}"),
        }
    }
}

impl From<datamin::Error> for Failure {
    fn from(e: datamin::Error) -> Self {
        Failure::Error(e)
    }
}

impl From<datafusion::error::DataFusionError> for Failure {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Failure::Error(e.into())
    }
}

impl From<datamin::policy::PolicyError> for Failure {
    fn from(e: datamin::policy::PolicyError) -> Self {
        Failure::Error(e.into())
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Output(e)
    }
}

/// A flag set by the first SIGINT or SIGTERM, so the runner stops at a batch boundary; a
/// second signal ends the process at once (signal-hook's conditional shutdown).
pub(crate) fn stop_on_signals() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>, Failure> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        // exit(130/143) if the flag is already set, then set it
        signal_hook::flag::register_conditional_shutdown(
            sig,
            128 + sig,
            std::sync::Arc::clone(&stop),
        )?;
        signal_hook::flag::register(sig, std::sync::Arc::clone(&stop))?;
    }
    Ok(stop)
}

/// An error the user can fix (bad combination of arguments, unreadable script file).
pub(crate) fn invalid(msg: impl Into<String>) -> Failure {
    Failure::Error(datamin::Error::Invalid(msg.into()))
}

/// Writes `text` to stdout as is and flushes, so that a closed pipe shows up here.
pub(crate) fn out(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// Writes `text` and a newline to stdout (see [`out`]).
pub(crate) fn outln(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{text}")?;
    stdout.flush()
}

/// Prints a failure as `error: <message>` and returns its exit code: 0 for a broken pipe
/// (nothing printed), else 2.
pub(crate) fn report(f: &Failure) -> ExitCode {
    match f {
        Failure::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        f => {
            eprintln!("error: {f}");
            ExitCode::from(2)
        }
    }
}

/// The `datamin` program: arguments, logging to stderr (`DATAMIN_LOG`, default warnings and
/// datamin's own info lines; `--log-format json` for one JSON object per line), then the
/// subcommand on a Tokio runtime.
pub fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("DATAMIN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,datamin=info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr);
    match cli.log_format {
        args::LogFormat::Human => logs.with_ansi(io::stderr().is_terminal()).init(),
        args::LogFormat::Json => logs.json().init(),
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(&invalid(format!("cannot start the runtime: {e}"))),
    };
    match rt.block_on(commands::run(cli.command)) {
        Ok(code) => code,
        Err(f) => report(&f),
    }
}
