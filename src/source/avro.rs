//! Avro message payloads into Arrow, with arrow-avro's `Decoder` and `SchemaStore`.
//!
//! Three framings, as producers write them:
//!
//! - **Confluent wire format** (`schema.registry.url` set): magic byte `0x00`, the 4-byte
//!   big-endian schema id, then the Avro body. The writer schema of each id is fetched once
//!   from the registry (`GET <url>/schemas/ids/<id>`, Confluent's REST API) and cached.
//! - **Single-object encoding** (Avro specification §"Single object encoding"): `0xC3 0x01`,
//!   the 8-byte little-endian CRC-64-AVRO (Rabin) fingerprint of the writer schema, then the
//!   body; the schema is the one given with `avroSchema`.
//! - **Raw Avro bodies** with the `avroSchema` given (`.avsc` at any location): each message
//!   is framed as single-object before decoding.
//!
//! The decoded fields are matched to the declared columns by name and cast to their types;
//! a declared column the writer schema lacks is NULL. A message that is not in the expected
//! framing, names an unknown schema id, is truncated, or does not cast is rejected with the
//! reason; the others are kept.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use arrow_avro::reader::ReaderBuilder;
use arrow_avro::schema::{AvroSchema, Fingerprint, FingerprintAlgorithm, SchemaStore};
use datafusion::arrow::array::{ArrayRef, RecordBatch, new_null_array};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::SchemaRef;

use super::kafka::KafkaMessage;
use super::payload::BadMessage;

/// Where the writer schemas come from.
#[derive(Debug, Clone)]
pub enum AvroSource {
    /// A Confluent schema registry (`http://host:port`).
    Registry(String),
    /// One schema (`.avsc` text), for raw bodies and single-object encoding.
    Schema(String),
}

/// An Avro payload decoder for one Kafka input (caches registry schemas across batches).
#[derive(Debug)]
pub struct AvroDecoder {
    source: AvroSource,
    /// Schema id → writer schema text (`None`: the registry does not know the id).
    registry_cache: Mutex<BTreeMap<u32, Option<String>>>,
    /// The given schema registered once, with its Rabin fingerprint (`AvroSource::Schema`).
    given: Option<(SchemaStore, u64)>,
}

const CONFLUENT_MAGIC: u8 = 0;
const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];

impl AvroDecoder {
    /// A decoder for `source`.
    ///
    /// # Errors
    /// A given schema that arrow-avro cannot read.
    pub fn new(source: AvroSource) -> crate::Result<Self> {
        let given = match &source {
            AvroSource::Schema(text) => {
                let mut store = SchemaStore::new();
                let fp = store
                    .register(AvroSchema::new(text.clone()))
                    .map_err(|e| crate::Error::Invalid(format!("avroSchema: {e}")))?;
                let Fingerprint::Rabin(fp) = fp else {
                    unreachable!("SchemaStore::new uses Rabin fingerprints")
                };
                Some((store, fp))
            }
            AvroSource::Registry(_) => None,
        };
        Ok(Self {
            source,
            registry_cache: Mutex::new(BTreeMap::new()),
            given,
        })
    }

    /// Decodes `messages` into batches of `payload` (the declared columns); messages that
    /// fail are returned instead.
    ///
    /// # Errors
    /// The schema registry cannot be reached (the batch is retried on the next run).
    pub async fn decode(
        &self,
        payload: &SchemaRef,
        messages: &[&KafkaMessage],
    ) -> crate::Result<(RecordBatch, Vec<BadMessage>)> {
        let mut bad = Vec::new();
        let mut framed: Vec<(usize, Vec<u8>)> = Vec::with_capacity(messages.len());
        let store = match &self.source {
            AvroSource::Registry(url) => {
                let mut ids = BTreeSet::new();
                for (i, m) in messages.iter().enumerate() {
                    match confluent_id(m.payload.as_deref()) {
                        Ok(id) => {
                            ids.insert(id);
                        }
                        Err(reason) => bad.push(BadMessage { index: i, reason }),
                    }
                }
                self.fetch_unknown(url, &ids).await?;
                let cache = self
                    .registry_cache
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                let mut store = SchemaStore::new_with_type(FingerprintAlgorithm::Id);
                for (id, text) in cache.iter() {
                    if let Some(t) = text {
                        store
                            .set(Fingerprint::Id(*id), AvroSchema::new(t.clone()))
                            .map_err(|e| {
                                crate::Error::Invalid(format!(
                                    "schema id {id} of the registry: {e}"
                                ))
                            })?;
                    }
                }
                let mut rejected = vec![false; messages.len()];
                for b in &bad {
                    rejected[b.index] = true;
                }
                for (i, m) in messages.iter().enumerate() {
                    if rejected[i] {
                        continue;
                    }
                    let p = m.payload.as_deref().unwrap_or_default();
                    let id = u32::from_be_bytes([p[1], p[2], p[3], p[4]]);
                    if cache.get(&id).is_some_and(Option::is_some) {
                        framed.push((i, p.to_vec()));
                    } else {
                        bad.push(BadMessage {
                            index: i,
                            reason: format!("unknown schema id {id} (not in the registry {url})"),
                        });
                    }
                }
                store
            }
            AvroSource::Schema(_) => {
                let (store, fp) = self.given.clone().expect("registered in new()");
                for (i, m) in messages.iter().enumerate() {
                    let Some(p) = m.payload.as_deref().filter(|p| !p.is_empty()) else {
                        bad.push(BadMessage {
                            index: i,
                            reason: "no payload (a tombstone)".into(),
                        });
                        continue;
                    };
                    if p.starts_with(&SINGLE_OBJECT_MAGIC) {
                        framed.push((i, p.to_vec()));
                    } else {
                        let mut f = Vec::with_capacity(p.len() + 10);
                        f.extend_from_slice(&SINGLE_OBJECT_MAGIC);
                        f.extend_from_slice(&fp.to_le_bytes());
                        f.extend_from_slice(p);
                        framed.push((i, f));
                    }
                }
                store
            }
        };
        let bodies: Vec<&[u8]> = framed.iter().map(|(_, f)| f.as_slice()).collect();
        let batch = match decode_framed(&store, payload, &bodies) {
            Ok(b) => b,
            Err(_) => {
                // Find the bad messages one by one; keep the rest.
                let mut good = Vec::new();
                for (i, f) in &framed {
                    match decode_framed(&store, payload, &[f.as_slice()]) {
                        Ok(b) => good.push(b),
                        Err(reason) => bad.push(BadMessage { index: *i, reason }),
                    }
                }
                concat_batches(payload, &good)?
            }
        };
        bad.sort_by_key(|b| b.index);
        Ok((batch, bad))
    }

