//! The consuming loop: one offset range per partition, read on a blocking thread.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};

use super::{KafkaBatch, KafkaMessage, PartitionOffsets, Reader, kafka_err};
use crate::Error;

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
    let mut pending: BTreeMap<(String, i32), Option<i64>> = BTreeMap::new();
    let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for (t, ps) in &from {
        for (p, o) in ps {
            let end = until
                .as_ref()
                .and_then(|u| u.get(t))
                .and_then(|x| x.get(p))
                .copied();
            if end.is_some_and(|e| e <= *o) {
                next.insert((t.clone(), *p), *o);
                continue;
            }
            let offset = match *o {
                -2 => Offset::Beginning,
                -1 => Offset::End,
                o => Offset::Offset(o),
            };
            tpl.add_partition_offset(t, *p, offset)
                .map_err(|e| kafka_err("assign", e))?;
            pending.insert((t.clone(), *p), end);
            next.insert((t.clone(), *p), *o);
        }
    }
    let mut by_partition: BTreeMap<(String, i32), Vec<KafkaMessage>> = BTreeMap::new();
    if !pending.is_empty() {
        consumer
            .assign(&tpl)
            .map_err(|e| kafka_err("assign partitions", e))?;
    }
    let mut count = 0u64;
    let mut bytes = 0u64;
    let mut last_progress = Instant::now();
    while !pending.is_empty() {
        if limit.is_some_and(|l| count >= l) || bytes >= max_bytes {
            break;
        }
        if last_progress.elapsed() > poll_timeout {
            let waiting: Vec<String> = pending.keys().map(|(t, p)| format!("{t}/{p}")).collect();
            return Err(Error::Invalid(format!(
                "Kafka: no message and no end of partition from {} within kafkaConsumer.pollTimeoutMs ({} ms)",
                waiting.join(", "),
                poll_timeout.as_millis()
            )));
        }
        let Some(res) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        last_progress = Instant::now();
        match res {
            Ok(m) => {
                let key = (m.topic().to_string(), m.partition());
                let Some(end) = pending.get(&key).copied() else {
                    continue; // a partition already finished
                };
                if end.is_some_and(|e| m.offset() >= e) {
                    pending.remove(&key);
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
                let msg = KafkaMessage {
                    topic: key.0.clone(),
                    partition: key.1,
                    offset: m.offset(),
                    timestamp_ms: m.timestamp().to_millis(),
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().map(<[u8]>::to_vec),
                    headers,
                };
                count += 1;
                bytes += msg.payload.as_ref().map_or(0, |p| p.len() as u64);
                next.insert(key.clone(), m.offset() + 1);
                by_partition.entry(key.clone()).or_default().push(msg);
                if end.is_some_and(|e| m.offset() + 1 >= e) {
                    pending.remove(&key);
                }
            }
            Err(KafkaError::PartitionEOF(p)) => {
                // Which topic: the one pending partition with that number whose position
                // reached the end (topics are few; check the consumer's positions).
                let positions = consumer.position().map_err(|e| kafka_err("positions", e))?;
                let done: Vec<(String, i32)> =
                    pending.keys().filter(|(_, q)| *q == p).cloned().collect();
                for key in done {
                    let pos = positions
                        .find_partition(&key.0, key.1)
                        .and_then(|e| e.offset().to_raw());
                    let end = pending.get(&key).copied().flatten();
                    if let Some(e) = end {
                        // Replaying a range: its end lies beyond what the partition holds.
                        let at = next.get(&key).copied().unwrap_or(0);
                        if at < e {
                            let msg = format!(
                                "Kafka: {}/{} ends at {} but batch needs offsets up to {e} (data loss: retention or a deleted topic)",
                                key.0, key.1, at
                            );
                            if fail_on_data_loss {
                                return Err(Error::Invalid(format!(
                                    "{msg}; set failOnDataLoss=false to go on"
                                )));
                            }
                            tracing::warn!("{msg}");
                        }
                        next.insert(key.clone(), e);
                        pending.remove(&key);
                    } else {
                        if let Some(pos) = pos.filter(|&o| o >= 0) {
                            next.insert(key.clone(), pos);
                        }
                        pending.remove(&key);
                    }
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
    let _ = consumer.unassign();
    let mut batch = KafkaBatch {
        start: PartitionOffsets::new(),
        end: PartitionOffsets::new(),
        messages: Vec::with_capacity(count as usize),
        complete: pending.is_empty(),
    };
    for ((t, p), o) in &from
        .iter()
        .flat_map(|(t, ps)| ps.iter().map(move |(p, o)| ((t.clone(), *p), *o)))
        .collect::<BTreeMap<_, _>>()
    {
        let first = by_partition
            .get(&(t.clone(), *p))
            .and_then(|v| v.first())
            .map(|m| m.offset);
        let start = if *o < 0 { first.unwrap_or(*o) } else { *o };
        let end = next.get(&(t.clone(), *p)).copied().unwrap_or(start);
        if start < 0 || end < 0 {
            // An empty partition read from "earliest"/"latest": nothing to record yet.
            continue;
        }
        batch.start.entry(t.clone()).or_default().insert(*p, start);
        batch
            .end
            .entry(t.clone())
            .or_default()
            .insert(*p, end.max(start));
    }
    for (_, msgs) in by_partition {
        batch.messages.extend(msgs);
    }
    Ok(batch)
}
