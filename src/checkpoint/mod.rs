//! The streaming checkpoint, in Apache Spark Structured Streaming's layout, on any object
//! store (see `docs/checkpoint.md` for the protocol and each crash point):
//!
//! ```text
//! <checkpoint>/metadata        {"id":"<uuid>"}                     written once
//! <checkpoint>/offsets/<N>     v1                                  before batch N runs
//!                              {"batchWatermarkMs":0,"batchTimestampMs":…,"conf":{…}}
//!                              {"logOffset":N}
//! <checkpoint>/commits/<N>     v1                                  after the sink committed N
//!                              {"nextBatchWatermarkMs":0}
//! <checkpoint>/sources/0/<N>   file source: v1 + {"path":…,"timestamp":…,"batchId":N} per
//!                              file (compacted into <N>.compact every 10 batches)
//! <checkpoint>/sources/0/0     Kafka source: v1 + the initial offsets {"topic":{"0":0}}
//!                              (offsets/<N> then holds where batch N ends, same form)
//! <checkpoint>/policies/<sha256>.toml   each policy version a batch was planned with
//! ```
//!
//! A batch whose `offsets/<N>` exists without `commits/<N>` was interrupted: a restart runs
//! it again with the same files (from `sources/0/<N>`) and the same policy version (the
//! SHA-256 in its `conf`, the text in `policies/`), so it writes the same output files.

pub mod log;

use std::collections::BTreeMap;

use datafusion::common::{DataFusionError, Result};
use datafusion::object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::log::{COMPACT_INTERVAL, MetadataLog};
use crate::store::Location;

/// One file of the file source's log (`sources/0/<N>`): Spark's `FileEntry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileEntry {
    /// Full URL of the file (`file:///in/a.fit`, `s3://bucket/in/a.fit`).
    pub path: String,
    /// Last modification time, milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The batch that read the file.
    pub batch_id: u64,
}

/// The metadata line of `offsets/<N>`: Spark's `OffsetSeqMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OffsetSeqMetadata {
    /// Event-time watermark of the batch, ms (0: no watermark).
    pub batch_watermark_ms: i64,
    /// When the batch was planned, ms since the Unix epoch.
    pub batch_timestamp_ms: i64,
    /// Settings the batch must be re-run with; datamin records `datamin.policy.sha256`.
    pub conf: BTreeMap<String, String>,
}

/// What `offsets/<N>` says about batch N.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOffsets {
    /// The metadata line.
    pub metadata: OffsetSeqMetadata,
    /// One offset per source (the file source's is `{"logOffset":N}`).
    pub sources: Vec<Value>,
}

/// A checkpoint directory (see the module docs).
#[derive(Debug, Clone)]
pub struct Checkpoint {
    location: Location,
    id: String,
    offsets: MetadataLog<Value>,
    commits: MetadataLog<Value>,
    zone_state: MetadataLog<Value>,
}

