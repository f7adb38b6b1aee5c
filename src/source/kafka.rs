//! The Kafka source: micro-batches of offset ranges from `kafka://HOST:PORT/TOPIC[,TOPIC…]`,
//! with Apache Spark's Kafka source options and checkpoint format (librdkafka underneath).
//!
//! | option | meaning | default |
//! |---|---|---|
//! | `startingOffsets` | where a new checkpoint starts: `earliest`, `latest`, or Spark's per-partition JSON `{"topic":{"0":23,"1":-2}}` (-2 earliest, -1 latest) | `latest` |
//! | `maxOffsetsPerTrigger` | at most this many messages per batch, over all partitions | none (datamin stops a batch at 32 MiB of payload) |
//! | `failOnDataLoss` | fail when offsets the checkpoint expects are gone (retention, a deleted topic); `false` warns and goes on from the earliest offset there | `true` |
//! | `kafkaConsumer.pollTimeoutMs` | how long a batch waits for a partition that neither delivers nor reports its end | `120000` |
//! | `kafka.<property>` | passed to librdkafka as `<property>` (`kafka.security.protocol=SASL_SSL`, `kafka.sasl.mechanism`, `kafka.ssl.ca.location`, …) | |
//! | `table` | the policy table the topic feeds (datamin) | the policy's one declared table |
//! | `valueFormat` | `json` or `avro` (datamin) | `json` |
//! | `schema.registry.url` | Avro in Confluent's wire format, writer schemas from this registry | |
//! | `avroSchema` | Avro writer schema (`.avsc`, any location) for raw or single-object encoded bodies | |
//!
//! Every option can also come from the environment: `DATAMIN_OPTION_<NAME>` (any case:
//! `DATAMIN_OPTION_MAXOFFSETSPERTRIGGER=1000`) and, for librdkafka properties,
//! `DATAMIN_KAFKA_<PROPERTY>` with `_` for `.` (`DATAMIN_KAFKA_SASL_PASSWORD` →
//! `kafka.sasl.password`). Options given on the command line or in the policy's `[job]`
//! section win over the environment.
//!
//! **Offsets.** The checkpoint is the source of truth, as in Spark: `sources/0/0` holds the
//! initial offsets of a new checkpoint (Spark's `KafkaSourceInitialOffsetWriter`: `v1` and
//! `{"topic":{"0":0}}`), and `offsets/<N>` the offsets where batch N *ends* (exclusive), in
//! the same JSON form. Batch N reads `[end of N-1, end of N)` of each partition. A batch is
//! planned by reading what the partitions hold (until each reports its end, or the limit);
//! its end offsets are written before the batch runs, so a restart re-reads exactly the same
//! messages. After the sink committed a batch, its end offsets (the next offset to read) are
//! also committed to the consumer group (`kafka.group.id`, default `datamin-<checkpoint id>`)
//! so that lag tools see progress; the group's offsets are never read back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};

use crate::Error;

/// Offsets per topic and partition: Spark's `{"topic":{"0":23}}`.
pub type PartitionOffsets = BTreeMap<String, BTreeMap<i32, i64>>;

/// Where a new checkpoint starts (Spark's `startingOffsets`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StartingOffsets {
    /// The earliest offset each partition still holds.
    Earliest,
    /// The offset after the last message each partition holds when the stream starts.
    #[default]
    Latest,
    /// Per partition: an offset, -2 for earliest, -1 for latest. Partitions not named start
    /// at the latest offset, as in Spark.
    Specific(PartitionOffsets),
}

/// Options of the Kafka source (see the module docs for names and meanings).
#[derive(Debug, Clone)]
pub struct KafkaSourceOptions {
    /// `host:port[,host:port]` (from the URL, or `kafka.bootstrap.servers`).
    pub bootstrap_servers: String,
    /// Topics read (from the URL's path, comma-separated).
    pub topics: Vec<String>,
    /// `startingOffsets`.
    pub starting_offsets: StartingOffsets,
    /// `maxOffsetsPerTrigger`.
    pub max_offsets_per_trigger: Option<u64>,
    /// Payload bytes after which a batch stops reading when `maxOffsetsPerTrigger` is not
    /// set (32 MiB), so that memory is bounded by the batch.
    pub max_bytes_per_trigger: u64,
    /// `failOnDataLoss`.
    pub fail_on_data_loss: bool,
    /// `kafkaConsumer.pollTimeoutMs`.
    pub poll_timeout: Duration,
    /// `kafka.*` properties (without the prefix), passed to librdkafka.
    pub kafka: BTreeMap<String, String>,
    /// `table`: the policy table the topics feed.
    pub table: Option<String>,
    /// `valueFormat`: `json` or `avro`.
    pub value_format: String,
    /// `schema.registry.url`.
    pub schema_registry_url: Option<String>,
    /// `avroSchema` (a location).
    pub avro_schema: Option<String>,
}

