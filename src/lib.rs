//! # datamin
//!
//! A data minimization engine for fitness-tracking data, built on Apache DataFusion.
//!
//! Activity files (Garmin FIT and TCX, GPX; each also gzipped) are decoded into canonical Arrow tables
//! ([`schema`]); a TOML [`policy`] says which columns to keep and how to minimize them; the
//! policy is compiled into SQL views over datamin's UDFs ([`datamin_udfs`]); the result is
//! written as deterministic Parquet ([`sink::parquet`]).
//!
//! Entry points for embedding:
//! - [`format::decode`] — bytes of a FIT/TCX/GPX file → [`format::Activity`] → Arrow batches;
//! - [`format::read_activity`] — fetch + decode one file from an object store, or its
//!   quarantine record;
//! - [`format::listing_table`] — a DataFusion `ListingTable` over FIT/TCX/GPX files
//!   ([`format::datasource`]: FIT, TCX and GPX as DataFusion `FileFormat`s);
//! - [`minimizer::Minimizer`] — apply a [`policy::Policy`] to batches;
//! - [`runner::run`] — the micro-batch pipeline between two object-store locations, with
//!   Spark's triggers, checkpoint and exactly-once Parquet sink;
//! - [`context::session_context`] — a DataFusion session with the UDFs and
//!   `CREATE EXTERNAL TABLE … STORED AS FIT|TCX|GPX` (partitioned `ListingTable`s).
#![warn(missing_docs)]

pub mod checkpoint;
pub mod context;
pub mod error;
pub mod format;
pub mod inspect;
pub mod metrics;
pub mod minimizer;
pub mod policy;
pub mod policy_view;
pub mod privacy;
pub mod runner;
pub use datamin_decode::schema;
pub mod sink;
pub mod source;
pub mod sql;
pub mod store;

pub use datamin_udfs as udfs;
pub use error::{Error, Result};
