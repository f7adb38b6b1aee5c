//! Loading a policy together with the key it needs: what `datamin run` and `datamin sql`
//! do before they start.

use datamin_udfs::PseudonymKey;

use super::default_keyring::{KeyOrigin, load_existing_key, load_or_create_key};
use super::key::{KeyConfig, load_key};
use super::model::{Policy, PolicyError};

/// Reads and validates the policy at `location`: a local path or any object-store URL
/// (`s3://bucket/policies/research.toml`), read through object_store like inputs and
/// outputs; `location` names the policy in errors.
///
/// # Errors
/// [`crate::Error::Policy`]: the policy cannot be read, is not UTF-8, or does not validate
/// (`file:line:col: key: message`).
pub async fn read_policy(location: &str) -> crate::Result<Policy> {
    read_policy_with(location, &[]).await
}

/// [`read_policy`] with `--set PATH=VALUE` overrides applied ([`super::parse_with_overrides`]).
///
/// # Errors
/// As [`read_policy`]; an override that names no valid path or makes the policy invalid.
pub async fn read_policy_with(
    location: &str,
    overrides: &[(String, String)],
) -> crate::Result<Policy> {
    let unreadable = |message: String| PolicyError {
        file: location.to_string(),
        line: None,
        column: None,
        key: None,
        message,
    };
    let bytes = crate::store::read_location(location).await.map_err(|e| {
        unreadable(format!(
            "cannot read policy: {}",
            crate::error::engine_message(&e)
        ))
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|e| unreadable(format!("the policy is not UTF-8 text: {e}")))?;
    Ok(super::parse_with_overrides(location, &text, overrides)?)
}

/// Loads and validates the policy at `path` with `overrides` ([`read_policy_with`]), and the
/// key it needs.
///
/// - A policy with keyed rules ([`Policy::needs_key`]) gets its key from
///   [`load_or_create_key`]: `key_file` (the CLI's `--key-file`), the policy's `[key]`, the
///   environment, else the default keyring — created on first use. The [`KeyOrigin`] is
///   returned so that the caller can tell the user about a new keyring
///   ([`KeyOrigin::CreatedKeyring`]).
/// - Otherwise, with `for_sql` (a SQL session, where queries may call the keyed functions
///   themselves, or a stream whose reloaded policy may add keyed rules), an existing key if
///   there is one ([`load_existing_key`]; never creates a keyring); without `for_sql`, no
///   key.
///
/// # Errors
/// [`crate::Error::Policy`] for a policy that cannot be read or does not validate
/// (`file:line:col: key: message`); [`crate::Error::Key`] for a key that is needed or
/// configured but cannot be loaded.
pub async fn load_policy_and_key(
    path: &str,
    overrides: &[(String, String)],
    key_file: Option<&str>,
    for_sql: bool,
) -> crate::Result<(Policy, Option<PseudonymKey>, Option<KeyOrigin>)> {
    let policy = read_policy_with(path, overrides).await?;
    if policy.needs_key() {
        let (key, origin) = load_or_create_key(&policy.key, key_file).await?;
        Ok((policy, Some(key), Some(origin)))
    } else if for_sql {
        let key = load_existing_key(&policy.key, key_file).await?;
        Ok((policy, key, None))
    } else {
        Ok((policy, None, None))
    }
}

/// The key of a SQL session without a policy: the key in `key_file` if one is given, else
/// `DATAMIN_KEY` or the default keyring if they hold a usable key, else none (the keyed
/// functions then fail when a query calls them).
///
/// # Errors
/// [`crate::Error::Key`] when `key_file` is given and cannot be read or is invalid.
pub async fn load_session_key(key_file: Option<&str>) -> crate::Result<Option<PseudonymKey>> {
    Ok(match key_file {
        Some(f) => Some(load_key(&KeyConfig::default(), Some(f)).await?),
        None => load_existing_key(&KeyConfig::default(), None)
            .await
            .ok()
            .flatten(),
    })
}
