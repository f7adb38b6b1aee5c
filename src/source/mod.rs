//! Where input comes from. [`files`] discovers activity files in an object store;
//! [`file_stream`] picks the files of each micro-batch with Spark's file source options;
//! [`kafka`] reads offset ranges of Kafka topics with Spark's Kafka source options, and
//! [`payload`] decodes their JSON messages (and [`avro`] their Avro messages) into Arrow.

pub mod avro;
pub mod file_stream;
pub mod files;
pub mod kafka;
pub mod payload;
