//! Where minimized output goes. [`parquet`] writes deterministic Parquet files.

pub mod parquet;
