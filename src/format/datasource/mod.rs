//! FIT, TCX and GPX as DataFusion file formats, laid out like `datafusion-datasource-csv`:
//! [`ActivityFileFormat`] / [`ActivityFormatFactory`] (the `FileFormat`), [`ActivitySource`]
//! (the `FileSource`) and [`ActivityOpener`] (the `FileOpener`, which decodes one file with
//! [`super::read_activity`]).
//!
//! ```sql
//! CREATE EXTERNAL TABLE r STORED AS FIT LOCATION 's3://bucket/fit/'
//! OPTIONS ('message' 'record', 'on_error' 'skip');
//! SELECT subject, count(*), avg(heart_rate_bpm) FROM r GROUP BY subject;
//! ```
//!
//! `CREATE EXTERNAL TABLE … STORED AS FIT|TCX|GPX` goes through DataFusion's
//! `ListingTableFactory` (wrapped by [`ActivityListingFactory`]), so the tables are
//! `ListingTable`s: Hive-style folders (`…/subject=alice/…`) become partition columns (with
//! `datafusion.execution.listing_table_factory_infer_partitions`, the default, or
//! `PARTITIONED BY (subject)`), only the projected columns are built, files are read in
//! parallel (one file is one unit: never split into byte ranges), and `LIMIT` stops reading
//! early. Files in sub-folders are read (datamin's session sets
//! `listing_table_ignore_subdirectory = false`).
//!
//! Options ([`ActivityOptions`]): `message` — `record` (default), `lap`, `session`,
//! `file_id`/`activity`: which canonical [`Table`]; `on_error` — `fail` (default: a file that
//! cannot be decoded fails the query, naming the file) or `skip` (the file contributes no rows
//! and a warning is logged). The schema is fixed: the canonical schema of the table, plus the
//! partition columns.
//!
//! Which files a folder location reads: those whose name ends in `.fit` (`STORED AS FIT`),
//! `.tcx` (`STORED AS TCX`) or `.gpx` (`STORED AS GPX`), in any case (`.FIT` too), or in that
//! followed by `.gz` (gzipped: decompressed transparently, see [`crate::format`]), on every
//! object store. A location naming one object reads that object whatever its name (gzipped
//! or not: gzip is recognized by its magic bytes).
//!
//! **Mixed folders** ([`listing_table`] with `format = None`, used for `datamin sql -t` and
//! the `raw.*` tables): one `ListingTable` whose format dispatches per file on the extension
//! ([`ActivityFormat::from_path`]): `.fit` files are decoded as FIT, `.tcx` files as TCX,
//! `.gpx` files as GPX (each also `.gz`), other files are ignored. One table (not a union)
//! keeps one scan, one set of partitions and one `LIMIT`.
//!
//! Statistics: none (`Absent`); row counts would need a decode.

mod file_format;
mod opener;
mod source;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::listing_table_factory::ListingTableFactory;
use datafusion::logical_expr::CreateExternalTable;
use serde::{Deserialize, Serialize};

pub use file_format::{ActivityFileFormat, ActivityFormatFactory};
pub use opener::ActivityOpener;
pub use source::ActivitySource;

use super::ActivityFormat;
use crate::schema::Table;

/// What to do with a file that cannot be decoded while scanning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Fail the query with an error naming the file.
    #[default]
    Fail,
    /// Leave the file out (no rows) and log a warning.
    Skip,
}

/// The options of a `STORED AS FIT|TCX|GPX` table: plain data (serializable, no callbacks), so a
/// plan that scans activity files can be sent to other processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityOptions {
    /// Which canonical table the scan produces (option `message`).
    pub table: Table,
    /// What an undecodable file does (option `on_error`).
    pub on_error: OnError,
}

impl Default for ActivityOptions {
    /// `records`, `fail`.
    fn default() -> Self {
        Self {
            table: Table::Records,
            on_error: OnError::Fail,
        }
    }
}

impl ActivityOptions {
    /// The valid option names.
    pub const NAMES: [&'static str; 2] = ["message", "on_error"];

    /// Parses `CREATE EXTERNAL TABLE … OPTIONS (…)` of `STORED AS <format_name>`. Keys may
    /// carry DataFusion's `format.` prefix; values are case-insensitive.
    ///
    /// # Errors
    /// A plan error for an unknown key (listing the valid ones), an unknown `message` or an
    /// `on_error` other than `fail`/`skip`.
    pub fn from_options(format_name: &str, options: &HashMap<String, String>) -> Result<Self> {
        let mut out = Self::default();
        // sorted, so that the first bad option reported does not depend on hashing
        let mut options: Vec<_> = options.iter().collect();
        options.sort();
        for (k, v) in options {
            match k.strip_prefix("format.").unwrap_or(k) {
                "message" => out.table = v.parse().map_err(DataFusionError::Plan)?,
                "on_error" => {
                    out.on_error = match v.to_ascii_lowercase().as_str() {
                        "fail" => OnError::Fail,
                        "skip" => OnError::Skip,
                        o => {
                            return plan_err!(
                                "option 'on_error' must be 'fail' or 'skip', got '{o}'"
                            );
                        }
                    }
                }
                other => {
                    return plan_err!(
                        "unknown option '{other}' for STORED AS {}; valid options: 'message', 'on_error'",
                        format_name.to_uppercase()
                    );
                }
            }
        }
        Ok(out)
    }
}

/// The glob (without `*.`) of the extension a folder location reads: `.fit`, `.tcx`, `.gpx`
/// or, for `None`, any of them, in any case. Glob classes cannot express "fit, tcx or gpx"
/// exactly, so `None` also matches e.g. `.fix`; the opener ignores such files.
pub(crate) fn extension_glob(format: Option<ActivityFormat>) -> &'static str {
    match format {
        Some(ActivityFormat::Fit) => "[fF][iI][tT]",
        Some(ActivityFormat::Tcx) => "[tT][cC][xX]",
        Some(ActivityFormat::Gpx) => "[gG][pP][xX]",
        None => "[fFtTgG][iIcCpP][tTxX]",
    }
}

