//! The policy model ([`Policy`], [`TablePolicy`], [`Rule`]) and its validation from TOML:
//! version, key, tables and kept columns here; each rule in its file under
//! [`rules`](super::rules), the privacy zone in [`zone`](super::zone).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use datafusion::arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::key::KeyConfig;
use super::params::RawRule;
use super::rules::{RuleKind, validate_rule};
use super::validate::{Ctx, column_type, key_path_at};
use super::zone::{RawZone, validate_zone};
use crate::schema::Table;

/// A policy that failed validation: where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct PolicyError {
    /// The policy file as given.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Dotted key path (`tables.records.rules[1].grid_m`), when known.
    pub key: Option<String>,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        if let Some(k) = &self.key {
            write!(f, ": {k}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// One minimization rule with its validated parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// Whether the rule is applied (`enabled = false` keeps the column unchanged).
    pub enabled: bool,
    /// The rule and its parameters.
    #[serde(flatten)]
    pub kind: RuleKind,
}

impl Rule {
    /// Whether applying the rule needs the secret key: enabled and
    /// [`RuleKind::needs_key`].
    pub fn needs_key(&self) -> bool {
        self.enabled && self.kind.needs_key()
    }

    /// Whether applying the rule removes or merges rows: enabled and
    /// [`RuleKind::removes_rows`].
    pub fn removes_rows(&self) -> bool {
        self.enabled && self.kind.removes_rows()
    }
}

/// The policy of one table.
#[derive(Debug, Clone, PartialEq)]
pub struct TablePolicy {
    /// The table.
    pub table: Table,
    /// The input columns the table's rules and `keep` refer to: the canonical schema of an
    /// activity table, or a declared table's columns then its source's metadata columns.
    pub raw_schema: SchemaRef,
    /// A declared table's own columns (`columns = {…}`), in declaration order: what a
    /// message payload is decoded into. `None` for an activity table.
    pub declared: Option<SchemaRef>,
    /// A declared table's `timestamp_format` (Spark's `timestampFormat` pattern, such as
    /// `yyyy-MM-dd HH:mm`) as a chrono `strftime` format: how its `timestamp` columns are
    /// written in the payload (UTC). `None`: RFC 3339.
    pub timestamp_format: Option<String>,
    /// Columns written, in output order.
    pub keep: Vec<String>,
    /// Rules in policy order.
    pub rules: Vec<Rule>,
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Where the policy came from (file path or `<inline>`).
    pub source: String,
    /// Lowercase hex SHA-256 of the policy text.
    pub sha256: String,
    /// The policy text (TOML) this policy was parsed from: what a checkpoint stores so that
    /// a re-run batch uses the same version.
    pub text: String,
    /// Optional human name.
    pub name: Option<String>,
    /// Where the pseudonymization key comes from.
    pub key: KeyConfig,
    /// Tables written: the canonical ones in [`Table::ALL`] order, then declared tables by
    /// name. Tables not named are not written.
    pub tables: Vec<TablePolicy>,
    /// The `[privacy_zone]` rule when enabled (see [`crate::privacy`]); it applies to every
    /// table before the per-column rules.
    pub privacy_zone: Option<crate::privacy::ZoneConfig>,
    /// The `[job]` section: trigger and source/sink options of `datamin run`.
    pub job: super::job::JobConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: Option<Spanned<i64>>,
    name: Option<String>,
    key: Option<RawKey>,
    #[serde(default)]
    tables: BTreeMap<Spanned<String>, Spanned<RawTable>>,
    privacy_zone: Option<Spanned<RawZone>>,
    job: Option<super::job::RawJob>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    env: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
    id: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    columns: Option<super::declared::RawColumns>,
    timestamp_format: Option<Spanned<String>>,
    keep: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
}

impl Policy {
    /// Reads and validates the policy file at `path` (a local file).
    ///
    /// # Errors
    /// The file cannot be read, or [`Policy::parse`] rejects it.
    pub fn from_file(path: &str) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            file: path.to_string(),
            line: None,
            column: None,
            key: None,
            message: format!("cannot read policy: {e}"),
        })?;
        Self::parse(path, &text)
    }

    /// Validates policy `text`; `file` names it in errors.
    ///
    /// # Errors
    /// Invalid TOML, an unknown key, table, column or rule, or a parameter out of range:
    /// a [`PolicyError`] with `file:line:col` and the dotted key path.
    pub fn parse(file: &str, text: &str) -> Result<Self, PolicyError> {
        let cx = Ctx { file, text };
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let span = e.span();
            let msg = e.message().trim().to_string();
            let key = span
                .as_ref()
                .and_then(|s| key_path_at(text, s.start))
                .unwrap_or_default();
            cx.err(span, &key, msg)
        })?;
        if let Some(v) = &raw.version
            && *v.get_ref() != 1
        {
            return Err(cx.err(
                Some(v.span()),
                "version",
                format!(
                    "unsupported policy version {}; this datamin reads version 1",
                    v.get_ref()
                ),
            ));
        }
        let key = match raw.key {
            None => KeyConfig::default(),
            Some(k) => validate_key(&cx, k)?,
        };
        let mut tables = Vec::new();
        let mut first_declared = None;
        for (name, t) in raw.tables {
            let span = name.span();
            let tp = validate_table(&cx, name, t)?;
            if tp.declared.is_some() && first_declared.is_none() {
                first_declared = Some((tp.table, span));
            }
            tables.push(tp);
        }
        tables.sort_by_key(|t| t.table);
        let privacy_zone = match raw.privacy_zone {
            None => None,
            Some(z) => validate_zone(&cx, z)?,
        };
        if privacy_zone.is_some()
            && let Some((t, span)) = first_declared
        {
            // Fail closed: the zone works on activity tables; a declared table of location
            // samples would be written unzoned.
            return Err(cx.err(
                Some(span),
                &format!("tables.{t}"),
                format!(
                    "the privacy zone applies to the activity tables (records, laps, sessions, activities), not to declared table '{t}'; write declared tables with a policy that has no [privacy_zone]"
                ),
            ));
        }
        let job = match raw.job {
            None => super::job::JobConfig::default(),
            Some(j) => super::job::validate_job(&cx, j)?,
        };
        if tables.is_empty() {
            return Err(cx.err(
                None,
                "tables",
                "the policy writes no table; add e.g. [tables.records] with keep = [...]",
            ));
        }
        Ok(Policy {
            source: file.to_string(),
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
            text: text.to_string(),
            name: raw.name,
            key,
            tables,
            privacy_zone,
            job,
        })
    }

    /// Whether any enabled rule needs the secret key.
    pub fn needs_key(&self) -> bool {
        self.enabled_rules().any(|(_, r)| r.needs_key())
            || self.privacy_zone.as_ref().is_some_and(|z| z.is_keyed())
    }

    /// Enabled rules with their table.
    pub fn enabled_rules(&self) -> impl Iterator<Item = (Table, &Rule)> {
        self.tables.iter().flat_map(|t| {
            t.rules
                .iter()
                .filter(|r| r.enabled)
                .map(move |r| (t.table, r))
        })
    }

    /// The policy of `table`, if it is written.
    pub fn table(&self, table: Table) -> Option<&TablePolicy> {
        self.tables.iter().find(|t| t.table == table)
    }
}

