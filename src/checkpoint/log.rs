//! Apache Spark's metadata logs on an object store: one object per batch id, a version line
//! then one JSON value per line (`HDFSMetadataLog`), optionally compacted every
//! `compact_interval` batches into `<id>.compact` holding every entry so far
//! (`CompactibleFileStreamLog`, used by the file source's `sources/0/` and the file sink's
//! `_spark_metadata/`).
//!
//! ```text
//! <dir>/0            v1
//! <dir>/1            {"path":"file:///in/a.fit","timestamp":1700000000000,"batchId":1}
//! …
//! <dir>/9.compact    v1 + the entries of batches 0..=9   ((9 + 1) % 10 == 0)
//! ```
//!
//! Files are written whole with one `put` (atomic on local file systems and S3), after
//! checking that the batch is not there yet: a batch, once written, is never rewritten.
//! Readers (datamin and Spark) ignore names that are not `<id>` or `<id>.compact`.

use std::marker::PhantomData;
use std::sync::Arc;

use datafusion::common::{DataFusionError, Result};
use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use futures::TryStreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The version line Spark writes (and accepts) for every log datamin writes.
pub const VERSION: &str = "v1";

/// Spark's default compaction interval of the file source and file sink logs
/// (`spark.sql.streaming.fileSource.log.compactInterval`,
/// `spark.sql.streaming.fileSink.log.compactInterval`).
pub const COMPACT_INTERVAL: u64 = 10;

/// A log of entries of type `T` in directory `dir` of `store` (see the module docs).
#[derive(Debug, Clone)]
pub struct MetadataLog<T> {
    store: Arc<dyn ObjectStore>,
    dir: Path,
    compact_interval: Option<u64>,
    _entry: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> MetadataLog<T> {
    /// A log in `dir`; `compact_interval` `Some(n)` compacts batch `id` when
    /// `(id + 1) % n == 0`, `None` never compacts (offsets and commits logs).
    pub fn new(store: Arc<dyn ObjectStore>, dir: Path, compact_interval: Option<u64>) -> Self {
        Self {
            store,
            dir,
            compact_interval,
            _entry: PhantomData,
        }
    }

    /// The directory of the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn is_compaction(&self, id: u64) -> bool {
        self.compact_interval
            .is_some_and(|n| (id + 1).is_multiple_of(n))
    }

    fn path_of(&self, id: u64) -> Path {
        let name = if self.is_compaction(id) {
            format!("{id}.compact")
        } else {
            id.to_string()
        };
        self.dir.clone().join(name)
    }