impl Default for KafkaSourceOptions {
    /// No broker, no topic, Spark's defaults (for validating option values).
    fn default() -> Self {
        Self {
            bootstrap_servers: String::new(),
            topics: Vec::new(),
            starting_offsets: StartingOffsets::default(),
            max_offsets_per_trigger: None,
            max_bytes_per_trigger: DEFAULT_MAX_BYTES_PER_TRIGGER,
            fail_on_data_loss: true,
            poll_timeout: Duration::from_secs(120),
            kafka: BTreeMap::new(),
            table: None,
            value_format: "json".into(),
            schema_registry_url: None,
            avro_schema: None,
        }
    }
}

/// The option names the Kafka source knows, as Spark spells them (besides `kafka.*`).
pub const OPTION_NAMES: &[&str] = &[
    "startingOffsets",
    "maxOffsetsPerTrigger",
    "failOnDataLoss",
    "kafkaConsumer.pollTimeoutMs",
    "table",
    "valueFormat",
    "schema.registry.url",
    "avroSchema",
];

/// Payload bytes per batch when no limit is set (as the file source's default).
pub const DEFAULT_MAX_BYTES_PER_TRIGGER: u64 = 32 << 20;

impl KafkaSourceOptions {
    /// Options for `kafka://HOST:PORT[,HOST:PORT]/TOPIC[,TOPIC…]`, with the environment's
    /// `DATAMIN_OPTION_*` / `DATAMIN_KAFKA_*` values applied (see the module docs).
    ///
    /// # Errors
    /// The URL names no broker or no topic, or an environment value is invalid.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("kafka://")
            .ok_or_else(|| format!("{url}: a Kafka input is kafka://HOST:PORT/TOPIC[,TOPIC…]"))?;
        let (servers, topics) = rest.split_once('/').unwrap_or((rest, ""));
        let topics: Vec<String> = topics
            .trim_end_matches('/')
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        if servers.is_empty() {
            return Err(format!("{url}: no broker (kafka://HOST:PORT/TOPIC)"));
        }
        if topics.is_empty() {
            return Err(format!(
                "{url}: no topic (kafka://HOST:PORT/TOPIC[,TOPIC…])"
            ));
        }
        let mut o = Self {
            bootstrap_servers: servers.to_string(),
            topics,
            ..Self::default()
        };
        for (k, v) in env_options(std::env::vars()) {
            if !o.set(&k, &v)? {
                return Err(format!(
                    "environment option {k}: not a Kafka source option; known: {}, kafka.*",
                    OPTION_NAMES.join(", ")
                ));
            }
        }
        Ok(o)
    }

    /// Sets option `name` (Spark's names, any case; `kafka.*` as given) to `value`.
    /// `Ok(false)` for a name the Kafka source does not know.
    ///
    /// # Errors
    /// A value that is not valid for the option, naming both.
    pub fn set(&mut self, name: &str, value: &str) -> Result<bool, String> {
        let bad = |what: &str| format!("option {name}={value}: {what}");
        if let Some(prop) = name.strip_prefix("kafka.") {
            match prop {
                "bootstrap.servers" => self.bootstrap_servers = value.to_string(),
                "enable.auto.commit" | "auto.offset.reset" | "enable.partition.eof" => {
                    return Err(bad(
                        "datamin manages offsets itself (the checkpoint is the source of truth), as Spark does; remove this option",
                    ));
                }
                _ => {
                    self.kafka.insert(prop.to_string(), value.to_string());
                }
            }
            return Ok(true);
        }
        match name.to_ascii_lowercase().as_str() {
            "startingoffsets" => {
                self.starting_offsets = parse_starting_offsets(value).map_err(|e| bad(&e))?
            }
            "maxoffsetspertrigger" => {
                self.max_offsets_per_trigger = Some(
                    value
                        .parse()
                        .ok()
                        .filter(|&n: &u64| n > 0)
                        .ok_or_else(|| bad("expected a positive number of messages"))?,
                )
            }
            "failondataloss" => {
                self.fail_on_data_loss = match value.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad("expected true or false")),
                }
            }
            "kafkaconsumer.polltimeoutms" => {
                self.poll_timeout = Duration::from_millis(
                    value
                        .parse()
                        .ok()
                        .filter(|&n: &u64| n > 0)
                        .ok_or_else(|| bad("expected a positive number of milliseconds"))?,
                )
            }
            "table" => self.table = Some(value.to_string()),
            "valueformat" => {
                let v = value.to_ascii_lowercase();
                if v != "json" && v != "avro" {
                    return Err(bad("expected json or avro"));
                }
                self.value_format = v;
            }
            "schema.registry.url" => {
                if !(value.starts_with("http://") || value.starts_with("https://")) {
                    return Err(bad("expected an http:// or https:// URL"));
                }
                self.schema_registry_url = Some(value.to_string());
            }
            "avroschema" => self.avro_schema = Some(value.to_string()),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl KafkaSourceOptions {
    /// Checks that the options fit together: Avro needs `schema.registry.url` or
    /// `avroSchema` (not both); JSON takes neither.
    ///
    /// # Errors
    /// Which options clash.
    pub fn validate(&self) -> Result<(), String> {
        let avro_opts = self.schema_registry_url.is_some() || self.avro_schema.is_some();
        match self.value_format.as_str() {
            "avro" if self.schema_registry_url.is_some() && self.avro_schema.is_some() => Err(
                "give schema.registry.url (Confluent wire format) or avroSchema (raw or single-object Avro), not both".into(),
            ),
            "avro" if !avro_opts => Err(
                "valueFormat=avro needs schema.registry.url=URL (Confluent wire format) or avroSchema=LOCATION (.avsc of raw or single-object Avro)".into(),
            ),
            "json" if avro_opts => Err(
                "schema.registry.url and avroSchema are for valueFormat=avro".into(),
            ),
            _ => Ok(()),
        }
    }
}

