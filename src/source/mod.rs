//! Where input comes from. [`files`] discovers activity files in an object store.

pub mod files;
