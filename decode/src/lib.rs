//! datamin's activity file decoders: the bytes of one file → canonical rows and Arrow
//! batches. No I/O and no query engine: this crate builds in seconds, which keeps the
//! decoders (the engine's hot loop and its attack surface) easy to fuzz on their own.
//!
//! [`decode`] dispatches on [`ActivityFormat`]; [`fit`], [`tcx`] and [`gpx`] fill the same
//! [`Activity`] rows, which [`Activity::to_batches`] turns into the tables of [`schema`].
//!
//! **Gzip** is transparent: bytes that start with the gzip magic (`1f 8b`, RFC 1952) are
//! decompressed first, whatever the file is called, and decoded as the inner format
//! (`x.fit.gz` is FIT: [`ActivityFormat::from_path`] looks through a `.gz` suffix). The
//! decompressed size is bounded ([`MAX_DECOMPRESSED_BYTES`], [`MAX_COMPRESSION_RATIO`]): a
//! gzip bomb, like a corrupt or truncated stream, is a [`DecodeError::Gzip`] (the file is
//! quarantined), never an out-of-memory. The [`activity_id`] is computed over the
//! decompressed bytes, so an activity has the same id gzipped or not.
//!
//! ```
//! use datamin_decode::{ActivityFormat, decode, schema::Table};
//!
//! let gpx = br#"<gpx version="1.1" creator="demo"><trk><trkseg>
//!     <trkpt lat="47.37" lon="8.54"><time>2026-05-01T07:00:00Z</time></trkpt>
//!     <trkpt lat="47.38" lon="8.55"><time>2026-05-01T07:00:05Z</time></trkpt>
//! </trkseg></trk></gpx>"#;
//! let activity = decode(ActivityFormat::Gpx, "run.gpx", gpx)?;
//! assert_eq!(activity.records.len(), 2);
//! let records = activity.to_batch(Table::Records)?;
//! assert_eq!(records.num_rows(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub mod fit;
pub use fit::fit_crc;
pub mod gpx;
mod rows;
pub mod schema;
pub mod tcx;

pub use rows::{Activity, ActivityRow, DeveloperField, RecordRow, SummaryRow};

/// A decodable activity file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivityFormat {
    /// Garmin Flexible and Interoperable Data Transfer (`.fit`).
    Fit,
    /// Garmin Training Center XML v2 (`.tcx`).
    Tcx,
    /// GPS Exchange Format 1.0 or 1.1 (`.gpx`), see [`gpx`].
    Gpx,
}

impl ActivityFormat {
    /// Every format, in the order of their names' listing (`fit`, `tcx`, `gpx`).
    pub const ALL: [Self; 3] = [Self::Fit, Self::Tcx, Self::Gpx];

    /// The format of `path`, from its extension (case-insensitive), looking through one
    /// `.gz` suffix (`a.fit.gz` is FIT); `None` if none of `.fit`, `.tcx`, `.gpx`.
    pub fn from_path(path: &str) -> Option<Self> {
        let (stem, ext) = path.rsplit_once('.')?;
        let ext = if ext.eq_ignore_ascii_case("gz") {
            stem.rsplit_once('.')?.1
        } else {
            ext
        };
        Self::ALL
            .into_iter()
            .find(|f| ext.eq_ignore_ascii_case(f.name()))
    }

