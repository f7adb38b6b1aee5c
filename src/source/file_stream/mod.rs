//! The file stream source: which files each micro-batch reads, with Apache Spark's file
//! source options (`DataStreamReader` for files; names matched case-insensitively, as Spark
//! does):
//!
//! | option | meaning | default |
//! |---|---|---|
//! | `maxFilesPerTrigger` | at most this many new files per batch | none |
//! | `maxBytesPerTrigger` | at most this many bytes of new files per batch (a batch always takes at least one file) | 32 MiB in datamin when neither limit is set |
//! | `latestFirst` | newest files first | `false` |
//! | `maxFileAge` | ignore files older than this, relative to the newest file seen (not the clock); ignored when `latestFirst` and a limit are set | `7d` |
//! | `fileNameOnly` | a file is "seen" by its name, not its full path | `false` |
//! | `cleanSource` | after a batch commits, `off`, `archive` (move under `sourceArchiveDir`, keeping the file's path) or `delete` its files | `off` |
//! | `sourceArchiveDir` | archive location, same store as the input | — |
//!
//! New files are taken in modification-time order (then path). Each batch's files are
//! written to the checkpoint's source log *before* the batch runs, so a restart re-reads
//! the same files; files in the log are never read again (a quarantined file included).
//!
//! Spark's file source has no default size limit; datamin bounds every batch to 32 MiB of
//! input unless one is set, so that memory is bounded by the batch, not by the input.

mod options;

use std::collections::{BTreeSet, HashMap, HashSet};

use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::SessionState;
use datafusion::object_store::ObjectMeta;
use datafusion::object_store::path::Path;

use crate::checkpoint::FileEntry;
use crate::checkpoint::log::MetadataLog;
use crate::format::ActivityFormat;
use crate::source::files::{SourceFile, list_input};
use crate::store::Location;

pub use self::options::{
    CleanSource, DEFAULT_MAX_BYTES_PER_TRIGGER, FileSourceOptions, OPTION_NAMES, parse_duration,
};

/// Spark's `SeenFilesMap`: the files already taken, forgetting those older than the newest
/// seen minus `maxFileAge` (which also stops older files from being taken).
#[derive(Debug, Default)]
struct SeenFiles {
    map: HashMap<String, i64>,
    max_age_ms: i64,
    latest_ms: i64,
    purged_before_ms: i64,
    name_only: bool,
}

impl SeenFiles {
    fn key(&self, path: &str) -> String {
        if self.name_only {
            path.rsplit('/').next().unwrap_or(path).to_string()
        } else {
            path.to_string()
        }
    }

    fn add(&mut self, path: &str, ts: i64) {
        self.map.insert(self.key(path), ts);
        self.latest_ms = self.latest_ms.max(ts);
    }

    fn is_new(&self, path: &str, ts: i64) -> bool {
        ts >= self.purged_before_ms && !self.map.contains_key(&self.key(path))
    }

    fn purge(&mut self) {
        self.purged_before_ms = self.latest_ms.saturating_sub(self.max_age_ms);
        let t = self.purged_before_ms;
        self.map.retain(|_, ts| *ts >= t);
    }
}

/// A session for listing only, without DataFusion's list-files cache (which never expires
/// by default and would hide new files from later triggers).
fn uncached_state() -> Result<SessionState> {
    use datafusion::execution::cache::cache_manager::CacheManagerConfig;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(crate::store::registry())
        .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
        .build_arc()?;
    let mut config = datafusion::prelude::SessionConfig::new();
    // activity files are often in folders (per subject, per day): read them all
    config
        .options_mut()
        .execution
        .listing_table_ignore_subdirectory = false;
    Ok(datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .build())
}

/// A stream of new activity files under one location (see the module docs).
pub struct FileStreamSource {
    input: Location,
    listing: ListingTableUrl,
    state: SessionState,
    options: FileSourceOptions,
    log: MetadataLog<FileEntry>,
    seen: SeenFiles,
    available_now: Option<HashSet<String>>,
    waiting: usize,
    skipped: BTreeSet<String>,
}

