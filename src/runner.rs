//! `datamin run` in batch mode: decode every file present under the input, apply the
//! policy, write one Parquet dataset per table, then exit.
//!
//! Output layout (`<output>` is any object-store location):
//!
//! ```text
//! <output>/records/part-00000.parquet     one dataset per table the policy writes
//! <output>/laps/part-00000.parquet
//! <output>/_rejected/rejected.jsonl       one JSON line per quarantined file (if any)
//! <output>/_SUCCESS                        written last: the run completed
//! ```
//!
//! A file that cannot be decoded is *quarantined*: it is listed in
//! `_rejected/rejected.jsonl` with its URL, size, SHA-256 and the reason, and the run goes
//! on. The rejected bytes are **not** copied into the output — the output holds minimized
//! data only; the original stays where it was.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::context::session_context;
use crate::format::{self, Activity, ActivityFormat};
use crate::minimizer::Minimizer;
use crate::policy::Policy;
use crate::schema::{Table, TableBatches};
use crate::sink::parquet;
use crate::source::files::{SourceFile, list_activity_files};
use crate::store::{location_to_url, resolve};

/// Options of a batch run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Input location (path or URL; a directory or one file).
    pub input: String,
    /// Output location (path or URL of a directory).
    pub output: String,
    /// Replace an existing, non-empty output.
    pub overwrite: bool,
    /// Files decoded concurrently (0: number of cores).
    pub jobs: usize,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// A quarantined file: which, its size and SHA-256, and why.
pub type Rejected = format::Quarantined;

/// Rows and bytes of one output table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSummary {
    /// Table name.
    pub table: String,
    /// Rows decoded.
    pub rows_in: u64,
    /// Rows written.
    pub rows_out: u64,
    /// Columns written.
    pub columns: usize,
    /// Output file.
    pub file: String,
    /// Output size in bytes.
    pub bytes: u64,
    /// Rows removed (or merged, `aggregate`) by each row rule, in policy order.
    pub removed_by_rule: Vec<(String, u64)>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Activity files found under the input.
    pub files_found: usize,
    /// Files decoded.
    pub files_decoded: usize,
    /// Files quarantined.
    pub rejected: Vec<Rejected>,
    /// Warnings per file (e.g. CRC mismatches accepted by lenient decoding).
    pub warnings: BTreeMap<String, Vec<String>>,
    /// Bytes read from the input.
    pub bytes_read: u64,
    /// Per output table.
    pub tables: Vec<TableSummary>,
    /// What the privacy zone hid, summed over all activities (`None`: no zone rule).
    pub privacy_zone: Option<crate::privacy::ZoneStats>,
    /// Wall time, seconds.
    pub elapsed_s: f64,
}

impl RunSummary {
    /// Human-readable summary, one fact per line.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let mb = self.bytes_read as f64 / 1e6;
        s.push_str(&format!(
            "files: {} found, {} decoded, {} quarantined; {:.1} MB read in {:.2} s ({:.1} MB/s)\n",
            self.files_found,
            self.files_decoded,
            self.rejected.len(),
            mb,
            self.elapsed_s,
            mb / self.elapsed_s.max(1e-9)
        ));
        for t in &self.tables {
            s.push_str(&format!(
                "  {:<11} {:>9} rows in, {:>9} rows out, {:>2} columns -> {} ({} bytes)\n",
                t.table, t.rows_in, t.rows_out, t.columns, t.file, t.bytes
            ));
            for (rule, n) in &t.removed_by_rule {
                let verb = if rule == "aggregate" {
                    "merged"
                } else {
                    "removed"
                };
                s.push_str(&format!("  {:<11} {rule}: {n} rows {verb}\n", ""));
            }
        }
        if let Some(z) = &self.privacy_zone {
            s.push_str(&format!(
                "  privacy_zone: {} of {} records hidden ({:.1}%), {} laps removed\n",
                z.records_hidden,
                z.records_in,
                100.0 * z.records_hidden as f64 / z.records_in.max(1) as f64,
                z.laps_removed
            ));
        }
        for r in &self.rejected {
            s.push_str(&format!("  quarantined {}: {}\n", r.file, r.reason));
        }
        let nwarn: usize = self.warnings.values().map(Vec::len).sum();
        if nwarn > 0 {
            s.push_str(&format!(
                "  {nwarn} warning(s) in {} file(s):\n",
                self.warnings.len()
            ));
            for (f, w) in &self.warnings {
                for w in w {
                    s.push_str(&format!("    {f}: {w}\n"));
                }
            }
        }
        s
    }
}

