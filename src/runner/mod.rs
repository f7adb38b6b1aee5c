//! `datamin run`: the micro-batch runner. Each trigger takes the next new input — files
//! from an object store ([`crate::source::file_stream`]) or an offset range of Kafka topics
//! ([`crate::source::kafka`]) — decodes it, minimizes it with the policy ([`Minimizer`]) and
//! commits it to the Parquet sink ([`crate::sink::file_sink`]), with Apache Spark Structured
//! Streaming's checkpoint ([`crate::checkpoint`]) so that a crash loses nothing and
//! duplicates nothing. A batch run is the `available-now` trigger (for Kafka: batches until
//! one has read every partition to the end it had when that batch was planned).
//!
//! Output layout (`<output>` is any object-store location):
//!
//! ```text
//! <output>/records/part-00000-00000.parquet   data files of batch 0 (then part-00001-…)
//! <output>/records/_spark_metadata/0          the files batch 0 committed (Spark's sink log)
//! <output>/laps/…                             one dataset per table the policy writes
//! <output>/_rejected/part-00000.jsonl         one JSON line per quarantined file (or rejected
//!                                             message: `kafka://…/<topic>/<partition>/<offset>`)
//! <output>/_checkpoint/                       metadata, offsets/, commits/, sources/0/,
//!                                             state/privacy_zone/ (the zone's anchors)
//! <output>/_SUCCESS                           a bounded run (available-now, once) finished
//! ```
//!
//! A file that cannot be decoded is *quarantined*: it is listed in `_rejected/` with its
//! URL, size, SHA-256 and the reason, logged as read in the checkpoint (never retried), and
//! the batch goes on. The rejected bytes are **not** copied into the output — the output
//! holds minimized data only; the original stays where it was.
//!
//! Per-batch order of writes (see `docs/checkpoint.md`): `sources/0/<N>`, `offsets/<N>`,
//! `_rejected/part-<N>.jsonl`, data files, `<table>/_spark_metadata/<N>`,
//! `state/privacy_zone/<N>` (with a zone), `commits/<N>`, then `cleanSource`.

mod batch;
mod input;
mod reload;
mod summary;
mod trigger;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use datafusion::common::{DataFusionError, Result};
use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectStoreExt, PutPayload};
use futures::TryStreamExt;
use serde_json::Value;

use self::batch::{BatchContext, BatchInput};
pub use self::batch::{kafka_table, output_metadata};
use self::input::Input;
pub use self::input::is_kafka;
pub use self::reload::PolicySource;
use self::reload::reload;
pub use self::summary::{RunSummary, TableSummary};
pub use self::trigger::Trigger;
use crate::checkpoint::{BatchOffsets, Checkpoint, OffsetSeqMetadata};
use crate::format;
use crate::metrics::Metrics;
use crate::minimizer::Minimizer;
use crate::policy::Policy;
use crate::sink::file_sink::ParquetSink;
use crate::source::file_stream::FileSourceOptions;
use crate::store::Location;

/// Options of `datamin run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Input location (path or URL; a directory, one file, or a glob such as
    /// `s3://b/in/*/*.fit`).
    pub input: String,
    /// Output location (path or URL of a directory).
    pub output: String,
    /// Checkpoint location (default: `<output>/_checkpoint`).
    pub checkpoint: Option<String>,
    /// When batches run and when the run stops.
    pub trigger: Trigger,
    /// Source and sink options by Spark's names (`maxFilesPerTrigger`, `maxRecordsPerFile`,
    /// …; see [`crate::source::file_stream`]).
    pub options: Vec<(String, String)>,
    /// Start afresh: delete the output and the checkpoint first.
    pub overwrite: bool,
    /// Files decoded concurrently (0: number of cores).
    pub jobs: usize,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Set to stop at the next batch boundary (the CLI sets it on SIGINT/SIGTERM).
    pub stop: Arc<AtomicBool>,
    /// Where the policy comes from, re-read before every batch (hot reload); `None`: the
    /// minimizer's policy for the whole run.
    pub policy: Option<PolicySource>,
    /// Metrics to update after every batch ([`crate::metrics`]).
    pub metrics: Option<Metrics>,
}

