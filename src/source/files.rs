//! Discovery of activity files under an object-store URL.
//!
//! A location is a local path (`../data/fit/`), a `file://` URL, or any URL whose store is
//! registered with the session (`s3://bucket/prefix/`, see [`crate::store`]). A location
//! that names one object is that file; otherwise every object below the prefix whose
//! extension is `.fit`, `.tcx` or `.gpx` (case-insensitive, optionally followed by `.gz`) is
//! listed. Files are returned sorted by path so that a run is deterministic; the other
//! objects are returned too ([`InputListing::skipped`]), for the run summary to report.

use std::sync::Arc;

use datafusion::catalog::Session;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::error::Result;
use datafusion::object_store::{ObjectMeta, ObjectStore};
use futures::TryStreamExt;

use crate::format::ActivityFormat;

/// One discovered file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Object metadata (location, size in bytes, last modification time).
    pub meta: ObjectMeta,
    /// Format, from the extension.
    pub format: ActivityFormat,
    /// Display name: the URL of the object (`file:///…/a.fit`, `s3://b/k.fit`).
    pub url: String,
}

/// What a listing of an input location found.
#[derive(Debug, Clone, Default)]
pub struct InputListing {
    /// The activity files of the requested formats, sorted by path.
    pub files: Vec<SourceFile>,
    /// URLs of the other objects (not `.fit`/`.tcx`/`.gpx`, optionally `.gz`, or of a format
    /// not requested), sorted: they are not read, and the run summary lists them.
    pub skipped: Vec<String>,
}

/// Lists the activity files of `url` in `store`, keeping those whose format is in
/// `formats`, sorted by path.
///
/// # Errors
/// Listing the store fails (missing bucket, no permission, I/O error).
pub async fn list_activity_files(
    session: &dyn Session,
    store: &Arc<dyn ObjectStore>,
    url: &ListingTableUrl,
    formats: &[ActivityFormat],
) -> Result<Vec<SourceFile>> {
    Ok(list_input(session, store, url, formats).await?.files)
}

/// Lists every object of `url` in `store`: the activity files whose format is in `formats`,
/// and the others as skipped.
///
/// # Errors
/// Listing the store fails (missing bucket, no permission, I/O error).
pub async fn list_input(
    session: &dyn Session,
    store: &Arc<dyn ObjectStore>,
    url: &ListingTableUrl,
    formats: &[ActivityFormat],
) -> Result<InputListing> {
    let base = url.object_store();
    let metas: Vec<ObjectMeta> = url
        .list_all_files(session, store.as_ref(), "")
        .await?
        .try_collect()
        .await?;
    let mut out = InputListing::default();
    for meta in metas {
        let url = format!("{}{}", base.as_str(), meta.location);
        match ActivityFormat::from_path(meta.location.as_ref()) {
            Some(format) if formats.contains(&format) => {
                out.files.push(SourceFile { url, meta, format })
            }
            _ => out.skipped.push(url),
        }
    }
    out.files
        .sort_by(|a, b| a.meta.location.cmp(&b.meta.location));
    out.skipped.sort();
    Ok(out)
}
