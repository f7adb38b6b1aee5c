//! Shared validation helpers: locating errors in the policy text ([`Ctx`], [`line_col`],
//! [`key_path_at`]) and the checks rules make of their parameters ([`RuleInput`]: columns,
//! positive numbers, defaults).

use std::collections::BTreeMap;
use std::ops::Range;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use toml::Spanned;

use super::model::PolicyError;
use super::params::{RawRule, Type, Value};
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

/// The Arrow type of column `col` in a table's raw `schema`, `None` when it has no such
/// column.
pub(crate) fn column_type(schema: &SchemaRef, col: &str) -> Option<DataType> {
    schema
        .field_with_name(col)
        .ok()
        .map(|f| f.data_type().clone())
}

/// One rule being validated: its raw parameters, its table and where it is in the policy.
/// Errors name the key `<rule key>.<parameter>` (`tables.records.rules[1].grid_m`).
pub(crate) struct RuleInput<'a> {
    /// The policy.
    pub(crate) cx: &'a Ctx<'a>,
    /// The rule's key, `tables.<table>.rules[<i>]`.
    pub(crate) key: &'a str,
    /// The table the rule belongs to.
    pub(crate) table: Table,
    /// The table's raw columns.
    pub(crate) schema: &'a SchemaRef,
    /// The table's kept columns.
    pub(crate) kept: &'a [String],
    /// The rule as written.
    pub(crate) raw: &'a RawRule,
    /// The parameters the rule declares.
    pub(crate) params: &'static [(&'static str, Type)],
}