    /// Batch ids present, ascending.
    ///
    /// # Errors
    /// Listing the directory fails.
    pub async fn batch_ids(&self) -> Result<Vec<u64>> {
        let metas: Vec<_> = self.store.list(Some(&self.dir)).try_collect().await?;
        let mut ids: Vec<u64> = metas
            .iter()
            .filter_map(|m| {
                let name = m.location.filename()?;
                name.strip_suffix(".compact").unwrap_or(name).parse().ok()
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// The highest batch id present.
    ///
    /// # Errors
    /// Listing the directory fails.
    pub async fn latest(&self) -> Result<Option<u64>> {
        Ok(self.batch_ids().await?.last().copied())
    }

    /// The entries of batch `id` (for a compaction batch: every entry up to `id`), or `None`
    /// when the batch is not in the log.
    ///
    /// # Errors
    /// Reading fails, or the file is not a `v1` log file of `T` entries.
    pub async fn get(&self, id: u64) -> Result<Option<Vec<T>>> {
        let path = self.path_of(id);
        let bytes = match self.store.get(&path).await {
            Ok(r) => r.bytes().await?,
            Err(datafusion::object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let text = std::str::from_utf8(&bytes).map_err(|e| corrupt(&path, &e.to_string()))?;
        let mut lines = text.lines();
        match lines.next() {
            Some(VERSION) => {}
            other => {
                return Err(corrupt(
                    &path,
                    &format!("version line {other:?}, expected \"{VERSION}\""),
                ));
            }
        }
        lines
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).map_err(|e| corrupt(&path, &e.to_string())))
            .collect::<Result<Vec<T>>>()
            .map(Some)
    }

    /// Every entry of batches `0..=id`: the latest compaction at or before `id`, then the
    /// batches after it.
    ///
    /// # Errors
    /// As [`MetadataLog::get`].
    pub async fn entries_through(&self, id: u64) -> Result<Vec<T>> {
        let ids = self.batch_ids().await?;
        let start = ids
            .iter()
            .rev()
            .find(|&&b| b <= id && self.is_compaction(b))
            .copied();
        let mut out = Vec::new();
        for &b in ids.iter().filter(|&&b| b <= id) {
            if start.is_some_and(|s| b < s) {
                continue;
            }
            out.extend(self.get(b).await?.unwrap_or_default());
        }
        Ok(out)
    }

    /// Every entry in the log.
    ///
    /// # Errors
    /// As [`MetadataLog::get`].
    pub async fn all_entries(&self) -> Result<Vec<T>> {
        match self.latest().await? {
            Some(id) => self.entries_through(id).await,
            None => Ok(Vec::new()),
        }
    }

    /// Writes batch `id` with `entries` (a compaction batch also holds every earlier entry).
    /// Returns `false`, writing nothing, when the batch is already in the log.
    ///
    /// # Errors
    /// Reading earlier batches or writing fails.
    pub async fn add(&self, id: u64, entries: Vec<T>) -> Result<bool> {
        let path = self.path_of(id);
        if self.store.head(&path).await.is_ok() {
            return Ok(false);
        }
        let entries = if self.is_compaction(id) && id > 0 {
            let mut all = self.entries_through(id - 1).await?;
            all.extend(entries);
            all
        } else {
            entries
        };
        self.put(&path, &entries).await?;
        Ok(true)
    }

    async fn put(&self, path: &Path, entries: &[T]) -> Result<()> {
        // Spark's format: the version, then "\n" + one JSON value per entry.
        let mut text = String::from(VERSION);
        for e in entries {
            text.push('\n');
            text.push_str(
                &serde_json::to_string(e).map_err(|e| DataFusionError::External(Box::new(e)))?,
            );
        }
        self.store
            .put(path, PutPayload::from(text.into_bytes()))
            .await?;
        Ok(())
    }
}

fn corrupt(path: &Path, why: &str) -> DataFusionError {
    DataFusionError::Execution(format!("corrupt metadata log file {path}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::object_store::memory::InMemory;

    #[tokio::test]
    async fn compacts_every_tenth_batch_and_never_rewrites() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let log: MetadataLog<u64> = MetadataLog::new(store.clone(), Path::from("log"), Some(10));
        for id in 0..12 {
            assert!(log.add(id, vec![id * 100]).await.unwrap());
        }
        assert!(!log.add(3, vec![7]).await.unwrap());
        let names: Vec<String> = store
            .list(Some(&Path::from("log")))
            .map_ok(|m| m.location.filename().unwrap().to_string())
            .try_collect()
            .await
            .unwrap();
        assert!(names.contains(&"9.compact".to_string()) && !names.contains(&"9".to_string()));
        assert_eq!(
            log.get(9).await.unwrap().unwrap(),
            (0..10).map(|i| i * 100).collect::<Vec<_>>()
        );
        assert_eq!(log.get(3).await.unwrap().unwrap(), vec![300]);
        assert_eq!(log.latest().await.unwrap(), Some(11));
        assert_eq!(
            log.all_entries().await.unwrap(),
            (0..12).map(|i| i * 100).collect::<Vec<_>>()
        );
        let raw = store
            .get(&Path::from("log/10"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&raw[..], b"v1\n1000");
    }
}