/// The options the environment sets: `DATAMIN_OPTION_<NAME>` as `<NAME>` and
/// `DATAMIN_KAFKA_<PROPERTY>` as `kafka.<property>` (lower case, `_` → `.`).
pub fn env_options(vars: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vars
        .filter_map(|(k, v)| {
            if let Some(n) = k.strip_prefix("DATAMIN_OPTION_") {
                Some((n.to_string(), v))
            } else {
                k.strip_prefix("DATAMIN_KAFKA_").map(|p| {
                    (
                        format!("kafka.{}", p.to_ascii_lowercase().replace('_', ".")),
                        v,
                    )
                })
            }
        })
        .collect();
    out.sort();
    out
}

/// Parses `startingOffsets`: `earliest`, `latest` or `{"topic":{"0":23,"1":-2}}`.
///
/// # Errors
/// Anything else, or JSON that is not a map of topics to maps of partition numbers to
/// offsets (≥ -2).
pub fn parse_starting_offsets(value: &str) -> Result<StartingOffsets, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "earliest" => return Ok(StartingOffsets::Earliest),
        "latest" => return Ok(StartingOffsets::Latest),
        _ => {}
    }
    let offsets = parse_offsets_json(value)?;
    if offsets.values().flat_map(|p| p.values()).any(|&o| o < -2) {
        return Err("offsets are ≥ 0, or -2 (earliest) / -1 (latest)".into());
    }
    Ok(StartingOffsets::Specific(offsets))
}