/// The option names of the Parquet sink, as Spark spells them.
pub const SINK_OPTION_NAMES: &[&str] = &["maxRecordsPerFile"];

/// A quarantined file: which, its size and SHA-256, and why.
pub type Rejected = format::Quarantined;

/// The file source and sink options of `options` (`kafka`: the source options are the Kafka
/// source's, checked when it opens).
fn parse_options(
    options: &[(String, String)],
    kafka: bool,
) -> crate::Result<(FileSourceOptions, Option<u64>)> {
    let mut source = FileSourceOptions::default();
    let mut max_records = None;
    for (k, v) in options {
        if k.eq_ignore_ascii_case("maxRecordsPerFile") {
            max_records = Some(v.parse::<u64>().map_err(|_| {
                crate::Error::Invalid(format!(
                    "option {k}={v}: expected a number of rows (0: no limit)"
                ))
            })?);
            continue;
        }
        if kafka {
            continue;
        }
        if !source.set(k, v).map_err(crate::Error::Invalid)? {
            let known: Vec<&str> = crate::source::file_stream::OPTION_NAMES
                .iter()
                .chain(SINK_OPTION_NAMES)
                .copied()
                .collect();
            return Err(crate::Error::Invalid(format!(
                "unknown option {k:?}; known: {}",
                known.join(", ")
            )));
        }
    }
    source.validate().map_err(crate::Error::Invalid)?;
    Ok((source, max_records))
}

