//! Where minimized output goes. [`parquet`] writes deterministic Parquet files; [`decrypt`]
//! reverses the `encrypt` rule for the key holder.

pub mod decrypt;
pub mod parquet;