/// Parses Spark's offsets JSON, `{"topic":{"0":23}}`.
///
/// # Errors
/// Not that shape.
pub fn parse_offsets_json(value: &str) -> Result<PartitionOffsets, String> {
    let raw: BTreeMap<String, BTreeMap<String, i64>> =
        serde_json::from_str(value).map_err(|e| {
            format!(r#"expected earliest, latest or {{"topic":{{"0":23,"1":-2}}}} ({e})"#)
        })?;
    raw.into_iter()
        .map(|(t, parts)| {
            let parts = parts
                .into_iter()
                .map(|(p, o)| {
                    p.parse::<i32>()
                        .map(|p| (p, o))
                        .map_err(|_| format!("partition '{p}' of topic '{t}' is not a number"))
                })
                .collect::<Result<BTreeMap<_, _>, _>>()?;
            Ok((t, parts))
        })
        .collect()
}

/// Spark's JSON form of `offsets` (`{"topic":{"0":23}}`, keys in order).
pub fn offsets_json(offsets: &PartitionOffsets) -> serde_json::Value {
    serde_json::Value::Object(
        offsets
            .iter()
            .map(|(t, parts)| {
                (
                    t.clone(),
                    serde_json::Value::Object(
                        parts
                            .iter()
                            .map(|(p, o)| (p.to_string(), serde_json::Value::from(*o)))
                            .collect(),
                    ),
                )
            })
            .collect(),
    )
}

/// One message as read from Kafka.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaMessage {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// The message's timestamp, ms since the Unix epoch (create or log-append time).
    pub timestamp_ms: Option<i64>,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Payload bytes (`None`: a tombstone).
    pub payload: Option<Vec<u8>>,
    /// Headers in order: name and value bytes.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// The messages of one batch and where each partition's range ends (exclusive).
#[derive(Debug, Clone, Default)]
pub struct KafkaBatch {
    /// Messages in partition order, then offset order.
    pub messages: Vec<KafkaMessage>,
    /// Start offsets (inclusive) per partition.
    pub start: PartitionOffsets,
    /// End offsets (exclusive) per partition: the next batch starts there.
    pub end: PartitionOffsets,
    /// Every partition was read to its end (no limit stopped the batch): what was there
    /// when the batch was planned is in it.
    pub complete: bool,
}

impl KafkaBatch {
    /// Messages in the batch.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether the batch has no message and moved no offset.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.start == self.end
    }
}

/// librdkafka's logs and client errors into datamin's `tracing` log; the end of a partition
/// (which the source asks librdkafka to report) is not an error.
pub struct LogContext;

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", "{fac}: {message}"),
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", "{fac}: {message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", "{fac}: {message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", "{fac}: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::PartitionEOF)
            || matches!(error, KafkaError::PartitionEOF(_))
        {
            return;
        }
        tracing::warn!(target: "librdkafka", "{error}: {reason}");
    }
}

impl ConsumerContext for LogContext {}

type Reader = BaseConsumer<LogContext>;

/// A Kafka consumer that reads offset ranges (it never subscribes: partitions are assigned
/// by the checkpoint's offsets, and the group's offsets are only written, for lag tools).
pub struct KafkaSource {
    consumer: Arc<Reader>,
    options: KafkaSourceOptions,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field("options", &self.options)
            .finish()
    }
}

fn kafka_err(what: &str, e: KafkaError) -> Error {
    Error::Invalid(format!("Kafka: {what}: {e}"))
}