/// Decodes the files with up to `jobs` at a time, keeping their order.
async fn decode_all(
    store: Arc<dyn ObjectStore>,
    files: Vec<SourceFile>,
    jobs: usize,
    progress: &indicatif::ProgressBar,
) -> Result<
    Vec<(
        SourceFile,
        u64,
        std::result::Result<(Activity, [RecordBatch; 4]), Rejected>,
    )>,
> {
    futures::stream::iter(files)
        .map(|file| {
            let store = Arc::clone(&store);
            async move {
                let read =
                    format::read_activity(&store, &file.meta.location, &file.url, file.format)
                        .await?;
                let (size, res) =
                    match read {
                        Ok(format::Decoded { activity, size }) => {
                            let built = activity.to_batches().map(|b| (activity, b)).map_err(|e| {
                                Rejected {
                                    file: file.url.clone(),
                                    size,
                                    sha256: String::new(),
                                    reason: e.to_string(),
                                }
                            });
                            (size, built)
                        }
                        Err(q) => (q.size, Err(q)),
                    };
                Ok::<_, DataFusionError>((file, size, res))
            }
        })
        .buffered(jobs.max(1))
        .inspect(|_| progress.inc(1))
        .try_collect()
        .await
}

/// The key-value metadata written into every output file of `table`.
pub fn output_metadata(
    policy: &Policy,
    table: Table,
    key_id: Option<&str>,
) -> Vec<(String, String)> {
    let rules: Vec<_> = policy
        .table(table)
        .map(|t| t.rules.iter().filter(|r| r.enabled).collect())
        .unwrap_or_default();
    let uses_key = rules.iter().any(|r| r.needs_key());
    let mut md = vec![
        (
            "datamin.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        ("datamin.table".to_string(), table.name().to_string()),
        ("datamin.policy.sha256".to_string(), policy.sha256.clone()),
        (
            "datamin.policy.rules".to_string(),
            serde_json::to_string(&rules).expect("rules serialize"),
        ),
    ];
    if let Some(z) = &policy.privacy_zone {
        md.push((
            "datamin.policy.privacy_zone".to_string(),
            serde_json::to_string(z).expect("zone serializes"),
        ));
    }
    if let Some(n) = &policy.name {
        md.push(("datamin.policy.name".to_string(), n.clone()));
    }
    let uses_key = uses_key || policy.privacy_zone.as_ref().is_some_and(|z| z.is_keyed());
    if uses_key && let Some(id) = key_id {
        md.push(("datamin.key_id".to_string(), id.to_string()));
    }
    md
}

/// Runs the batch pipeline. Errors stop the run before `_SUCCESS` is written; undecodable
/// files do not (they are quarantined and listed in the summary's `rejected`).
///
/// # Errors
/// [`crate::Error::Invalid`] for an input with nothing there or a non-empty output without
/// `overwrite`; [`crate::Error::Engine`] for a location that
/// cannot be parsed or resolved, I/O failures and failures of the minimization queries.
pub async fn run_batch(minimizer: &Minimizer, opts: &RunOptions) -> crate::Result<RunSummary> {
    let started = Instant::now();
    let ctx = session_context(None, 1);
    let ctx = &ctx;
    let state = ctx.state();
    let policy = minimizer.policy();

    let in_url = ListingTableUrl::parse(location_to_url(&opts.input)?.as_str())?;
    let in_store = ctx.runtime_env().object_store(in_url.object_store())?;
    let files = list_activity_files(
        &state,
        &in_store,
        &in_url,
        &[ActivityFormat::Fit, ActivityFormat::Tcx],
    )
    .await?;
    if files.is_empty() && !location_exists(&in_store, in_url.prefix()).await {
        return Err(crate::Error::Invalid(format!(
            "input {}: nothing there ({in_url} is no file and no folder with files); check the path",
            opts.input
        )));
    }

    let out = resolve(ctx, &opts.output)?;
    let (out_store, out_store_url, out_prefix, out_display) =
        (out.store, out.store_url, out.path, out.url.to_string());
    let existing: Vec<Path> = out_store
        .list(Some(&out_prefix))
        .map_ok(|m| m.location)
        .try_collect()
        .await?;
    if !existing.is_empty() {
        if !opts.overwrite {
            return Err(crate::Error::Invalid(format!(
                "output {out_display} is not empty ({} objects); choose an empty location or pass --overwrite",
                existing.len()
            )));
        }
        for p in existing {
            out_store.delete(&p).await?;
        }
    }

    let progress = if opts.progress {
        indicatif::ProgressBar::new(files.len() as u64).with_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} decoding {pos}/{len} files [{elapsed_precise}] {wide_bar}",
            )
            .expect("valid template"),
        )
    } else {
        indicatif::ProgressBar::hidden()
    };
    let jobs = if opts.jobs == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        opts.jobs
    };
    let files_found = files.len();
    let decoded = decode_all(Arc::clone(&in_store), files, jobs, &progress).await?;
    progress.finish_and_clear();

    let mut bytes_read = 0;
    let mut rejected = Vec::new();
    let mut warnings = BTreeMap::new();
    let mut input = TableBatches::new();
    for (file, size, res) in decoded {
        bytes_read += size;
        match res {
            Ok((activity, batches)) => {
                if !activity.warnings.is_empty() {
                    warnings.insert(file.url.clone(), activity.warnings);
                }
                for (t, b) in Table::ALL.into_iter().zip(batches) {
                    input.push(t, b);
                }
            }
            Err(r) => rejected.push(r),
        }
    }
    let files_decoded = files_found - rejected.len();

    let minimized = minimizer.minimize(input).await?;
    let mut tables = Vec::new();
    for t in minimized.tables {
        let path = out_prefix
            .clone()
            .join(t.table.name())
            .join("part-00000.parquet");
        let written = parquet::write(
            &out_store,
            &path,
            t.schema.clone(),
            &t.batches,
            output_metadata(policy, t.table, minimizer.key_id()),
        )
        .await?;
        tables.push(TableSummary {
            table: t.table.name().to_string(),
            rows_in: t.rows_in,
            rows_out: written.rows,
            columns: t.schema.fields().len(),
            file: format!("{}{}", out_store_url.as_str(), written.path),
            bytes: written.bytes,
            removed_by_rule: t.removed_by_rule,
        });
    }

    if !rejected.is_empty() {
        let mut lines = String::new();
        for r in &rejected {
            lines.push_str(&serde_json::to_string(r).expect("serializable"));
            lines.push('\n');
        }
        let path = out_prefix.clone().join("_rejected").join("rejected.jsonl");
        out_store
            .put(&path, PutPayload::from(lines.into_bytes()))
            .await?;
    }
    out_store
        .put(
            &out_prefix.clone().join("_SUCCESS"),
            PutPayload::from_static(b""),
        )
        .await?;

    Ok(RunSummary {
        files_found,
        files_decoded,
        rejected,
        warnings,
        bytes_read,
        privacy_zone: minimized.privacy_zone,
        tables,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// Whether anything exists at `path` in `store`: an object, or objects below it.
async fn location_exists(store: &Arc<dyn ObjectStore>, path: &Path) -> bool {
    store.head(path).await.is_ok() || store.list(Some(path)).next().await.is_some()
}
