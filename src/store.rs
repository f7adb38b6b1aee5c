//! Object stores: local files always, S3-compatible stores on demand.
//!
//! [`AutoStoreRegistry`] wraps DataFusion's default registry: the first time an
//! `s3://bucket/…` URL is used, it builds an S3 client for that bucket from the standard
//! AWS environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT` for S3-compatible servers such as MinIO or moto, `AWS_ALLOW_HTTP=true`
//! for plain-HTTP endpoints) and registers it. Every reader and writer in datamin goes
//! through this registry, never through `std::fs`, so any location works everywhere.

use std::sync::Arc;

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use url::Url;

/// An object store registry that creates S3 clients lazily (see the module docs).
#[derive(Debug, Default)]
pub struct AutoStoreRegistry {
    inner: DefaultObjectStoreRegistry,
}

impl AutoStoreRegistry {
    /// A registry with the local file system registered for `file://`.
    pub fn new() -> Self {
        Self::default()
    }
}

impl ObjectStoreRegistry for AutoStoreRegistry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(s) = self.inner.get_store(url) {
            return Ok(s);
        }
        match url.scheme() {
            "s3" | "s3a" => {
                let bucket = url.host_str().ok_or_else(|| {
                    DataFusionError::Configuration(format!("S3 URL '{url}' has no bucket"))
                })?;
                let store: Arc<dyn ObjectStore> = Arc::new(
                    AmazonS3Builder::from_env()
                        .with_bucket_name(bucket)
                        .build()
                        .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?,
                );
                self.inner.register_store(url, Arc::clone(&store));
                Ok(store)
            }
            _ => self.inner.get_store(url),
        }
    }
}

/// Turns a CLI location (a local path, relative or absolute, or a URL) into a URL string.
/// A location ending in `/` (or an existing local directory) is a directory.
pub fn location_to_url(location: &str) -> Result<Url> {
    if let Ok(u) = Url::parse(location)
        && u.scheme().len() > 1
    {
        return Ok(u);
    }
    let abs = std::path::absolute(location)
        .map_err(|e| DataFusionError::Configuration(format!("bad path '{location}': {e}")))?;
    // Object-store paths have no `.` or `..` segments: resolve them lexically.
    let mut p = std::path::PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                p.pop();
            }
            std::path::Component::CurDir => {}
            other => p.push(other),
        }
    }
    let is_dir = location.ends_with('/') || p.is_dir();
    let r = if is_dir {
        Url::from_directory_path(&p)
    } else {
        Url::from_file_path(&p)
    };
    r.map_err(|_| DataFusionError::Configuration(format!("bad path '{location}'")))
}

/// A location resolved against a session's object stores.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The store holding the location.
    pub store: Arc<dyn ObjectStore>,
    /// The store's URL (`file://`, `s3://bucket`).
    pub store_url: datafusion::execution::object_store::ObjectStoreUrl,
    /// The object path of the location inside the store.
    pub path: datafusion::object_store::path::Path,
    /// The full URL of the location.
    pub url: Url,
}

/// Resolves a CLI location (path or URL) to its store, store URL and object path.
pub fn resolve(ctx: &datafusion::prelude::SessionContext, location: &str) -> Result<Resolved> {
    let url = location_to_url(location)?;
    let store_url = datafusion::execution::object_store::ObjectStoreUrl::parse(
        &url[..url::Position::BeforePath],
    )?;
    let store = ctx.runtime_env().object_store(&store_url)?;
    let path = datafusion::object_store::path::Path::from_url_path(url.path())?;
    Ok(Resolved {
        store,
        store_url,
        path,
        url,
    })
}

/// Reads the whole object at `location` (a local path or any URL whose store datamin knows:
/// `file://`, `s3://…`) through object_store, as everything else in datamin is read.
///
/// # Errors
/// The location is not a valid path or URL, its store cannot be built, or the object cannot
/// be read (not found, permissions, network).
pub async fn read_location(location: &str) -> Result<Vec<u8>> {
    use datafusion::object_store::ObjectStoreExt;
    let url = location_to_url(location)?;
    let registry = AutoStoreRegistry::new();
    let store = registry.get_store(&url)?;
    let path = datafusion::object_store::path::Path::from_url_path(url.path())?;
    Ok(store.get(&path).await?.bytes().await?.to_vec())
}