impl RuleInput<'_> {
    /// The rule's name.
    pub(crate) fn name(&self) -> &str {
        self.raw.rule.get_ref()
    }

    /// Where `rule = "…"` is: errors about a missing parameter point here.
    pub(crate) fn rule_span(&self) -> Range<usize> {
        self.raw.rule.span()
    }

    /// An error at `span` under the key of parameter `param`.
    pub(crate) fn err(
        &self,
        span: Range<usize>,
        param: &str,
        msg: impl Into<String>,
    ) -> PolicyError {
        self.cx
            .err(Some(span), &format!("{}.{param}", self.key), msg)
    }

    /// An error at `rule = "…"` under the key of parameter `param` (missing, or not a valid
    /// combination).
    pub(crate) fn needs(&self, param: &str, msg: impl Into<String>) -> PolicyError {
        self.err(self.rule_span(), param, msg)
    }

    /// An error at the rule unless it is in the `records` table (rules that work on
    /// samples: `downsample`, `aggregate`); `why` is appended to the message.
    pub(crate) fn records_only(&self, why: &str) -> Result<(), PolicyError> {
        if self.table == crate::schema::Table::Records {
            return Ok(());
        }
        Err(self.needs(
            "rule",
            format!(
                "rule '{}' applies to the records table only{why}",
                self.name()
            ),
        ))
    }

    /// The value of parameter `p` when given. `p` must be one of the rule's parameters.
    fn value(&self, p: &str, t: Type) -> Option<&Value> {
        debug_assert!(
            self.params.iter().any(|&(q, u)| q == p && u == t),
            "rule '{}' reads parameter '{p}' ({t:?}) it does not declare",
            self.name()
        );
        self.raw.get(p)
    }

    /// Text parameter `p`.
    pub(crate) fn text(&self, p: &str) -> Option<&Spanned<String>> {
        match self.value(p, Type::Text)? {
            Value::Text(v) => Some(v),
            v => unreachable!("parameter '{p}' read as text: {v:?}"),
        }
    }

    /// Integer parameter `p`.
    pub(crate) fn integer(&self, p: &str) -> Option<&Spanned<i64>> {
        match self.value(p, Type::Integer)? {
            Value::Integer(v) => Some(v),
            v => unreachable!("parameter '{p}' read as an integer: {v:?}"),
        }
    }

    /// Number parameter `p`.
    pub(crate) fn number(&self, p: &str) -> Option<&Spanned<f64>> {
        match self.value(p, Type::Number)? {
            Value::Number(v) => Some(v),
            v => unreachable!("parameter '{p}' read as a number: {v:?}"),
        }
    }

    /// Boolean parameter `p`.
    pub(crate) fn boolean(&self, p: &str) -> Option<&Spanned<bool>> {
        match self.value(p, Type::Boolean)? {
            Value::Boolean(v) => Some(v),
            v => unreachable!("parameter '{p}' read as a boolean: {v:?}"),
        }
    }

    /// Number-list parameter `p`.
    pub(crate) fn numbers(&self, p: &str) -> Option<&Spanned<Vec<f64>>> {
        match self.value(p, Type::Numbers)? {
            Value::Numbers(v) => Some(v),
            v => unreachable!("parameter '{p}' read as numbers: {v:?}"),
        }
    }

    /// Column-name parameter `p`, or `default` (located at `rule = "…"`) when not given.
    pub(crate) fn column_or(&self, p: &str, default: &str) -> Spanned<String> {
        self.text(p)
            .cloned()
            .unwrap_or_else(|| Spanned::new(self.rule_span(), default.to_string()))
    }

    /// The `columns` parameter: required, not empty, each a kept column of a type `want`
    /// accepts (`what` names it in the error: "a number").
    pub(crate) fn columns(
        &self,
        want: &dyn Fn(&DataType) -> bool,
        what: &str,
    ) -> Result<Vec<String>, PolicyError> {
        let cols = match self.value("columns", Type::Columns) {
            Some(Value::Columns(c)) => c,
            Some(v) => unreachable!("parameter 'columns' read as columns: {v:?}"),
            None => {
                return Err(
                    self.needs("columns", format!("rule '{}' needs 'columns'", self.name()))
                );
            }
        };
        if cols.get_ref().is_empty() {
            return Err(self.err(cols.span(), "columns", "'columns' is empty"));
        }
        cols.get_ref()
            .iter()
            .map(|c| self.kept_column(c, "columns", want, what))
            .collect()
    }

    /// Column `c` (given for parameter `param`): a column of the table, kept, of a type
    /// `want` accepts.
    pub(crate) fn kept_column(
        &self,
        c: &Spanned<String>,
        param: &str,
        want: &dyn Fn(&DataType) -> bool,
        what: &str,
    ) -> Result<String, PolicyError> {
        let col = c.get_ref();
        let Some(t) = column_type(self.schema, col) else {
            return Err(self.err(
                c.span(),
                param,
                format!("unknown column '{col}' in table {}", self.table),
            ));
        };
        if !self.kept.contains(col) {
            return Err(self.err(
                c.span(),
                param,
                format!("column '{col}' is not in keep; a rule can only transform a kept column"),
            ));
        }
        if !want(&t) {
            return Err(self.err(
                c.span(),
                param,
                format!("column '{col}' is {t}; rule '{}' needs {what}", self.name()),
            ));
        }
        Ok(col.clone())
    }

    /// Column `c` (given for parameter `param`): a timestamp column of the table, kept or not
    /// (row rules read raw columns).
    pub(crate) fn timestamp_column(
        &self,
        c: &Spanned<String>,
        param: &str,
    ) -> Result<String, PolicyError> {
        match column_type(self.schema, c.get_ref()) {
            Some(DataType::Timestamp(..)) => Ok(c.get_ref().clone()),
            Some(t) => Err(self.err(
                c.span(),
                param,
                format!(
                    "column '{}' is {t}; rule '{}' needs a timestamp",
                    c.get_ref(),
                    self.name()
                ),
            )),
            None => Err(self.err(
                c.span(),
                param,
                format!("unknown column '{}' in table {}", c.get_ref(), self.table),
            )),
        }
    }

    /// Required number parameter `p` that must be positive and finite.
    pub(crate) fn positive(&self, p: &str) -> Result<f64, PolicyError> {
        let Some(v) = self.number(p) else {
            return Err(self.needs(
                p,
                format!("rule '{}' needs '{p}' (a number > 0)", self.name()),
            ));
        };
        let x = *v.get_ref();
        if !(x.is_finite() && x > 0.0) {
            return Err(self.err(v.span(), p, format!("{p} must be > 0, got {x}")));
        }
        Ok(x)
    }
}