/// Runs the micro-batch pipeline from `opts.input` to `opts.output` until the trigger says
/// stop (or `opts.stop` is set). Files that cannot be decoded are quarantined, not errors.
///
/// Restarted on the same output (and checkpoint), it first re-runs a batch that was planned
/// but not committed — same files, same output files — then goes on with new files only.
///
/// # Errors
/// [`crate::Error::Invalid`] for bad options, an input with nothing there, or a non-empty
/// output that has no checkpoint (without `overwrite`); [`crate::Error::Engine`] for
/// locations that cannot be resolved, I/O failures and failures of the minimization
/// queries. A batch that fails is not committed: the next run re-runs it.
pub async fn run(minimizer: &Minimizer, opts: &RunOptions) -> crate::Result<RunSummary> {
    let started = Instant::now();
    let kafka = is_kafka(&opts.input);
    let (source_options, max_records_per_file) = parse_options(&opts.options, kafka)?;
    let output = Location::parse(&opts.output)?;
    let output = output.join("");
    let checkpoint_location = match &opts.checkpoint {
        Some(c) => Location::parse(c)?.join(""),
        None => output.join("_checkpoint"),
    };
    if opts.overwrite {
        delete_below(&output).await?;
        delete_below(&checkpoint_location).await?;
    } else if !checkpoint_location.join("metadata").exists().await
        && let Some(n) = count_below(&output, checkpoint_location.path()).await?
    {
        return Err(crate::Error::Invalid(format!(
            "output {output} is not empty ({n} objects) and has no checkpoint at {checkpoint_location}; choose an empty location, give the checkpoint of the run that wrote it (--checkpoint), or pass --overwrite"
        )));
    }

    let checkpoint = Checkpoint::open(checkpoint_location).await?;
    let mut input = Input::open(
        &opts.input,
        &opts.options,
        source_options,
        SINK_OPTION_NAMES,
        &checkpoint,
    )
    .await?;
    let progress = progress_bar(opts.progress && !kafka);
    if opts.trigger == Trigger::AvailableNow
        && let Input::Files { source, location } = &mut input
    {
        let new = source.prepare_available_now().await?;
        progress.set_length(new as u64);
        let committed = checkpoint.latest_commit().await?;
        if new == 0 && committed.is_none() && !location.exists().await {
            return Err(crate::Error::Invalid(format!(
                "input {}: nothing there ({location} is no file and no folder with files); check the path",
                opts.input
            )));
        }
    }
    let sink = ParquetSink::new(output.clone(), max_records_per_file);
    let jobs = if opts.jobs == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        opts.jobs
    };
    let mut summary = RunSummary::default();
    let planned = checkpoint.latest_offsets().await?;
    let committed = checkpoint.latest_commit().await?;
    let mut next = committed.map_or(0, |c| c + 1);
    if let (Some(z), Some(c)) = (minimizer.privacy_zone(), committed)
        && let Some(state) = checkpoint.zone_state(c).await?
    {
        let n = z.restore_anchors(&state);
        tracing::debug!(
            subjects = n,
            "privacy zone anchors restored from the checkpoint"
        );
    }

    let mut reloaded: Option<Minimizer> = None;
    let mut last_error: Option<String> = None;
    loop {
        if opts.stop.load(Ordering::SeqCst) {
            summary.stopped = true;
            break;
        }
        let tick = Instant::now();
        if let Some(src) = &opts.policy
            && let Some(m) = reload(
                src,
                reloaded.as_ref().unwrap_or(minimizer),
                &mut last_error,
                &mut summary,
                opts.metrics.as_ref(),
            )
            .await
        {
            reloaded = Some(m);
        }
        let active = reloaded.as_ref().unwrap_or(minimizer);
        let id = next;
        let replay = planned.is_some_and(|p| p >= id);
        let planned_input = match &mut input {
            Input::Files { source, .. } => {
                let files = source.files_for(id, opts.trigger == Trigger::Once).await?;
                if let Some(m) = &opts.metrics {
                    m.files_waiting.set(source.waiting() as i64);
                }
                note_skipped(source, &mut summary, opts.metrics.as_ref());
                (!files.is_empty()).then(|| {
                    (
                        BatchInput::Files(files),
                        serde_json::json!({ "logOffset": id }),
                        false,
                    )
                })
            }
            Input::Kafka(k) => k.batch_for(&checkpoint, id, k.table()).await?,
        };
        let Some((batch_input, source_offset, read_to_end)) = planned_input else {
            if let Trigger::ProcessingTime(interval) = opts.trigger {
                if wait(tick + interval.max(Duration::from_millis(100)), &opts.stop).await {
                    summary.stopped = true;
                    break;
                }
                continue;
            }
            break;
        };
        let mut replay_minimizer = None;
        let offsets = match checkpoint.offsets(id).await? {
            Some(o) => {
                let sha = o.metadata.conf.get(POLICY_SHA).cloned().unwrap_or_default();
                if sha != active.policy().sha256 {
                    match checkpoint.load_policy(&sha).await? {
                        Some(p) => {
                            let mut m = Minimizer::new(p, active.key().cloned())?;
                            m.adopt_zone_anchors(active);
                            replay_minimizer = Some(m)
                        }
                        None => tracing::warn!(
                            batch = id,
                            "batch {id} was planned with policy version {sha}, which the checkpoint does not hold; re-running it with the current version"
                        ),
                    }
                }
                o
            }
            None => {
                checkpoint.save_policy(active.policy()).await?;
                let o = new_offsets(active.policy(), source_offset.clone());
                checkpoint.write_offsets(id, &o).await?;
                o
            }
        };
        let batch_minimizer = replay_minimizer.as_ref().unwrap_or(active);
        let sha = &batch_minimizer.policy().sha256;
        if summary.policy_versions.last().map(|(_, s)| s) != Some(sha) {
            summary.policy_versions.push((id, sha.clone()));
        }
        let files = match &batch_input {
            BatchInput::Files(files) => files.clone(),
            BatchInput::Kafka { .. } => Vec::new(),
        };
        if opts.trigger != Trigger::AvailableNow || replay {
            progress.inc_length(files.len() as u64);
        }
        let input_store = match &input {
            Input::Files { location, .. } => Some(Arc::clone(location.store())),
            Input::Kafka(_) => None,
        };
        let batch = BatchContext {
            id,
            minimizer: batch_minimizer,
            sink: &sink,
            output: &output,
            jobs,
            progress: &progress,
            input_store,
            metrics: opts.metrics.as_ref(),
        };
        let n_inputs = match &batch_input {
            BatchInput::Files(f) => f.len(),
            BatchInput::Kafka { batch, .. } => batch.len(),
        };
        batch.run(batch_input, &mut summary).await?;
        if let Some(z) = batch_minimizer.privacy_zone() {
            checkpoint.write_zone_state(id, z.anchors_json()).await?;
        }
        checkpoint.commit(id).await?;
        if let Some(m) = &opts.metrics {
            m.batches.inc();
            m.last_batch.set(id as i64);
            m.batch_duration.observe(tick.elapsed().as_secs_f64());
        }
        match &input {
            Input::Files { source, .. } => source.clean(&files).await?,
            Input::Kafka(k) => {
                let end = offsets.sources.first().cloned().unwrap_or(Value::Null);
                k.committed(&end).await;
            }
        }
        if opts.trigger.is_bounded() {
            tracing::debug!(batch = id, inputs = n_inputs, "batch {id} committed");
        } else {
            tracing::info!(
                batch = id,
                inputs = n_inputs,
                timestamp_ms = offsets.metadata.batch_timestamp_ms,
                "batch {id} committed"
            );
        }
        summary.batches.push(id);
        next += 1;
        match opts.trigger {
            Trigger::Once => break,
            Trigger::ProcessingTime(interval) => {
                if wait(tick + interval, &opts.stop).await {
                    summary.stopped = true;
                    break;
                }
            }
            // Kafka: everything that was there when the run started is in once a batch read
            // every partition to its end (Spark's availableNow), even while producers write.
            Trigger::AvailableNow if read_to_end && !replay => break,
            Trigger::AvailableNow => {}
        }
    }
    progress.finish_and_clear();
    if let Input::Files { source, .. } = &input {
        note_skipped(source, &mut summary, opts.metrics.as_ref());
    }
    if opts.trigger.is_bounded() && !summary.stopped {
        output
            .store()
            .put(&output.child("_SUCCESS"), PutPayload::from_static(b""))
            .await
            .map_err(DataFusionError::from)?;
    }
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Records in the summary (and the metrics) the objects under the input that the source's
/// listings found but that are not activity files.
fn note_skipped(
    source: &crate::source::file_stream::FileStreamSource,
    summary: &mut RunSummary,
    metrics: Option<&Metrics>,
) {
    let skipped = source.skipped();
    if skipped.len() != summary.skipped.len() {
        summary.skipped = skipped.iter().cloned().collect();
    }
    if let Some(m) = metrics {
        m.files_skipped.set(skipped.len() as i64);
    }
}

