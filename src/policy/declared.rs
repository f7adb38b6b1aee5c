//! Declared tables: `[tables.<name>]` with `columns = { … }`, for input that is not an
//! activity file (the JSON messages of a Kafka topic, for example).
//!
//! ```toml
//! [tables.plays]
//! columns = { endTime = "timestamp", artistName = "string", msPlayed = "long" }
//! keep = ["endTime", "artistName", "msPlayed"]
//! ```
//!
//! Column types use Spark SQL's names (Arrow's are accepted too): `string`, `int`
//! (32-bit), `long`/`bigint` (64-bit), `double`, `float`, `boolean`, `timestamp` (µs, UTC; see
//! [`parse_type`]), `date`.
//! The table's raw schema is the declared columns, in declaration order, then the source's
//! metadata columns (Kafka's `key`, `topic`, `partition`, `offset`, `timestamp`, `headers`;
//! see [`crate::source::payload::metadata_fields`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use toml::Spanned;

use super::model::PolicyError;
use super::validate::Ctx;
use crate::schema::timestamp_type;

/// `columns = { name = "type", … }` as written.
pub(crate) type RawColumns = Spanned<BTreeMap<Spanned<String>, Spanned<String>>>;

/// The type names a declared column may have, for error messages.
pub const TYPE_NAMES: &str = "string, int, long, double, float, boolean, timestamp, date";

/// The Arrow type of a declared column type name (Spark SQL's names, any case, or Arrow's):
/// `string` → Utf8, `int`/`integer`/`int32` → Int32, `long`/`bigint`/`int64` → Int64,
/// `double`/`float64` → Float64, `float`/`float32` → Float32, `boolean`/`bool` → Boolean,
/// `timestamp` → Timestamp(µs, UTC) (arrow-json reads RFC 3339 text, or a number of
/// microseconds), `date` → Date32.
pub fn parse_type(name: &str) -> Option<DataType> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "string" | "utf8" => DataType::Utf8,
        "int" | "integer" | "int32" => DataType::Int32,
        "long" | "bigint" | "int64" => DataType::Int64,
        "double" | "float64" => DataType::Float64,
        "float" | "float32" => DataType::Float32,
        "boolean" | "bool" => DataType::Boolean,
        "timestamp" => timestamp_type(),
        "date" | "date32" => DataType::Date32,
        _ => return None,
    })
}

/// The payload schema of a declared table (its columns in declaration order).
pub(crate) fn payload_schema(
    cx: &Ctx<'_>,
    tkey: &str,
    columns: RawColumns,
) -> Result<SchemaRef, PolicyError> {
    let key = format!("{tkey}.columns");
    let span = columns.span();
    let mut cols: Vec<_> = columns.into_inner().into_iter().collect();
    if cols.is_empty() {
        return Err(cx.err(
            Some(span),
            &key,
            "'columns' is empty; declare the input's columns, e.g. columns = { user = \"string\", steps = \"long\" }",
        ));
    }
    cols.sort_by_key(|(name, _)| name.span().start);
    let mut fields = Vec::new();
    for (name, ty) in cols {
        let n = name.get_ref();
        if n.is_empty() || n.starts_with("__") {
            return Err(cx.err(
                Some(name.span()),
                &key,
                format!("'{n}' is not a valid column name (empty, or starts with '__')"),
            ));
        }
        let Some(t) = parse_type(ty.get_ref()) else {
            return Err(cx.err(
                Some(ty.span()),
                &format!("{key}.{n}"),
                format!(
                    "unknown column type '{}'; expected one of {TYPE_NAMES}",
                    ty.get_ref()
                ),
            ));
        };
        fields.push(Field::new(n, t, true));
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// Converts a Spark datetime pattern (`yyyy-MM-dd HH:mm`, as Spark's JSON option
/// `timestampFormat` takes) into a chrono `strftime` format: `yyyy` `MM` `dd` `HH` `mm` `ss`,
/// fractions `S`…`SSSSSSSSS`, offsets `XXX`/`xxx` (`+01:00`) and `Z`/`xx` (`+0100`), text in
/// single quotes, other punctuation as is.
///
/// # Errors
/// A pattern letter outside that set (named in the message).
pub fn spark_pattern_to_strftime(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == '\'')
                .map(|p| i + 1 + p);
            let Some(end) = end else {
                return Err(format!("unclosed quote in '{pattern}'"));
            };
            for &d in &chars[i + 1..end] {
                if d == '%' {
                    out.push_str("%%");
                } else {
                    out.push(d);
                }
            }
            i = end + 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&d| d == c).count();
        let spec = match (c, run) {
            ('y', 4) | ('u', 4) => "%Y".to_string(),
            ('y', 2) => "%y".to_string(),
            ('M', 2) => "%m".to_string(),
            ('d', 2) => "%d".to_string(),
            ('H', 2) => "%H".to_string(),
            ('m', 2) => "%M".to_string(),
            ('s', 2) => "%S".to_string(),
            ('S', 1..=9) => format!("%{run}f"),
            ('X', 3) | ('x', 3) => "%:z".to_string(),
            ('Z', 1) | ('x', 2) | ('X', 2) => "%z".to_string(),
            (c, _) if c.is_ascii_alphabetic() => {
                return Err(format!(
                    "pattern letters '{}' in '{pattern}' are not supported; use yyyy, MM, dd, HH, mm, ss, S…, XXX, Z and quoted text",
                    c.to_string().repeat(run)
                ));
            }
            ('%', _) => "%%".repeat(run),
            (c, _) => c.to_string().repeat(run),
        };
        // Fractions follow a '.' in Spark patterns; chrono's %3f has no dot of its own.
        out.push_str(&spec);
        i += run;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_patterns() {
        assert_eq!(
            spark_pattern_to_strftime("yyyy-MM-dd HH:mm").unwrap(),
            "%Y-%m-%d %H:%M"
        );
        assert_eq!(
            spark_pattern_to_strftime("yyyy-MM-dd'T'HH:mm:ss.SSSXXX").unwrap(),
            "%Y-%m-%dT%H:%M:%S.%3f%:z"
        );
        assert!(spark_pattern_to_strftime("dd.MM.yyyy hh:mm a").is_err());
        assert!(spark_pattern_to_strftime("yyyy 'T").is_err());
    }
}
