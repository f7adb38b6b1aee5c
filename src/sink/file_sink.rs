//! The exactly-once Parquet sink, in Apache Spark's file sink layout, so that
//! `spark.read.parquet("<output>/records")` reads exactly the committed rows:
//!
//! ```text
//! <output>/<table>/part-<N>-<k>.parquet      data files of batch N (k = 0, 1, … per maxRecordsPerFile)
//! <output>/<table>/_spark_metadata/<N>       v1 + one JSON per file of batch N, written after them
//! <output>/<table>/_spark_metadata/<N>.compact   every entry so far, when (N + 1) % 10 == 0
//! ```
//!
//! Each log line is Spark's `SinkFileStatus`: `path` (full URI), `size` (bytes), `isDir`,
//! `modificationTime` (ms), `blockReplication`, `blockSize`, `action` (`"add"`).
//!
//! A batch whose log file exists is committed and never written again. File names depend
//! only on the batch id and the rows (same batch, same rows ⇒ same names and bytes), so a
//! batch re-run after a crash overwrites the orphans the crash left; readers that trust the
//! log (Spark, datamin) never see orphans of a batch that did not commit.

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Result;
use datafusion::object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use super::parquet;
use crate::checkpoint::log::{COMPACT_INTERVAL, MetadataLog};
use crate::minimizer::MinimizedTable;
use crate::schema::Table;
use crate::store::Location;

/// Spark's default `blockSize` recorded for object-store files (32 MiB, Hadoop's
/// `fs.local.block.size` and `fs.s3a.block.size` default).
const BLOCK_SIZE: u64 = 32 * 1024 * 1024;

/// One line of `_spark_metadata/<N>`: Spark's `SinkFileStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SinkFileStatus {
    /// Full URI of the data file.
    pub path: String,
    /// Size, bytes.
    pub size: u64,
    /// Always `false`.
    pub is_dir: bool,
    /// Last modification, ms since the Unix epoch.
    pub modification_time: i64,
    /// Always 1.
    pub block_replication: u32,
    /// 32 MiB.
    pub block_size: u64,
    /// `"add"` (datamin never deletes committed files).
    pub action: String,
}

/// What the sink did with one table of one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCommit {
    /// The files of the batch (written now, or listed by an earlier commit).
    pub files: Vec<SinkFileStatus>,
    /// `false`: the batch was already committed for this table; nothing was written.
    pub written: bool,
}

/// The Parquet sink of one output location (see the module docs).
#[derive(Debug, Clone)]
pub struct ParquetSink {
    output: Location,
    max_records_per_file: Option<u64>,
}

impl ParquetSink {
    /// A sink writing below `output`; `max_records_per_file` (Spark's `maxRecordsPerFile`)
    /// starts a new file after that many rows.
    pub fn new(output: Location, max_records_per_file: Option<u64>) -> Self {
        Self {
            output,
            max_records_per_file: max_records_per_file.filter(|&n| n > 0),
        }
    }

    /// The output location.
    pub fn output(&self) -> &Location {
        &self.output
    }

    /// The `_spark_metadata` log of `table`.
    pub fn log(&self, table: Table) -> MetadataLog<SinkFileStatus> {
        MetadataLog::new(
            self.output.store().clone(),
            self.output
                .child(&format!("{}/_spark_metadata", table.name())),
            Some(COMPACT_INTERVAL),
        )
    }

    /// Every committed data file of `table`, in commit order.
    ///
    /// # Errors
    /// The log cannot be read.
    pub async fn committed_files(&self, table: Table) -> Result<Vec<SinkFileStatus>> {
        self.log(table).all_entries().await
    }

    /// Writes batch `batch_id` of one table — data files first, then the log entry — unless
    /// the log already has the batch. A table with no rows still gets one (empty) file, so
    /// readers always find its schema.
    ///
    /// # Errors
    /// Encoding or storing a file fails.
    pub async fn add_batch(
        &self,
        batch_id: u64,
        table: &MinimizedTable,
        metadata: Vec<(String, String)>,
    ) -> Result<TableCommit> {
        let log = self.log(table.table);
        if let Some(entries) = log.get(batch_id).await? {
            let prefix = format!("part-{batch_id:05}-");
            let files = entries
                .into_iter()
                .filter(|e| {
                    e.path
                        .rsplit('/')
                        .next()
                        .is_some_and(|n| n.starts_with(&prefix))
                })
                .collect();
            return Ok(TableCommit {
                files,
                written: false,
            });
        }
        let store = self.output.store();
        let mut files = Vec::new();
        for (k, chunk) in self.split(&table.batches).into_iter().enumerate() {
            let path = self.output.child(&format!(
                "{}/part-{batch_id:05}-{k:05}.parquet",
                table.table.name()
            ));
            let w = parquet::write(store, &path, table.schema.clone(), &chunk, metadata.clone())
                .await?;
            let head = store.head(&path).await?;
            files.push(SinkFileStatus {
                path: self.output.url_of(&path),
                size: w.bytes,
                is_dir: false,
                modification_time: head.last_modified.timestamp_millis(),
                block_replication: 1,
                block_size: BLOCK_SIZE,
                action: "add".into(),
            });
        }
        log.add(batch_id, files.clone()).await?;
        Ok(TableCommit {
            files,
            written: true,
        })
    }

    /// The batches cut into files of at most `max_records_per_file` rows (one file if no
    /// limit; one empty file if no rows).
    fn split(&self, batches: &[RecordBatch]) -> Vec<Vec<RecordBatch>> {
        let Some(max) = self.max_records_per_file else {
            return vec![batches.to_vec()];
        };
        let mut files = vec![Vec::new()];
        let mut in_file = 0u64;
        for b in batches {
            let mut offset = 0;
            while offset < b.num_rows() {
                if in_file == max {
                    files.push(Vec::new());
                    in_file = 0;
                }
                let n = ((max - in_file) as usize).min(b.num_rows() - offset);
                files.last_mut().expect("one file").push(b.slice(offset, n));
                offset += n;
                in_file += n as u64;
            }
        }
        files
    }
}
