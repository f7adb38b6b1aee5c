//! Activity file formats: bytes of one file → canonical rows and Arrow batches.
//!
//! The decoders themselves live in the `datamin-decode` crate (no I/O, no query engine) and
//! are re-exported here: [`decode`] dispatches on [`ActivityFormat`]; [`fit`], [`tcx`] and
//! [`gpx`] fill the same [`Activity`] rows, which [`Activity::to_batches`] turns into the
//! tables of [`crate::schema`]. Gzip is transparent (see [`gunzip`]).
//!
//! This module adds what needs the engine: [`read_activity`] is the one decode driver: it
//! fetches a file from an object store, decodes it on a blocking thread with the panic guard
//! of [`decode`], and returns either the activity or the quarantine record (whose `sha256`
//! is over the bytes as stored). [`datasource`] makes FIT, TCX and GPX DataFusion
//! `FileFormat`s (`CREATE EXTERNAL TABLE … STORED AS FIT|TCX|GPX`, [`listing_table`]);
//! [`from_arrow`] reads rows back from canonical batches.

pub use datamin_decode::{
    Activity, ActivityFormat, ActivityRow, DecodeError, Decoder, DeveloperField,
    MAX_COMPRESSION_RATIO, MAX_DECOMPRESSED_BYTES, MIN_DECOMPRESSED_LIMIT, RecordRow, SummaryRow,
    activity_id, decode, decode_with, decompressed_limit, fit, fit_crc, gpx, gunzip, is_gzip,
    panic_message, tcx,
};

pub mod datasource;
pub mod from_arrow;
pub(crate) mod read;
pub(crate) use read::read_map;

pub use datasource::{ActivityOptions, OnError, listing_table};
pub use read::{Decoded, Quarantined, read_activity};
