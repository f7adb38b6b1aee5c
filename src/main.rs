//! The `datamin` command line: a thin shell over the library.
//!
//! Exit codes: 0 success; 1 finished, but some input files were quarantined (or a file to
//! inspect is corrupt); 2 error (bad arguments, bad policy, missing key, I/O failure).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use datamin::context::session_context;
use datamin::inspect::InspectError;
use datamin::minimizer::Minimizer;
use datamin::policy::{KeyOrigin, Policy, load_existing_key, load_key, load_or_create_key};
use datamin::runner::{RunOptions, run_batch};
use datamin::sql::{
    OutputFormat, TableSpec, register_input, register_table, render, run_script, statement_complete,
};

/// datamin: data minimization for fitness-tracking data (FIT, TCX) on Apache DataFusion.
#[derive(Parser)]
#[command(version, about, long_about = None, after_help = "Exit codes: 0 ok, 1 some input files quarantined, 2 error.\nDocs: README.md; SQL functions: `datamin functions`.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Minimize every FIT/TCX file under INPUT with POLICY and write Parquet to OUTPUT.
    Run {
        /// Policy file (TOML).
        #[arg(short, long, env = "DATAMIN_POLICY")]
        policy: String,
        /// Input: a local path or URL (file://, s3://bucket/prefix/) of a file or directory.
        #[arg(short, long, env = "DATAMIN_INPUT")]
        input: String,
        /// Output directory: a local path or URL. Must be empty unless --overwrite.
        #[arg(short, long, env = "DATAMIN_OUTPUT")]
        output: String,
        /// Read the pseudonymization key from this file (overrides the policy's [key]).
        #[arg(long, env = "DATAMIN_KEY_FILE")]
        key_file: Option<String>,
        /// Delete what is in OUTPUT first.
        #[arg(long)]
        overwrite: bool,
        /// Files decoded in parallel (default: number of cores).
        #[arg(short, long, default_value_t = 0)]
        jobs: usize,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Run SQL over activity files, with the datamin functions available.
    Sql {
        /// SQL to run (several statements separated by `;`). Without it and without -f,
        /// statements are read from stdin (an interactive prompt on a terminal).
        query: Option<String>,
        /// Run the statements of this file.
        #[arg(short, long)]
        file: Option<String>,
        /// Register a table: NAME[:MESSAGE]=LOCATION, MESSAGE one of record, lap, session,
        /// file_id (default: from NAME, else record). Repeatable.
        #[arg(short, long = "table", value_name = "NAME[:MESSAGE]=LOCATION")]
        tables: Vec<TableSpec>,
        /// Register raw.records, raw.laps, raw.sessions, raw.activities over this location.
        #[arg(short, long)]
        input: Option<String>,
        /// With --input: also create the policy's minimized.<table> views.
        #[arg(short, long)]
        policy: Option<String>,
        /// Read the pseudonymization key from this file.
        #[arg(long, env = "DATAMIN_KEY_FILE")]
        key_file: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Print the SQL views a policy compiles to.
    Explain {
        /// Policy file (TOML).
        #[arg(short, long)]
        policy: String,
    },
    /// Show what a FIT or TCX file contains.
    Inspect {
        /// Local path or URL of the file.
        file: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the datamin SQL functions with their documentation.
    Functions,
    /// Decrypt the `encrypt`ed columns of a Parquet file (for the key holder).
    Decrypt {
        /// Parquet file (path or URL) written by `datamin run`.
        input: String,
        /// Output Parquet file (path or URL).
        #[arg(short, long)]
        output: String,
        /// Columns to decrypt (comma-separated).
        #[arg(short, long, value_delimiter = ',', required = true)]
        columns: Vec<String>,
        /// Read the key from this file (default: $DATAMIN_KEY). A keyring file gives the key
        /// the input was written with (its `datamin.key_id`).
        #[arg(long, env = "DATAMIN_KEY_FILE")]
        key_file: Option<String>,
    },
    /// Print the canonical tables and their columns (types, units in the names).
    Schema {
        /// Print JSON: {"table": ["column", ...]}.
        #[arg(long)]
        json: bool,
    },
}

/// Prints a statement's result; DDL statements (no columns) print nothing.
fn print_result(
    batches: &[datafusion::arrow::record_batch::RecordBatch],
    format: OutputFormat,
) -> Result<(), String> {
    if batches.iter().all(|b| b.num_columns() == 0) {
        return Ok(());
    }
    let t = render(batches, format).map_err(|e| e.to_string())?;
    if format == OutputFormat::Table {
        println!("{t}");
    } else {
        print!("{t}");
    }
    Ok(())
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async_main(cli))
}

fn policy_and_key(
    policy: &str,
    key_file: Option<&str>,
    need_key: bool,
) -> Result<(Policy, Option<datamin::udfs::PseudonymKey>), String> {
    let policy = Policy::from_file(policy).map_err(|e| e.to_string())?;
    let key = if policy.needs_key() {
        let (key, origin) = load_or_create_key(&policy.key, key_file).map_err(|e| e.to_string())?;
        if let KeyOrigin::CreatedKeyring(path) = origin {
            eprintln!(
                "datamin: no key configured; created a new keyring at {} (mode 0600).\n\
                 datamin: keep it secret and back it up: pseudonyms and encrypted columns depend on it.\n\
                 datamin: it is used whenever no --key-file or {} is given.",
                path.display(),
                datamin::policy::DEFAULT_KEY_ENV
            );
        }
        Some(key)
    } else if need_key {
        load_existing_key(&policy.key, key_file).map_err(|e| e.to_string())?
    } else {
        None
    };
    Ok((policy, key))
}

async fn async_main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Run {
            policy,
            input,
            output,
            key_file,
            overwrite,
            jobs,
            json,
            quiet,
        } => {
            let (policy, key) = match policy_and_key(&policy, key_file.as_deref(), false) {
                Ok(v) => v,
                Err(e) => return fail(e),
            };
            let minimizer = match Minimizer::new(policy, key) {
                Ok(m) => m,
                Err(e) => return fail(e),
            };
            let opts = RunOptions {
                input,
                output,
                overwrite,
                jobs,
                progress: !quiet && std::io::stderr().is_terminal(),
            };
            match run_batch(&minimizer, &opts).await {
                Ok(summary) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&summary).expect("serializable")
                        );
                    } else {
                        print!("{}", summary.render());
                    }
                    if summary.rejected.is_empty() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => fail(e),
            }
        }
        Command::Sql {
            query,
            file,
            tables,
            input,
            policy,
            key_file,
            format,
        } => {
            let (policy, key) = match &policy {
                Some(p) => match policy_and_key(p, key_file.as_deref(), true) {
                    Ok((p, k)) => (Some(p), k),
                    Err(e) => return fail(e),
                },
                None => {
                    let k = match &key_file {
                        Some(f) => match load_key(&Default::default(), Some(f)) {
                            Ok(k) => Some(k),
                            Err(e) => return fail(e),
                        },
                        None => load_existing_key(&Default::default(), None).ok().flatten(),
                    };
                    (None, k)
                }
            };
            let ctx = session_context(key, 0);
            for t in &tables {
                if let Err(e) = register_table(&ctx, t).await {
                    return fail(e);
                }
            }
            if let Some(input) = &input
                && let Err(e) = register_input(&ctx, input, policy.as_ref()).await
            {
                return fail(e);
            }
            if policy.is_some() && input.is_none() {
                return fail(
                    "--policy needs --input (the location whose raw tables the views read)",
                );
            }
            let script = match (query, file) {
                (Some(q), _) => Some(q),
                (None, Some(f)) => match std::fs::read_to_string(&f) {
                    Ok(s) => Some(s),
                    Err(e) => return fail(format!("cannot read {f}: {e}")),
                },
                (None, None) => None,
            };
            match script {
                Some(s) => match run_script(&ctx, &s).await {
                    Ok(results) => {
                        for r in results {
                            if let Err(e) = print_result(&r, format) {
                                return fail(e);
                            }
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(e),
                },
                None => repl(&ctx, format).await,
            }
        }
        Command::Explain { policy } => match Policy::from_file(&policy) {
            Ok(p) => {
                print!("{}", p.explain());
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Command::Inspect { file, json } => inspect(&file, json).await,
        Command::Decrypt {
            input,
            output,
            columns,
            key_file,
        } => {
            // with a keyring, the key the file was written with (key rotation)
            let key_id = match datamin::sink::decrypt::file_key_id(&input).await {
                Ok(id) => id,
                Err(e) => return fail(e),
            };
            // without --key-file or DATAMIN_KEY: the default keyring, if there is one
            let default_ring = datamin::policy::default_keyring_path()
                .filter(|p| {
                    key_file.is_none()
                        && std::env::var_os(datamin::policy::DEFAULT_KEY_ENV).is_none()
                        && p.exists()
                })
                .map(|p| p.to_string_lossy().into_owned());
            let key = match datamin::policy::load_key_by_id(
                &Default::default(),
                key_file.as_deref().or(default_ring.as_deref()),
                key_id.as_deref(),
            ) {
                Ok(k) => k,
                Err(e) => return fail(e),
            };
            match datamin::sink::decrypt::decrypt_file(key, &input, &output, &columns).await {
                Ok(rows) => {
                    println!(
                        "decrypted {} column(s) of {rows} rows -> {output}",
                        columns.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Schema { json } => {
            use datamin::schema::Table;
            if json {
                let m: serde_json::Map<String, serde_json::Value> = Table::ALL
                    .iter()
                    .map(|t| {
                        let cols = t
                            .schema()
                            .fields()
                            .iter()
                            .map(|f| serde_json::Value::from(f.name().as_str()))
                            .collect();
                        (t.name().to_string(), serde_json::Value::Array(cols))
                    })
                    .collect();
                println!("{}", serde_json::Value::Object(m));
            } else {
                for t in Table::ALL {
                    println!("{t}");
                    for f in t.schema().fields() {
                        println!(
                            "  {:<30} {}{}",
                            f.name(),
                            f.data_type(),
                            if f.is_nullable() { "" } else { " NOT NULL" }
                        );
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Command::Functions => {
            for f in datamin::udfs::functions(None) {
                if let Some(d) = f.documentation() {
                    println!("{}\n  {}", d.syntax_example, d.description);
                    for (a, t) in d.arguments.iter().flatten() {
                        println!("    {a}: {t}");
                    }
                    if let Some(e) = &d.sql_example {
                        println!("  example: {e}");
                    }
                    println!();
                }
            }
            ExitCode::SUCCESS
        }
    }
}

async fn repl(ctx: &datafusion::prelude::SessionContext, format: OutputFormat) -> ExitCode {
    let interactive = std::io::stdin().is_terminal();
    let stdin = std::io::stdin();
    let mut buf = String::new();
    let mut status = ExitCode::SUCCESS;
    let prompt = |cont: bool| {
        if interactive {
            print!("{}", if cont { "     -> " } else { "datamin> " });
            let _ = std::io::stdout().flush();
        }
    };
    prompt(false);
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if buf.is_empty() && matches!(line.trim(), "\\q" | "quit" | "exit") {
            break;
        }
        buf.push_str(&line);
        buf.push('\n');
        if statement_complete(&buf) {
            match run_script(ctx, &buf).await {
                Ok(results) => {
                    for r in results {
                        if let Err(e) = print_result(&r, format) {
                            eprintln!("error: {e}");
                        }
                    }
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    status = ExitCode::from(2);
                }
            }
            buf.clear();
        }
        prompt(!buf.is_empty());
    }
    if !buf.trim().is_empty()
        && let Err(e) = run_script(ctx, &buf).await
    {
        eprintln!("error: {e}");
        status = ExitCode::from(2);
    }
    if interactive {
        ExitCode::SUCCESS
    } else {
        status
    }
}

async fn inspect(file: &str, json: bool) -> ExitCode {
    match datamin::inspect::inspect_location(file).await {
        Ok(i) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&i).expect("serializable")
                );
            } else {
                print!("{}", i.render());
            }
            ExitCode::SUCCESS
        }
        Err(InspectError::Corrupt(q)) => {
            eprintln!("{file}: {}", q.reason);
            ExitCode::from(1)
        }
        Err(e) => fail(e),
    }
}
