//! [`ActivityOpener`], the FIT/TCX/GPX [`FileOpener`]: one file → the batches of one table.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result, exec_err};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileOpenFuture, FileOpener};
use datafusion::object_store::ObjectStore;
use futures::{FutureExt, StreamExt};

use super::{ActivityOptions, OnError};
use crate::format::ActivityFormat;
use crate::format::read::read_map;

/// Opens one activity file: fetches and decodes it ([`crate::format::read_activity`], on a blocking
/// thread, panics contained; a FIT `records` scan reads only the projected fields) and
/// builds only the projected canonical columns
/// ([`crate::format::Activity::to_batch_projected`]), in batches of at most `batch_size`
/// rows.
///
/// An undecodable file fails the scan with an error naming it (`on_error = fail`) or gives no
/// rows and a `tracing` warning (`skip`). A file that cannot be fetched always fails. With
/// no fixed format, a file whose extension is none of `.fit`, `.tcx`, `.gpx` (each also with
/// `.gz`) gives no rows.
#[derive(Debug, Clone)]
pub struct ActivityOpener {
    store: Arc<dyn ObjectStore>,
    store_url: String,
    format: Option<ActivityFormat>,
    options: ActivityOptions,
    projection: Arc<[usize]>,
    batch_size: Option<usize>,
}

impl ActivityOpener {
    /// An opener reading from `store`, whose URL (`file:///`, `s3://bucket/`) prefixes object
    /// paths into the `source_file` URLs. `projection`: indices into the canonical schema of
    /// `options.table`, the columns of the batches. `batch_size`: rows per batch (`None`: one
    /// batch per file).
    pub fn new(
        store: Arc<dyn ObjectStore>,
        store_url: String,
        format: Option<ActivityFormat>,
        options: ActivityOptions,
        projection: Vec<usize>,
        batch_size: Option<usize>,
    ) -> Self {
        Self {
            store,
            store_url,
            format,
            options,
            projection: projection.into(),
            batch_size,
        }
    }
}

/// `batch` in slices of at most `size` rows (zero-copy); one empty batch stays one batch.
fn slices(batch: RecordBatch, size: Option<usize>) -> Vec<RecordBatch> {
    let n = batch.num_rows();
    match size {
        Some(size) if size > 0 && n > size => (0..n)
            .step_by(size)
            .map(|off| batch.slice(off, size.min(n - off)))
            .collect(),
        _ => vec![batch],
    }
}

