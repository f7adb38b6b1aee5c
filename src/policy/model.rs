//! Policy model and validation.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use datafusion::arrow::datatypes::DataType;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::key::KeyConfig;
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

/// The rules of policy v1. Each compiles to a call of the datamin UDF of the same name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum RuleKind {
    /// Replace each column by its keyed HMAC-SHA256 pseudonym (hex).
    Pseudonymize {
        /// Columns to pseudonymize.
        columns: Vec<String>,
        /// Optional purpose for domain separation.
        purpose: Option<String>,
    },
    /// Snap a latitude/longitude pair (degrees) to the centre of its cell: a `grid_m` metre
    /// grid cell, or the H3 cell of resolution `h3_resolution` (exactly one of the two).
    GeneralizeCoordinates {
        /// Latitude column (degrees).
        lat: String,
        /// Longitude column (degrees).
        long: String,
        /// Grid cell size in metres, > 0.
        #[serde(skip_serializing_if = "Option::is_none")]
        grid_m: Option<f64>,
        /// H3 resolution 0–15.
        #[serde(skip_serializing_if = "Option::is_none")]
        h3_resolution: Option<u8>,
    },
    /// Round timestamps down to `unit`.
    TruncateTime {
        /// Timestamp columns.
        columns: Vec<String>,
        /// `second`, `minute`, `hour` or `day`.
        unit: String,
    },
    /// Replace numbers by band labels with top/bottom coding.
    GeneralizeNumber {
        /// Numeric columns.
        columns: Vec<String>,
        /// Strictly increasing band edges (units of the column).
        edges: Vec<f64>,
    },
    /// Round numbers to a multiple of `step` (altitude, speed side channels).
    Quantize {
        /// Numeric columns.
        columns: Vec<String>,
        /// Step, in the column's unit.
        step: f64,
    },
    /// Add keyed deterministic Laplace noise of scale `scale`.
    Noise {
        /// Numeric columns.
        columns: Vec<String>,
        /// Laplace scale b, in the column's unit.
        scale: f64,
    },
    /// Encrypt columns with AES-256-GCM-SIV (reversible by the key holder: `datamin decrypt`).
    Encrypt {
        /// Columns (encrypted as their string form).
        columns: Vec<String>,
        /// Equal values give equal ciphertexts (joinable); else the nonce depends on the row.
        deterministic: bool,
    },
    /// Replace the values of columns by NULL (local suppression).
    Suppress {
        /// Columns.
        columns: Vec<String>,
    },
    /// Drop the rows for which an SQL condition over the raw columns is true.
    SuppressRows {
        /// SQL boolean expression.
        condition: String,
    },
    /// Drop rows older than `max_age_days` before the newest value of `column` in the batch.
    Retention {
        /// Timestamp column (event time).
        column: String,
        /// Maximum age in days.
        max_age_days: f64,
    },
    /// Keep at most one record per activity per bucket of `column` (the first): per
    /// `interval_s` seconds of a timestamp column, or per `spacing_m` metres of a cumulative
    /// distance column.
    Downsample {
        /// Timestamp column (`interval_s`) or cumulative distance column (`spacing_m`).
        column: String,
        /// Bucket width: seconds for a timestamp column, metres for a distance column.
        width: f64,
        /// Whether `column` is a distance in metres (else a timestamp).
        by_distance: bool,
    },
    /// Replace the records by one summary row per activity (or per `interval_s` seconds of
    /// it), computed from the minimized values: averages (integers rounded, same type),
    /// the maximum of `distance_m`, the first of timestamps and strings, and `sample_count`.
    Aggregate {
        /// Bucket width in seconds (`None`: the whole activity).
        interval_s: Option<f64>,
    },
    /// Replace values by their difference to the activity's minimum (e.g. altitude above the
    /// activity's lowest point): the profile stays, the absolute level (which locates a place)
    /// goes.
    Relative {
        /// Numeric columns.
        columns: Vec<String>,
    },
    /// Drop rows whose combination of quasi-identifiers (output values) occurs fewer than
    /// `k` times in the batch.
    KAnonymity {
        /// Quasi-identifier columns (kept columns, after their own rules).
        quasi_identifiers: Vec<String>,
        /// Minimum group size.
        k: u64,
    },
}

