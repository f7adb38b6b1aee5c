//! Running SQL scripts: statement splitting, table registration from `NAME[:MESSAGE]=URL`
//! specs, and result rendering.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;

use crate::format::{ActivityOptions, OnError, listing_table};
use crate::minimizer::Minimizer;
use crate::policy::{Policy, RAW_SCHEMA, VIEW_SCHEMA};
use crate::policy_view::PolicyView;
use crate::schema::Table;

/// How query results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned ASCII table.
    #[default]
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    Json,
}

/// A table to register: `NAME=LOCATION` or `NAME:MESSAGE=LOCATION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// Table name in SQL.
    pub name: String,
    /// Which canonical table (`record`, `lap`, `session`, `file_id`).
    pub table: Table,
    /// Path or URL of a file or directory.
    pub location: String,
}

impl std::str::FromStr for TableSpec {
    type Err = String;

    /// Parses `NAME[:MESSAGE]=LOCATION`. Without `MESSAGE`, `NAME` must itself be a table or
    /// message name (`records`, `laps`, …) or the table is `records`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (lhs, location) = s
            .split_once('=')
            .ok_or_else(|| format!("expected NAME[:MESSAGE]=LOCATION, got '{s}'"))?;
        let (name, table) = match lhs.split_once(':') {
            Some((n, m)) => (n, m.parse::<Table>()?),
            None => (lhs, lhs.parse::<Table>().unwrap_or(Table::Records)),
        };
        if name.is_empty() || location.is_empty() {
            return Err(format!("expected NAME[:MESSAGE]=LOCATION, got '{s}'"));
        }
        Ok(Self {
            name: name.to_string(),
            table,
            location: location.to_string(),
        })
    }
}

/// Registers `spec` in `ctx`: a `ListingTable` of `spec.table` over the FIT, TCX and GPX files at
/// `spec.location` ([`listing_table`], each file decoded by its extension). Undecodable files
/// are skipped with a warning. Hive-style folders (`subject=a/`) become partition columns
/// (unless `datafusion.execution.listing_table_factory_infer_partitions` is off).
///
/// # Errors
/// A bad location, folders with different partition keys, or a name already taken.
pub async fn register_table(ctx: &SessionContext, spec: &TableSpec) -> Result<()> {
    let state = ctx.state();
    let infer = state
        .config_options()
        .execution
        .listing_table_factory_infer_partitions;
    let options = ActivityOptions {
        table: spec.table,
        on_error: OnError::Skip,
    };
    let t = listing_table(&state, &spec.location, None, options, infer).await?;
    ctx.register_table(TableReference::bare(spec.name.clone()), t)?;
    Ok(())
}

/// Registers `raw.<table>` for all four tables over `input`, and, with a policy,
/// `minimized.<table>` for every table the policy writes (replacing earlier ones).
///
/// `raw.*` hold the decoded, unminimized rows. `minimized.*` are [`PolicyView`]s: a query
/// over them runs the whole policy — the privacy zone included — through the same
/// [`Minimizer`] as `datamin run`, so SQL never sees less minimized data than a run writes.
/// The session's key ([`crate::context::session_key`]) is used for the keyed rules.
///
/// # Errors
/// The location is not a valid path or URL, or the policy needs a key and the session has
/// none.
pub async fn register_input(
    ctx: &SessionContext,
    input: &str,
    policy: Option<&Policy>,
) -> Result<()> {
    let key = crate::context::session_key(ctx);
    if policy.is_some_and(|p| p.needs_key()) && key.is_none() {
        return Err(DataFusionError::Plan(
            "the policy has keyed rules (pseudonymize, noise, encrypt or a privacy zone) but the session has no key: set DATAMIN_KEY or --key-file".into(),
        ));
    }
    ctx.sql(&format!("CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}"))
        .await?
        .collect()
        .await?;
    let state = ctx.state();
    let mut raw: Vec<(Table, Arc<dyn TableProvider>)> = Vec::new();
    for t in Table::ALL {
        let options = ActivityOptions {
            table: t,
            on_error: OnError::Skip,
        };
        let p = listing_table(&state, input, None, options, false).await?;
        let name = TableReference::partial(RAW_SCHEMA, t.name());
        ctx.deregister_table(name.clone())?;
        ctx.register_table(name, Arc::clone(&p))?;
        raw.push((t, p));
    }
    if let Some(p) = policy {
        ctx.sql(&format!("CREATE SCHEMA IF NOT EXISTS {VIEW_SCHEMA}"))
            .await?
            .collect()
            .await?;
        let minimizer = Arc::new(Minimizer::new(p.clone(), key)?);
        for t in Table::ALL {
            let name = TableReference::partial(VIEW_SCHEMA, t.name());
            ctx.deregister_table(name.clone())?;
            if let Some(view) = PolicyView::try_new(Arc::clone(&minimizer), t, raw.clone()).await? {
                ctx.register_table(name, Arc::new(view))?;
            }
        }
    }
    Ok(())
}