impl FileStreamSource {
    /// A source over `input` whose taken files are logged in `log` (the checkpoint's
    /// `sources/0/`); files already in the log count as seen.
    ///
    /// # Errors
    /// Invalid options, a location that is not a listing URL, or an unreadable log.
    pub async fn open(
        input: Location,
        options: FileSourceOptions,
        log: MetadataLog<FileEntry>,
    ) -> crate::Result<Self> {
        options.validate().map_err(crate::Error::Invalid)?;
        let listing = input.listing_url()?;
        let limited =
            options.max_files_per_trigger.is_some() || options.max_bytes_per_trigger.is_some();
        let max_age_ms = if options.latest_first && limited {
            i64::MAX
        } else {
            options.max_file_age.as_millis().min(i64::MAX as u128) as i64
        };
        let mut seen = SeenFiles {
            max_age_ms,
            name_only: options.file_name_only,
            purged_before_ms: i64::MIN,
            latest_ms: i64::MIN,
            ..SeenFiles::default()
        };
        for e in log.all_entries().await? {
            seen.add(&e.path, e.timestamp);
        }
        if !seen.map.is_empty() {
            seen.purge();
        }
        Ok(Self {
            input,
            listing,
            state: uncached_state()?,
            options,
            log,
            seen,
            available_now: None,
            waiting: 0,
            skipped: BTreeSet::new(),
        })
    }

    /// The input location.
    pub fn input(&self) -> &Location {
        &self.input
    }

    /// The options in force.
    pub fn options(&self) -> &FileSourceOptions {
        &self.options
    }

    /// Every activity file present now (`.fit`, `.tcx`, `.gpx`, each optionally `.gz`),
    /// sorted by path. The other objects found are added to [`FileStreamSource::skipped`].
    ///
    /// # Errors
    /// Listing fails.
    pub async fn list(&mut self) -> Result<Vec<SourceFile>> {
        let listing = list_input(
            &self.state,
            self.input.store(),
            &self.listing,
            &ActivityFormat::ALL,
        )
        .await?;
        self.skipped.extend(listing.skipped);
        Ok(listing.files)
    }

    /// The objects under the input that are not activity files (not `.fit`, `.tcx` or
    /// `.gpx`, optionally `.gz`), found by any listing of this source so far: never read,
    /// reported in the run summary.
    pub fn skipped(&self) -> &BTreeSet<String> {
        &self.skipped
    }

    /// For the `available-now` trigger: only files present now will be taken (Spark's
    /// `prepareForTriggerAvailableNow`). Returns how many are new.
    ///
    /// # Errors
    /// Listing fails.
    pub async fn prepare_available_now(&mut self) -> Result<usize> {
        let files = self.list().await?;
        let new = files
            .iter()
            .filter(|f| {
                self.seen
                    .is_new(&f.url, f.meta.last_modified.timestamp_millis())
            })
            .count();
        self.available_now = Some(files.into_iter().map(|f| f.url).collect());
        Ok(new)
    }

    /// The files of batch `batch_id`: those logged for it if the batch was planned before
    /// (a restart), else the next new files within the limits (`unlimited`: all of them, as
    /// the `once` trigger does), which are logged before they are returned. Empty: nothing
    /// new.
    ///
    /// # Errors
    /// Listing or writing the log fails.
    pub async fn files_for(&mut self, batch_id: u64, unlimited: bool) -> Result<Vec<SourceFile>> {
        if let Some(entries) = self.logged(batch_id).await? {
            return entries.iter().map(|e| self.file_of(e)).collect();
        }
        let mut new: Vec<SourceFile> = self
            .list()
            .await?
            .into_iter()
            .filter(|f| {
                self.seen
                    .is_new(&f.url, f.meta.last_modified.timestamp_millis())
            })
            .filter(|f| {
                self.available_now
                    .as_ref()
                    .is_none_or(|a| a.contains(&f.url))
            })
            .collect();
        new.sort_by(|a, b| {
            (a.meta.last_modified, &a.meta.location).cmp(&(b.meta.last_modified, &b.meta.location))
        });
        if self.options.latest_first {
            new.reverse();
        }
        let take = if unlimited {
            new.len()
        } else if let Some(n) = self.options.max_files_per_trigger {
            n.min(new.len())
        } else {
            let max = self
                .options
                .max_bytes_per_trigger
                .unwrap_or(DEFAULT_MAX_BYTES_PER_TRIGGER);
            let mut total = 0u64;
            new.iter()
                .take_while(|f| {
                    total += f.meta.size;
                    total <= max
                })
                .count()
                .max(1)
                .min(new.len())
        };
        self.waiting = new.len() - take;
        new.truncate(take);
        if new.is_empty() {
            return Ok(new);
        }
        let entries: Vec<FileEntry> = new
            .iter()
            .map(|f| FileEntry {
                path: f.url.clone(),
                timestamp: f.meta.last_modified.timestamp_millis(),
                batch_id,
            })
            .collect();
        for e in &entries {
            self.seen.add(&e.path, e.timestamp);
        }
        self.log.add(batch_id, entries).await?;
        self.seen.purge();
        Ok(new)
    }