/// The key under which `offsets/<N>`'s `conf` records the policy version.
pub const POLICY_SHA: &str = "datamin.policy.sha256";

fn new_offsets(policy: &Policy, source: Value) -> BatchOffsets {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    BatchOffsets {
        metadata: OffsetSeqMetadata {
            batch_watermark_ms: 0,
            batch_timestamp_ms: now_ms,
            conf: BTreeMap::from([(POLICY_SHA.to_string(), policy.sha256.clone())]),
        },
        sources: vec![source],
    }
}

/// Sleeps until `until` or until `stop` is set; `true` if stopped.
async fn wait(until: Instant, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::SeqCst) {
            return true;
        }
        let now = Instant::now();
        if now >= until {
            return false;
        }
        tokio::time::sleep((until - now).min(Duration::from_millis(100))).await;
    }
}

fn progress_bar(show: bool) -> indicatif::ProgressBar {
    if show {
        indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} decoding {pos}/{len} files [{elapsed_precise}] {wide_bar}",
            )
            .expect("valid template"),
        )
    } else {
        indicatif::ProgressBar::hidden()
    }
}

/// Deletes every object below `location`.
async fn delete_below(location: &Location) -> Result<()> {
    let paths: Vec<Path> = location
        .store()
        .list(Some(location.path()))
        .map_ok(|m| m.location)
        .try_collect()
        .await?;
    for p in paths {
        location.store().delete(&p).await?;
    }
    Ok(())
}

/// How many objects are below `location` outside `except`, if any.
async fn count_below(location: &Location, except: &Path) -> Result<Option<usize>> {
    let paths: Vec<Path> = location
        .store()
        .list(Some(location.path()))
        .map_ok(|m| m.location)
        .try_collect()
        .await?;
    let n = paths.iter().filter(|p| !p.prefix_matches(except)).count();
    Ok((n > 0).then_some(n))
}
