//! Message payloads into Arrow: JSON through arrow-json's streaming `Decoder`, with the
//! Kafka metadata columns beside the decoded fields.
//!
//! A batch of messages is decoded in one pass. arrow-json reports errors per batch, not per
//! message, so when that pass fails (or a message holds more or less than one JSON value)
//! every message is decoded on its own: the good ones are kept, the bad ones are returned
//! with the reason, to be dead-lettered — nothing else is lost.
//!
//! The metadata columns are Spark's (`key` binary, `topic`, `partition`, `offset`,
//! `timestamp`, `headers`); a payload field of the same name keeps its name and the
//! metadata column is then called `kafka_<name>` ([`metadata_fields`]).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BinaryBuilder, Int32Array, Int64Array, ListBuilder, RecordBatch, StringArray,
    StructBuilder, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use datafusion::arrow::json::ReaderBuilder;

use crate::schema::timestamp_type;
use crate::source::kafka::KafkaMessage;

/// Names of the Kafka metadata columns, as Spark's Kafka source names them.
pub const METADATA_COLUMNS: [&str; 6] = [
    "key",
    "topic",
    "partition",
    "offset",
    "timestamp",
    "headers",
];

fn header_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Binary, true),
    ])
}

/// The Kafka metadata fields for a table whose payload has `payload` fields: Spark's names
/// and types (`key` binary, `topic` string, `partition` int, `offset` long, `timestamp`
/// (µs, UTC), `headers` list of `{key string, value binary}`), each renamed `kafka_<name>`
/// where the payload has a field of that name.
pub fn metadata_fields(payload: &Schema) -> Vec<Field> {
    let types = [
        DataType::Binary,
        DataType::Utf8,
        DataType::Int32,
        DataType::Int64,
        timestamp_type(),
        DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(header_fields()),
            true,
        ))),
    ];
    METADATA_COLUMNS
        .iter()
        .zip(types)
        .map(|(name, t)| {
            let name = if payload.field_with_name(name).is_ok() {
                format!("kafka_{name}")
            } else {
                (*name).to_string()
            };
            Field::new(name, t, true)
        })
        .collect()
}

/// The raw table schema of messages with `payload` fields: the payload's fields, then the
/// metadata fields ([`metadata_fields`]).
pub fn table_schema(payload: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = payload
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.extend(metadata_fields(payload));
    Arc::new(Schema::new(fields))
}

/// How message values are encoded.
#[derive(Debug, Clone, Default)]
pub enum ValueFormat {
    /// One JSON object per message (arrow-json).
    #[default]
    Json,
    /// Avro (arrow-avro): Confluent wire format, single-object encoding or raw bodies.
    Avro(Arc<super::avro::AvroDecoder>),
}

/// Decodes `messages` in `format` into one batch of [`table_schema`] of `payload`; the
/// messages that fail are returned instead (by index into `messages`). `timestamp_format`
/// applies to JSON (see [`decode_json`]).
///
/// # Errors
/// As [`decode_json`]; for Avro, a schema registry that cannot be reached.
pub async fn decode_messages(
    format: &ValueFormat,
    payload: &SchemaRef,
    timestamp_format: Option<&str>,
    messages: &[&KafkaMessage],
) -> crate::Result<(RecordBatch, Vec<BadMessage>)> {
    match format {
        ValueFormat::Json => decode_json(payload, timestamp_format, messages),
        ValueFormat::Avro(avro) => {
            let (rows, bad) = avro.decode(payload, messages).await?;
            // A mask, not a search per message: a topic of the wrong format rejects all.
            let mut rejected = vec![false; messages.len()];
            for b in &bad {
                rejected[b.index] = true;
            }
            let good: Vec<&KafkaMessage> = messages
                .iter()
                .zip(&rejected)
                .filter(|(_, r)| !**r)
                .map(|(m, _)| *m)
                .collect();
            Ok((with_metadata(&table_schema(payload), rows, &good)?, bad))
        }
    }
}

