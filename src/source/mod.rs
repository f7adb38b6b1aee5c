//! Where input comes from. [`files`] discovers activity files in an object store;
//! [`file_stream`] picks the files of each micro-batch with Spark's file source options.

pub mod file_stream;
pub mod files;