    /// New files seen by the last [`FileStreamSource::files_for`] but left for later batches
    /// (the per-trigger limits).
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// The entries logged for exactly `batch_id` (a compacted batch file holds earlier
    /// batches' entries too).
    async fn logged(&self, batch_id: u64) -> Result<Option<Vec<FileEntry>>> {
        Ok(self
            .log
            .get(batch_id)
            .await?
            .map(|es| es.into_iter().filter(|e| e.batch_id == batch_id).collect()))
    }

    fn file_of(&self, e: &FileEntry) -> Result<SourceFile> {
        let url = url::Url::parse(&e.path).map_err(|err| {
            DataFusionError::Execution(format!("source log path {}: {err}", e.path))
        })?;
        let location = Path::from_url_path(url.path())?;
        let format = ActivityFormat::from_path(location.as_ref()).ok_or_else(|| {
            DataFusionError::Execution(format!(
                "source log path {} is not a .fit, .tcx or .gpx file",
                e.path
            ))
        })?;
        Ok(SourceFile {
            meta: ObjectMeta {
                location,
                last_modified: chrono::DateTime::from_timestamp_millis(e.timestamp)
                    .unwrap_or_default(),
                size: 0,
                e_tag: None,
                version: None,
            },
            format,
            url: e.path.clone(),
        })
    }

    /// Applies `cleanSource` to the files of a committed batch.
    ///
    /// # Errors
    /// Moving or deleting fails (a file already gone is not an error).
    pub async fn clean(&self, files: &[SourceFile]) -> crate::Result<()> {
        use datafusion::object_store::ObjectStoreExt;
        let store = self.input.store();
        match self.options.clean_source {
            CleanSource::Off => {}
            CleanSource::Delete => {
                for f in files {
                    match store.delete(&f.meta.location).await {
                        Ok(()) | Err(datafusion::object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(DataFusionError::from(e).into()),
                    }
                }
            }
            CleanSource::Archive => {
                let dir = self
                    .options
                    .source_archive_dir
                    .as_deref()
                    .unwrap_or_default();
                let archive = Location::parse(dir)?;
                if archive.store_url() != self.input.store_url() {
                    return Err(crate::Error::Invalid(format!(
                        "sourceArchiveDir {archive} is not in the input's store {}",
                        self.input.store_url().as_str()
                    )));
                }
                for f in files {
                    let to = archive.child(f.meta.location.as_ref());
                    match store.rename(&f.meta.location, &to).await {
                        Ok(()) | Err(datafusion::object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(DataFusionError::from(e).into()),
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn options_follow_spark_names_and_values() {
        let mut o = FileSourceOptions::default();
        assert!(o.set("MAXFILESPERTRIGGER", "5").unwrap());
        assert_eq!(o.max_files_per_trigger, Some(5));
        assert!(o.set("maxFileAge", "2h").unwrap());
        assert_eq!(o.max_file_age, Duration::from_secs(7200));
        assert!(o.set("cleanSource", "ARCHIVE").unwrap());
        assert_eq!(
            o.validate().unwrap_err(),
            "option cleanSource=archive needs sourceArchiveDir"
        );
        assert!(!o.set("startingOffsets", "earliest").unwrap());
        assert!(
            o.set("maxFilesPerTrigger", "0")
                .unwrap_err()
                .contains("positive")
        );
        assert!(o.set("maxBytesPerTrigger", "32m").unwrap());
        assert_eq!(o.max_bytes_per_trigger, Some(32 << 20));
        assert!(o.validate().unwrap_err().contains("cannot be set together"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("30 seconds"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1.5min"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("250"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn seen_files_forget_and_refuse_files_older_than_max_age() {
        let mut s = SeenFiles {
            max_age_ms: 1000,
            purged_before_ms: i64::MIN,
            latest_ms: i64::MIN,
            ..SeenFiles::default()
        };
        s.add("a", 5000);
        assert!(!s.is_new("a", 5000));
        assert!(s.is_new("b", 100));
        s.purge();
        assert!(!s.is_new("b", 100), "older than newest - maxFileAge");
        assert!(s.is_new("c", 4000));
    }
}
