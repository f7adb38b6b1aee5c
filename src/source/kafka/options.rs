//! The Kafka source's options (Spark's names) and Spark's JSON form of offsets.

use std::collections::BTreeMap;
use std::time::Duration;

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