/// A message that could not be decoded, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadMessage {
    /// Index of the message in the input slice.
    pub index: usize,
    /// Why it was rejected.
    pub reason: String,
}

/// Decodes JSON `messages` (one JSON object per payload) against `payload` (the declared
/// fields) into one batch of [`table_schema`]; messages that fail are returned instead.
/// `timestamp_format` (a chrono `strftime` format, UTC unless it has an offset) is how
/// timestamp fields are written; `None`: RFC 3339 (arrow-json's parser).
///
/// # Errors
/// The schema cannot be used by arrow-json (a type it does not decode).
pub fn decode_json(
    payload: &SchemaRef,
    timestamp_format: Option<&str>,
    messages: &[&KafkaMessage],
) -> crate::Result<(RecordBatch, Vec<BadMessage>)> {
    let schema = table_schema(payload);
    let decoder = JsonRows::new(payload, timestamp_format);
    if let Ok(b) = decoder.decode(messages) {
        return Ok((with_metadata(&schema, b, messages)?, Vec::new()));
    }
    // Per message: only the bad ones are rejected.
    let mut good = Vec::new();
    let mut good_msgs = Vec::new();
    let mut bad = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        match decoder.decode(std::slice::from_ref(m)) {
            Ok(b) => {
                good.push(b);
                good_msgs.push(*m);
            }
            Err(reason) => bad.push(BadMessage { index: i, reason }),
        }
    }
    let merged = concat_batches(payload, &good)?;
    Ok((with_metadata(&schema, merged, &good_msgs)?, bad))
}

/// JSON rows of a payload schema; timestamps in a given format are read as text first.
struct JsonRows<'a> {
    payload: &'a SchemaRef,
    /// What arrow-json decodes: the payload, with formatted timestamps as Utf8.
    wire: SchemaRef,
    timestamp_format: Option<&'a str>,
}

impl<'a> JsonRows<'a> {
    fn new(payload: &'a SchemaRef, timestamp_format: Option<&'a str>) -> Self {
        let wire = match timestamp_format {
            None => Arc::clone(payload),
            Some(_) => Arc::new(Schema::new(
                payload
                    .fields()
                    .iter()
                    .map(|f| match f.data_type() {
                        DataType::Timestamp(..) => {
                            f.as_ref().clone().with_data_type(DataType::Utf8)
                        }
                        _ => f.as_ref().clone(),
                    })
                    .collect::<Vec<_>>(),
            )),
        };
        Self {
            payload,
            wire,
            timestamp_format,
        }
    }

    fn decode(&self, messages: &[&KafkaMessage]) -> Result<RecordBatch, String> {
        let batch = decode_all(&self.wire, messages)?;
        let Some(format) = self.timestamp_format else {
            return Ok(batch);
        };
        // The format compiled once, not once per value.
        let items: Vec<chrono::format::Item<'_>> =
            chrono::format::StrftimeItems::new(format).collect();
        let mut cols = Vec::with_capacity(batch.num_columns());
        for (f, c) in self.payload.fields().iter().zip(batch.columns()) {
            if !matches!(f.data_type(), DataType::Timestamp(..)) {
                cols.push(Arc::clone(c));
                continue;
            }
            let text = c
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or("timestamp text expected")?;
            let mut out = Vec::with_capacity(text.len());
            for v in text {
                out.push(match v {
                    None => None,
                    Some(v) => Some(parse_timestamp_us(v, &items).ok_or_else(|| {
                        format!("field {}: '{v}' does not match timestampFormat", f.name())
                    })?),
                });
            }
            cols.push(Arc::new(
                TimestampMicrosecondArray::from(out).with_timezone("UTC"),
            ));
        }
        RecordBatch::try_new(Arc::clone(self.payload), cols).map_err(|e| e.to_string())
    }
}