impl RuleKind {
    /// The rule's name in the policy file.
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::Pseudonymize { .. } => "pseudonymize",
            RuleKind::GeneralizeCoordinates { .. } => "generalize_coordinates",
            RuleKind::TruncateTime { .. } => "truncate_time",
            RuleKind::GeneralizeNumber { .. } => "generalize_number",
            RuleKind::Quantize { .. } => "quantize",
            RuleKind::Noise { .. } => "noise",
            RuleKind::Suppress { .. } => "suppress",
            RuleKind::Encrypt { .. } => "encrypt",
            RuleKind::SuppressRows { .. } => "suppress_rows",
            RuleKind::Retention { .. } => "retention",
            RuleKind::Downsample { .. } => "downsample",
            RuleKind::Relative { .. } => "relative",
            RuleKind::Aggregate { .. } => "aggregate",
            RuleKind::KAnonymity { .. } => "k_anonymity",
        }
    }

    /// The columns the rule writes.
    pub fn columns(&self) -> Vec<&str> {
        match self {
            RuleKind::Pseudonymize { columns, .. }
            | RuleKind::TruncateTime { columns, .. }
            | RuleKind::GeneralizeNumber { columns, .. }
            | RuleKind::Quantize { columns, .. }
            | RuleKind::Noise { columns, .. }
            | RuleKind::Encrypt { columns, .. }
            | RuleKind::Relative { columns }
            | RuleKind::Suppress { columns } => columns.iter().map(String::as_str).collect(),
            RuleKind::GeneralizeCoordinates { lat, long, .. } => vec![lat, long],
            RuleKind::SuppressRows { .. }
            | RuleKind::Retention { .. }
            | RuleKind::Downsample { .. }
            | RuleKind::Aggregate { .. }
            | RuleKind::KAnonymity { .. } => Vec::new(),
        }
    }
}

/// The policy of one table.
#[derive(Debug, Clone, PartialEq)]
pub struct TablePolicy {
    /// The table.
    pub table: Table,
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
    /// Optional human name.
    pub name: Option<String>,
    /// Where the pseudonymization key comes from.
    pub key: KeyConfig,
    /// Tables written, in [`Table::ALL`] order. Tables not named are not written.
    pub tables: Vec<TablePolicy>,
    /// The `[privacy_zone]` rule when enabled (see [`crate::privacy`]); it applies to every
    /// table before the per-column rules.
    pub privacy_zone: Option<crate::privacy::ZoneConfig>,
}

/// Rule names of policy v1.
pub const RULES: [&str; 14] = [
    "encrypt",
    "pseudonymize",
    "generalize_coordinates",
    "truncate_time",
    "generalize_number",
    "quantize",
    "noise",
    "suppress",
    "suppress_rows",
    "retention",
    "downsample",
    "relative",
    "aggregate",
    "k_anonymity",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: Option<Spanned<i64>>,
    name: Option<String>,
    key: Option<RawKey>,
    #[serde(default)]
    tables: BTreeMap<Spanned<String>, Spanned<RawTable>>,
    privacy_zone: Option<Spanned<RawZone>>,
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
    keep: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    rule: Spanned<String>,
    enabled: Option<bool>,
    columns: Option<Spanned<Vec<Spanned<String>>>>,
    purpose: Option<Spanned<String>>,
    lat: Option<Spanned<String>>,
    long: Option<Spanned<String>>,
    grid_m: Option<Spanned<f64>>,
    h3_resolution: Option<Spanned<i64>>,
    unit: Option<Spanned<String>>,
    edges: Option<Spanned<Vec<f64>>>,
    step: Option<Spanned<f64>>,
    scale: Option<Spanned<f64>>,
    #[serde(rename = "where")]
    where_: Option<Spanned<String>>,
    column: Option<Spanned<String>>,
    max_age_days: Option<Spanned<f64>>,
    interval_s: Option<Spanned<f64>>,
    spacing_m: Option<Spanned<f64>>,
    k: Option<Spanned<i64>>,
    deterministic: Option<Spanned<bool>>,
}

