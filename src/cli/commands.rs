//! One function per subcommand: library calls and printing, nothing else.

use std::io::IsTerminal;
use std::process::ExitCode;

use datafusion::arrow::record_batch::RecordBatch;

use datamin::context::session_context;
use datamin::minimizer::Minimizer;
use datamin::policy::{DEFAULT_KEY_ENV, KeyOrigin, Policy, load_policy_and_key};
use datamin::runner::RunOptions;
use datamin::sql::{OutputFormat, register_input, register_table, render, run_script};

use super::args::Command;
use super::{Failure, invalid, out, outln};

/// Runs `command`; its exit code, or why it failed.
pub(crate) async fn run(command: Command) -> Result<ExitCode, Failure> {
    match command {
        Command::Run {
            policy,
            input,
            output,
            checkpoint,
            trigger,
            options,
            set,
            metrics_addr,
            key_file,
            overwrite,
            jobs,
            json,
            quiet,
        } => {
            let mut opts = RunOptions {
                input,
                output,
                checkpoint,
                trigger: trigger.unwrap_or_default(),
                options,
                overwrite,
                jobs,
                progress: !quiet && std::io::stderr().is_terminal(),
                stop: super::stop_on_signals()?,
                policy: Some(datamin::runner::PolicySource {
                    location: policy,
                    overrides: set,
                }),
                metrics: metrics_addr.map(|_| datamin::metrics::Metrics::new()),
            };
            // serves until the command returns
            let _server = match (&opts.metrics, metrics_addr) {
                (Some(m), Some(addr)) => {
                    let s = m.serve(addr)?;
                    tracing::info!("metrics at http://{}/metrics", s.addr());
                    Some(s)
                }
                _ => None,
            };
            run_cmd(key_file.as_deref(), &mut opts, trigger.is_some(), json).await
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
                Some(p) => {
                    let (p, k) = policy_and_key(p, &[], key_file.as_deref(), true).await?;
                    (Some(p), k)
                }
                None => (
                    None,
                    datamin::policy::load_session_key(key_file.as_deref()).await?,
                ),
            };
            let ctx = session_context(key, 0);
            for t in &tables {
                register_table(&ctx, t).await?;
            }
            if let Some(input) = &input {
                register_input(&ctx, input, policy.as_ref()).await?;
            }
            if policy.is_some() && input.is_none() {
                return Err(invalid(
                    "--policy needs --input (the location whose raw tables the views read)",
                ));
            }
            let script = match (query, file) {
                (Some(q), _) => q,
                (None, Some(f)) => std::fs::read_to_string(&f)
                    .map_err(|e| invalid(format!("cannot read {f}: {e}")))?,
                (None, None) => return super::repl::repl(&ctx, format).await,
            };
            for r in run_script(&ctx, &script).await? {
                print_result(&r, format)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { policy } => {
            out(&datamin::policy::read_policy(&policy).await?.explain())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect { file, json } => inspect(&file, json).await,
        Command::Decrypt {
            input,
            output,
            columns,
            key_file,
        } => {
            use datamin::sink::decrypt::{decrypt_file, decryption_key};
            let key = decryption_key(&input, key_file.as_deref()).await?;
            let rows = decrypt_file(key, &input, &output, &columns).await?;
            outln(&format!(
                "decrypted {} column(s) of {rows} rows -> {output}",
                columns.len()
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema { json } => {
            out(&datamin::schema::describe(json))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Functions => {
            out(&datamin::udfs::describe_functions())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// [`load_policy_and_key`], telling the user on stderr about a keyring it created.
async fn policy_and_key(
    policy: &str,
    overrides: &[(String, String)],
    key_file: Option<&str>,
    for_sql: bool,
) -> Result<(Policy, Option<datamin::udfs::PseudonymKey>), Failure> {
    let (policy, key, origin) = load_policy_and_key(policy, overrides, key_file, for_sql).await?;
    if let Some(KeyOrigin::CreatedKeyring(path)) = origin {
        eprintln!(
            "datamin: no key configured; created a new keyring at {} (mode 0600).\n\
             datamin: keep it secret and back it up: pseudonyms and encrypted columns depend on it.\n\
             datamin: it is used whenever no --key-file or {DEFAULT_KEY_ENV} is given.",
            path.display(),
        );
    }
    Ok((policy, key))
}

/// `datamin run`: exit code 1 when files were quarantined. The policy's `[job]` fills the
/// trigger (unless `trigger_given`) and the options the command line does not set.
async fn run_cmd(
    key_file: Option<&str>,
    opts: &mut RunOptions,
    trigger_given: bool,
    json: bool,
) -> Result<ExitCode, Failure> {
    let source = opts
        .policy
        .as_ref()
        .ok_or_else(|| invalid("datamin run needs --policy"))?;
    // a stream keeps an existing key even if the policy needs none yet: a reloaded policy
    // may add keyed rules
    let (policy, key) = policy_and_key(
        &source.location,
        &source.overrides,
        key_file,
        !opts.trigger.is_bounded(),
    )
    .await?;
    if !trigger_given && let Some(t) = policy.job.trigger {
        opts.trigger = t;
    }
    // command-line options come last: they win
    let mut options = policy.job.options.clone();
    options.append(&mut opts.options);
    opts.options = options;
    let minimizer = Minimizer::new(policy, key)?;
    let summary = datamin::runner::run(&minimizer, opts).await?;
    if json {
        let text = serde_json::to_string_pretty(&summary)
            .map_err(|e| invalid(format!("cannot serialize the summary: {e}")))?;
        outln(&text)?;
    } else {
        out(&summary.render())?;
    }
    Ok(if summary.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `datamin inspect`: exit code 1 for a corrupt file (its reason on stderr).
async fn inspect(file: &str, json: bool) -> Result<ExitCode, Failure> {
    match datamin::inspect::inspect_location(file).await? {
        Ok(i) if json => {
            let text = serde_json::to_string_pretty(&i)
                .map_err(|e| invalid(format!("cannot serialize the inspection: {e}")))?;
            outln(&text)?;
            Ok(ExitCode::SUCCESS)
        }
        Ok(i) => {
            out(&i.render())?;
            Ok(ExitCode::SUCCESS)
        }
        Err(q) => {
            eprintln!("{file}: {}", q.reason);
            Ok(ExitCode::from(1))
        }
    }
}

/// Prints a statement's result; DDL statements (no columns) print nothing.
pub(crate) fn print_result(batches: &[RecordBatch], format: OutputFormat) -> Result<(), Failure> {
    if batches.iter().all(|b| b.num_columns() == 0) {
        return Ok(());
    }
    let t = render(batches, format)?;
    if format == OutputFormat::Table {
        outln(&t)?;
    } else {
        out(&t)?;
    }
    Ok(())
}