/// `text` in a compiled strftime format as µs since the Unix epoch: with the offset when
/// the text has one, else UTC; a date-only format gives midnight.
fn parse_timestamp_us(text: &str, items: &[chrono::format::Item<'_>]) -> Option<i64> {
    let mut p = chrono::format::Parsed::new();
    chrono::format::parse(&mut p, text, items.iter()).ok()?;
    if let Ok(t) = p.to_datetime() {
        return Some(t.timestamp_micros());
    }
    if let Ok(t) = p.to_naive_datetime_with_offset(0) {
        return Some(t.and_utc().timestamp_micros());
    }
    p.to_naive_date()
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros())
}

/// Decodes every message in one pass; an error (with a reason fit for one message) when the
/// pass fails or the row count differs from the message count.
fn decode_all(payload: &SchemaRef, messages: &[&KafkaMessage]) -> Result<RecordBatch, String> {
    let mut decoder = ReaderBuilder::new(Arc::clone(payload))
        .with_batch_size(messages.len().max(1))
        .build_decoder()
        .map_err(|e| e.to_string())?;
    for m in messages {
        let Some(p) = &m.payload else {
            return Err("no payload (a tombstone)".into());
        };
        if p.iter().all(u8::is_ascii_whitespace) {
            return Err("empty payload".into());
        }
        // A value per message: a newline keeps a truncated value from joining the next.
        let mut off = 0;
        while off < p.len() {
            let n = decoder
                .decode(&p[off..])
                .map_err(|e| clean(&e.to_string()))?;
            if n == 0 {
                break;
            }
            off += n;
        }
        if !p[off..].iter().all(u8::is_ascii_whitespace) {
            return Err("more than one JSON value in the message".into());
        }
        decoder.decode(b"\n").map_err(|e| clean(&e.to_string()))?;
        if decoder.has_partial_record() {
            return Err("truncated JSON value".into());
        }
    }
    let batch = decoder
        .flush()
        .map_err(|e| clean(&e.to_string()))?
        .unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(payload)));
    if batch.num_rows() != messages.len() {
        return Err(format!(
            "expected one JSON object per message, found {} values in {} messages",
            batch.num_rows(),
            messages.len()
        ));
    }
    Ok(batch)
}

/// arrow-json's message without its category prefix.
fn clean(e: &str) -> String {
    e.trim_start_matches("Json error: ")
        .trim_start_matches("Parser error: ")
        .to_string()
}