/// The globs of the file names a folder location reads: `*.<ext>` and, gzipped,
/// `*.<ext>.gz` (a glob has no alternation, so a folder is listed with both, as two table
/// paths).
fn extension_globs(format: Option<ActivityFormat>) -> [String; 2] {
    let ext = extension_glob(format);
    [format!("*.{ext}"), format!("*.{ext}.[gG][zZ]")]
}

/// `url` as the table paths of the activity files of `format`: a folder without a glob of
/// its own (or with the glob `ListingTableFactory` gives local folders, `*.<extension_glob>`)
/// becomes two paths, one per glob of [`extension_globs`]; a single object or a user's glob
/// is kept as it is.
fn with_extension_globs(
    url: ListingTableUrl,
    format: Option<ActivityFormat>,
) -> Result<Vec<ListingTableUrl>> {
    let [plain, gzipped] = extension_globs(format);
    let ours = url.get_glob().as_ref().is_none_or(|g| g.as_str() == plain);
    if url.is_collection() && ours {
        Ok(vec![
            url.clone().with_glob(&plain)?,
            url.with_glob(&gzipped)?,
        ])
    } else {
        Ok(vec![url])
    }
}

/// The type DataFusion gives inferred partition columns (as `ListingTableFactory` does).
fn partition_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8))
}

/// A `ListingTable` of `options.table` over the activity files at `location` (a local path,
/// relative or absolute, or a URL; a folder or one file).
///
/// `format`: `Some` reads every file of the location as that format (folders: the files with
/// its extension, gzipped or not); `None` reads FIT, TCX and GPX files below one location,
/// each with its decoder by extension, and ignores other files. With `infer_partitions`, Hive-style folders
/// (`…/subject=a/…`) become partition columns (`Dictionary(UInt16, Utf8)`) after the
/// canonical columns; without, the schema is exactly [`Table::schema`].
///
/// # Errors
/// A bad location, or (with `infer_partitions`) an error listing the location, e.g. folders
/// with different partition keys.
pub async fn listing_table(
    state: &dyn Session,
    location: &str,
    format: Option<ActivityFormat>,
    options: ActivityOptions,
    infer_partitions: bool,
) -> Result<Arc<dyn TableProvider>> {
    let urls = with_extension_globs(
        crate::store::Location::parse(location)?.listing_url()?,
        format,
    )?;
    let file_format = Arc::new(ActivityFileFormat::new(format, options));
    let mut listing = ListingOptions::new(file_format).with_file_extension("");
    if infer_partitions {
        let cols = listing.infer_partitions(state, &urls[0]).await?;
        listing = listing
            .with_table_partition_cols(cols.into_iter().map(|c| (c, partition_type())).collect());
    }
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(listing)
        .with_schema(options.table.schema());
    let table = ListingTable::try_new(config)?
        .with_cache(state.runtime_env().cache_manager.get_file_statistic_cache());
    Ok(Arc::new(table))
}

/// The `TableProviderFactory` of `STORED AS FIT` and `STORED AS TCX`: DataFusion's
/// `ListingTableFactory` (with the format factories registered in the session, see
/// [`crate::context::session_context`]), plus three things it does not do:
///
/// - a column list is an error (the schema is fixed);
/// - object-store folders (`s3://bucket/prefix/`) read only the files of the format, as
///   local folders do (`ListingTableFactory` filters local folders only);
/// - folders read the gzipped files of the format too (`*.fit.gz`).
#[derive(Debug, Default)]
pub struct ActivityListingFactory {
    inner: ListingTableFactory,
}

