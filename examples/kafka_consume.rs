//! The reference for the Kafka benchmark (`benches/kafka_throughput.py`): a bare librdkafka
//! consume-and-discard loop over every partition of a topic, from the earliest offset until
//! each partition reports its end. Prints `messages bytes seconds`.
//!
//! ```text
//! cargo run --release --example kafka_consume -- 127.0.0.1:9092 plays
//! ```

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (servers, topic) = match args.as_slice() {
        [_, s, t] => (s.as_str(), t.as_str()),
        _ => return Err("usage: kafka_consume HOST:PORT TOPIC".into()),
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", "datamin-bench-bare")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "100")
        .create()?;
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let parts: Vec<i32> = md.topics()[0].partitions().iter().map(|p| p.id()).collect();
    let mut tpl = TopicPartitionList::new();
    for p in &parts {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)?;
    }
    let start = Instant::now();
    consumer.assign(&tpl)?;
    let mut pending: BTreeSet<i32> = parts.into_iter().collect();
    let (mut n, mut bytes) = (0u64, 0u64);
    while !pending.is_empty() {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => {
                n += 1;
                bytes += m.payload().map_or(0, |p| p.len() as u64);
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                pending.remove(&p);
            }
            Some(Err(e)) => return Err(e.into()),
        }
    }
    println!("{n} {bytes} {:.6}", start.elapsed().as_secs_f64());
    Ok(())
}