/// `[key]`: where the secret comes from, and its public id.
fn validate_key(cx: &Ctx<'_>, k: RawKey) -> Result<KeyConfig, PolicyError> {
    if let (Some(_), Some(f)) = (&k.env, &k.file) {
        return Err(cx.err(
            Some(f.span()),
            "key.file",
            "give either key.env or key.file, not both",
        ));
    }
    if let Some(id) = &k.id
        && id.get_ref().trim().is_empty()
    {
        return Err(cx.err(Some(id.span()), "key.id", "key id must not be empty"));
    }
    Ok(KeyConfig {
        env: k.env.map(|s| s.into_inner()),
        file: k.file.map(|s| s.into_inner()),
        id: k.id.map(|s| s.into_inner()),
    })
}

/// `[tables.<name>]`: a known table, its kept columns, and its rules (at most one enabled
/// rule per column).
fn validate_table(
    cx: &Ctx<'_>,
    name: Spanned<String>,
    t: Spanned<RawTable>,
) -> Result<TablePolicy, PolicyError> {
    let tkey = format!("tables.{}", name.get_ref());
    let table = Table::from_name(name.get_ref());
    let tspan = t.span();
    let t = t.into_inner();
    let timestamp_format = match t.timestamp_format {
        None => None,
        Some(f) if table.is_canonical() => {
            return Err(cx.err(
                Some(f.span()),
                &format!("{tkey}.timestamp_format"),
                "timestamp_format applies to declared tables (columns = {…})",
            ));
        }
        Some(f) => Some(
            super::declared::spark_pattern_to_strftime(f.get_ref())
                .map_err(|e| cx.err(Some(f.span()), &format!("{tkey}.timestamp_format"), e))?,
        ),
    };
    let (raw_schema, declared) = match (table.canonical_schema(), t.columns) {
        (Some(schema), None) => (schema, None),
        (Some(_), Some(c)) => {
            return Err(cx.err(
                Some(c.span()),
                &format!("{tkey}.columns"),
                format!(
                    "{table} is an activity table with fixed columns (see `datamin schema`); 'columns' declares the input of another table"
                ),
            ));
        }
        (None, Some(c)) => {
            let payload = super::declared::payload_schema(cx, &tkey, c)?;
            (
                crate::source::payload::table_schema(&payload),
                Some(payload),
            )
        }
        (None, None) => {
            return Err(cx.err(
                Some(name.span()),
                &tkey,
                format!(
                    "unknown table '{table}'; the activity tables are records, laps, sessions, activities; any other table declares its input columns: columns = {{ user = \"string\", steps = \"long\" }}"
                ),
            ));
        }
    };
    let Some(keep) = t.keep else {
        return Err(cx.err(
            Some(tspan),
            &format!("{tkey}.keep"),
            "missing 'keep': list the columns to write (everything else is dropped)",
        ));
    };
    if keep.get_ref().is_empty() {
        return Err(cx.err(
            Some(keep.span()),
            &format!("{tkey}.keep"),
            "'keep' is empty; remove the table to write nothing",
        ));
    }
    let mut kept = Vec::new();
    let mut seen = BTreeSet::new();
    for c in keep.into_inner() {
        let col = c.get_ref();
        if column_type(&raw_schema, col).is_none() {
            return Err(cx.err(
                Some(c.span()),
                &format!("{tkey}.keep"),
                format!(
                    "unknown column '{col}' in table {table}; columns: {}",
                    raw_schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if !seen.insert(col.clone()) {
            return Err(cx.err(
                Some(c.span()),
                &format!("{tkey}.keep"),
                format!("column '{col}' is listed twice"),
            ));
        }
        kept.push(col.clone());
    }
    let mut rules = Vec::new();
    let mut written: BTreeMap<String, usize> = BTreeMap::new();
    for (i, r) in t.rules.iter().enumerate() {
        let rkey = format!("{tkey}.rules[{i}]");
        let rule = validate_rule(cx, &rkey, table, &raw_schema, &kept, r.get_ref())?;
        if rule.enabled {
            for c in rule.kind.columns() {
                if let Some(prev) = written.insert(c.to_string(), i) {
                    return Err(cx.err(None, &rkey, format!(
                        "column '{c}' is already transformed by {tkey}.rules[{prev}]; a column takes at most one enabled rule"
                    )));
                }
            }
        }
        rules.push(rule);
    }
    Ok(TablePolicy {
        table,
        raw_schema,
        declared,
        timestamp_format,
        keep: kept,
        rules,
    })
}
