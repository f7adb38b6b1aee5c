//! [`ActivityFileFormat`], the FIT/TCX/GPX [`FileFormat`], and its [`FileFormatFactory`].

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::{GetExt, Result, Statistics};
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::{FileFormat, FileFormatFactory};
use datafusion::datasource::physical_plan::{FileScanConfig, FileSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::object_store::{ObjectMeta, ObjectStore};
use datafusion::physical_plan::ExecutionPlan;

use super::source::ActivitySource;
use super::{ActivityOptions, extension_glob};
use crate::format::ActivityFormat;

/// Creates [`ActivityFileFormat`]s for `STORED AS FIT`, `TCX` or `GPX` (register one per
/// format in the session, see [`crate::context::session_context`]).
#[derive(Debug, Clone, Copy)]
pub struct ActivityFormatFactory {
    format: ActivityFormat,
}

impl ActivityFormatFactory {
    /// The factory of `STORED AS <format>`.
    pub fn new(format: ActivityFormat) -> Self {
        Self { format }
    }
}

impl FileFormatFactory for ActivityFormatFactory {
    /// Parses `format_options` ([`ActivityOptions::from_options`]).
    fn create(
        &self,
        _state: &dyn Session,
        format_options: &HashMap<String, String>,
    ) -> Result<Arc<dyn FileFormat>> {
        let options = ActivityOptions::from_options(self.format.name(), format_options)?;
        Ok(Arc::new(ActivityFileFormat::new(
            Some(self.format),
            options,
        )))
    }

    fn default(&self) -> Arc<dyn FileFormat> {
        Arc::new(ActivityFileFormat::new(
            Some(self.format),
            ActivityOptions::default(),
        ))
    }
}

impl GetExt for ActivityFormatFactory {
    /// `fit`, `tcx` or `gpx`: the name after `STORED AS` (any case) and the file extension.
    fn get_ext(&self) -> String {
        self.format.name().to_string()
    }
}

/// FIT, TCX or GPX files as a DataFusion [`FileFormat`]: every file gives the rows of one
/// canonical table ([`ActivityOptions::table`]), with the canonical schema.
///
/// `format`: `Some` decodes every file as that format; `None` decodes `.fit` files as FIT,
/// `.tcx` files as TCX and `.gpx` files as GPX (case-insensitive, also with `.gz`) and
/// ignores other files (mixed folders). Gzipped files are decompressed by the decoder.
#[derive(Debug, Clone, Copy)]
pub struct ActivityFileFormat {
    format: Option<ActivityFormat>,
    options: ActivityOptions,
}

impl ActivityFileFormat {
    /// A format reading `format` files (`None`: FIT, TCX and GPX by extension) into the table of
    /// `options`.
    pub fn new(format: Option<ActivityFormat>, options: ActivityOptions) -> Self {
        Self { format, options }
    }

    /// The file format, `None` for FIT, TCX and GPX by extension.
    pub fn format(&self) -> Option<ActivityFormat> {
        self.format
    }

    /// The table and error handling.
    pub fn options(&self) -> &ActivityOptions {
        &self.options
    }
}

#[async_trait]
impl FileFormat for ActivityFileFormat {
    /// `fit`, `tcx`, `gpx`, or `activity` for all of them.
    fn get_ext(&self) -> String {
        self.format.map_or("activity", ActivityFormat::name).into()
    }

    /// DataFusion's compression is not used: the decoder undoes gzip itself (recognized by
    /// its magic bytes). This and [`FileFormat::compression_type`] returning `Some` are only
    /// there because `ListingTableFactory` builds the file-name glob of a local folder as
    /// `*.<get_ext_with_compression>` then: the extension in any case (`*.[fF][iI][tT]`),
    /// instead of `*.fit`, which [`super::ActivityListingFactory`] widens to the gzipped
    /// files too.
    fn get_ext_with_compression(
        &self,
        _file_compression_type: &FileCompressionType,
    ) -> Result<String> {
        Ok(extension_glob(self.format).to_string())
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        Some(FileCompressionType::UNCOMPRESSED)
    }

    /// The canonical schema of the table: fixed, no file is read.
    async fn infer_schema(
        &self,
        _state: &dyn Session,
        _store: &Arc<dyn ObjectStore>,
        _objects: &[ObjectMeta],
    ) -> Result<SchemaRef> {
        Ok(self.options.table.schema())
    }

    /// Unknown (`Absent`) statistics: counting rows would need a decode.
    async fn infer_stats(
        &self,
        _state: &dyn Session,
        _store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        _object: &ObjectMeta,
    ) -> Result<Statistics> {
        Ok(Statistics::new_unknown(&table_schema))
    }

    async fn create_physical_plan(
        &self,
        _state: &dyn Session,
        conf: FileScanConfig,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(DataSourceExec::from_data_source(conf))
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        Arc::new(ActivitySource::new(table_schema, self.format, self.options))
    }
}
