//! Compilation of a [`Policy`] into SQL views over the raw tables.

use super::model::{Policy, TablePolicy};
use super::rules::{Aggregate, RuleKind};
use datafusion::arrow::datatypes::Schema;

use crate::schema::Table;

/// Schema that holds the decoded, unminimized tables (`raw.records`, …).
pub const RAW_SCHEMA: &str = "raw";
/// Schema that holds the minimized views (`minimized.records`, …).
pub const VIEW_SCHEMA: &str = "minimized";

/// The view of one table.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledView {
    /// The table.
    pub table: Table,
    /// `SELECT … FROM raw.<table>`: the minimizing query.
    pub select: String,
    /// `CREATE VIEW minimized.<table> AS <select>`.
    pub sql: String,
}

/// Quotes an SQL identifier (`"name"`, with `"` doubled).
pub fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Quotes an SQL string literal.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Formats an f64 so that SQL reads it back as a Float64 literal.
pub(crate) fn float(v: f64) -> String {
    let s = format!("{v:?}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

/// The columns that identify a row of a table (raw columns, SQL): the activity and the
/// sample time or message index for activity tables; topic, partition and offset (the
/// source's metadata columns) for a declared table.
pub(crate) fn row_identity(t: &TablePolicy) -> String {
    match t.table {
        Table::Records => "\"activity_id\", \"timestamp\"".into(),
        Table::Laps | Table::Sessions => "\"activity_id\", \"message_index\"".into(),
        Table::Activities => "\"activity_id\"".into(),
        Table::Declared(_) => {
            let payload = t.declared.as_deref().cloned().unwrap_or_else(Schema::empty);
            crate::source::payload::metadata_fields(&payload)[1..4]
                .iter()
                .map(|f| ident(f.name()))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

/// The index of the `width_s`-second bucket (aligned to the Unix epoch) of timestamp `col`.
pub(crate) fn time_bucket(col: &str, width_s: f64) -> String {
    format!(
        "floor(CAST(to_unixtime({col}) AS DOUBLE) / {})",
        float(width_s)
    )
}

/// What a row rule adds to the inner query of its table: a `WHERE` condition and,
/// optionally, a window helper column it reads (`… AS "__newest_<i>"`).
pub(crate) struct RowFilter {
    /// Helper column computed over the raw table, `<expr> AS <name>`.
    pub(crate) helper: Option<String>,
    /// Condition the kept rows satisfy.
    pub(crate) condition: String,
}

/// The SQL of kept column `col`: the expression of the enabled rule that writes it, else the
/// column itself.
fn expr_for(t: &TablePolicy, col: &str) -> String {
    t.rules
        .iter()
        .filter(|r| r.enabled)
        .find(|r| r.kind.columns().contains(&col))
        .map_or_else(|| ident(col), |r| r.kind.expr(t, col))
}

/// The minimizing query of one table:
///
/// ```text
/// SELECT <kept columns, transformed>
/// FROM (SELECT *, <window helpers> FROM raw.t)      -- only with retention / downsample
/// WHERE <suppress_rows, retention, downsample>
/// -- aggregate wraps it: SELECT <summaries>, count(*) … GROUP BY activity, bucket
/// -- k_anonymity wraps it: SELECT … FROM (SELECT *, count(*) OVER (PARTITION BY qis) …) WHERE n >= k
/// ORDER BY <all output columns>                       -- only with row rules: deterministic order
/// ```
///
/// The row filters come from every enabled rule in policy order ([`RuleKind::row_filter`]);
/// the first enabled `aggregate` and the last enabled `k_anonymity` wrap the query.
fn select_for(t: &TablePolicy) -> String {
    let name = t.table.name();
    let enabled = || t.rules.iter().enumerate().filter(|(_, r)| r.enabled);
    let mut helpers = Vec::new();
    let mut filters = Vec::new();
    for (i, r) in enabled() {
        if let Some(f) = r.kind.row_filter(i) {
            helpers.extend(f.helper);
            filters.push(f.condition);
        }
    }
    let aggregate = enabled().find_map(|(_, r)| match &r.kind {
        RuleKind::Aggregate(a) => Some(a),
        _ => None,
    });
    let k_anonymity = enabled().rev().find_map(|(_, r)| match &r.kind {
        RuleKind::KAnonymity(k) => Some(k),
        _ => None,
    });
    let mut cols: Vec<String> = t
        .keep
        .iter()
        .map(|c| format!("  {} AS {}", expr_for(t, c), ident(c)))
        .collect();
    if let Some(a) = aggregate {
        cols.extend(a.group_keys().iter().map(|k| format!("  {k}")));
    }
    let from = if helpers.is_empty() {
        format!("{RAW_SCHEMA}.{name}")
    } else {
        format!(
            "(SELECT *, {} FROM {RAW_SCHEMA}.{name}) AS src",
            helpers.join(", ")
        )
    };
    let mut sql = format!("SELECT\n{}\nFROM {from}", cols.join(",\n"));
    if !filters.is_empty() {
        sql.push_str(&format!("\nWHERE {}", filters.join("\n  AND ")));
    }
    let mut out_cols: Vec<String> = t.keep.iter().map(|c| ident(c)).collect();
    if let Some(a) = aggregate {
        sql = a.group(t, &sql);
        out_cols.push(ident(Aggregate::COUNT_COLUMN));
    }
    if let Some(k) = k_anonymity {
        sql = k.filter_groups(&out_cols, &sql);
    }
    if enabled().any(|(_, r)| r.kind.uses_window_or_grouping()) {
        sql.push_str(&format!("\nORDER BY {}", out_cols.join(", ")));
    }
    sql
}

impl TablePolicy {
    /// For each enabled row rule (`suppress_rows`, `retention`, `downsample`, `k_anonymity`,
    /// `aggregate`), in policy order: its name and the table's query with only the row rules
    /// up to and including it enabled (value rules all applied). Counting the rows of each
    /// gives how many rows every row rule removed, for the run summary.
    pub fn row_rule_prefixes(&self) -> Vec<(String, String)> {
        let row_rules: Vec<usize> = (0..self.rules.len())
            .filter(|&i| self.rules[i].removes_rows())
            .collect();
        row_rules
            .iter()
            .map(|&upto| {
                let mut t = self.clone();
                for (i, r) in t.rules.iter_mut().enumerate() {
                    if i > upto && r.kind.removes_rows() {
                        r.enabled = false;
                    }
                }
                (self.rules[upto].kind.name().to_string(), select_for(&t))
            })
            .collect()
    }
}

impl Policy {
    /// The `CREATE VIEW` statement of every table the policy writes, in table order.
    /// Kept columns keep their names and order; dropped columns do not appear.
    pub fn compile(&self) -> Vec<CompiledView> {
        self.tables
            .iter()
            .map(|t| {
                let select = select_for(t);
                let sql = format!("CREATE VIEW {VIEW_SCHEMA}.{} AS\n{select}", t.table.name());
                CompiledView {
                    table: t.table,
                    select,
                    sql,
                }
            })
            .collect()
    }

    /// The compiled views as one SQL script, with a header naming the policy and its hash.
    pub fn explain(&self) -> String {
        let mut s = format!(
            "-- datamin policy {} (sha256 {})\n-- tables not listed here are not written; columns not listed are dropped\n",
            self.source, self.sha256
        );
        if let Some(z) = &self.privacy_zone {
            s.push_str(&format!(
                "-- privacy_zone (applied to every decoded activity before these views, as raw.*):\n\
                 --   start and end replaced by the centre of their cell in a keyed per-subject hexagonal grid\n\
                 --   (cells of {c} m circumradius, {area:.2} km²); points within {d} m of that centre hidden\n\
                 --   (every point within {r} m of the cell), plus a keyed path length < {t} m beyond each zone edge;\n\
                 --   {n} explicit zone(s); distances re-based at the first visible point and rounded to {q} m;\n\
                 --   session positions, bounding boxes and totals recomputed from the visible points; laps of\n\
                 --   activities that lost points and activities.time_created removed;\n\
                 --   {disp}\n",
                disp = if z.displacement_max_m > 0.0 {
                    format!(
                        "every published position of a subject moved by one keyed vector of {} to {} m",
                        z.displacement_min_m, z.displacement_max_m
                    )
                } else {
                    "positions published where they were recorded (no displacement)".to_string()
                },
                r = z.radius_m,
                c = z.cell_m,
                area = z.cell_area_m2() / 1e6,
                d = z.disk_radius_m(z.radius_m),
                t = z.trim_m,
                n = z.zones.len(),
                q = z.distance_quantum_m,
            ));
        }
        for v in self.compile() {
            s.push('\n');
            s.push_str(&v.sql);
            s.push_str(";\n");
        }
        s
    }
}
