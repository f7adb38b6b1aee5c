//! Deterministic Parquet files with provenance metadata, written through an object store.
//!
//! Same batches and metadata ⇒ byte-identical file: the writer settings are fixed, no
//! wall-clock time or random id goes into the file, and the key-value metadata is sorted.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::WriterProperties;

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    /// Object path.
    pub path: Path,
    /// Size in bytes.
    pub bytes: u64,
    /// Rows written.
    pub rows: u64,
}

/// Writer settings shared by every datamin Parquet file: ZSTD level 3, 1 Mi rows per row
/// group, page statistics, and the given key-value metadata sorted by key.
///
/// # Errors
/// The ZSTD level is rejected by the Parquet writer (a build with another parquet version).
pub fn writer_properties(mut metadata: Vec<(String, String)>) -> Result<WriterProperties> {
    metadata.sort();
    let kv = metadata
        .into_iter()
        .map(|(k, v)| KeyValue::new(k, v))
        .collect();
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).map_err(|e| DataFusionError::External(Box::new(e)))?,
        ))
        .set_max_row_group_row_count(Some(1024 * 1024))
        .set_key_value_metadata(Some(kv))
        .build())
}

/// The key-value metadata of a Parquet file as `(key, value)` pairs (missing values as
/// empty strings): the inverse of the `metadata` given to [`writer_properties`].
pub fn key_value_metadata(
    file: &datafusion::parquet::file::metadata::FileMetaData,
) -> Vec<(String, String)> {
    file.key_value_metadata()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|kv| (kv.key, kv.value.unwrap_or_default()))
        .collect()
}

/// Encodes `batches` (all of `schema`) as one Parquet file in memory.
///
/// # Errors
/// A batch does not match `schema`, or the Parquet writer fails.
pub fn encode(
    schema: SchemaRef,
    batches: &[RecordBatch],
    metadata: Vec<(String, String)>,
) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, schema, Some(writer_properties(metadata)?))?;
    for b in batches {
        w.write(b)?;
    }
    w.close()?;
    Ok(buf)
}

/// Encodes and stores one Parquet file at `path` in `store`.
///
/// # Errors
/// As [`encode`], or the store rejects the write.
pub async fn write(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
    metadata: Vec<(String, String)>,
) -> Result<WrittenFile> {
    let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
    let buf = encode(schema, batches, metadata)?;
    let bytes = buf.len() as u64;
    store.put(path, PutPayload::from(buf)).await?;
    Ok(WrittenFile {
        path: path.clone(),
        bytes,
        rows,
    })
}