impl FileOpener for ActivityOpener {
    fn open(&self, file: PartitionedFile) -> Result<FileOpenFuture> {
        if file.range.is_some() {
            return exec_err!("an activity file cannot be read in byte ranges");
        }
        let this = self.clone();
        let location = file.object_meta.location;
        Ok(async move {
            let url = format!("{}{}", this.store_url, location);
            let format = match this.format {
                Some(f) => f,
                None => match ActivityFormat::from_path(location.as_ref()) {
                    Some(f) => f,
                    None => {
                        tracing::debug!(file = %url, "not a .fit, .tcx or .gpx file: ignored");
                        return Ok(futures::stream::empty().boxed());
                    }
                },
            };
            // a FIT scan of `records` reads only the fields behind the projected columns
            let decoder = format.decoder_for(this.options.table, &this.projection);
            // the batch is built on the decode's blocking thread
            let (table, projection) = (this.options.table, this.projection.clone());
            let build = move |a: crate::format::Activity| {
                a.to_batch_projected(table, Some(&projection))
                    .map_err(|e| e.to_string())
            };
            let batches = match read_map(&this.store, &location, &url, format, decoder, build)
                .await?
            {
                Ok((batch, _)) => slices(batch, this.batch_size),
                Err(q) if this.options.on_error == OnError::Skip => {
                    tracing::warn!(file = %q.file, error = %q.reason, "skipping undecodable file");
                    Vec::new()
                }
                Err(q) => {
                    return Err(DataFusionError::Execution(format!(
                        "{}: {}",
                        q.file, q.reason
                    )));
                }
            };
            Ok(futures::stream::iter(batches.into_iter().map(Ok)).boxed())
        }
        .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Table;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int16Type;
    use datafusion::object_store::local::LocalFileSystem;
    use datafusion::object_store::path::Path;

    fn testdata(name: &str) -> PartitionedFile {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(name);
        let size = std::fs::metadata(&p).unwrap().len();
        PartitionedFile::new(Path::from_absolute_path(&p).unwrap().to_string(), size)
    }

    fn opener(
        format: Option<ActivityFormat>,
        on_error: OnError,
        proj: Vec<usize>,
    ) -> ActivityOpener {
        ActivityOpener::new(
            Arc::new(LocalFileSystem::new()),
            "file:///".into(),
            format,
            ActivityOptions {
                table: Table::Records,
                on_error,
            },
            proj,
            Some(10),
        )
    }

    async fn read(o: &ActivityOpener, f: PartitionedFile) -> Result<Vec<RecordBatch>> {
        let stream = o.open(f)?.await?;
        stream.collect::<Vec<_>>().await.into_iter().collect()
    }

    #[tokio::test]
    async fn builds_only_the_projected_columns_in_batches() {
        // heart_rate_bpm (8) and source_file (1), sorted as SplitProjection gives them
        let o = opener(Some(ActivityFormat::Fit), OnError::Fail, vec![1, 8]);
        let batches = read(&o, testdata("fitparse__garmin-fenix-5-run.fit"))
            .await
            .unwrap();
        // 21 records in slices of 10
        let rows: Vec<_> = batches.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(rows, [10, 10, 1]);
        let b = &batches[0];
        let names: Vec<_> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["source_file", "heart_rate_bpm"]);
        assert!(
            b.column(0)
                .as_string::<i32>()
                .value(0)
                .starts_with("file:///")
        );
        assert!(
            b.column(0)
                .as_string::<i32>()
                .value(0)
                .ends_with("/testdata/fitparse__garmin-fenix-5-run.fit")
        );
        let hr = b.column(1).as_primitive::<Int16Type>();
        assert!(
            hr.iter()
                .all(|v| v.is_some_and(|v| (40..=220).contains(&v)))
        );
    }

    #[tokio::test]
    async fn a_projected_fit_scan_equals_the_full_decode_projected() {
        // a FIT records scan reads only the fields behind its columns; the values must be
        // those of a full decode
        let name = "fitparse__garmin-fenix-5-run.fit";
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(name);
        let full = crate::format::decode(ActivityFormat::Fit, "x", &std::fs::read(&path).unwrap())
            .unwrap();
        for proj in [vec![2, 3, 4], vec![6, 7], vec![5, 8, 9, 10, 11], vec![]] {
            let o = opener(Some(ActivityFormat::Fit), OnError::Fail, proj.clone());
            let got = read(&o, testdata(name)).await.unwrap();
            let want = full
                .to_batch_projected(Table::Records, Some(&proj))
                .unwrap();
            let got = datafusion::arrow::compute::concat_batches(&want.schema(), &got).unwrap();
            assert_eq!(got.num_rows(), want.num_rows(), "{proj:?}");
            for c in 0..want.num_columns() {
                assert_eq!(got.column(c), want.column(c), "{proj:?} column {c}");
            }
        }
    }

    #[tokio::test]
    async fn undecodable_files_fail_or_give_no_rows() {
        let bad = || testdata("fitparse__activity-unexpected-eof.fit");
        let e = read(
            &opener(Some(ActivityFormat::Fit), OnError::Fail, vec![0]),
            bad(),
        )
        .await
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("testdata/fitparse__activity-unexpected-eof.fit: corrupt FIT file"),
            "{e}"
        );
        let none = read(
            &opener(Some(ActivityFormat::Fit), OnError::Skip, vec![0]),
            bad(),
        )
        .await
        .unwrap();
        assert!(none.is_empty());
        // by extension: a TCX file is decoded as TCX, other files are ignored
        let o = opener(None, OnError::Fail, vec![]);
        let tcx = read(&o, testdata("tcxparser__sup_activity_1.tcx"))
            .await
            .unwrap();
        assert_eq!(tcx.iter().map(RecordBatch::num_rows).sum::<usize>(), 111);
        assert!(tcx.iter().all(|b| b.num_columns() == 0));
        assert!(
            read(&o, testdata("ATTRIBUTION.md"))
                .await
                .unwrap()
                .is_empty()
        );
    }
}
