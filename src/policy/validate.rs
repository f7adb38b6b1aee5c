//! Shared validation helpers: locating errors in the policy text ([`Ctx`], [`line_col`],
//! [`key_path_at`]) and column types.

use std::collections::BTreeMap;
use std::ops::Range;

use datafusion::arrow::datatypes::DataType;

use super::model::PolicyError;
use crate::schema::Table;

/// The policy being validated, to build [`PolicyError`]s located in its text.
pub(crate) struct Ctx<'a> {
    /// The file name errors give.
    pub(crate) file: &'a str,
    /// The policy text (spans are byte offsets into it).
    pub(crate) text: &'a str,
}

impl Ctx<'_> {
    /// An error at byte range `span` of the text (`None`: no position), under the dotted
    /// `key` (empty: none).
    pub(crate) fn err(
        &self,
        span: Option<Range<usize>>,
        key: &str,
        msg: impl Into<String>,
    ) -> PolicyError {
        let (line, column) = match span {
            Some(s) => {
                let (l, c) = line_col(self.text, s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        PolicyError {
            file: self.file.to_string(),
            line,
            column,
            key: (!key.is_empty()).then(|| key.to_string()),
            message: msg.into(),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The dotted key path (`tables.records.rules[1].grid_m`) of the `key = value` line that holds
/// byte `offset` of `text`, from the nearest `[table]` / `[[array]]` header above it; `None`
/// when the line is not a key/value pair. Used to name the key in TOML type errors, which
/// carry only a position.
pub(crate) fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    if key.is_empty() || key.starts_with('[') || key.starts_with('#') {
        return None;
    }
    let mut header = String::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for l in text[..start].lines() {
        let l = l.trim();
        if let Some(h) = l.strip_prefix("[[").and_then(|h| h.strip_suffix("]]")) {
            let n = counts.entry(h.trim().to_string()).or_insert(0);
            header = format!("{}[{}]", h.trim(), *n);
            *n += 1;
        } else if let Some(h) = l.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            header = h.trim().to_string();
        }
    }
    Some(if header.is_empty() {
        key.to_string()
    } else {
        format!("{header}.{key}")
    })
}

/// The Arrow type of column `col` of `table`, `None` when the table has no such column.
pub(crate) fn column_type(table: Table, col: &str) -> Option<DataType> {
    table
        .schema()
        .field_with_name(col)
        .ok()
        .map(|f| f.data_type().clone())
}
