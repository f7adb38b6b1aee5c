//! One micro-batch: its input decoded into tables (activity files, or Kafka messages),
//! minimized with the policy, and committed to the Parquet sink.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use super::summary::{RunSummary, TableSummary};
use crate::format::{self, Quarantined};
use crate::metrics::Metrics;
use crate::minimizer::{InputColumns, Minimizer};
use crate::policy::Policy;
use crate::schema::{Table, TableBatches};
use crate::sink::file_sink::ParquetSink;
use crate::source::files::SourceFile;
use crate::source::kafka::{KafkaBatch, KafkaMessage};
use crate::store::Location;

/// A decoded file's warnings and canonical batches (the row structs are dropped as soon as
/// the batches exist, so a batch holds its input once), in [`Table::ALL`] order; with only
/// the columns the policy reads ([`crate::minimizer::Minimizer::input_columns`]).
type DecodedFile = (Vec<String>, Vec<RecordBatch>);

/// Decodes the files with up to `jobs` at a time, and returns them in input order.
///
/// Files finish out of order (their sizes differ by orders of magnitude): a new file starts
/// as soon as any one finishes, so one large file never leaves the other cores idle.
async fn decode_all(
    store: Arc<dyn ObjectStore>,
    files: Vec<SourceFile>,
    columns: InputColumns,
    jobs: usize,
    progress: &indicatif::ProgressBar,
) -> Result<
    Vec<(
        SourceFile,
        u64,
        std::result::Result<DecodedFile, Quarantined>,
    )>,
> {
    let mut done: Vec<_> = futures::stream::iter(files.into_iter().enumerate())
        .map(|(i, file)| {
            let store = Arc::clone(&store);
            let columns = columns.clone();
            async move {
                // a FIT decoder reads only the record fields behind the columns used
                let decoder = match columns.as_deref().map(|c| c.get(&Table::Records)) {
                    Some(records) => file
                        .format
                        .decoder_for(Table::Records, records.map_or(&[], Vec::as_slice)),
                    None => file.format.decoder(),
                };
                // decode and build the batches on a blocking thread
                let build = move |a: format::Activity| {
                    Table::ALL
                        .into_iter()
                        .map(|t| match columns.as_deref() {
                            None => a.to_batch(t),
                            Some(c) => {
                                a.to_batch_projected(t, Some(c.get(&t).map_or(&[], Vec::as_slice)))
                            }
                        })
                        .collect::<std::result::Result<Vec<_>, _>>()
                        .map(|b| (a.warnings, b))
                        .map_err(|e| e.to_string())
                };
                let read = format::read_map(
                    &store,
                    &file.meta.location,
                    &file.url,
                    file.format,
                    decoder,
                    build,
                )
                .await?;
                let (size, res) = match read {
                    Ok((decoded, size)) => (size, Ok(decoded)),
                    Err(q) => (q.size, Err(q)),
                };
                Ok::<_, DataFusionError>((i, (file, size, res)))
            }
        })
        .buffer_unordered(jobs.max(1))
        .inspect(|_| progress.inc(1))
        .try_collect()
        .await?;
    done.sort_unstable_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, d)| d).collect())
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

/// The declared table that Kafka messages feed: the `table` option, else the policy's only
/// declared table.
///
/// # Errors
/// The option names a table the policy does not declare, or the policy declares none or
/// several (then `table` must say which).
pub fn kafka_table(policy: &Policy, option: Option<&str>) -> crate::Result<Table> {
    let declared: Vec<Table> = policy
        .tables
        .iter()
        .filter(|t| t.declared.is_some())
        .map(|t| t.table)
        .collect();
    match option {
        Some(name) => declared
            .iter()
            .copied()
            .find(|t| t.name() == name)
            .ok_or_else(|| {
                crate::Error::Invalid(format!(
                    "option table={name}: the policy declares no table '{name}' (declared: {})",
                    names(&declared)
                ))
            }),
        None => match declared.as_slice() {
            [t] => Ok(*t),
            [] => Err(crate::Error::Invalid(
                "a Kafka input needs a declared table in the policy: [tables.<name>] with columns = { … } and keep = [ … ]".into(),
            )),
            _ => Err(crate::Error::Invalid(format!(
                "the policy declares several tables ({}); say which one the topic feeds with --option table=<name>",
                names(&declared)
            ))),
        },
    }
}