impl KafkaSource {
    /// A consumer for `options`; `group_id` is the group whose offsets are committed after
    /// each batch (unless `kafka.group.id` is given).
    ///
    /// # Errors
    /// librdkafka rejects a `kafka.*` property.
    pub fn new(options: KafkaSourceOptions, group_id: &str) -> crate::Result<Self> {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", &options.bootstrap_servers)
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "error")
            .set("client.id", "datamin")
            // An empty partition reports its end after this wait (librdkafka's default,
            // 500 ms, would add it to every batch that finds nothing new).
            .set("fetch.wait.max.ms", "100");
        for (k, v) in &options.kafka {
            cfg.set(k, v);
        }
        let consumer: Reader = cfg
            .create_with_context(LogContext)
            .map_err(|e| kafka_err("cannot create the consumer", e))?;
        Ok(Self {
            consumer: Arc::new(consumer),
            options,
        })
    }

    /// The options in use.
    pub fn options(&self) -> &KafkaSourceOptions {
        &self.options
    }

    /// The partitions of every topic, with their earliest and latest offsets as the broker
    /// reports them (ListOffsets).
    ///
    /// # Errors
    /// A topic does not exist, or the broker cannot be reached within the poll timeout.
    pub async fn partitions(&self) -> crate::Result<BTreeMap<String, Vec<i32>>> {
        let consumer = Arc::clone(&self.consumer);
        let topics = self.options.topics.clone();
        let servers = self.options.bootstrap_servers.clone();
        let timeout = self.options.poll_timeout.min(Duration::from_secs(30));
        blocking(move || {
            let mut out = BTreeMap::new();
            for t in topics {
                let md = consumer.fetch_metadata(Some(&t), timeout).map_err(|e| {
                    kafka_err(
                        &format!(
                            "no answer from {servers} for topic {t} (is a broker listening there?)"
                        ),
                        e,
                    )
                })?;
                let topic = md.topics().iter().find(|m| m.name() == t);
                let Some(topic) =
                    topic.filter(|m| m.error().is_none() && !m.partitions().is_empty())
                else {
                    return Err(Error::Invalid(format!(
                        "Kafka topic '{t}' does not exist on {servers}"
                    )));
                };
                let mut parts: Vec<i32> = topic.partitions().iter().map(|p| p.id()).collect();
                parts.sort_unstable();
                out.insert(t, parts);
            }
            Ok(out)
        })
        .await
    }

    /// Resolves `startingOffsets` for a new checkpoint into concrete offsets per partition
    /// (earliest and latest through ListOffsets).
    ///
    /// # Errors
    /// As [`KafkaSource::partitions`]; a partition named in the JSON that does not exist.
    pub async fn initial_offsets(&self) -> crate::Result<PartitionOffsets> {
        let parts = self.partitions().await?;
        if let StartingOffsets::Specific(given) = &self.options.starting_offsets {
            for (t, ps) in given {
                let known = parts.get(t);
                for p in ps.keys() {
                    if !known.is_some_and(|k| k.contains(p)) {
                        return Err(Error::Invalid(format!(
                            "startingOffsets names partition {p} of topic '{t}', which does not exist"
                        )));
                    }
                }
            }
        }
        let consumer = Arc::clone(&self.consumer);
        let starting = self.options.starting_offsets.clone();
        let timeout = self.options.poll_timeout.min(Duration::from_secs(30));
        blocking(move || {
            let mut out = PartitionOffsets::new();
            for (t, ps) in parts {
                for p in ps {
                    let want = match &starting {
                        StartingOffsets::Earliest => -2,
                        StartingOffsets::Latest => -1,
                        StartingOffsets::Specific(m) => {
                            m.get(&t).and_then(|x| x.get(&p)).copied().unwrap_or(-1)
                        }
                    };
                    let offset = if want >= 0 {
                        want
                    } else {
                        let (low, high) = consumer
                            .fetch_watermarks(&t, p, timeout)
                            .map_err(|e| kafka_err(&format!("offsets of {t}/{p}"), e))?;
                        if want == -2 { low } else { high }
                    };
                    out.entry(t.clone()).or_default().insert(p, offset);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Reads the next batch from `start` (the previous batch's end, plus partitions that
    /// appeared since, from their earliest offset): every partition until it reports its
    /// end, at most `maxOffsetsPerTrigger` messages (or 32 MiB of payload).
    ///
    /// # Errors
    /// The broker cannot be reached, or data was lost with `failOnDataLoss=true`.
    pub async fn next_batch(&self, start: &PartitionOffsets) -> crate::Result<KafkaBatch> {
        let parts = self.partitions().await?;
        let mut from = start.clone();
        for (t, ps) in &parts {
            for p in ps {
                // A partition that appeared after the stream started is read from its
                // beginning, as Spark does.
                from.entry(t.clone()).or_default().entry(*p).or_insert(-2);
            }
        }
        let limit = self.options.max_offsets_per_trigger;
        let max_bytes = if limit.is_some() {
            u64::MAX
        } else {
            self.options.max_bytes_per_trigger
        };
        self.read(from, None, limit, max_bytes).await
    }

    /// Reads exactly `[start, end)` of every partition again (a batch planned before a
    /// restart and not committed).
    ///
    /// # Errors
    /// As [`KafkaSource::next_batch`]; messages of the range that are gone are data loss.
    pub async fn replay(
        &self,
        start: &PartitionOffsets,
        end: &PartitionOffsets,
    ) -> crate::Result<KafkaBatch> {
        self.read(start.clone(), Some(end.clone()), None, u64::MAX)
            .await
    }

    async fn read(
        &self,
        from: PartitionOffsets,
        until: Option<PartitionOffsets>,
        limit: Option<u64>,
        max_bytes: u64,
    ) -> crate::Result<KafkaBatch> {
        let consumer = Arc::clone(&self.consumer);
        let poll_timeout = self.options.poll_timeout;
        let fail_on_data_loss = self.options.fail_on_data_loss;
        blocking(move || {
            read_blocking(
                &consumer,
                from,
                until,
                limit,
                max_bytes,
                poll_timeout,
                fail_on_data_loss,
            )
        })
        .await
    }

    /// Commits `end` (the next offsets to read) to the consumer group, for lag tools.
    /// Failures are logged, not errors: the checkpoint, not the group, is the truth.
    pub async fn commit_group(&self, end: &PartitionOffsets) {
        let consumer = Arc::clone(&self.consumer);
        let mut tpl = TopicPartitionList::new();
        for (t, ps) in end {
            for (p, o) in ps {
                if *o >= 0
                    && let Err(e) = tpl.add_partition_offset(t, *p, Offset::Offset(*o))
                {
                    tracing::warn!("Kafka: cannot commit {t}/{p}@{o} to the group: {e}");
                }
            }
        }
        let res = blocking(move || {
            consumer
                .commit(&tpl, CommitMode::Sync)
                .map_err(|e| kafka_err("group offset commit", e))
        })
        .await;
        if let Err(e) = res {
            tracing::warn!("{e} (the checkpoint holds the offsets; lag tools may lag behind)");
        }
    }
}

/// Runs blocking librdkafka calls off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crate::Result<T> + Send + 'static,
) -> crate::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Invalid(format!("Kafka reader thread failed: {e}")))?
}

/// The consuming loop of [`KafkaSource::read`]: assigns every partition at its start
/// offset, polls until each partition reached its end (`until`, or the end the broker
/// reports) or the batch is full, and returns the messages in (topic, partition, offset)
/// order.
fn read_blocking(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_options_and_offsets() {
        let o = KafkaSourceOptions::from_url("kafka://127.0.0.1:9092/plays,steps").unwrap();
        assert_eq!(o.bootstrap_servers, "127.0.0.1:9092");
        assert_eq!(o.topics, ["plays", "steps"]);
        assert!(KafkaSourceOptions::from_url("kafka://127.0.0.1:9092/").is_err());
        let mut o = o;
        assert!(o.set("MAXOFFSETSPERTRIGGER", "10").unwrap());
        assert_eq!(o.max_offsets_per_trigger, Some(10));
        assert!(o.set("kafka.security.protocol", "SASL_SSL").unwrap());
        assert_eq!(o.kafka["security.protocol"], "SASL_SSL");
        assert!(o.set("kafka.enable.auto.commit", "true").is_err());
        assert!(!o.set("maxFilesPerTrigger", "1").unwrap());
        assert!(o.set("maxOffsetsPerTrigger", "0").is_err());
        let s = parse_starting_offsets(r#"{"plays":{"0":23,"1":-2}}"#).unwrap();
        let StartingOffsets::Specific(m) = s else {
            panic!("{s:?}")
        };
        assert_eq!(m["plays"][&1], -2);
        assert_eq!(offsets_json(&m).to_string(), r#"{"plays":{"0":23,"1":-2}}"#);
        assert!(parse_starting_offsets(r#"{"plays":{"x":1}}"#).is_err());
        assert!(parse_starting_offsets(r#"{"plays":{"0":-3}}"#).is_err());
        assert_eq!(
            parse_starting_offsets("Earliest").unwrap(),
            StartingOffsets::Earliest
        );
        let env = env_options(
            [
                ("DATAMIN_KAFKA_SASL_PASSWORD".to_string(), "pw".to_string()),
                (
                    "DATAMIN_OPTION_startingOffsets".to_string(),
                    "earliest".to_string(),
                ),
                ("HOME".to_string(), "/root".to_string()),
            ]
            .into_iter(),
        );
        assert_eq!(
            env,
            [
                ("kafka.sasl.password".to_string(), "pw".to_string()),
                ("startingOffsets".to_string(), "earliest".to_string())
            ]
        );
    }
}
