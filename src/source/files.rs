//! Discovery of activity files under an object-store URL.
//!
//! A location is a local path (`../data/fit/`), a `file://` URL, or any URL whose store is
//! registered with the session (`s3://bucket/prefix/`, see [`crate::store`]). A location
//! that names one object is that file; otherwise every object below the prefix whose
//! extension is `.fit` or `.tcx` (case-insensitive) is listed. Files are returned sorted by
//! path so that a run is deterministic.

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
    let base = url.object_store();
    let metas: Vec<ObjectMeta> = url
        .list_all_files(session, store.as_ref(), "")
        .await?
        .try_collect()
        .await?;
    let mut out: Vec<SourceFile> = metas
        .into_iter()
        .filter_map(|meta| {
            let format = ActivityFormat::from_path(meta.location.as_ref())?;
            formats.contains(&format).then(|| SourceFile {
                url: format!("{}{}", base.as_str(), meta.location),
                meta,
                format,
            })
        })
        .collect();
    out.sort_by(|a, b| a.meta.location.cmp(&b.meta.location));
    Ok(out)
}