fn names(tables: &[Table]) -> String {
    let v: Vec<&str> = tables.iter().map(|t| t.name()).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// The input of one batch.
pub(crate) enum BatchInput {
    /// Activity files.
    Files(Vec<SourceFile>),
    /// Kafka messages for a declared table.
    Kafka {
        /// The messages and their offset ranges.
        batch: KafkaBatch,
        /// The option `table`, if given.
        table: Option<String>,
        /// `kafka://servers` for dead-letter coordinates.
        servers: String,
        /// How the message values are encoded.
        format: crate::source::payload::ValueFormat,
    },
}

/// One micro-batch: decode, minimize, commit to the sink.
pub(crate) struct BatchContext<'a> {
    pub(crate) id: u64,
    pub(crate) minimizer: &'a Minimizer,
    pub(crate) sink: &'a ParquetSink,
    pub(crate) output: &'a Location,
    pub(crate) jobs: usize,
    pub(crate) progress: &'a indicatif::ProgressBar,
    pub(crate) input_store: Option<Arc<dyn ObjectStore>>,
    pub(crate) metrics: Option<&'a Metrics>,
}

impl BatchContext<'_> {
    /// Runs the batch: decode `input`, quarantine what cannot be decoded, minimize, write
    /// the data files and the sink log.
    pub(crate) async fn run(
        &self,
        input: BatchInput,
        summary: &mut RunSummary,
    ) -> crate::Result<()> {
        let t = std::time::Instant::now();
        let (tables, rejected) = match input {
            BatchInput::Files(files) => self.decode_files(files, summary).await?,
            BatchInput::Kafka {
                batch,
                table,
                servers,
                format,
            } => {
                self.decode_messages(&batch, table.as_deref(), &servers, &format, summary)
                    .await?
            }
        };
        if !rejected.is_empty() {
            let mut lines = String::new();
            for r in &rejected {
                lines.push_str(&serde_json::to_string(r).expect("serializable"));
                lines.push('\n');
            }
            let path = self
                .output
                .child(&format!("_rejected/part-{:05}.jsonl", self.id));
            self.output
                .store()
                .put(&path, PutPayload::from(lines.into_bytes()))
                .await
                .map_err(DataFusionError::from)?;
        }
        summary.rejected.extend(rejected);
        tracing::debug!(
            batch = self.id,
            ms = t.elapsed().as_secs_f64() * 1e3,
            "batch input decoded"
        );
        self.minimize_and_write(tables, summary).await
    }

    async fn decode_files(
        &self,
        files: Vec<SourceFile>,
        summary: &mut RunSummary,
    ) -> crate::Result<(TableBatches, Vec<Quarantined>)> {
        let n_files = files.len();
        let store = self.input_store.clone().ok_or_else(|| {
            crate::Error::Invalid("a file batch needs the input's object store".into())
        })?;
        // decode only what the policy reads (everything when it has a privacy zone)
        let columns = self.minimizer.input_columns().await?;
        let decoded = decode_all(store, files, columns, self.jobs, self.progress).await?;
        let mut rejected = Vec::new();
        let mut input = TableBatches::new();
        let mut bytes = 0;
        for (file, size, res) in decoded {
            bytes += size;
            match res {
                Ok((warnings, batches)) => {
                    if !warnings.is_empty() {
                        summary.warnings.insert(file.url.clone(), warnings);
                    }
                    for (t, b) in Table::ALL.into_iter().zip(batches) {
                        input.push(t, b);
                    }
                }
                Err(r) => rejected.push(r),
            }
        }
        summary.bytes_read += bytes;
        summary.files_found += n_files;
        summary.files_decoded += n_files - rejected.len();
        if let Some(m) = self.metrics {
            let label = |r: &str| vec![("result", r.to_string())];
            m.files
                .get_or_create(&label("decoded"))
                .inc_by((n_files - rejected.len()) as u64);
            m.files
                .get_or_create(&label("quarantined"))
                .inc_by(rejected.len() as u64);
            m.input_bytes.inc_by(bytes);
        }
        Ok((input, rejected))
    }

    async fn decode_messages(
        &self,
        batch: &KafkaBatch,
        table: Option<&str>,
        servers: &str,
        format: &crate::source::payload::ValueFormat,
        summary: &mut RunSummary,
    ) -> crate::Result<(TableBatches, Vec<Quarantined>)> {
        let policy = self.minimizer.policy();
        let table = kafka_table(policy, table)?;
        let tp = policy
            .table(table)
            .filter(|t| t.declared.is_some())
            .ok_or_else(|| crate::Error::Invalid(format!("table {table} is not declared")))?;
        let payload = tp.declared.clone().expect("declared");
        let messages: Vec<&KafkaMessage> = batch.messages.iter().collect();
        let (rows, bad) = crate::source::payload::decode_messages(
            format,
            &payload,
            tp.timestamp_format.as_deref(),
            &messages,
        )
        .await?;
        let rejected: Vec<Quarantined> = bad
            .into_iter()
            .map(|b| {
                let m = messages[b.index];
                let bytes = m.payload.as_deref().unwrap_or_default();
                Quarantined {
                    file: format!("{servers}/{}/{}/{}", m.topic, m.partition, m.offset),
                    size: bytes.len() as u64,
                    sha256: hex::encode(Sha256::digest(bytes)),
                    reason: b.reason,
                }
            })
            .collect();
        let bytes: u64 = messages
            .iter()
            .map(|m| m.payload.as_ref().map_or(0, |p| p.len() as u64))
            .sum();
        summary.messages += messages.len() as u64;
        summary.bytes_read += bytes;
        if let Some(m) = self.metrics {
            let label = |r: &str| vec![("result", r.to_string())];
            m.messages
                .get_or_create(&label("decoded"))
                .inc_by((messages.len() - rejected.len()) as u64);
            m.messages
                .get_or_create(&label("rejected"))
                .inc_by(rejected.len() as u64);
            m.input_bytes.inc_by(bytes);
        }
        let mut input = TableBatches::new();
        input.push(table, rows);
        Ok((input, rejected))
    }

    async fn minimize_and_write(
        &self,
        input: TableBatches,
        summary: &mut RunSummary,
    ) -> crate::Result<()> {
        let started = std::time::Instant::now();
        let minimized = self.minimizer.minimize(input).await?;
        tracing::debug!(
            batch = self.id,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "batch minimized"
        );
        let started = std::time::Instant::now();
        let policy = self.minimizer.policy();
        // the tables are encoded and written concurrently (each has its own files and log)
        let commits = futures::future::try_join_all(minimized.tables.iter().map(|t| {
            self.sink.add_batch(
                self.id,
                t,
                output_metadata(policy, t.table, self.minimizer.key_id()),
            )
        }))
        .await?;
        for (t, commit) in minimized.tables.iter().zip(commits) {
            summary.add_table(TableSummary {
                table: t.table.name().to_string(),
                rows_in: t.rows_in,
                rows_out: t.rows_out,
                columns: t.schema.fields().len(),
                location: self.output.join(t.table.name()).to_string(),
                files: if commit.written {
                    commit.files.len()
                } else {
                    0
                },
                bytes: if commit.written {
                    commit.files.iter().map(|f| f.size).sum()
                } else {
                    0
                },
                removed_by_rule: t.removed_by_rule.clone(),
            });
        }
        tracing::debug!(
            batch = self.id,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "batch written"
        );
        if let Some(m) = self.metrics {
            for t in &minimized.tables {
                let table = vec![("table", t.table.name().to_string())];
                m.rows_in.get_or_create(&table).inc_by(t.rows_in);
                m.rows_out.get_or_create(&table).inc_by(t.rows_out);
                for (rule, n) in &t.removed_by_rule {
                    let mut l = table.clone();
                    l.push(("rule", rule.clone()));
                    m.rows_removed.get_or_create(&l).inc_by(*n);
                }
            }
            if let Some(z) = &minimized.privacy_zone {
                m.zone_hidden.inc_by(z.records_hidden as u64);
            }
        }
        summary.add_zone(minimized.privacy_zone);
        Ok(())
    }
}
