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

/// Encodes `batches` (all of `schema`) as one Parquet file in memory, its columns encoded in
/// parallel (see [`encode_with`]).
///
/// # Errors
/// A batch does not match `schema`, or the Parquet writer fails.
pub fn encode(
    schema: SchemaRef,
    batches: &[RecordBatch],
    metadata: Vec<(String, String)>,
) -> Result<Vec<u8>> {
    encode_with(schema, batches, writer_properties(metadata)?)
}

/// Encodes `batches` with `props`, each row group's columns encoded by up to as many threads
/// as the machine has cores. The bytes are those [`ArrowWriter`] writes with the same
/// properties (it drives the same column writers, one after another, on one thread): the
/// same Arrow schema metadata, row groups cut at `max_row_group_row_count` rows, pages and
/// dictionaries per column writer.
///
/// # Errors
/// A batch does not match `schema`, or the Parquet writer fails.
pub fn encode_with(
    schema: SchemaRef,
    batches: &[RecordBatch],
    props: WriterProperties,
) -> Result<Vec<u8>> {
    use datafusion::parquet::arrow::arrow_writer::compute_leaves;

    let max_rows = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
    let mut buf = Vec::new();
    // ArrowWriter sets up the file (schema conversion, embedded Arrow schema); its parts then
    // encode the row groups
    let (mut file, factory) = ArrowWriter::try_new(&mut buf, Arc::clone(&schema), Some(props))?
        .into_serialized_writer()?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for group in row_groups(batches, max_rows) {
        let mut writers = factory.create_column_writers(file.flushed_row_groups().len())?;
        // the leaves of every batch, in column-writer order
        let mut leaves: Vec<Vec<_>> = (0..writers.len()).map(|_| Vec::new()).collect();
        for b in &group {
            let mut i = 0;
            for (field, column) in schema.fields().iter().zip(b.columns()) {
                for leaf in compute_leaves(field, column)? {
                    leaves[i].push(leaf);
                    i += 1;
                }
            }
        }
        let n = writers.len();
        let workers = threads.min(n).max(1);
        let mut chunks: Vec<Option<_>> = (0..n).map(|_| None).collect();
        std::thread::scope(|scope| -> Result<()> {
            // writer j goes to worker j % workers
            let mut jobs: Vec<Vec<_>> = (0..workers).map(|_| Vec::new()).collect();
            for (j, (w, l)) in writers.drain(..).zip(leaves.drain(..)).enumerate() {
                jobs[j % workers].push((j, w, l));
            }
            let handles: Vec<_> = jobs
                .into_iter()
                .map(|job| {
                    scope.spawn(move || {
                        job.into_iter()
                            .map(|(j, mut w, l)| {
                                for leaf in &l {
                                    w.write(leaf)?;
                                }
                                Ok((j, w.close()?))
                            })
                            .collect::<Result<Vec<_>>>()
                    })
                })
                .collect();
            for h in handles {
                let done = h.join().map_err(|_| {
                    DataFusionError::Execution("a Parquet column encoder panicked".into())
                })??;
                for (j, chunk) in done {
                    chunks[j] = Some(chunk);
                }
            }
            Ok(())
        })?;
        let mut rg = file.next_row_group()?;
        for chunk in chunks {
            chunk
                .expect("every column encoded")
                .append_to_row_group(&mut rg)?;
        }
        rg.close()?;
    }
    file.close()?;
    Ok(buf)
}

/// `batches` (empty ones left out) cut into groups of at most `max_rows` rows, in order, as
/// [`ArrowWriter`] cuts its row groups.
fn row_groups(batches: &[RecordBatch], max_rows: usize) -> Vec<Vec<RecordBatch>> {
    let mut groups: Vec<Vec<RecordBatch>> = Vec::new();
    let mut rows = 0;
    for b in batches.iter().filter(|b| b.num_rows() > 0) {
        let mut off = 0;
        while off < b.num_rows() {
            if groups.is_empty() || rows == max_rows {
                groups.push(Vec::new());
                rows = 0;
            }
            let take = (max_rows - rows).min(b.num_rows() - off);
            groups.last_mut().expect("a group").push(b.slice(off, take));
            rows += take;
            off += take;
        }
    }
    groups
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{ActivityFormat, decode};
    use crate::schema::Table;

    /// The parallel encoder writes exactly ArrowWriter's bytes: real records (nullable
    /// columns, strings, timestamps), several batches, row groups cut mid-batch.
    #[test]
    fn parallel_encoding_gives_the_bytes_of_arrow_writer() {
        let f = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/fitparse__garmin-fenix-5-run.fit"
        ))
        .unwrap();
        let a = decode(ActivityFormat::Fit, "x.fit", &f).unwrap();
        let b = a.to_batch(Table::Records).unwrap();
        let batches = vec![
            b.slice(0, 7),
            b.slice(0, 0),
            b.slice(7, b.num_rows() - 7),
            b.clone(),
        ];
        for max_rows in [5, 1024 * 1024] {
            let props = || {
                WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap()))
                    .set_max_row_group_row_count(Some(max_rows))
                    .build()
            };
            let mut want = Vec::new();
            let mut w = ArrowWriter::try_new(&mut want, b.schema(), Some(props())).unwrap();
            for x in &batches {
                w.write(x).unwrap();
            }
            w.close().unwrap();
            let got = encode_with(b.schema(), &batches, props()).unwrap();
            assert_eq!(got, want, "max_rows {max_rows}");
        }
        // no rows: a valid file with no row group, as ArrowWriter writes it
        let mut want = Vec::new();
        ArrowWriter::try_new(&mut want, b.schema(), None)
            .unwrap()
            .close()
            .unwrap();
        let got = encode_with(b.schema(), &[], WriterProperties::default()).unwrap();
        assert_eq!(got, want);
    }
}