    /// Parses a `STORED AS` name (`FIT`, `TCX`, `GPX`, case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|f| name.eq_ignore_ascii_case(f.name()))
    }

    /// Lowercase name: `fit`, `tcx` or `gpx` (the `STORED AS` name and the file extension).
    pub fn name(self) -> &'static str {
        match self {
            Self::Fit => "fit",
            Self::Tcx => "tcx",
            Self::Gpx => "gpx",
        }
    }

    /// The decoder of the format (every field of the file).
    pub fn decoder(self) -> Decoder {
        Decoder::Full(match self {
            Self::Fit => fit::decode_into,
            Self::Tcx => tcx::decode_into,
            Self::Gpx => gpx::decode_into,
        })
    }

    /// The decoder of the format for a scan of `table` that builds only the columns at
    /// `projection` (indices into its canonical schema): a FIT scan of `records` reads only
    /// the `record` fields behind them ([`fit::Projection`]); the other decoders read
    /// everything (TCX and GPX are parsed whole either way).
    pub fn decoder_for(self, table: crate::schema::Table, projection: &[usize]) -> Decoder {
        match (self, table) {
            (Self::Fit, crate::schema::Table::Records) => {
                Decoder::Fit(fit::Projection::records(projection))
            }
            _ => self.decoder(),
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
        /// `fit`, `tcx` or `gpx`.
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
    /// The GPX document is malformed.
    #[error("malformed GPX document at byte {offset}: {reason}")]
    Gpx {
        /// Byte offset (in the decompressed document) where the parser stopped.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// The file starts with the gzip magic but cannot be decompressed: a corrupt or
    /// truncated stream, or more than the decompressed-size limit (a gzip bomb).
    #[error("corrupt gzip file: {reason}")]
    Gzip {
        /// What was wrong.
        reason: String,
    },
}

/// The most bytes one gzipped file may decompress to: 256 MiB. A day-long 1 Hz TCX, the
/// largest real activity file type, is about 40 MB; more is refused as a likely gzip bomb.
pub const MAX_DECOMPRESSED_BYTES: u64 = 256 << 20;

/// The most a gzipped file may expand relative to its compressed size: ×200 (activity XML
/// compresses about 10–30×, FIT 2–5×), above the floor [`MIN_DECOMPRESSED_LIMIT`]. Bounds the
/// memory of a batch of many small gzipped files, each far below [`MAX_DECOMPRESSED_BYTES`].
pub const MAX_COMPRESSION_RATIO: u64 = 200;

/// A gzipped file may always decompress to 16 MiB, whatever its compressed size.
pub const MIN_DECOMPRESSED_LIMIT: u64 = 16 << 20;

/// The gzip magic bytes (RFC 1952, ID1 ID2).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether `bytes` start with the gzip magic (`1f 8b`).
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// The decompressed-size limit for `compressed` bytes of gzip:
/// `min(MAX_DECOMPRESSED_BYTES, max(MIN_DECOMPRESSED_LIMIT, MAX_COMPRESSION_RATIO × len))`.
pub fn decompressed_limit(compressed: usize) -> u64 {
    (compressed as u64)
        .saturating_mul(MAX_COMPRESSION_RATIO)
        .clamp(MIN_DECOMPRESSED_LIMIT, MAX_DECOMPRESSED_BYTES)
}

/// The bytes of a file with gzip undone: `bytes` itself when they do not start with the
/// gzip magic, else the decompressed content of every gzip member (as `gzip -d` does with
/// concatenated members). Only one layer is undone.
///
/// # Errors
/// [`DecodeError::Gzip`] for a corrupt or truncated stream (bad header, bad deflate data,
/// CRC or length mismatch, unexpected end) or when the content exceeds
/// [`decompressed_limit`].
pub fn gunzip(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, DecodeError> {
    use std::io::Read as _;
    if !is_gzip(bytes) {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    let limit = decompressed_limit(bytes.len());
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(8).min(limit as usize));
    flate2::read::MultiGzDecoder::new(bytes)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Gzip {
            reason: match e.kind() {
                std::io::ErrorKind::UnexpectedEof => {
                    format!("unexpected end of the gzip stream (truncated file?): {e}")
                }
                _ => e.to_string(),
            },
        })?;
    if out.len() as u64 > limit {
        return Err(DecodeError::Gzip {
            reason: format!(
                "decompresses to more than {limit} bytes (the limit for {} compressed bytes): refused as a likely gzip bomb",
                bytes.len()
            ),
        });
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// Stable activity id: lowercase hex of the first 16 bytes of SHA-256 over the file's bytes
/// (independent of name and location; the same bytes always give the same id). [`decode`]
/// passes the decompressed bytes of a gzipped file: `a.fit` and `a.fit.gz` have one id.
pub fn activity_id(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..16])
}

/// Decodes one file, gzipped or not (see the module docs). `source_file` is recorded in the
/// `source_file` column.
///
/// A panic inside the decoder (a decoder bug) is caught and returned as
/// [`DecodeError::Panic`], so that one bad file is quarantined instead of aborting the run.
///
/// # Errors
/// [`DecodeError`] when the bytes are not a readable FIT/TCX/GPX file (or not readable gzip).
/// A FIT CRC mismatch is not an error: it is listed in [`Activity::warnings`].
pub fn decode(
    format: ActivityFormat,
    source_file: &str,
    bytes: &[u8],
) -> Result<Activity, DecodeError> {
    decode_with(format, source_file, bytes, format.decoder())
}

/// A decoder: fills an [`Activity`] from the bytes of one file ([`ActivityFormat::decoder`],
/// [`ActivityFormat::decoder_for`]).
#[derive(Debug, Clone)]
pub enum Decoder {
    /// Reads every field of the file.
    Full(fn(&[u8], &mut Activity) -> Result<(), DecodeError>),
    /// The FIT decoder reading only the fields of a projection.
    Fit(fit::Projection),
}

impl Decoder {
    fn run(&self, bytes: &[u8], a: &mut Activity) -> Result<(), DecodeError> {
        match self {
            Decoder::Full(f) => f(bytes, a),
            Decoder::Fit(p) => fit::decode_projected(bytes, p, a),
        }
    }
}

/// [`decode`] with the given decoder, inside the same panic guard (gzip undone, the
/// [`activity_id`] set from the decompressed bytes).
///
/// # Errors
/// As [`decode`].
pub fn decode_with(
    format: ActivityFormat,
    source_file: &str,
    bytes: &[u8],
    decoder: Decoder,
) -> Result<Activity, DecodeError> {
    let bytes = gunzip(bytes)?;
    let bytes = bytes.as_ref();
    let mut a = Activity {
        activity_id: activity_id(bytes),
        source_file: source_file.to_string(),
        file_format: format.name(),
        ..Default::default()
    };
    // A decoder bug must quarantine one file, not abort the run: contain panics.
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decoder.run(bytes, &mut a)));
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
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
