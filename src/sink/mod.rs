//! Where minimized output goes. [`file_sink`] commits micro-batches exactly once in Spark's
//! file sink layout; [`parquet`] writes deterministic Parquet files; [`decrypt`] reverses the
//! `encrypt` rule for the key holder.

pub mod decrypt;
pub mod file_sink;
pub mod parquet;
