//! [`ActivitySource`], the FIT/TCX/GPX [`FileSource`].

use std::fmt;
use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::physical_plan::{FileOpener, FileScanConfig, FileSource};
use datafusion::datasource::projection::{ProjectionOpener, SplitProjection};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::object_store::ObjectStore;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::projection::ProjectionExprs;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::{DisplayFormatType, apply_expression_roots};

use super::ActivityOptions;
use super::opener::ActivityOpener;
use crate::format::ActivityFormat;

/// Scans FIT/TCX/GPX files: holds the table schema (canonical columns + partition columns), the
/// pushed-down projection and the [`ActivityOptions`]; makes an [`ActivityOpener`] per
/// partition.
///
/// The projection is split as in DataFusion's CSV source: the canonical columns it needs are
/// built by the opener ([`crate::format::Activity::to_batch_projected`]), partition columns
/// and expressions are added by DataFusion's `ProjectionOpener`.
#[derive(Debug, Clone)]
pub struct ActivitySource {
    table_schema: TableSchema,
    format: Option<ActivityFormat>,
    options: ActivityOptions,
    projection: SplitProjection,
    batch_size: Option<usize>,
    metrics: ExecutionPlanMetricsSet,
}

impl ActivitySource {
    /// A source over `table_schema` (the canonical schema of `options.table` plus partition
    /// columns) reading `format` files (`None`: FIT, TCX and GPX by extension).
    pub fn new(
        table_schema: TableSchema,
        format: Option<ActivityFormat>,
        options: ActivityOptions,
    ) -> Self {
        Self {
            projection: SplitProjection::unprojected(&table_schema),
            table_schema,
            format,
            options,
            batch_size: None,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The file format, `None` for FIT, TCX and GPX by extension.
    pub fn format(&self) -> Option<ActivityFormat> {
        self.format
    }

    /// The table and error handling.
    pub fn options(&self) -> &ActivityOptions {
        &self.options
    }

    /// Indices of the canonical columns the scan builds (sorted, into the file schema).
    pub fn file_projection(&self) -> &[usize] {
        &self.projection.file_indices
    }
}

impl FileSource for ActivitySource {
    fn create_file_opener(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        _partition: usize,
    ) -> Result<Arc<dyn FileOpener>> {
        let opener = Arc::new(ActivityOpener::new(
            object_store,
            base_config.object_store_url.as_str().to_string(),
            self.format,
            self.options,
            self.projection.file_indices.clone(),
            self.batch_size,
        )) as Arc<dyn FileOpener>;
        ProjectionOpener::try_new(
            self.projection.clone(),
            opener,
            self.table_schema.file_schema(),
        )
    }

    fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        let mut s = self.clone();
        s.batch_size = Some(batch_size);
        Arc::new(s)
    }

    fn try_pushdown_projection(
        &self,
        projection: &ProjectionExprs,
    ) -> Result<Option<Arc<dyn FileSource>>> {
        let mut s = self.clone();
        let merged = self.projection.source.try_merge(projection)?;
        s.projection = SplitProjection::new(self.table_schema.file_schema(), &merged);
        Ok(Some(Arc::new(s)))
    }

    fn projection(&self) -> Option<&ProjectionExprs> {
        Some(&self.projection.source)
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        &self.metrics
    }

    fn file_type(&self) -> &str {
        self.format.map_or("activity", ActivityFormat::name)
    }

    /// A file is decoded whole: it cannot be split into byte ranges.
    fn supports_repartitioning(&self) -> bool {
        false
    }

    fn fmt_extra(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => write!(
                f,
                ", message={}, on_error={}",
                self.options.table,
                match self.options.on_error {
                    super::OnError::Fail => "fail",
                    super::OnError::Skip => "skip",
                }
            ),
            DisplayFormatType::TreeRender => Ok(()),
        }
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        apply_expression_roots(self.projection.source.iter(), f)
    }
}
