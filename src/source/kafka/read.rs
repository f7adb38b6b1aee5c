//! The consuming loop: one offset range per partition, read on a blocking thread.
//!
//! Message bytes are appended to one arena and handed out as slices of it (`Bytes`), and
//! partitions are looked up in a small table: the loop allocates nothing per message (a
//! few allocations per message made it 5× slower than librdkafka's own consume loop).

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};

use super::{KafkaBatch, KafkaMessage, PartitionOffsets, Reader, kafka_err};
use crate::Error;

/// One partition being read.
struct Part {
    topic: Arc<str>,
    partition: i32,
    /// Where the range starts (-2 earliest, -1 latest, else an offset).
    from: i64,
    /// Where it must end (a replayed range), exclusive.
    until: Option<i64>,
    /// The next offset to read.
    next: i64,
    /// Still reading.
    pending: bool,
    /// Messages read, with their bytes in the arena.
    staged: Vec<Staged>,
}

/// A message whose bytes are in the arena.
struct Staged {
    offset: i64,
    timestamp_ms: Option<i64>,
    key: Option<Range<usize>>,
    payload: Option<Range<usize>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Appends `bytes` to `arena`; the range they occupy.
fn stash(arena: &mut BytesMut, bytes: &[u8]) -> Range<usize> {
    let start = arena.len();
    arena.extend_from_slice(bytes);
    start..arena.len()
}

/// The consuming loop of [`super::KafkaSource`]: assigns every partition at its start
/// offset, polls until each partition reached its end (`until`, or the end the broker
/// reports) or the batch is full, and returns the messages in (topic, partition, offset)
/// order.
pub(super) fn read_blocking(
    consumer: &Reader,
    from: PartitionOffsets,
    until: Option<PartitionOffsets>,
    limit: Option<u64>,
    max_bytes: u64,
    poll_timeout: Duration,
    fail_on_data_loss: bool,
) -> crate::Result<KafkaBatch> {
    let mut tpl = TopicPartitionList::new();
    let mut parts: Vec<Part> = Vec::new();
    for (t, ps) in &from {
        let topic: Arc<str> = Arc::from(t.as_str());
        for (p, o) in ps {
            let end = until
                .as_ref()
                .and_then(|u| u.get(t))
                .and_then(|x| x.get(p))
                .copied();
            let pending = end.is_none_or(|e| e > *o);
            if pending {
                let offset = match *o {
                    -2 => Offset::Beginning,
                    -1 => Offset::End,
                    o => Offset::Offset(o),
                };
                tpl.add_partition_offset(t, *p, offset)
                    .map_err(|e| kafka_err("assign", e))?;
            }
            parts.push(Part {
                topic: Arc::clone(&topic),
                partition: *p,
                from: *o,
                until: end,
                next: *o,
                pending,
                staged: Vec::new(),
            });
        }
    }
    let mut waiting = parts.iter().filter(|p| p.pending).count();
    if waiting > 0 {
        consumer
            .assign(&tpl)
            .map_err(|e| kafka_err("assign partitions", e))?;
    }
    // Messages come in runs from one partition: try the last one first.
    let mut last = 0usize;
    let mut find = |parts: &[Part], topic: &str, partition: i32| {
        let hit = |p: &Part| p.partition == partition && &*p.topic == topic;
        if parts.get(last).is_some_and(hit) {
            return Some(last);
        }
        let i = parts.iter().position(hit)?;
        last = i;
        Some(i)
    };
    let mut arena = BytesMut::with_capacity(1 << 20);
    let mut count = 0u64;
    let mut bytes = 0u64;
    let started = Instant::now();
    let mut last_progress = started;
    while waiting > 0 {
        if limit.is_some_and(|l| count >= l) || bytes >= max_bytes {
            break;
        }
        if last_progress.elapsed() > poll_timeout {
            let names: Vec<String> = parts
                .iter()
                .filter(|p| p.pending)
                .map(|p| format!("{}/{}", p.topic, p.partition))
                .collect();
            return Err(Error::Invalid(format!(
                "Kafka: no message and no end of partition from {} within kafkaConsumer.pollTimeoutMs ({} ms)",
                names.join(", "),
                poll_timeout.as_millis()
            )));
        }
        let Some(res) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        last_progress = Instant::now();
        match res {
            Ok(m) => {
                let Some(i) = find(&parts, m.topic(), m.partition()) else {
                    continue;
                };
                let part = &mut parts[i];
                if !part.pending {
                    continue; // a partition already finished
                }
                if part.until.is_some_and(|e| m.offset() >= e) {
                    part.pending = false;
                    waiting -= 1;
                    continue;
                }
                let headers = m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                            .collect()
                    })
                    .unwrap_or_default();
                let payload = m.payload().map(|p| stash(&mut arena, p));
                bytes += payload.as_ref().map_or(0, |r| r.len() as u64);
                part.staged.push(Staged {
                    offset: m.offset(),
                    timestamp_ms: m.timestamp().to_millis(),
                    key: m.key().map(|k| stash(&mut arena, k)),
                    payload,
                    headers,
                });
                count += 1;
                part.next = m.offset() + 1;
                if part.until.is_some_and(|e| m.offset() + 1 >= e) {
                    part.pending = false;
                    waiting -= 1;
                }
            }
            Err(KafkaError::PartitionEOF(p)) => {
                // Which topic: every pending partition with that number whose position
                // reached the end (topics are few; check the consumer's positions).
                let positions = consumer.position().map_err(|e| kafka_err("positions", e))?;
                for part in parts.iter_mut().filter(|q| q.pending && q.partition == p) {
                    let pos = positions
                        .find_partition(&part.topic, part.partition)
                        .and_then(|e| e.offset().to_raw());
                    if let Some(e) = part.until {
                        // Replaying a range: its end lies beyond what the partition holds.
                        if part.next < e {
                            let msg = format!(
                                "Kafka: {}/{} ends at {} but the batch needs offsets up to {e} (data loss: retention or a deleted topic)",
                                part.topic, part.partition, part.next
                            );
                            if fail_on_data_loss {
                                return Err(Error::Invalid(format!(
                                    "{msg}; set failOnDataLoss=false to go on"
                                )));
                            }
                            tracing::warn!("{msg}");
                        }
                        part.next = e;
                    } else if let Some(pos) = pos.filter(|&o| o >= 0) {
                        part.next = pos;
                    }
                    part.pending = false;
                    waiting -= 1;
                }
            }
            Err(e) => {
                let text = e.to_string();
                if text.contains("Offset out of range") || text.contains("auto.offset.reset") {
                    let msg = format!("Kafka: offsets the checkpoint expects are gone: {text}");
                    if fail_on_data_loss {
                        return Err(Error::Invalid(format!(
                            "{msg}; set failOnDataLoss=false to go on from the earliest offset"
                        )));
                    }
                    tracing::warn!("{msg}");
                    continue;
                }
                tracing::warn!("Kafka: {text}");
            }
        }
    }
    tracing::debug!(
        messages = count,
        bytes,
        ms = started.elapsed().as_millis() as u64,
        "Kafka: read {count} messages"
    );
    let _ = consumer.unassign();
    let arena: Bytes = arena.freeze();
    let slice = |r: Range<usize>| arena.slice(r);
    let mut batch = KafkaBatch {
        start: PartitionOffsets::new(),
        end: PartitionOffsets::new(),
        messages: Vec::with_capacity(count as usize),
        complete: waiting == 0,
    };
    parts.sort_by(|a, b| (&*a.topic, a.partition).cmp(&(&*b.topic, b.partition)));
    for part in parts {
        let first = part.staged.first().map(|m| m.offset);
        let start = if part.from < 0 {
            first.unwrap_or(part.from)
        } else {
            part.from
        };
        let end = if part.next < 0 { start } else { part.next };
        if start >= 0 && end >= 0 {
            batch
                .start
                .entry(part.topic.to_string())
                .or_default()
                .insert(part.partition, start);
            batch
                .end
                .entry(part.topic.to_string())
                .or_default()
                .insert(part.partition, end.max(start));
        }
        // (An empty partition read from "earliest"/"latest" records nothing yet.)
        for s in part.staged {
            batch.messages.push(KafkaMessage {
                topic: Arc::clone(&part.topic),
                partition: part.partition,
                offset: s.offset,
                timestamp_ms: s.timestamp_ms,
                key: s.key.map(slice),
                payload: s.payload.map(slice),
                headers: s.headers,
            });
        }
    }
    Ok(batch)
}
