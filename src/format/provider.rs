//! DataFusion table over a directory of FIT/TCX files in any object store.
//!
//! [`ActivityTableFactory`] makes this work:
//!
//! ```sql
//! CREATE EXTERNAL TABLE r STORED AS FIT LOCATION '../shared/data/fit/' OPTIONS ('message' 'record');
//! SELECT count(*), avg(heart_rate_bpm) FROM r;
//! ```
//!
//! Options: `message` — `record` (default), `lap`, `session` or `file_id`/`activity` (the
//! tables of [`crate::schema`]); `on_error` — `fail` (default: a corrupt file fails the
//! query, naming it) or `skip` (a corrupt file is left out with a warning in the log).
//! Files are listed when the query is planned and decoded lazily while it runs, one file
//! at a time per partition, on a blocking thread.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::datasource::TableType;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{CreateExternalTable, Expr};
use datafusion::object_store::{ObjectStore, ObjectStoreExt};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use futures::StreamExt;

use super::{ActivityFormat, decode};
use crate::schema::Table;
use crate::source::files::{SourceFile, list_activity_files};

/// What to do with a file that cannot be decoded while scanning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// Fail the query with an error naming the file.
    #[default]
    Fail,
    /// Leave the file out and log a warning.
    Skip,
}

/// A table of one canonical [`Table`] over the activity files below a URL.
#[derive(Debug)]
pub struct ActivityTable {
    url: ListingTableUrl,
    table: Table,
    formats: Vec<ActivityFormat>,
    on_error: OnError,
}

impl ActivityTable {
    /// A table of `table` rows from the files of `formats` below `location` (a path or URL).
    pub fn try_new(
        location: &str,
        table: Table,
        formats: Vec<ActivityFormat>,
        on_error: OnError,
    ) -> Result<Self> {
        Ok(Self {
            url: ListingTableUrl::parse(location)?,
            table,
            formats,
            on_error,
        })
    }
}

#[async_trait]
impl TableProvider for ActivityTable {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let store = state.runtime_env().object_store(self.url.object_store())?;
        let files = list_activity_files(state, &store, &self.url, &self.formats).await?;
        let n = state
            .config_options()
            .execution
            .target_partitions
            .clamp(1, files.len().max(1));
        let mut groups: Vec<Vec<SourceFile>> = vec![Vec::new(); n];
        for (i, f) in files.into_iter().enumerate() {
            groups[i % n].push(f);
        }
        let partitions = groups
            .into_iter()
            .map(|files| {
                Arc::new(FilesPartition {
                    store: Arc::clone(&store),
                    files,
                    table: self.table,
                    schema: self.table.schema(),
                    on_error: self.on_error,
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        let exec = StreamingTableExec::try_new(
            self.table.schema(),
            partitions,
            projection,
            Vec::new(),
            false,
            limit,
        )?;
        Ok(Arc::new(exec))
    }
}

/// One partition: a list of files decoded one after another.
struct FilesPartition {
    store: Arc<dyn ObjectStore>,
    files: Vec<SourceFile>,
    table: Table,
    schema: SchemaRef,
    on_error: OnError,
}

impl fmt::Debug for FilesPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilesPartition")
            .field("files", &self.files.len())
            .field("table", &self.table)
            .finish()
    }
}

/// Reads and decodes one file into the batch of `table`; `Ok(None)` when skipped.
pub(crate) async fn read_and_decode(
    store: &Arc<dyn ObjectStore>,
    file: &SourceFile,
    table: Table,
    on_error: OnError,
) -> Result<Option<RecordBatch>> {
    let bytes = store.get(&file.meta.location).await?.bytes().await?;
    let (format, url) = (file.format, file.url.clone());
    let decoded = tokio::task::spawn_blocking(move || decode(format, &url, &bytes))
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    match decoded {
        Ok(a) => Ok(Some(a.to_batch(table)?)),
        Err(e) if on_error == OnError::Skip => {
            tracing::warn!(file = %file.url, error = %e, "skipping undecodable file");
            Ok(None)
        }
        Err(e) => Err(DataFusionError::Execution(format!("{}: {e}", file.url))),
    }
}

impl PartitionStream for FilesPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let store = Arc::clone(&self.store);
        let (table, on_error) = (self.table, self.on_error);
        let stream = futures::stream::iter(self.files.clone())
            .then(move |file| {
                let store = Arc::clone(&store);
                async move { read_and_decode(&store, &file, table, on_error).await }
            })
            .filter_map(|r| async move { r.transpose() });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

/// Creates [`ActivityTable`]s for `CREATE EXTERNAL TABLE … STORED AS FIT|TCX`.
#[derive(Debug)]
pub struct ActivityTableFactory {
    format: ActivityFormat,
}

impl ActivityTableFactory {
    /// A factory for `STORED AS <format>`.
    pub fn new(format: ActivityFormat) -> Self {
        Self { format }
    }
}

#[async_trait]
impl TableProviderFactory for ActivityTableFactory {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> Result<Arc<dyn TableProvider>> {
        let mut table = Table::Records;
        let mut on_error = OnError::Fail;
        for (k, v) in &cmd.options {
            let key = k.strip_prefix("format.").unwrap_or(k);
            match key {
                "message" => table = v.parse().map_err(DataFusionError::Plan)?,
                "on_error" => {
                    on_error = match v.to_ascii_lowercase().as_str() {
                        "fail" => OnError::Fail,
                        "skip" => OnError::Skip,
                        o => {
                            return plan_err!(
                                "option 'on_error' must be 'fail' or 'skip', got '{o}'"
                            );
                        }
                    }
                }
                other => {
                    return plan_err!(
                        "unknown option '{other}' for STORED AS {}; valid options: 'message', 'on_error'",
                        self.format.name().to_uppercase()
                    );
                }
            }
        }
        if !cmd.schema.fields().is_empty() {
            return plan_err!(
                "STORED AS {} tables have a fixed schema; omit the column list",
                self.format.name().to_uppercase()
            );
        }
        let [location] = cmd.locations.as_slice() else {
            return plan_err!(
                "STORED AS {} takes exactly one LOCATION",
                self.format.name().to_uppercase()
            );
        };
        Ok(Arc::new(ActivityTable::try_new(
            location,
            table,
            vec![self.format],
            on_error,
        )?))
    }
}
