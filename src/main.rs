//! The `datamin` command line: a thin shell over the library (see [`cli`]).
//!
//! Exit codes: 0 success; 1 finished, but some input files were quarantined (or a file to
//! inspect is corrupt); 2 error (bad arguments, bad policy, missing key, I/O failure).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