/// Runs every statement of `script` in order and returns the results of each.
///
/// Besides DataFusion's SQL, datamin understands
/// `APPLY POLICY '<policy>' TO '<location>'`: it registers `raw.*` over the FIT/TCX/GPX files at
/// `<location>` and the policy's `minimized.*` views ([`register_input`]). `<policy>` is a
/// TOML file path, or the TOML text itself when it spans several lines; a bad policy fails
/// with its location (`file:line:column: key: message`).
///
/// # Errors
/// The first statement that fails to parse, plan or run (with DataFusion's error), or an
/// `APPLY POLICY` whose policy or location is invalid; statements before it have run.
pub async fn run_script(ctx: &SessionContext, script: &str) -> Result<Vec<Vec<RecordBatch>>> {
    let mut out = Vec::new();
    for piece in split_statements(script) {
        if let Some(rest) = strip_keywords(&piece, &["APPLY", "POLICY"]) {
            let (policy, location) = parse_apply_policy(rest)?;
            let p = if policy.contains('\n') {
                Policy::parse("<inline policy>", &policy).map_err(crate::Error::from)
            } else {
                crate::policy::read_policy(&policy).await
            }
            .map_err(|e| DataFusionError::Plan(e.to_string()))?;
            register_input(ctx, &location, Some(&p)).await?;
            out.push(Vec::new());
            continue;
        }
        for st in DFParser::parse_sql(&piece)? {
            let plan = ctx.state().statement_to_plan(st).await?;
            let df = ctx.execute_logical_plan(plan).await?;
            out.push(df.collect().await?);
        }
    }
    Ok(out)
}

/// Splits `script` at `;` outside string literals, quoted identifiers and `--` comments;
/// drops empty pieces.
fn split_statements(script: &str) -> Vec<String> {
    let (mut out, mut cur) = (Vec::new(), String::new());
    let mut chars = script.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    cur.push(c);
                }
                '-' if chars.peek() == Some(&'-') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            cur.push('\n');
                            break;
                        }
                    }
                }
                ';' => out.push(std::mem::take(&mut cur)),
                _ => cur.push(c),
            },
        }
    }
    out.push(cur);
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

/// `Some(rest)` when `s` starts with the keywords `kws` (any case, separated by whitespace).
fn strip_keywords<'a>(s: &'a str, kws: &[&str]) -> Option<&'a str> {
    let mut rest = s.trim_start();
    for kw in kws {
        let head = rest.get(..kw.len())?;
        if !head.eq_ignore_ascii_case(kw) {
            return None;
        }
        let tail = &rest[kw.len()..];
        if !tail.starts_with(char::is_whitespace) && !tail.is_empty() {
            return None;
        }
        rest = tail.trim_start();
    }
    Some(rest)
}

/// Parses `'<policy>' TO '<location>'`.
fn parse_apply_policy(s: &str) -> Result<(String, String)> {
    let usage = || {
        DataFusionError::Plan(
            "expected APPLY POLICY '<policy file or TOML>' TO '<location>'".into(),
        )
    };
    let (policy, rest) = string_literal(s).ok_or_else(usage)?;
    let rest = strip_keywords(rest, &["TO"]).ok_or_else(usage)?;
    let (location, rest) = string_literal(rest).ok_or_else(usage)?;
    if !rest.trim().is_empty() {
        return Err(usage());
    }
    Ok((policy, location))
}

/// A leading SQL string literal (`'…'`, `''` for a quote) and what follows it.
fn string_literal(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    let body = s.strip_prefix('\'')?;
    let mut out = String::new();
    let mut it = body.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c == '\'' {
            if it.peek().is_some_and(|(_, c)| *c == '\'') {
                it.next();
                out.push('\'');
            } else {
                return Some((out, &body[i + 1..]));
            }
        } else {
            out.push(c);
        }
    }
    None
}

/// Renders batches in `format`.
///
/// # Errors
/// Arrow cannot format a value (a type the pretty printer or JSON writer does not support).
pub fn render(batches: &[RecordBatch], format: OutputFormat) -> Result<String> {
    match format {
        OutputFormat::Table => {
            Ok(datafusion::arrow::util::pretty::pretty_format_batches(batches)?.to_string())
        }
        OutputFormat::Csv => {
            let mut buf = Vec::new();
            {
                let mut w = datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut buf);
                for b in batches {
                    w.write(b)?;
                }
            }
            String::from_utf8(buf).map_err(|e| DataFusionError::External(Box::new(e)))
        }
        OutputFormat::Json => {
            let mut buf = Vec::new();
            {
                let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut buf);
                for b in batches {
                    w.write(b)?;
                }
                w.finish()?;
            }
            String::from_utf8(buf).map_err(|e| DataFusionError::External(Box::new(e)))
        }
    }
}

/// Whether `buf` holds at least one complete statement (ends with `;` outside quotes).
pub fn statement_complete(buf: &str) -> bool {
    let mut in_str = false;
    let mut last = None;
    for c in buf.chars() {
        if c == '\'' {
            in_str = !in_str;
        }
        if !c.is_whitespace() {
            last = Some(c);
        }
    }
    !in_str && last == Some(';')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_outside_quotes_and_comments() {
        let s = "SELECT ';' AS \"a;b\"; -- no; split\nAPPLY POLICY 'x = 1;\n' TO 'd';;";
        assert_eq!(
            split_statements(s),
            vec![
                "SELECT ';' AS \"a;b\"".to_string(),
                " \nAPPLY POLICY 'x = 1;\n' TO 'd'".to_string()
            ]
        );
        let pieces = split_statements(s);
        let rest = strip_keywords(&pieces[1], &["apply", "policy"]).unwrap();
        assert_eq!(
            parse_apply_policy(rest).unwrap(),
            ("x = 1;\n".to_string(), "d".to_string())
        );
        assert_eq!(string_literal("'it''s' x"), Some(("it's".into(), " x")));
        assert!(strip_keywords("APPLYPOLICY 'x'", &["APPLY", "POLICY"]).is_none());
    }
}
