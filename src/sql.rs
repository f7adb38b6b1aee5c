//! Running SQL scripts: statement splitting, table registration from `NAME[:MESSAGE]=URL`
//! specs, and result rendering.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;

use crate::format::ActivityFormat;
use crate::format::provider::{ActivityTable, OnError};
use crate::policy::{Policy, RAW_SCHEMA, VIEW_SCHEMA};
use crate::schema::Table;
use crate::store::location_to_url;

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

/// Registers `spec` in `ctx` as an [`ActivityTable`] over FIT and TCX files.
pub fn register_table(ctx: &SessionContext, spec: &TableSpec) -> Result<()> {
    let url = location_to_url(&spec.location)?;
    let t = ActivityTable::try_new(
        url.as_str(),
        spec.table,
        vec![ActivityFormat::Fit, ActivityFormat::Tcx],
        OnError::Skip,
    )?;
    ctx.register_table(TableReference::bare(spec.name.clone()), Arc::new(t))?;
    Ok(())
}

/// Registers `raw.<table>` for all four tables over `input`, and, with a policy, the
/// `minimized.<table>` views of its compiled SQL.
pub async fn register_input(
    ctx: &SessionContext,
    input: &str,
    policy: Option<&Policy>,
) -> Result<()> {
    let url = location_to_url(input)?;
    run_script(ctx, &format!("CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")).await?;
    for t in Table::ALL {
        let p = ActivityTable::try_new(
            url.as_str(),
            t,
            vec![ActivityFormat::Fit, ActivityFormat::Tcx],
            OnError::Skip,
        )?;
        ctx.register_table(TableReference::partial(RAW_SCHEMA, t.name()), Arc::new(p))?;
    }
    if let Some(p) = policy {
        run_script(ctx, &format!("CREATE SCHEMA IF NOT EXISTS {VIEW_SCHEMA}")).await?;
        for v in p.compile() {
            run_script(ctx, &v.sql).await?;
        }
    }
    Ok(())
}

/// Runs every statement of `script` in order and returns the results of each.
pub async fn run_script(ctx: &SessionContext, script: &str) -> Result<Vec<Vec<RecordBatch>>> {
    let statements = DFParser::parse_sql(script)?;
    let mut out = Vec::new();
    for st in statements {
        let plan = ctx.state().statement_to_plan(st).await?;
        let df = ctx.execute_logical_plan(plan).await?;
        out.push(df.collect().await?);
    }
    Ok(out)
}

/// Renders batches in `format`.
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
