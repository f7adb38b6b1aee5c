//! Object stores: local files always, S3-compatible stores and HDFS on demand.
//!
//! [`AutoStoreRegistry`] wraps DataFusion's default registry: the first time an
//! `s3://bucket/…` URL is used, it builds an S3 client for that bucket from the standard
//! AWS environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT` for S3-compatible servers such as MinIO or moto, `AWS_ALLOW_HTTP=true`
//! for plain-HTTP endpoints) and registers it. With the `hdfs` cargo feature, `hdfs://` and
//! `viewfs://` URLs get the native HDFS client (`hdfs-native-object-store`; Hadoop's
//! configuration from `HADOOP_CONF_DIR`); without it they are an error that says so. Every reader and writer in datamin goes
//! through this registry, never through `std::fs`, so any location works everywhere.

use std::sync::Arc;

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::object_store::ObjectStore;
use datafusion::object_store::path::Path;
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
            #[cfg(feature = "hdfs")]
            "hdfs" | "viewfs" => {
                // The client connects on first use; Hadoop configuration (HA name services,
                // Kerberos) comes from `HADOOP_CONF_DIR` as in Hadoop's own clients.
                let base = format!("{}://{}", url.scheme(), url.authority());
                let store: Arc<dyn ObjectStore> = Arc::new(
                    hdfs_native_object_store::HdfsObjectStoreBuilder::new()
                        .with_url(base)
                        .build()
                        .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?,
                );
                self.inner.register_store(url, Arc::clone(&store));
                Ok(store)
            }
            #[cfg(not(feature = "hdfs"))]
            "hdfs" | "viewfs" => Err(DataFusionError::Configuration(format!(
                "'{url}': this datamin was built without HDFS support \
                 (build it with `cargo install datamin --features hdfs`)"
            ))),
            _ => self.inner.get_store(url),
        }
    }
}

/// Turns a CLI location (a local path, relative or absolute, or a URL) into a URL string.
/// A location ending in `/` (or an existing local directory) is a directory.
///
/// # Errors
/// The text is empty, or the current directory cannot be read for a relative path.
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

/// The process-wide store registry: every [`Location`] and every session
/// ([`crate::context::session_context`]) shares it, so one S3 client serves each bucket.
pub fn registry() -> Arc<AutoStoreRegistry> {
    static REGISTRY: std::sync::OnceLock<Arc<AutoStoreRegistry>> = std::sync::OnceLock::new();
    Arc::clone(REGISTRY.get_or_init(|| Arc::new(AutoStoreRegistry::new())))
}

/// A place in an object store — an input, output, checkpoint, policy or key file: its full
/// URL, the store that holds it and the object path inside that store. The one type every
/// datamin component takes for a location.
///
/// Built from a local path (relative or absolute; `.`/`..` resolved lexically) or a URL
/// (`file:///…`, `s3://bucket/prefix/`) with [`Location::parse`]. A location ending in `/`
/// (or an existing local directory) is a directory: [`Location::join`] appends below it.
#[derive(Debug, Clone)]
pub struct Location {
    url: Url,
    store_url: datafusion::execution::object_store::ObjectStoreUrl,
    store: Arc<dyn ObjectStore>,
    path: Path,
}

impl Location {
    /// Parses a path or URL and finds its store in the process-wide [`registry`] (an S3
    /// client is built on first use from the `AWS_*` environment variables).
    ///
    /// # Errors
    /// The text is neither a path nor a URL, or no store can be built for its scheme.
    pub fn parse(location: &str) -> Result<Self> {
        Self::from_url(location_to_url(location)?)
    }

    /// The location of `url` (see [`Location::parse`]).
    ///
    /// # Errors
    /// No store can be built for the URL's scheme, or its path is not a valid object path.
    pub fn from_url(url: Url) -> Result<Self> {
        let store_url = datafusion::execution::object_store::ObjectStoreUrl::parse(
            &url[..url::Position::BeforePath],
        )?;
        let store = registry().get_store(store_url.as_ref())?;
        let path = Path::from_url_path(url.path())?;
        Ok(Self {
            url,
            store_url,
            store,
            path,
        })
    }

    /// The full URL (`file:///tmp/out/`, `s3://bucket/prefix/`).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The store holding the location.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The store's URL (`file:///`, `s3://bucket/`).
    pub fn store_url(&self) -> &datafusion::execution::object_store::ObjectStoreUrl {
        &self.store_url
    }