impl ActivityListingFactory {
    /// The factory (one serves every format: `cmd.file_type` says which).
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl TableProviderFactory for ActivityListingFactory {
    async fn create(
        &self,
        state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> Result<Arc<dyn TableProvider>> {
        if !cmd.schema.fields().is_empty() {
            return plan_err!(
                "STORED AS {} tables have a fixed schema; omit the column list",
                cmd.file_type.to_uppercase()
            );
        }
        let provider = self.inner.create(state, cmd).await?;
        let Some(table) = provider.downcast_ref::<ListingTable>() else {
            return Ok(provider);
        };
        let Some(format) = table.options().format.downcast_ref::<ActivityFileFormat>() else {
            return Ok(provider);
        };
        let paths = table
            .table_paths()
            .iter()
            .map(|p| with_extension_globs(p.clone(), format.format()))
            .collect::<Result<Vec<_>>>()?;
        if paths.iter().all(|p| p.len() == 1) {
            return Ok(provider);
        }
        let paths: Vec<ListingTableUrl> = paths.into_iter().flatten().collect();
        let config = ListingTableConfig::new_with_multi_paths(paths)
            .with_listing_options(table.options().clone())
            .with_schema(format.options().table.schema());
        let table = ListingTable::try_new(config)?
            .with_cache(state.runtime_env().cache_manager.get_file_statistic_cache())
            .with_definition(cmd.definition.clone())
            .with_constraints(cmd.constraints.clone())
            .with_column_defaults(cmd.column_defaults.clone());
        Ok(Arc::new(table))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_parse_with_and_without_prefix() {
        let o = ActivityOptions::from_options(
            "fit",
            &opts(&[("format.message", "lap"), ("on_error", "SKIP")]),
        )
        .unwrap();
        assert_eq!(
            o,
            ActivityOptions {
                table: Table::Laps,
                on_error: OnError::Skip
            }
        );
        assert_eq!(
            ActivityOptions::from_options("fit", &opts(&[("format.message", "file_id")]))
                .unwrap()
                .table,
            Table::Activities
        );
        let e = ActivityOptions::from_options("tcx", &opts(&[("format.msg", "x")])).unwrap_err();
        assert!(
            e.to_string().contains(
                "unknown option 'msg' for STORED AS TCX; valid options: 'message', 'on_error'"
            ),
            "{e}"
        );
        let e = ActivityOptions::from_options("fit", &opts(&[("on_error", "ignore")])).unwrap_err();
        assert!(
            e.to_string()
                .contains("option 'on_error' must be 'fail' or 'skip', got 'ignore'"),
            "{e}"
        );
        assert!(ActivityOptions::from_options("fit", &opts(&[("message", "nope")])).is_err());
    }

    #[test]
    fn options_serialize_as_plain_data() {
        let o = ActivityOptions {
            table: Table::Sessions,
            on_error: OnError::Skip,
        };
        let s = serde_json::to_string(&o).unwrap();
        assert_eq!(s, r#"{"table":"sessions","on_error":"skip"}"#);
        assert_eq!(serde_json::from_str::<ActivityOptions>(&s).unwrap(), o);
    }

    #[test]
    fn folders_read_their_format_in_any_case_gzipped_or_not() {
        let dir =
            |f| with_extension_globs(ListingTableUrl::parse("s3://b/d/").unwrap(), f).unwrap();
        let m = |us: &[ListingTableUrl], name: &str| {
            let p = datafusion::object_store::path::Path::from(name);
            us.iter().filter(|u| u.contains(&p, false)).count() == 1
        };
        let (fit, tcx, gpx, all) = (
            dir(Some(ActivityFormat::Fit)),
            dir(Some(ActivityFormat::Tcx)),
            dir(Some(ActivityFormat::Gpx)),
            dir(None),
        );
        assert!(m(&fit, "d/subject=a/x/b.FIT") && m(&fit, "d/a.fit") && m(&fit, "d/a.fit.GZ"));
        assert!(!m(&fit, "d/b.tcx") && !m(&fit, "d/b.fit.json") && !m(&fit, "d/b.gz"));
        assert!(m(&tcx, "d/b.Tcx") && m(&tcx, "d/b.tcx.gz") && !m(&tcx, "d/b.fit"));
        assert!(m(&gpx, "d/b.GPX") && m(&gpx, "d/b.gpx.gz") && !m(&gpx, "d/b.tcx"));
        assert!(m(&all, "d/x.fit") && m(&all, "d/y.TCX") && m(&all, "d/z.gpx.gz"));
        assert!(!m(&all, "d/z.json") && !m(&all, "d/z.txt.gz"));
        // one object, or a glob of the user's own: unchanged
        let one = ListingTableUrl::parse("s3://b/d/x.dat").unwrap();
        assert_eq!(with_extension_globs(one.clone(), None).unwrap(), [one]);
        let own = ListingTableUrl::parse("s3://b/d/*.fit").unwrap();
        assert_eq!(
            with_extension_globs(own.clone(), Some(ActivityFormat::Fit)).unwrap(),
            [own]
        );
        // the glob ListingTableFactory gives a local folder is datamin's own: widened
        let local = ListingTableUrl::parse("file:///d/")
            .unwrap()
            .with_glob("*.[fF][iI][tT]")
            .unwrap();
        assert_eq!(
            with_extension_globs(local, Some(ActivityFormat::Fit))
                .unwrap()
                .len(),
            2
        );
    }
}
