//! The runner's inputs: a file stream over an object store, or Kafka topics. Each plans
//! the next batch (or re-reads an interrupted one) and says what to record in the
//! checkpoint's `offsets/<N>`.

use std::time::Instant;

use std::sync::Arc;

use serde_json::Value;

use super::batch::BatchInput;
use crate::checkpoint::Checkpoint;
use crate::source::avro::{AvroDecoder, AvroSource};
use crate::source::file_stream::{FileSourceOptions, FileStreamSource};
use crate::source::kafka::{
    KafkaSource, KafkaSourceOptions, PartitionOffsets, offsets_json, parse_offsets_json,
};
use crate::source::payload::ValueFormat;
use crate::store::Location;

/// Whether `input` is a Kafka input (`kafka://…`).
pub fn is_kafka(input: &str) -> bool {
    input.starts_with("kafka://")
}

/// A Kafka input: the source, the checkpoint's initial offsets and the target table.
pub(crate) struct KafkaInput {
    source: KafkaSource,
    initial: PartitionOffsets,
    servers: String,
    format: ValueFormat,
    /// The last batch this process planned and where it ends (saves re-reading its offsets).
    last_end: std::sync::Mutex<Option<(u64, PartitionOffsets)>>,
}

impl KafkaInput {
    /// Opens `url` with `options` (unknown names are errors, sink options aside); a new
    /// checkpoint gets its initial offsets (`startingOffsets`) resolved and written.
    pub(crate) async fn open(
        url: &str,
        options: &[(String, String)],
        sink_options: &[&str],
        checkpoint: &Checkpoint,
    ) -> crate::Result<Self> {
        let mut o = KafkaSourceOptions::from_url(url).map_err(crate::Error::Invalid)?;
        for (k, v) in options {
            if sink_options.iter().any(|s| s.eq_ignore_ascii_case(k)) {
                continue;
            }
            if !o.set(k, v).map_err(crate::Error::Invalid)? {
                return Err(crate::Error::Invalid(format!(
                    "unknown option {k:?} for a Kafka input; known: {}, {}, kafka.*",
                    crate::source::kafka::OPTION_NAMES.join(", "),
                    sink_options.join(", ")
                )));
            }
        }
        o.validate().map_err(crate::Error::Invalid)?;
        let format = match (&o.schema_registry_url, &o.avro_schema) {
            (Some(url), _) => ValueFormat::Avro(Arc::new(AvroDecoder::new(AvroSource::Registry(
                url.clone(),
            ))?)),
            (None, Some(loc)) => {
                let bytes = crate::store::read_location(loc).await?;
                let text = String::from_utf8(bytes).map_err(|_| {
                    crate::Error::Invalid(format!("avroSchema {loc}: not UTF-8 text"))
                })?;
                ValueFormat::Avro(Arc::new(AvroDecoder::new(AvroSource::Schema(text))?))
            }
            (None, None) => ValueFormat::Json,
        };
        let servers = format!("kafka://{}", o.bootstrap_servers);
        let group = format!("datamin-{}", checkpoint.id());
        let source = KafkaSource::new(o, &group)?;
        let initial = match checkpoint.initial_offsets().await? {
            Some(v) => parse_offsets_json(&v.to_string()).map_err(|e| {
                crate::Error::Invalid(format!(
                    "checkpoint {}: sources/0/0: {e}",
                    checkpoint.location()
                ))
            })?,
            None => {
                let initial = source.initial_offsets().await?;
                checkpoint
                    .write_initial_offsets(offsets_json(&initial))
                    .await?;
                initial
            }
        };
        Ok(Self {
            source,
            initial,
            servers,
            format,
            last_end: std::sync::Mutex::new(None),
        })
    }

    /// Where batch `id` ends: the batch this process planned last, else its `offsets/<id>`;
    /// the initial offsets for `id = -1`.
    async fn end_of(
        &self,
        checkpoint: &Checkpoint,
        id: Option<u64>,
    ) -> crate::Result<PartitionOffsets> {
        let Some(id) = id else {
            return Ok(self.initial.clone());
        };
        if let Some((last, end)) = &*self.last_end.lock().unwrap_or_else(|e| e.into_inner())
            && *last == id
        {
            return Ok(end.clone());
        }
        let o = checkpoint.offsets(id).await?.ok_or_else(|| {
            crate::Error::Invalid(format!(
                "checkpoint {}: offsets/{id} is missing",
                checkpoint.location()
            ))
        })?;
        parse_end(checkpoint, id, &o)
    }