    /// The object path inside the store (no leading `/`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory location `self/<segment>/` (`segment` may hold `/`-separated parts).
    pub fn join(&self, segment: &str) -> Self {
        let path = self.child(segment);
        let url = Url::parse(&self.url_of(&path)).expect("a joined object path is a valid URL");
        let url = if url.path().ends_with('/') {
            url
        } else {
            Url::parse(&format!("{url}/")).expect("valid URL")
        };
        Self {
            url,
            store_url: self.store_url.clone(),
            store: Arc::clone(&self.store),
            path,
        }
    }

    /// The object path `self/<name>` (`name` may hold `/`-separated parts).
    pub fn child(&self, name: &str) -> Path {
        name.split('/')
            .filter(|p| !p.is_empty())
            .fold(self.path.clone(), |p, part| p.join(part))
    }

    /// The full URL of `path`, an object of the same store (`file:///tmp/out/a.parquet`).
    pub fn url_of(&self, path: &Path) -> String {
        format!("{}{}", self.store_url.as_str(), path)
    }

    /// The location as a DataFusion listing URL. A glob in the path (`*`, `?`, `[`) is kept
    /// for every store, not only local paths (`s3://b/in/*/*.fit`: prefix `s3://b/in/`,
    /// pattern `*/*.fit` matched against the path below the prefix).
    ///
    /// # Errors
    /// The URL is not a valid listing URL or the glob is not a valid pattern.
    pub fn listing_url(&self) -> Result<datafusion::datasource::listing::ListingTableUrl> {
        use datafusion::datasource::listing::ListingTableUrl;
        let path = self.url.path();
        let Some(i) = path.find(['*', '?', '[']) else {
            return ListingTableUrl::try_new(self.url.clone(), None);
        };
        let cut = path[..i].rfind('/').map_or(0, |j| j + 1);
        let mut prefix = self.url.clone();
        prefix.set_path(&path[..cut]);
        let pattern = percent_decode(&path[cut..]);
        let glob = glob::Pattern::new(&pattern).map_err(|e| {
            DataFusionError::Configuration(format!("bad glob '{pattern}' in {}: {e}", self.url))
        })?;
        ListingTableUrl::try_new(prefix, Some(glob))
    }

    /// The whole object's bytes.
    ///
    /// # Errors
    /// Not found, permissions, network.
    pub async fn read(&self) -> Result<bytes::Bytes> {
        use datafusion::object_store::ObjectStoreExt;
        Ok(self.store.get(&self.path).await?.bytes().await?)
    }

    /// Whether anything is there: an object, or objects below it.
    pub async fn exists(&self) -> bool {
        use datafusion::object_store::ObjectStoreExt;
        use futures::StreamExt;
        self.store.head(&self.path).await.is_ok()
            || self.store.list(Some(&self.path)).next().await.is_some()
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.url.as_str())
    }
}

/// Reads the whole object at `location` (a local path or any URL whose store datamin knows:
/// `file://`, `s3://…`) through object_store, as everything else in datamin is read.
///
/// # Errors
/// The location is not a valid path or URL, its store cannot be built, or the object cannot
/// be read (not found, permissions, network).
pub async fn read_location(location: &str) -> Result<Vec<u8>> {
    Ok(Location::parse(location)?.read().await?.to_vec())
}

/// `%XX` escapes of a URL path decoded (invalid escapes kept as they are).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            out.push(hex(b[i + 1]) * 16 + hex(b[i + 2]));
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_work_for_every_store() {
        let l = Location::parse("s3://bucket/in/*/day-[0-9].fit").unwrap();
        let u = l.listing_url().unwrap();
        assert_eq!(u.as_str(), "s3://bucket/in/");
        assert!(u.contains(&Path::from("in/alice/day-1.fit"), false));
        assert!(!u.contains(&Path::from("in/alice/day-x.fit"), false));
        let l = Location::parse("/data/in/").unwrap();
        assert!(l.listing_url().unwrap().get_glob().is_none());
        assert_eq!(percent_decode("a%20b%zz%é"), "a b%zz%é");
    }

    /// `hdfs://` is a store with the `hdfs` feature (the client connects on first use, so
    /// no cluster is needed to build one) and a clear error without it.
    #[test]
    fn hdfs_locations() {
        let parsed = Location::parse("hdfs://namenode:9000/data/in/*.fit");
        #[cfg(feature = "hdfs")]
        {
            let l = parsed.unwrap();
            assert_eq!(l.store_url().as_str(), "hdfs://namenode:9000/");
            assert_eq!(
                l.listing_url().unwrap().as_str(),
                "hdfs://namenode:9000/data/in/"
            );
            assert_eq!(l.path().as_ref(), "data/in/*.fit");
        }
        #[cfg(not(feature = "hdfs"))]
        {
            let e = parsed.unwrap_err().to_string();
            assert!(e.contains("without HDFS support"), "{e}");
        }
    }
}