impl Checkpoint {
    /// Opens the checkpoint at `location`, creating its `metadata` (a new random query id)
    /// when there is none.
    ///
    /// # Errors
    /// The store cannot be read or written, or `metadata` is not `{"id": …}`.
    pub async fn open(location: Location) -> Result<Self> {
        let store = location.store();
        let meta_path = location.child("metadata");
        let id = match store.get(&meta_path).await {
            Ok(r) => {
                let bytes = r.bytes().await?;
                let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
                    DataFusionError::Execution(format!(
                        "checkpoint {location}: metadata is not JSON: {e}"
                    ))
                })?;
                v.get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        DataFusionError::Execution(format!(
                            "checkpoint {location}: metadata has no \"id\""
                        ))
                    })?
                    .to_string()
            }
            Err(datafusion::object_store::Error::NotFound { .. }) => {
                let id = uuid_v4()?;
                let text = serde_json::json!({ "id": id }).to_string();
                store.put(&meta_path, PutPayload::from(text)).await?;
                id
            }
            Err(e) => return Err(e.into()),
        };
        let log =
            |dir: &str, interval| MetadataLog::new(store.clone(), location.child(dir), interval);
        Ok(Self {
            offsets: log("offsets", None),
            commits: log("commits", None),
            zone_state: log("state/privacy_zone", None),
            id,
            location,
        })
    }

    /// Where the checkpoint is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The query id (`metadata`'s `id`), stable across restarts.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The log of source `n` (`sources/<n>/`), compacted every 10 batches.
    pub fn source_log(&self, n: usize) -> MetadataLog<FileEntry> {
        MetadataLog::new(
            self.location.store().clone(),
            self.location.child(&format!("sources/{n}")),
            Some(COMPACT_INTERVAL),
        )
    }

    /// The initial offsets of a Kafka source (`sources/0/0`: `v1` and Spark's
    /// `{"topic":{"0":0}}`, as Spark's `KafkaSourceInitialOffsetWriter` writes them), if
    /// written.
    ///
    /// # Errors
    /// Reading fails or the file is not `v1` + one JSON line.
    pub async fn initial_offsets(&self) -> Result<Option<Value>> {
        let log: MetadataLog<Value> = MetadataLog::new(
            self.location.store().clone(),
            self.location.child("sources/0"),
            None,
        );
        Ok(log.get(0).await?.and_then(|mut v| v.pop()))
    }

    /// Writes the Kafka source's initial offsets (see [`Checkpoint::initial_offsets`]) once.
    ///
    /// # Errors
    /// Writing fails.
    pub async fn write_initial_offsets(&self, offsets: Value) -> Result<()> {
        let log: MetadataLog<Value> = MetadataLog::new(
            self.location.store().clone(),
            self.location.child("sources/0"),
            None,
        );
        log.add(0, vec![offsets]).await?;
        Ok(())
    }

    /// The highest batch with an `offsets` file.
    ///
    /// # Errors
    /// Listing fails.
    pub async fn latest_offsets(&self) -> Result<Option<u64>> {
        self.offsets.latest().await
    }

    /// The highest committed batch.
    ///
    /// # Errors
    /// Listing fails.
    pub async fn latest_commit(&self) -> Result<Option<u64>> {
        self.commits.latest().await
    }

    /// The offsets of batch `id`, if written.
    ///
    /// # Errors
    /// Reading fails or the file is not in Spark's offsets format.
    pub async fn offsets(&self, id: u64) -> Result<Option<BatchOffsets>> {
        let Some(mut lines) = self.offsets.get(id).await? else {
            return Ok(None);
        };
        if lines.is_empty() {
            return Err(DataFusionError::Execution(format!(
                "checkpoint {}: offsets/{id} has no metadata line",
                self.location
            )));
        }
        let metadata = serde_json::from_value(lines.remove(0)).map_err(|e| {
            DataFusionError::Execution(format!("checkpoint {}: offsets/{id}: {e}", self.location))
        })?;
        Ok(Some(BatchOffsets {
            metadata,
            sources: lines,
        }))
    }

    /// Writes `offsets/<id>` (before batch `id` runs); `false` if it was already there.
    ///
    /// # Errors
    /// Writing fails.
    pub async fn write_offsets(&self, id: u64, offsets: &BatchOffsets) -> Result<bool> {
        let mut lines = vec![
            serde_json::to_value(&offsets.metadata)
                .map_err(|e| DataFusionError::External(Box::new(e)))?,
        ];
        lines.extend(offsets.sources.iter().cloned());
        self.offsets.add(id, lines).await
    }

    /// Stores the text of `policy` as `policies/<sha256>.toml` (once per version), so that a
    /// batch re-run after a restart uses the version it was planned with.
    ///
    /// # Errors
    /// Writing fails.
    pub async fn save_policy(&self, policy: &crate::policy::Policy) -> Result<()> {
        let path = self
            .location
            .child(&format!("policies/{}.toml", policy.sha256));
        if self.location.store().head(&path).await.is_err() {
            self.location
                .store()
                .put(&path, PutPayload::from(policy.text.clone()))
                .await?;
        }
        Ok(())
    }

    /// The policy version `sha256` stored by [`Checkpoint::save_policy`], if any.
    ///
    /// # Errors
    /// Reading fails, or the stored text no longer validates (a datamin that does not know
    /// its rules).
    pub async fn load_policy(&self, sha256: &str) -> crate::Result<Option<crate::policy::Policy>> {
        let name = format!("policies/{sha256}.toml");
        let path = self.location.child(&name);
        let bytes = match self.location.store().get(&path).await {
            Ok(r) => r.bytes().await.map_err(DataFusionError::from)?,
            Err(datafusion::object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(DataFusionError::from(e).into()),
        };
        let text = String::from_utf8_lossy(&bytes);
        let file = self.location.url_of(&path);
        Ok(Some(crate::policy::Policy::parse(&file, &text)?))
    }

    /// Writes `state/privacy_zone/<id>`: the privacy zone's subject anchors after batch `id`
    /// ([`crate::privacy::PrivacyZone::anchors_json`]), before `commits/<id>`. A file that is
    /// already there (a replayed batch) is kept: the replay recomputes the same anchors.
    ///
    /// # Errors
    /// Writing fails.
    pub async fn write_zone_state(&self, id: u64, state: Value) -> Result<()> {
        self.zone_state.add(id, vec![state]).await?;
        Ok(())
    }

    /// The privacy zone's anchors after the last batch up to `through` that saved them.
    ///
    /// # Errors
    /// The store cannot be read or the file is not a log file.
    pub async fn zone_state(&self, through: u64) -> Result<Option<Value>> {
        let ids = self.zone_state.batch_ids().await?;
        match ids.into_iter().filter(|i| *i <= through).max() {
            Some(id) => Ok(self
                .zone_state
                .get(id)
                .await?
                .and_then(|v| v.into_iter().next())),
            None => Ok(None),
        }
    }

    /// Writes `commits/<id>` (after the sink committed batch `id`).
    ///
    /// # Errors
    /// Writing fails.
    pub async fn commit(&self, id: u64) -> Result<()> {
        self.commits
            .add(id, vec![serde_json::json!({ "nextBatchWatermarkMs": 0 })])
            .await?;
        Ok(())
    }
}

/// A random (version 4) UUID, RFC 9562 §5.4.
fn uuid_v4() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| DataFusionError::Execution(format!("no randomness: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}
