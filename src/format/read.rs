//! The one decode driver: fetch a file, decode it on a blocking thread inside the panic
//! guard, and return the activity or the file's quarantine record.
//!
//! Used by the `STORED AS FIT|TCX|GPX` scan ([`super::datasource`]), by `datamin run`
//! ([`crate::runner`]) and by `datamin inspect` ([`crate::inspect`]), so a file is read and
//! judged the same way everywhere.

use std::sync::Arc;

use datafusion::common::{DataFusionError, Result};
use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectStore, ObjectStoreExt};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Activity, ActivityFormat, Decoder, decode_with, panic_message};

/// A decoded file.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// What the file contains; `source_file` is the URL the file was read from.
    pub activity: Activity,
    /// Size of the file in bytes (as stored: compressed for a gzipped file).
    pub size: u64,
}

/// The quarantine record of a file that could not be decoded: the file is left out (of a
/// run, or of a scan with `on_error = 'skip'`) and this record says which and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    /// The file's URL (`file:///…/a.fit`, `s3://bucket/key.fit`).
    pub file: String,
    /// Size in bytes (as stored: compressed for a gzipped file).
    pub size: u64,
    /// Lowercase hex SHA-256 of the file's bytes as stored (64 characters).
    pub sha256: String,
    /// Why it could not be decoded (a [`super::DecodeError`], or the message of a panic).
    pub reason: String,
}

/// Reads the object at `location` in `store` and decodes it as `format`.
///
/// `url` is the file's display name: it fills the `source_file` column and the quarantine
/// record. The bytes are decoded on a blocking thread ([`tokio::task::spawn_blocking`]); a
/// panic in the decoder (a decoder bug) does not escape: the file is quarantined with the
/// panic message as the reason.
///
/// A gzipped file (gzip magic `1f 8b`, whatever its name) is decompressed first, within the
/// limits of [`super::gunzip`]; `size` and the quarantine record's `sha256` are of the bytes
/// as stored, the activity id of the decompressed bytes.
///
/// Returns `Ok(Ok(decoded))`, or `Ok(Err(quarantined))` when the bytes are not a decodable
/// FIT/TCX/GPX file (or corrupt gzip, or a gzip bomb).
///
/// # Errors
/// The outer error is for what is not the file's fault and must stop the caller (fail
/// closed): the object cannot be fetched (not found, permissions, network), or the blocking
/// task was cancelled.
pub async fn read_activity(
    store: &Arc<dyn ObjectStore>,
    location: &Path,
    url: &str,
    format: ActivityFormat,
) -> Result<std::result::Result<Decoded, Quarantined>> {
    read_with(store, location, url, format, format.decoder()).await
}

/// [`read_activity`] with the given decoder (tests inject a panicking one).
pub(crate) async fn read_with(
    store: &Arc<dyn ObjectStore>,
    location: &Path,
    url: &str,
    format: ActivityFormat,
    decoder: Decoder,
) -> Result<std::result::Result<Decoded, Quarantined>> {
    Ok(read_map(store, location, url, format, decoder, Ok)
        .await?
        .map(|(activity, size)| Decoded { activity, size }))
}

/// Fetches and decodes one file, then runs `then` on the decoded activity on the same
/// blocking thread (building Arrow batches belongs to the decode's CPU work, not to the
/// async task that drives several files at a time). Returns `then`'s output and the file's
/// size, or the quarantine record: a decode error, a panic, or `then`'s error (such as
/// batches that cannot be built), each with the file's SHA-256.
pub(crate) async fn read_map<T: Send + 'static>(
    store: &Arc<dyn ObjectStore>,
    location: &Path,
    url: &str,
    format: ActivityFormat,
    decoder: Decoder,
    then: impl FnOnce(Activity) -> std::result::Result<T, String> + Send + 'static,
) -> Result<std::result::Result<(T, u64), Quarantined>> {
    let bytes = store.get(location).await?.bytes().await?;
    let size = bytes.len() as u64;
    let name = url.to_string();
    let joined = tokio::task::spawn_blocking(move || {
        decode_with(format, &name, &bytes, decoder)
            .map_err(|e| e.to_string())
            .and_then(then)
            .map_err(|reason| (reason, hex::encode(Sha256::digest(&bytes))))
    })
    .await;
    let done = match joined {
        Ok(r) => r,
        // The guard in `decode_with` catches decoder panics; this catches the rest (e.g. a
        // panic while hashing). The bytes are gone with the task: no checksum then.
        Err(e) if e.is_panic() => Err((
            format!(
                "{} decoder failed on this file: {}",
                format.name(),
                panic_message(e.into_panic().as_ref())
            ),
            String::new(),
        )),
        Err(e) => return Err(DataFusionError::External(Box::new(e))),
    };
    Ok(done
        .map(|t| (t, size))
        .map_err(|(reason, sha256)| Quarantined {
            file: url.to_string(),
            size,
            sha256,
            reason,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::object_store::memory::InMemory;
    use datafusion::object_store::{PutPayload, path::Path};

    async fn store_with(bytes: &'static [u8]) -> (Arc<dyn ObjectStore>, Path) {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let path = Path::from("subject=a/x.fit");
        store
            .put(&path, PutPayload::from_static(bytes))
            .await
            .unwrap();
        (store, path)
    }

    fn panicking(_: &[u8], _: &mut Activity) -> Result<(), super::super::DecodeError> {
        panic!("boom at byte 7")
    }

    #[tokio::test]
    async fn a_decoder_panic_quarantines_the_file() {
        let (store, path) = store_with(b"0123456789").await;
        let q = read_with(
            &store,
            &path,
            "memory:///x.fit",
            ActivityFormat::Fit,
            Decoder::Full(panicking),
        )
        .await
        .unwrap()
        .unwrap_err();
        assert_eq!(q.file, "memory:///x.fit");
        assert_eq!(q.size, 10);
        assert_eq!(q.sha256, hex::encode(Sha256::digest(b"0123456789")));
        assert_eq!(q.reason, "fit decoder failed on this file: boom at byte 7");
    }

    #[tokio::test]
    async fn garbage_is_quarantined_and_a_missing_object_is_an_error() {
        let (store, path) = store_with(b"not a fit file").await;
        let q = read_activity(&store, &path, "u", ActivityFormat::Fit)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(q.size, 14);
        assert_eq!(q.sha256.len(), 64);
        assert!(q.reason.contains("FIT"), "{}", q.reason);
        let missing = Path::from("nope.fit");
        assert!(
            read_activity(&store, &missing, "u", ActivityFormat::Fit)
                .await
                .is_err()
        );
    }
}
