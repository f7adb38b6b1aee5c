//! `datamin decrypt`: decrypt the `encrypt`ed columns of a Parquet file.

use crate::error::{Error, Result};

use super::parquet;

/// The key-value metadata of the Parquet file at `location` (path or URL).
///
/// # Errors
/// The location cannot be resolved or read, or it is not a Parquet file.
pub async fn file_metadata(location: &str) -> Result<Vec<(String, String)>> {
    use datafusion::parquet::file::reader::FileReader;
    let bytes = crate::store::Location::parse(location)?.read().await?;
    let reader = datafusion::parquet::file::serialized_reader::SerializedFileReader::new(bytes)
        .map_err(|e| Error::Location {
            location: location.to_string(),
            message: e.to_string(),
        })?;
    Ok(parquet::key_value_metadata(
        reader.metadata().file_metadata(),
    ))
}

/// The id of the key a datamin output file was written with (`datamin.key_id`), if any: with a
/// keyring, `datamin decrypt` takes that key, not the active one.
///
/// # Errors
/// As [`file_metadata`].
pub async fn file_key_id(location: &str) -> Result<Option<String>> {
    Ok(file_metadata(location)
        .await?
        .into_iter()
        .find_map(|(k, v)| (k == "datamin.key_id").then_some(v)))
}

/// The key to decrypt the file at `input` with: from `key_file` (the CLI's `--key-file`), else
/// `DATAMIN_KEY`, else the default keyring if it exists. From a keyring, the key the file was
/// written with ([`file_key_id`]), so that key rotation never strands old files.
///
/// # Errors
/// The file's metadata cannot be read, or the key cannot be loaded (none configured, an
/// unreadable file, or a keyring without the file's key id).
pub async fn decryption_key(
    input: &str,
    key_file: Option<&str>,
) -> Result<datamin_udfs::PseudonymKey> {
    use crate::policy::{DEFAULT_KEY_ENV, KeyConfig, default_keyring_path, load_key_by_id};
    let key_id = file_key_id(input).await?;
    // without --key-file or DATAMIN_KEY: the default keyring, if there is one
    let default_ring = default_keyring_path()
        .filter(|p| key_file.is_none() && std::env::var_os(DEFAULT_KEY_ENV).is_none() && p.exists())
        .map(|p| p.to_string_lossy().into_owned());
    Ok(load_key_by_id(
        &KeyConfig::default(),
        key_file.or(default_ring.as_deref()),
        key_id.as_deref(),
    )
    .await?)
}

/// Reads the Parquet file `input`, decrypts `columns` with `key` (see
/// `datamin_udfs::encrypt`) and writes the result to `output`, keeping the other columns and
/// the file's key-value metadata. Returns the number of rows.
///
/// # Errors
/// `input` cannot be read or has no column named in `columns`; a value does not decrypt
/// with `key` (wrong key, tampered data); `output` cannot be written.
pub async fn decrypt_file(
    key: datamin_udfs::PseudonymKey,
    input: &str,
    output: &str,
    columns: &[String],
) -> Result<u64> {
    use datafusion::prelude::ParquetReadOptions;
    let ctx = crate::context::session_context(Some(key), 1);
    let in_url = crate::store::location_to_url(input)?;
    let df = ctx
        .read_parquet(in_url.as_str(), ParquetReadOptions::default())
        .await?;
    let schema = df.schema().clone();
    for c in columns {
        if schema.field_with_unqualified_name(c).is_err() {
            return Err(Error::Invalid(format!("{input} has no column '{c}'")));
        }
    }
    let exprs: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| {
            let q = crate::policy::ident(f.name());
            if columns.contains(f.name()) {
                format!("decrypt({q}) AS {q}")
            } else {
                q
            }
        })
        .collect();
    ctx.register_table("encrypted", df.into_view())?;
    let out = ctx
        .sql(&format!("SELECT {} FROM encrypted", exprs.join(", ")))
        .await?;
    let out_schema = std::sync::Arc::new(out.schema().as_arrow().clone());
    let batches = out.collect().await?;
    // keep the provenance metadata of the input
    let meta = file_metadata(input).await?;
    let out = crate::store::Location::parse(output)?;
    let w = parquet::write(out.store(), out.path(), out_schema, &batches, meta).await?;
    Ok(w.rows)
}
