//! `datamin sql` without a query: statements from stdin, an interactive prompt on a terminal.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use datafusion::prelude::SessionContext;

use datamin::sql::{OutputFormat, run_script, statement_complete};

use super::commands::print_result;
use super::{Failure, out};

/// Reads statements until end of input or `\q`/`quit`/`exit`, running each complete one
/// (ending with `;`) and printing its results. An error is printed and reading goes on; the
/// exit code is then 2, unless the session is interactive.
///
/// # Errors
/// Only [`Failure::Output`]: stdout cannot be written (a closed pipe ends the session).
pub(crate) async fn repl(ctx: &SessionContext, format: OutputFormat) -> Result<ExitCode, Failure> {
    let interactive = std::io::stdin().is_terminal();
    let prompt = |cont: bool| -> std::io::Result<()> {
        match (interactive, cont) {
            (false, _) => Ok(()),
            (true, false) => out("datamin> "),
            (true, true) => out("     -> "),
        }
    };
    let mut buf = String::new();
    let mut failed = false;
    prompt(false)?;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if buf.is_empty() && matches!(line.trim(), "\\q" | "quit" | "exit") {
            break;
        }
        buf.push_str(&line);
        buf.push('\n');
        if statement_complete(&buf) {
            failed |= statements(ctx, &buf, format).await?;
            buf.clear();
        }
        prompt(!buf.is_empty())?;
    }
    if !buf.trim().is_empty() {
        failed |= statements(ctx, &buf, format).await?;
    }
    Ok(if failed && !interactive {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs and prints `script`; an error is printed (`error: …`) and gives `true`.
async fn statements(
    ctx: &SessionContext,
    script: &str,
    format: OutputFormat,
) -> Result<bool, Failure> {
    let printed = match run_script(ctx, script).await {
        Ok(results) => results.iter().try_for_each(|r| print_result(r, format)),
        Err(e) => Err(e.into()),
    };
    match printed {
        Ok(()) => Ok(false),
        Err(f @ Failure::Output(_)) => Err(f),
        Err(f) => {
            eprintln!("error: {f}");
            Ok(true)
        }
    }
}