impl Policy {
    /// Reads and validates the policy file at `path` (a local file).
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
            Some(k) => {
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
                KeyConfig {
                    env: k.env.map(|s| s.into_inner()),
                    file: k.file.map(|s| s.into_inner()),
                    id: k.id.map(|s| s.into_inner()),
                }
            }
        };
        let mut tables = Vec::new();
        for (name, t) in raw.tables {
            let tkey = format!("tables.{}", name.get_ref());
            let table: Table = match name.get_ref().as_str() {
                "records" => Table::Records,
                "laps" => Table::Laps,
                "sessions" => Table::Sessions,
                "activities" => Table::Activities,
                other => {
                    return Err(cx.err(Some(name.span()), &tkey, format!(
                        "unknown table '{other}'; expected one of records, laps, sessions, activities"
                    )));
                }
            };
            let tspan = t.span();
            let t = t.into_inner();
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
                if column_type(table, col).is_none() {
                    return Err(cx.err(
                        Some(c.span()),
                        &format!("{tkey}.keep"),
                        format!(
                            "unknown column '{col}' in table {table}; columns: {}",
                            table
                                .schema()
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
            for (i, r) in t.rules.into_iter().enumerate() {
                let rkey = format!("{tkey}.rules[{i}]");
                let rule = validate_rule(&cx, &rkey, table, &kept, r.into_inner())?;
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
            tables.push(TablePolicy {
                table,
                keep: kept,
                rules,
            });
        }
        tables.sort_by_key(|t| t.table);
        let privacy_zone = match raw.privacy_zone {
            None => None,
            Some(z) => validate_zone(&cx, z)?,
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
            name: raw.name,
            key,
            tables,
            privacy_zone,
        })
    }

    /// Whether any enabled rule needs the secret key.
    pub fn needs_key(&self) -> bool {
        self.enabled_rules().any(|(_, r)| {
            matches!(
                r.kind,
                RuleKind::Pseudonymize { .. } | RuleKind::Noise { .. } | RuleKind::Encrypt { .. }
            )
        }) || self.privacy_zone.as_ref().is_some_and(|z| z.is_keyed())
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

fn validate_rule(
    cx: &Ctx<'_>,
    rkey: &str,
    table: Table,
    kept: &[String],
    r: RawRule,
) -> Result<Rule, PolicyError> {
    let name = r.rule.get_ref().as_str();
    let rule_span = r.rule.span();
    // Which parameters each rule takes.
    let allowed: &[&str] = match name {
        "pseudonymize" => &["columns", "purpose"],
        "generalize_coordinates" => &["lat", "long", "grid_m", "h3_resolution"],
        "truncate_time" => &["columns", "unit"],
        "generalize_number" => &["columns", "edges"],
        "quantize" => &["columns", "step"],
        "noise" => &["columns", "scale"],
        "suppress" => &["columns"],
        "suppress_rows" => &["where"],
        "retention" => &["column", "max_age_days"],
        "downsample" => &["column", "interval_s", "spacing_m"],
        "relative" => &["columns"],
        "aggregate" => &["interval_s"],
        "k_anonymity" => &["columns", "k"],
        "encrypt" => &["columns", "deterministic"],
        other => {
            return Err(cx.err(
                Some(rule_span),
                &format!("{rkey}.rule"),
                format!(
                    "unknown rule '{other}'; expected one of {}",
                    RULES.join(", ")
                ),
            ));
        }
    };
    let present: [(&str, Option<std::ops::Range<usize>>); 17] = [
        ("deterministic", r.deterministic.as_ref().map(|s| s.span())),
        ("step", r.step.as_ref().map(|s| s.span())),
        ("scale", r.scale.as_ref().map(|s| s.span())),
        ("where", r.where_.as_ref().map(|s| s.span())),
        ("column", r.column.as_ref().map(|s| s.span())),
        ("max_age_days", r.max_age_days.as_ref().map(|s| s.span())),
        ("interval_s", r.interval_s.as_ref().map(|s| s.span())),
        ("spacing_m", r.spacing_m.as_ref().map(|s| s.span())),
        ("k", r.k.as_ref().map(|s| s.span())),
        ("columns", r.columns.as_ref().map(|s| s.span())),
        ("purpose", r.purpose.as_ref().map(|s| s.span())),
        ("lat", r.lat.as_ref().map(|s| s.span())),
        ("long", r.long.as_ref().map(|s| s.span())),
        ("grid_m", r.grid_m.as_ref().map(|s| s.span())),
        ("h3_resolution", r.h3_resolution.as_ref().map(|s| s.span())),
        ("unit", r.unit.as_ref().map(|s| s.span())),
        ("edges", r.edges.as_ref().map(|s| s.span())),
    ];
    for (p, span) in &present {
        if span.is_some() && !allowed.contains(p) {
            return Err(cx.err(
                span.clone(),
                &format!("{rkey}.{p}"),
                format!(
                    "rule '{name}' has no parameter '{p}'; its parameters: {}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    let check_col_unkept = |c: &Spanned<String>, key: &str| -> Result<String, PolicyError> {
        match column_type(table, c.get_ref()) {
            Some(DataType::Timestamp(..)) => Ok(c.get_ref().clone()),
            Some(t) => Err(cx.err(
                Some(c.span()),
                key,
                format!(
                    "column '{}' is {t}; rule '{name}' needs a timestamp",
                    c.get_ref()
                ),
            )),
            None => Err(cx.err(
                Some(c.span()),
                key,
                format!("unknown column '{}' in table {table}", c.get_ref()),
            )),
        }
    };
    let check_col = |c: &Spanned<String>,
                     key: &str,
                     want: &dyn Fn(&DataType) -> bool,
                     what: &str|
     -> Result<String, PolicyError> {
        let col = c.get_ref();
        let Some(t) = column_type(table, col) else {
            return Err(cx.err(
                Some(c.span()),
                key,
                format!("unknown column '{col}' in table {table}"),
            ));
        };
        if !kept.contains(col) {
            return Err(cx.err(
                Some(c.span()),
                key,
                format!("column '{col}' is not in keep; a rule can only transform a kept column"),
            ));
        }
        if !want(&t) {
            return Err(cx.err(
                Some(c.span()),
                key,
                format!("column '{col}' is {t}; rule '{name}' needs {what}"),
            ));
        }
        Ok(col.clone())
    };
    let columns =
        |want: &dyn Fn(&DataType) -> bool, what: &str| -> Result<Vec<String>, PolicyError> {
            let key = format!("{rkey}.columns");
            let Some(cols) = &r.columns else {
                return Err(cx.err(
                    Some(rule_span.clone()),
                    &key,
                    format!("rule '{name}' needs 'columns'"),
                ));
            };
            if cols.get_ref().is_empty() {
                return Err(cx.err(Some(cols.span()), &key, "'columns' is empty"));
            }
            cols.get_ref()
                .iter()
                .map(|c| check_col(c, &key, want, what))
                .collect()
        };
    // A required parameter that must be a positive, finite number.
    let positive = |p: &str, v: &Option<Spanned<f64>>| -> Result<f64, PolicyError> {
        let Some(v) = v else {
            return Err(cx.err(
                Some(rule_span.clone()),
                &format!("{rkey}.{p}"),
                format!("rule '{name}' needs '{p}' (a number > 0)"),
            ));
        };
        let x = *v.get_ref();
        if !(x.is_finite() && x > 0.0) {
            return Err(cx.err(
                Some(v.span()),
                &format!("{rkey}.{p}"),
                format!("{p} must be > 0, got {x}"),
            ));
        }
        Ok(x)
    };
    let kind = match name {
        "pseudonymize" => RuleKind::Pseudonymize {
            columns: columns(&|_| true, "any type")?,
            purpose: match &r.purpose {
                Some(p) if p.get_ref().trim().is_empty() => {
                    return Err(cx.err(
                        Some(p.span()),
                        &format!("{rkey}.purpose"),
                        "purpose must not be empty",
                    ));
                }
                p => p.as_ref().map(|p| p.get_ref().clone()),
            },
        },
        "generalize_coordinates" => {
            let is_f64 = |t: &DataType| *t == DataType::Float64;
            let coord = |given: &Option<Spanned<String>>, default: &str, p: &str| {
                let c = given
                    .clone()
                    .unwrap_or_else(|| Spanned::new(rule_span.clone(), default.to_string()));
                check_col(&c, &format!("{rkey}.{p}"), &is_f64, "degrees (Float64)")
            };
            let lat = coord(&r.lat, "position_lat", "lat")?;
            let long = coord(&r.long, "position_long", "long")?;
            match (&r.grid_m, &r.h3_resolution) {
                (Some(g), None) => {
                    let grid_m = *g.get_ref();
                    if !(grid_m.is_finite() && grid_m > 0.0 && grid_m <= 20_000_000.0) {
                        return Err(cx.err(
                            Some(g.span()),
                            &format!("{rkey}.grid_m"),
                            format!("grid_m must be > 0 and at most 20000000 metres, got {grid_m}"),
                        ));
                    }
                    RuleKind::GeneralizeCoordinates {
                        lat,
                        long,
                        grid_m: Some(grid_m),
                        h3_resolution: None,
                    }
                }
                (None, Some(h)) => {
                    let res = *h.get_ref();
                    if !(0..=15).contains(&res) {
                        return Err(cx.err(
                            Some(h.span()),
                            &format!("{rkey}.h3_resolution"),
                            format!("h3_resolution must be an integer 0-15, got {res}"),
                        ));
                    }
                    RuleKind::GeneralizeCoordinates {
                        lat,
                        long,
                        grid_m: None,
                        h3_resolution: Some(res as u8),
                    }
                }
                _ => {
                    return Err(cx.err(
                        Some(rule_span),
                        &format!("{rkey}.grid_m"),
                        "rule 'generalize_coordinates' needs exactly one of 'grid_m' (cell size in metres) or 'h3_resolution' (0-15)",
                    ));
                }
            }
        }
        "truncate_time" => {
            let cols = columns(&|t| matches!(t, DataType::Timestamp(..)), "a timestamp")?;
            let Some(u) = &r.unit else {
                return Err(cx.err(
                    Some(rule_span),
                    &format!("{rkey}.unit"),
                    "rule 'truncate_time' needs 'unit' (second, minute, hour or day)",
                ));
            };
            if datamin_udfs::truncate_time::unit_micros(u.get_ref()).is_none() {
                return Err(cx.err(
                    Some(u.span()),
                    &format!("{rkey}.unit"),
                    format!(
                        "unknown unit '{}'; expected second, minute, hour or day",
                        u.get_ref()
                    ),
                ));
            }
            RuleKind::TruncateTime {
                columns: cols,
                unit: u.get_ref().clone(),
            }
        }
        "generalize_number" => {
            let cols = columns(&|t| t.is_numeric(), "a number")?;
            let Some(e) = &r.edges else {
                return Err(cx.err(
                    Some(rule_span),
                    &format!("{rkey}.edges"),
                    "rule 'generalize_number' needs 'edges' (increasing band edges)",
                ));
            };
            let edges = e.get_ref().clone();
            if edges.is_empty()
                || edges.iter().any(|v| !v.is_finite())
                || edges.windows(2).any(|w| w[0] >= w[1])
            {
                return Err(cx.err(
                    Some(e.span()),
                    &format!("{rkey}.edges"),
                    "edges must be a non-empty list of strictly increasing numbers",
                ));
            }
            RuleKind::GeneralizeNumber {
                columns: cols,
                edges,
            }
        }
        "quantize" | "noise" => {
            let cols = columns(&|t| t.is_numeric(), "a number")?;
            let (p, v) = if name == "quantize" {
                ("step", &r.step)
            } else {
                ("scale", &r.scale)
            };
            let x = positive(p, v)?;
            if name == "quantize" {
                RuleKind::Quantize {
                    columns: cols,
                    step: x,
                }
            } else {
                RuleKind::Noise {
                    columns: cols,
                    scale: x,
                }
            }
        }
        "encrypt" => RuleKind::Encrypt {
            columns: columns(&|_| true, "any type")?,
            deterministic: r.deterministic.as_ref().is_none_or(|d| *d.get_ref()),
        },
        "suppress" => RuleKind::Suppress {
            columns: columns(&|_| true, "any type")?,
        },
        "suppress_rows" => {
            let Some(w) = &r.where_ else {
                return Err(cx.err(
                    Some(rule_span),
                    &format!("{rkey}.where"),
                    "rule 'suppress_rows' needs 'where' (an SQL condition on the table's columns)",
                ));
            };
            let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
            let parsed = datafusion::sql::sqlparser::parser::Parser::new(&dialect)
                .try_with_sql(w.get_ref())
                .and_then(|mut p| p.parse_expr());
            if let Err(e) = parsed {
                return Err(cx.err(
                    Some(w.span()),
                    &format!("{rkey}.where"),
                    format!("not an SQL condition: {e}"),
                ));
            }
            // Resolve the columns (and functions) now, so that a typo is reported here, with
            // its location, rather than when the view is created.
            let planned = datafusion::common::DFSchema::try_from(table.schema().as_ref().clone())
                .and_then(|schema| {
                    datafusion::prelude::SessionContext::new().parse_sql_expr(w.get_ref(), &schema)
                });
            if let Err(e) = planned {
                return Err(cx.err(
                    Some(w.span()),
                    &format!("{rkey}.where"),
                    e.strip_backtrace().to_string(),
                ));
            }
            RuleKind::SuppressRows {
                condition: w.get_ref().clone(),
            }
        }
        "retention" => {
            let col = match &r.column {
                Some(c) => c.clone(),
                None => Spanned::new(rule_span.clone(), "timestamp".to_string()),
            };
            RuleKind::Retention {
                column: check_col_unkept(&col, &format!("{rkey}.column"))?,
                max_age_days: positive("max_age_days", &r.max_age_days)?,
            }
        }
        "downsample" => {
            if table != Table::Records {
                return Err(cx.err(
                    Some(rule_span),
                    &format!("{rkey}.rule"),
                    "rule 'downsample' applies to the records table only",
                ));
            }
            let by_distance = match (&r.interval_s, &r.spacing_m) {
                (Some(_), None) => false,
                (None, Some(_)) => true,
                _ => {
                    return Err(cx.err(
                        Some(rule_span),
                        &format!("{rkey}.rule"),
                        "rule 'downsample' needs exactly one of 'interval_s' (seconds) or 'spacing_m' (metres)",
                    ));
                }
            };
            let default = if by_distance {
                "distance_m"
            } else {
                "timestamp"
            };
            let col = match &r.column {
                Some(c) => c.clone(),
                None => Spanned::new(rule_span.clone(), default.to_string()),
            };
            let column = if by_distance {
                match column_type(table, col.get_ref()) {
                    Some(t) if t.is_numeric() => col.get_ref().clone(),
                    _ => {
                        return Err(cx.err(
                            Some(col.span()),
                            &format!("{rkey}.column"),
                            format!(
                                "column '{}' is not a number; 'spacing_m' needs a cumulative distance column (metres)",
                                col.get_ref()
                            ),
                        ));
                    }
                }
            } else {
                check_col_unkept(&col, &format!("{rkey}.column"))?
            };
            let width = if by_distance {
                positive("spacing_m", &r.spacing_m)?
            } else {
                positive("interval_s", &r.interval_s)?
            };
            RuleKind::Downsample {
                column,
                width,
                by_distance,
            }
        }
        "aggregate" => {
            if table != Table::Records {
                return Err(cx.err(
                    Some(rule_span),
                    &format!("{rkey}.rule"),
                    "rule 'aggregate' applies to the records table only (laps and sessions are summaries already)",
                ));
            }
            RuleKind::Aggregate {
                interval_s: match &r.interval_s {
                    Some(_) => Some(positive("interval_s", &r.interval_s)?),
                    None => None,
                },
            }
        }
        "relative" => RuleKind::Relative {
            columns: columns(&|t| t.is_numeric(), "a number")?,
        },
        "k_anonymity" => {
            let cols = columns(&|_| true, "any type")?;
            let Some(k) = &r.k else {
                return Err(cx.err(
                    Some(rule_span),
                    &format!("{rkey}.k"),
                    "rule 'k_anonymity' needs 'k' (>= 2)",
                ));
            };
            if *k.get_ref() < 2 {
                return Err(cx.err(
                    Some(k.span()),
                    &format!("{rkey}.k"),
                    format!("k must be >= 2, got {}", k.get_ref()),
                ));
            }
            RuleKind::KAnonymity {
                quasi_identifiers: cols,
                k: *k.get_ref() as u64,
            }
        }
        _ => unreachable!("checked above"),
    };
    Ok(Rule {
        enabled: r.enabled.unwrap_or(true),
        kind,
    })
}
