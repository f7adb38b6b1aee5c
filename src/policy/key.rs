//! Where the pseudonymization key comes from. The key is never part of the policy file:
//! only the name of the environment variable or key file that holds it.

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

/// Loads the key: `override_file` (the CLI's `--key-file`) wins over the policy's `file`,
/// which wins over its `env` (default `DATAMIN_KEY`). The key bytes are the variable's value
/// or the file's content as is (without one trailing newline).
pub fn load_key(cfg: &KeyConfig, override_file: Option<&str>) -> Result<PseudonymKey, KeyError> {
    let (bytes, source_name) = if let Some(path) = override_file.or(cfg.file.as_deref()) {
        let mut b = std::fs::read(path).map_err(|e| KeyError::File {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        if b.last() == Some(&b'\n') {
            b.pop();
            if b.last() == Some(&b'\r') {
                b.pop();
            }
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
    let id = cfg.id.clone().unwrap_or_else(|| {
        let mut h = Sha256::new();
        h.update(b"datamin-key-id");
        h.update(&bytes);
        format!("sha256:{}", &hex::encode(h.finalize())[..16])
    });
    PseudonymKey::new(id, bytes).map_err(|reason| KeyError::Invalid {
        source_name,
        reason,
    })
}