    /// Batch `id`: re-read when `offsets/<id>` exists (a batch interrupted before its
    /// commit), else read what is new; `None` when nothing is. The flag says whether every
    /// partition was read to its end (`available-now` stops after such a batch).
    pub(crate) async fn batch_for(
        &self,
        checkpoint: &Checkpoint,
        id: u64,
        table: Option<String>,
    ) -> crate::Result<Option<(BatchInput, Value, bool)>> {
        let start = self.end_of(checkpoint, id.checked_sub(1)).await?;
        let batch = if let Some(o) = checkpoint.offsets(id).await? {
            let end = parse_end(checkpoint, id, &o)?;
            let mut from = start.clone();
            for (t, ps) in &end {
                for p in ps.keys() {
                    // A partition that appeared during the stream: read from its start.
                    from.entry(t.clone()).or_default().entry(*p).or_insert(-2);
                }
            }
            self.source.replay(&from, &end).await?
        } else {
            let t = Instant::now();
            let b = self.source.next_batch(&start).await?;
            tracing::debug!(
                messages = b.len(),
                ms = t.elapsed().as_millis() as u64,
                "Kafka batch {id} read"
            );
            if b.messages.is_empty() && moved_nothing(&start, &b.end) {
                return Ok(None);
            }
            b
        };
        *self.last_end.lock().unwrap_or_else(|e| e.into_inner()) = Some((id, batch.end.clone()));
        let offsets = offsets_json(&batch.end);
        let complete = batch.complete;
        Ok(Some((
            BatchInput::Kafka {
                batch,
                table,
                servers: self.servers.clone(),
                format: self.format.clone(),
            },
            offsets,
            complete,
        )))
    }

    /// After the sink committed a batch: its end offsets to the consumer group.
    pub(crate) async fn committed(&self, end: &Value) {
        if let Ok(end) = parse_offsets_json(&end.to_string()) {
            self.source.commit_group(&end).await;
        }
    }

    /// The `table` option.
    pub(crate) fn table(&self) -> Option<String> {
        self.source.options().table.clone()
    }
}

/// The end offsets recorded in batch `id`'s `offsets/<id>`.
fn parse_end(
    checkpoint: &Checkpoint,
    id: u64,
    o: &crate::checkpoint::BatchOffsets,
) -> crate::Result<PartitionOffsets> {
    let v = o.sources.first().cloned().unwrap_or(Value::Null);
    parse_offsets_json(&v.to_string()).map_err(|e| {
        crate::Error::Invalid(format!(
            "checkpoint {}: offsets/{id} is not a Kafka offsets file ({e}); was the checkpoint written by a file input?",
            checkpoint.location()
        ))
    })
}

/// Whether every partition of `end` ends where `start` says it starts.
fn moved_nothing(start: &PartitionOffsets, end: &PartitionOffsets) -> bool {
    end.iter().all(|(t, ps)| {
        ps.iter()
            .all(|(p, o)| start.get(t).and_then(|s| s.get(p)) == Some(o))
    })
}

/// The runner's input.
pub(crate) enum Input {
    /// Activity files in an object store.
    Files {
        /// The file stream source.
        source: Box<FileStreamSource>,
        /// The input location.
        location: Location,
    },
    /// Kafka topics.
    Kafka(KafkaInput),
}

impl Input {
    /// Opens `input` (a location, or `kafka://…`).
    pub(crate) async fn open(
        input: &str,
        options: &[(String, String)],
        file_options: FileSourceOptions,
        sink_options: &[&str],
        checkpoint: &Checkpoint,
    ) -> crate::Result<Self> {
        if is_kafka(input) {
            return Ok(Input::Kafka(
                KafkaInput::open(input, options, sink_options, checkpoint).await?,
            ));
        }
        let location = Location::parse(input)?;
        let source =
            FileStreamSource::open(location.clone(), file_options, checkpoint.source_log(0))
                .await?;
        Ok(Input::Files {
            source: Box::new(source),
            location,
        })
    }
}
