//! Where the pseudonymization key comes from. The key is never part of the policy file:
//! only the name of the environment variable or key file that holds it.
//!
//! **Key rotation.** A key file may be a *keyring*: a TOML file naming the active key and
//! holding every key by id,
//!
//! ```toml
//! active = "2026-11"
//! [keys]
//! "2026-05" = "an old secret of at least 16 bytes"
//! "2026-11" = "the current secret, at least 16 bytes"
//! ```
//!
//! Runs use the active key and write its id to every output file (`datamin.key_id`), so
//! pseudonyms of different key periods are unlinkable by design; `datamin decrypt` picks the
//! key named by the file it decrypts, so rotating never strands old files.

use datamin_udfs::PseudonymKey;
use sha2::{Digest, Sha256};

/// Environment variable read when the policy names no key source.
pub const DEFAULT_KEY_ENV: &str = "DATAMIN_KEY";

/// The policy's `[key]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyConfig {
    /// Environment variable holding the key (default [`DEFAULT_KEY_ENV`]).
    pub env: Option<String>,
    /// File holding the key (one trailing newline is ignored).
    pub file: Option<String>,
    /// Public key id written to output metadata; default: `sha256:` + the first 16 hex
    /// digits of SHA-256("datamin-key-id" ‖ key), which identifies the key without revealing it.
    pub id: Option<String>,
}

/// Why the key could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The environment variable is not set.
    #[error(
        "the policy pseudonymizes data but the environment variable {0} is not set; set it to a secret of at least 16 bytes (e.g. `export {0}=$(head -c 32 /dev/urandom | base64)`) or pass --key-file"
    )]
    EnvMissing(String),
    /// The key file cannot be read.
    #[error("cannot read key file {path}: {reason}")]
    File {
        /// The path.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// The key is unusable.
    #[error("bad key from {source_name}: {reason}")]
    Invalid {
        /// Where it came from.
        source_name: String,
        /// Why it is unusable.
        reason: String,
    },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeyring {
    active: String,
    keys: std::collections::BTreeMap<String, String>,
}

/// A parsed keyring: the active key's id and every `(id, secret)`.
type Keyring = (String, Vec<(String, Vec<u8>)>);

/// The keyring in `bytes`, if they are one (a TOML document with `active` and `[keys]`):
/// `(active id, keys by id)`. `Some(Err)` when it looks like a keyring but is not valid.
fn parse_keyring(bytes: &[u8]) -> Option<Result<Keyring, String>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let doc: toml::Table = text.parse().ok()?;
    if !doc.contains_key("keys") {
        return None;
    }
    Some(
        toml::from_str::<RawKeyring>(text)
            .map_err(|e| format!("not a valid keyring: {}", e.message()))
            .and_then(|r| {
                if !r.keys.contains_key(&r.active) {
                    return Err(format!(
                        "the active key '{}' is not in [keys] (has: {})",
                        r.active,
                        r.keys.keys().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
                Ok((
                    r.active,
                    r.keys
                        .into_iter()
                        .map(|(k, v)| (k, v.into_bytes()))
                        .collect(),
                ))
            }),
    )
}

/// Loads the key: `override_file` (the CLI's `--key-file`) wins over the policy's `file`,
/// which wins over its `env` (default `DATAMIN_KEY`). The key bytes are the variable's value
/// or the file's content as is (without one trailing newline). A keyring file (module docs)
/// gives its active key, with the keyring's id for it. Key files are read through
/// object_store, so they may live in any location datamin reads (`s3://…` too).
///
/// # Errors
/// [`KeyError`]: the variable is not set, the file cannot be read, or the key is unusable.
pub async fn load_key(
    cfg: &KeyConfig,
    override_file: Option<&str>,
) -> Result<PseudonymKey, KeyError> {
    load_key_by_id(cfg, override_file, None).await
}

/// [`load_key`], but from a keyring take the key `id` instead of the active one (to decrypt a
/// file written under an older key). A single key is returned whatever `id` is.
///
/// # Errors
/// As [`load_key`]; also when the keyring has no key `id`.
pub async fn load_key_by_id(
    cfg: &KeyConfig,
    override_file: Option<&str>,
    id: Option<&str>,
) -> Result<PseudonymKey, KeyError> {
    let (bytes, source_name) = if let Some(path) = override_file.or(cfg.file.as_deref()) {
        let mut b = crate::store::read_location(path)
            .await
            .map_err(|e| KeyError::File {
                path: path.to_string(),
                reason: crate::error::engine_message(&e),
            })?;
        if b.last() == Some(&b'\n') {
            b.pop();
            if b.last() == Some(&b'\r') {
                b.pop();
            }
        }
        if let Some(ring) = parse_keyring(&b) {
            let source_name = format!("keyring {path}");
            let (active, keys) = ring.map_err(|reason| KeyError::Invalid {
                source_name: source_name.clone(),
                reason,
            })?;
            let want = id.unwrap_or(&active);
            let Some((kid, secret)) = keys.into_iter().find(|(k, _)| k == want) else {
                return Err(KeyError::Invalid {
                    source_name,
                    reason: format!("no key '{want}' in the keyring"),
                });
            };
            return PseudonymKey::new(kid, secret).map_err(|reason| KeyError::Invalid {
                source_name,
                reason,
            });
        }
        (b, format!("file {path}"))
    } else {
        let var = cfg.env.as_deref().unwrap_or(DEFAULT_KEY_ENV);
        let v = std::env::var_os(var).ok_or_else(|| KeyError::EnvMissing(var.to_string()))?;
        (
            v.into_encoded_bytes(),
            format!("environment variable {var}"),
        )
    };
    let key_id = cfg.id.clone().unwrap_or_else(|| {
        let mut h = Sha256::new();
        h.update(b"datamin-key-id");
        h.update(&bytes);
        format!("sha256:{}", &hex::encode(h.finalize())[..16])
    });
    PseudonymKey::new(key_id, bytes).map_err(|reason| KeyError::Invalid {
        source_name,
        reason,
    })
}