/// `payload` with the metadata columns of `messages` appended (`schema` is
/// [`table_schema`] of the payload).
fn with_metadata(
    schema: &SchemaRef,
    payload: RecordBatch,
    messages: &[&KafkaMessage],
) -> crate::Result<RecordBatch> {
    let mut cols: Vec<ArrayRef> = payload.columns().to_vec();
    let mut keys = BinaryBuilder::new();
    for m in messages {
        keys.append_option(m.key.as_deref());
    }
    cols.push(Arc::new(keys.finish()));
    cols.push(Arc::new(StringArray::from_iter_values(
        messages.iter().map(|m| &*m.topic),
    )));
    cols.push(Arc::new(Int32Array::from_iter_values(
        messages.iter().map(|m| m.partition),
    )));
    cols.push(Arc::new(Int64Array::from_iter_values(
        messages.iter().map(|m| m.offset),
    )));
    cols.push(Arc::new(
        TimestampMicrosecondArray::from_iter(
            messages.iter().map(|m| m.timestamp_ms.map(|t| t * 1000)),
        )
        .with_timezone("UTC"),
    ));
    let mut headers = ListBuilder::new(StructBuilder::from_fields(header_fields(), 0));
    for m in messages {
        let s = headers.values();
        for (k, v) in &m.headers {
            s.field_builder::<datafusion::arrow::array::StringBuilder>(0)
                .expect("key builder")
                .append_value(k);
            s.field_builder::<BinaryBuilder>(1)
                .expect("value builder")
                .append_option(v.as_deref());
            s.append(true);
        }
        headers.append(true);
    }
    cols.push(Arc::new(headers.finish()));
    Ok(RecordBatch::try_new(Arc::clone(schema), cols)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(offset: i64, payload: &str) -> KafkaMessage {
        KafkaMessage {
            topic: "plays".into(),
            partition: 2,
            offset,
            timestamp_ms: Some(1_700_000_000_000 + offset),
            key: Some(b"u1".to_vec().into()),
            payload: Some(payload.as_bytes().to_vec().into()),
            headers: vec![("src".into(), Some(b"app".to_vec()))],
        }
    }

    #[test]
    fn good_messages_in_one_pass_bad_ones_alone() {
        let payload: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("trackName", DataType::Utf8, true),
            Field::new("msPlayed", DataType::Int64, true),
            Field::new("timestamp", DataType::Utf8, true),
        ]));
        let schema = table_schema(&payload);
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names,
            [
                "trackName",
                "msPlayed",
                "timestamp",
                "key",
                "topic",
                "partition",
                "offset",
                "kafka_timestamp",
                "headers"
            ]
        );
        let ok = [
            msg(5, r#"{"trackName":"A","msPlayed":1000}"#),
            msg(6, r#"{"trackName":"B","msPlayed":20}"#),
        ];
        let refs: Vec<&KafkaMessage> = ok.iter().collect();
        let (b, bad) = decode_json(&payload, None, &refs).unwrap();
        assert!(bad.is_empty());
        assert_eq!(b.num_rows(), 2);
        let ms = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(ms.values(), &[1000, 20]);
        let off = b.column(6).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(off.values(), &[5, 6]);

        let mixed = [
            msg(1, r#"{"trackName":"A","msPlayed":1}"#),
            msg(2, r#"{"trackName":"B","msPlayed":"#),
            msg(3, r#"not json"#),
            msg(4, r#"{"trackName":"C","msPlayed":"many"}"#),
            msg(5, r#"{"trackName":"D"} {"trackName":"E"}"#),
            msg(6, r#"{"trackName":"F","msPlayed":6}"#),
        ];
        let refs: Vec<&KafkaMessage> = mixed.iter().collect();
        let (b, bad) = decode_json(&payload, None, &refs).unwrap();
        let idx: Vec<usize> = bad.iter().map(|x| x.index).collect();
        assert_eq!(idx, [1, 2, 3, 4], "{bad:?}");
        let names = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(names.iter().collect::<Vec<_>>(), [Some("A"), Some("F")]);
        let off = b.column(6).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(off.values(), &[1, 6]);
        assert!(bad[0].reason.contains("truncated"), "{}", bad[0].reason);
        assert_eq!(b.column(8).len(), 2);
    }
}

#[cfg(test)]
mod timestamp_tests {
    use super::*;

    #[test]
    fn timestamps_in_a_spark_pattern() {
        let payload: SchemaRef = Arc::new(Schema::new(vec![Field::new(
            "endTime",
            timestamp_type(),
            true,
        )]));
        let m = |o: i64, p: &str| KafkaMessage {
            topic: "t".into(),
            partition: 0,
            offset: o,
            timestamp_ms: None,
            key: None,
            payload: Some(p.as_bytes().to_vec().into()),
            headers: vec![],
        };
        let msgs = [
            m(0, r#"{"endTime":"2021-04-22 05:41"}"#),
            m(1, r#"{"endTime":"22.04.2021"}"#),
            m(2, r#"{"endTime":null}"#),
        ];
        let refs: Vec<&KafkaMessage> = msgs.iter().collect();
        let (b, bad) = decode_json(&payload, Some("%Y-%m-%d %H:%M"), &refs).unwrap();
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].index, 1);
        assert!(
            bad[0].reason.contains("timestampFormat"),
            "{}",
            bad[0].reason
        );
        let t = b
            .column(0)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(t.value(0), 1_619_070_060_000_000);
        assert!(t.is_null(1));
    }
}
