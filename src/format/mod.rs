//! Activity file formats: bytes of one file → canonical rows and Arrow batches.
//!
//! [`decode`] dispatches on [`ActivityFormat`]; [`fit`] and [`tcx`] fill the same
//! [`Activity`] rows, which [`Activity::to_batches`] turns into the tables of
//! [`crate::schema`].
//!
//! [`read_activity`] is the one decode driver: it fetches a file from an object store,
//! decodes it on a blocking thread with the panic guard of [`decode`], and returns either the
//! activity or the quarantine record. [`datasource`] makes FIT and TCX DataFusion
//! `FileFormat`s (`CREATE EXTERNAL TABLE … STORED AS FIT|TCX`, [`listing_table`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub mod datasource;
pub mod fit;
pub use fit::fit_crc;
pub mod from_arrow;
mod read;
mod rows;
pub mod tcx;

pub use datasource::{ActivityOptions, OnError, listing_table};
pub use read::{Decoded, Quarantined, read_activity};
pub use rows::{Activity, ActivityRow, RecordRow, SummaryRow};

/// A decodable activity file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivityFormat {
    /// Garmin Flexible and Interoperable Data Transfer (`.fit`).
    Fit,
    /// Garmin Training Center XML v2 (`.tcx`).
    Tcx,
}

impl ActivityFormat {
    /// The format of `path`, from its extension (case-insensitive); `None` if neither.
    pub fn from_path(path: &str) -> Option<Self> {
        let ext = path.rsplit_once('.')?.1;
        if ext.eq_ignore_ascii_case("fit") {
            Some(Self::Fit)
        } else if ext.eq_ignore_ascii_case("tcx") {
            Some(Self::Tcx)
        } else {
            None
        }
    }

    /// Parses a `STORED AS` name (`FIT`, `TCX`, case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "fit" => Some(Self::Fit),
            "tcx" => Some(Self::Tcx),
            _ => None,
        }
    }

    /// Lowercase name: `fit` or `tcx`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fit => "fit",
            Self::Tcx => "tcx",
        }
    }
}

/// Why a file could not be decoded. The file is quarantined with this reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The FIT stream is structurally broken at `offset`.
    #[error("corrupt FIT file at byte {offset}: {reason}")]
    Fit {
        /// Byte offset of the message that failed.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// The decoder panicked on this input (a decoder bug; the file is quarantined).
    #[error("{format} decoder failed on this file: {message}")]
    Panic {
        /// `fit` or `tcx`.
        format: &'static str,
        /// The panic message.
        message: String,
    },
    /// The TCX document is malformed.
    #[error("malformed TCX document at byte {offset}: {reason}")]
    Tcx {
        /// Byte offset where the parser stopped.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
}

/// Stable activity id: lowercase hex of the first 16 bytes of SHA-256 over the file's bytes
/// (independent of name and location; the same bytes always give the same id).
pub fn activity_id(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..16])
}

/// Decodes one file. `source_file` is recorded in the `source_file` column.
///
/// A panic inside the decoder (a decoder bug) is caught and returned as
/// [`DecodeError::Panic`], so that one bad file is quarantined instead of aborting the run.
///
/// # Errors
/// [`DecodeError`] when the bytes are not a readable FIT/TCX file. A FIT CRC mismatch is not
/// an error: it is listed in [`Activity::warnings`].
pub fn decode(
    format: ActivityFormat,
    source_file: &str,
    bytes: &[u8],
) -> Result<Activity, DecodeError> {
    let decoder: Decoder = match format {
        ActivityFormat::Fit => fit::decode_into,
        ActivityFormat::Tcx => tcx::decode_into,
    };
    decode_with(format, source_file, bytes, decoder)
}

/// A decoder: fills an [`Activity`] from the bytes of one file.
pub(crate) type Decoder = fn(&[u8], &mut Activity) -> Result<(), DecodeError>;

/// [`decode`] with the given decoder, inside the panic guard (tests inject a panicking one).
pub(crate) fn decode_with(
    format: ActivityFormat,
    source_file: &str,
    bytes: &[u8],
    decoder: Decoder,
) -> Result<Activity, DecodeError> {
    let mut a = Activity {
        activity_id: activity_id(bytes),
        source_file: source_file.to_string(),
        file_format: format.name(),
        ..Default::default()
    };
    // A decoder bug must quarantine one file, not abort the run: contain panics.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decoder(bytes, &mut a)));
    match result {
        Ok(r) => r?,
        Err(panic) => {
            return Err(DecodeError::Panic {
                format: format.name(),
                message: panic_message(panic.as_ref()),
            });
        }
    }
    Ok(a)
}

/// The message of a caught panic payload (`&str` or `String`), else `unknown panic`.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