    /// Fetches the writer schemas of `ids` the cache does not hold.
    async fn fetch_unknown(&self, url: &str, ids: &BTreeSet<u32>) -> crate::Result<()> {
        let missing: Vec<u32> = {
            let cache = self
                .registry_cache
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            ids.iter()
                .copied()
                .filter(|i| !cache.contains_key(i))
                .collect()
        };
        for id in missing {
            let schema = fetch_schema(url, id).await?;
            self.registry_cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, schema);
        }
        Ok(())
    }
}

/// The schema id of a Confluent-framed payload.
fn confluent_id(payload: Option<&[u8]>) -> Result<u32, String> {
    let p = payload.ok_or("no payload (a tombstone)")?;
    if p.len() < 5 || p[0] != CONFLUENT_MAGIC {
        return Err(
            "not in Confluent wire format (magic byte 0, 4-byte schema id, Avro body)".into(),
        );
    }
    Ok(u32::from_be_bytes([p[1], p[2], p[3], p[4]]))
}

/// `GET <url>/schemas/ids/<id>` of a Confluent schema registry: the schema text, `None` when
/// the registry answers 404.
async fn fetch_schema(url: &str, id: u32) -> crate::Result<Option<String>> {
    let u = format!("{}/schemas/ids/{id}", url.trim_end_matches('/'));
    let unreachable = |e: reqwest::Error| {
        crate::Error::Invalid(format!(
            "schema registry {u}: {e} (the batch is retried on the next run)"
        ))
    };
    let r = reqwest::Client::new()
        .get(&u)
        .send()
        .await
        .map_err(unreachable)?;
    if r.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let r = r.error_for_status().map_err(unreachable)?;
    let body = r.bytes().await.map_err(unreachable)?;
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        crate::Error::Invalid(format!("schema registry {u}: the answer is not JSON: {e}"))
    })?;
    if let Some(t) = v.get("schemaType").and_then(|t| t.as_str())
        && t != "AVRO"
    {
        return Err(crate::Error::Invalid(format!(
            "schema registry {u}: schema id {id} is {t}, not AVRO"
        )));
    }
    v.get("schema")
        .and_then(|s| s.as_str())
        .map(|s| Some(s.to_string()))
        .ok_or_else(|| {
            crate::Error::Invalid(format!("schema registry {u}: no \"schema\" in the answer"))
        })
}

/// Decodes framed messages (each exactly one row) and casts them to `payload`.
fn decode_framed(
    store: &SchemaStore,
    payload: &SchemaRef,
    messages: &[&[u8]],
) -> Result<RecordBatch, String> {
    if messages.is_empty() {
        return Ok(RecordBatch::new_empty(Arc::clone(payload)));
    }
    let mut decoder = ReaderBuilder::new()
        .with_writer_schema_store(store.clone())
        .with_batch_size(messages.len())
        .build_decoder()
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut rows = 0usize;
    for m in messages {
        let mut off = 0;
        let before = rows + decoder.batch_size() - decoder.capacity();
        while off < m.len() {
            let n = decoder.decode(&m[off..]).map_err(|e| e.to_string())?;
            if n == 0 {
                // A schema change filled the batch: flush it and go on.
                match decoder.flush().map_err(|e| e.to_string())? {
                    Some(b) => {
                        rows += b.num_rows();
                        out.push(b);
                    }
                    None => return Err("truncated Avro message".into()),
                }
                continue;
            }
            off += n;
        }
        let after = rows + decoder.batch_size() - decoder.capacity();
        if after != before + 1 {
            return Err("truncated Avro message (no complete record)".into());
        }
    }
    if let Some(b) = decoder.flush().map_err(|e| e.to_string())? {
        out.push(b);
    }
    let cast: Vec<RecordBatch> = out
        .iter()
        .map(|b| to_payload(b, payload))
        .collect::<Result<_, _>>()?;
    concat_batches(payload, &cast).map_err(|e| e.to_string())
}

/// `batch` (the writer schema's columns) as `payload`: columns by name, cast to the declared
/// types; NULL where the writer has no such field.
fn to_payload(batch: &RecordBatch, payload: &SchemaRef) -> Result<RecordBatch, String> {
    let cols: Vec<ArrayRef> = payload
        .fields()
        .iter()
        .map(|f| match batch.schema().index_of(f.name()) {
            Ok(i) => {
                cast(batch.column(i), f.data_type()).map_err(|e| format!("field {}: {e}", f.name()))
            }
            Err(_) => Ok(new_null_array(f.data_type(), batch.num_rows())),
        })
        .collect::<Result<_, _>>()?;
    RecordBatch::try_new(Arc::clone(payload), cols).map_err(|e| e.to_string())
}
