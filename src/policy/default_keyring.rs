//! The key a user gets without configuring one: a keyring in the user's data directory,
//! created with a fresh random secret on first use and reused afterwards.
//!
//! Order of precedence ([`load_or_create_key`]): `--key-file` (the CLI's override), the
//! policy's `[key] file`, the environment variable (the policy's `[key] env`, default
//! `DATAMIN_KEY`), then the default keyring at [`default_keyring_path`]. The keyring is a
//! normal keyring file (see [`super::key`]), so keys can be rotated by editing it.

use std::io::Write;
use std::path::PathBuf;

use datamin_udfs::PseudonymKey;

use super::key::{DEFAULT_KEY_ENV, KeyConfig, KeyError, load_key};

/// Environment variable naming datamin's data directory (overrides the XDG default).
pub const DATAMIN_HOME_ENV: &str = "DATAMIN_HOME";

/// Where the key came from, so that the CLI can tell the user about a new keyring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// A key file or environment variable the user configured.
    Configured,
    /// The default keyring, which already existed.
    DefaultKeyring(PathBuf),
    /// The default keyring, created by this call with a new random key.
    CreatedKeyring(PathBuf),
}

/// The default keyring's path: `$DATAMIN_HOME/keyring.toml`, else
/// `$XDG_DATA_HOME/datamin/keyring.toml`, else `$HOME/.local/share/datamin/keyring.toml`
/// (the XDG Base Directory default). `None` when none of these variables is set.
pub fn default_keyring_path() -> Option<PathBuf> {
    let var = |v: &str| {
        std::env::var_os(v)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    };
    var(DATAMIN_HOME_ENV)
        .or_else(|| var("XDG_DATA_HOME").map(|d| d.join("datamin")))
        .or_else(|| var("HOME").map(|h| h.join(".local/share/datamin")))
        .map(|d| d.join("keyring.toml"))
}

/// Whether `cfg` and `override_file` name a key source the user configured (a key file, or
/// an environment variable that is set).
fn configured(cfg: &KeyConfig, override_file: Option<&str>) -> bool {
    override_file.is_some()
        || cfg.file.is_some()
        || std::env::var_os(cfg.env.as_deref().unwrap_or(DEFAULT_KEY_ENV)).is_some()
}

/// Loads the configured key (see the module docs for the order); without one, the default
/// keyring, which is created when missing: a 256-bit random secret (hex), id
/// `local-<UTC date>`, file mode 0600 in a directory of mode 0700.
///
/// # Errors
/// A configured source that cannot be read or is invalid; no configured source and no home
/// directory to keep a keyring in; the keyring cannot be created.
pub async fn load_or_create_key(
    cfg: &KeyConfig,
    override_file: Option<&str>,
) -> Result<(PseudonymKey, KeyOrigin), KeyError> {
    if configured(cfg, override_file) {
        return Ok((load_key(cfg, override_file).await?, KeyOrigin::Configured));
    }
    let Some(path) = default_keyring_path() else {
        return Err(KeyError::EnvMissing(
            cfg.env
                .clone()
                .unwrap_or_else(|| DEFAULT_KEY_ENV.to_string()),
        ));
    };
    let shown = path.to_string_lossy().into_owned();
    let origin = if path.exists() {
        KeyOrigin::DefaultKeyring(path)
    } else {
        match create_keyring(&path) {
            Ok(()) => KeyOrigin::CreatedKeyring(path),
            // another process created it first: use theirs
            Err(_) if path.exists() => KeyOrigin::DefaultKeyring(path),
            Err(reason) => {
                return Err(KeyError::File {
                    path: shown,
                    reason,
                });
            }
        }
    };
    let key = load_key(&KeyConfig::default(), Some(&shown)).await?;
    Ok((key, origin))
}

/// Loads the configured key, else the default keyring if it exists; never creates one.
/// `Ok(None)` when there is no key at all.
///
/// # Errors
/// A configured source or the existing keyring cannot be read or is invalid.
pub async fn load_existing_key(
    cfg: &KeyConfig,
    override_file: Option<&str>,
) -> Result<Option<PseudonymKey>, KeyError> {
    if configured(cfg, override_file) {
        return load_key(cfg, override_file).await.map(Some);
    }
    match default_keyring_path().filter(|p| p.exists()) {
        Some(p) => load_key(&KeyConfig::default(), Some(&p.to_string_lossy()))
            .await
            .map(Some),
        None => Ok(None),
    }
}

/// Writes a new keyring with one random key at `path` (refuses to overwrite one).
fn create_keyring(path: &std::path::Path) -> Result<(), String> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| format!("no randomness for a new key: {e}"))?;
    let id = format!("local-{}", chrono::Utc::now().format("%Y-%m-%d"));
    let text = format!(
        "# datamin keyring: KEEP THIS FILE SECRET AND BACK IT UP.\n\
         # Pseudonyms and encrypted columns can only be reproduced or decrypted with these keys.\n\
         # To rotate: add a key under [keys] and make it `active`; keep the old ones.\n\
         active = \"{id}\"\n\n[keys]\n\"{id}\" = \"{}\"\n",
        hex::encode(secret)
    );
    if let Some(dir) = path.parent() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir).map_err(|e| e.to_string())?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path).map_err(|e| e.to_string())?;
    f.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| e.to_string())
}
