//! The crate's error type: what went wrong, with the file, key or rule it concerns.
//!
//! Library functions return [`Result`]. Errors from the engine underneath (DataFusion,
//! Arrow, object stores) are kept as sources; their `Display` drops DataFusion's category
//! prefixes ("Error during planning: ", "Invalid or Unsupported Configuration: ", …) so that
//! a user reads the message itself.

use datafusion::common::DataFusionError;

use crate::format::DecodeError;
use crate::policy::{KeyError, PolicyError};

/// Everything that can go wrong in datamin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A policy that does not validate: `file:line:col: key: message`.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The secret key cannot be loaded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A file that cannot be decoded (it is quarantined where a run goes on).
    #[error("{file}: {source}")]
    Decode {
        /// The file's URL.
        file: String,
        /// Why it cannot be decoded.
        source: DecodeError,
    },
    /// A location that cannot be parsed, resolved or read.
    #[error("{location}: {message}")]
    Location {
        /// The location as given.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// A request the caller can fix (bad arguments, an output that is not empty, …).
    #[error("{0}")]
    Invalid(String),
    /// An error of the query engine, object store or Parquet writer underneath.
    #[error("{}", engine_message(.0))]
    Engine(#[from] DataFusionError),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for DataFusionError {
    /// Back into DataFusion (for code that runs inside a query: table providers, UDFs).
    fn from(e: Error) -> Self {
        match e {
            Error::Engine(e) => e,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

impl From<datafusion::arrow::error::ArrowError> for Error {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        Error::Engine(e.into())
    }
}

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Self {
        Error::Engine(e.into())
    }
}

/// The message of a DataFusion error without its category prefix and backtrace; context
/// added with `.context()` is kept as `context: message`.
pub fn engine_message(e: &DataFusionError) -> String {
    match e {
        DataFusionError::Plan(s)
        | DataFusionError::Configuration(s)
        | DataFusionError::Execution(s)
        | DataFusionError::NotImplemented(s)
        | DataFusionError::Internal(s)
        | DataFusionError::ResourcesExhausted(s) => strip_backtrace(s),
        DataFusionError::SchemaError(inner, _) => inner.to_string(),
        DataFusionError::SQL(inner, _) => inner.to_string(),
        DataFusionError::ParquetError(inner) => inner.to_string(),
        DataFusionError::External(inner) => match inner.downcast_ref::<Error>() {
            Some(e) => e.to_string(),
            None => match inner.downcast_ref::<DataFusionError>() {
                Some(d) => engine_message(d),
                None => inner.to_string(),
            },
        },
        DataFusionError::Context(ctx, inner) => format!("{ctx}: {}", engine_message(inner)),
        DataFusionError::Shared(inner) => engine_message(inner),
        DataFusionError::ArrowError(inner, _) => inner.to_string(),
        DataFusionError::ObjectStore(inner) => inner.to_string(),
        DataFusionError::IoError(inner) => inner.to_string(),
        DataFusionError::Diagnostic(_, inner) => engine_message(inner),
        other => strip_backtrace(&other.to_string()),
    }
}

fn strip_backtrace(s: &str) -> String {
    s.split("\n\nbacktrace:").next().unwrap_or(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_lose_their_category_prefix() {
        let e = Error::from(DataFusionError::Configuration(
            "output x is not empty".into(),
        ));
        assert_eq!(e.to_string(), "output x is not empty");
        let e = Error::from(DataFusionError::Plan("no such table".into()).context("query 2"));
        assert_eq!(e.to_string(), "query 2: no such table");
        let nested = DataFusionError::External(Box::new(Error::Invalid("bad option".into())));
        assert_eq!(Error::from(nested).to_string(), "bad option");
        let e = datafusion::common::DataFusionError::SchemaError(
            Box::new(datafusion::common::SchemaError::FieldNotFound {
                field: Box::new(datafusion::common::Column::from_name("nope")),
                valid_fields: vec![],
            }),
            Box::new(None),
        );
        assert_eq!(Error::from(e).to_string(), "No field named nope.");
    }
}
