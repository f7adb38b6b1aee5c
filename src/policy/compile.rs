//! Compilation of a [`Policy`] into SQL views over the raw tables.

use super::model::{Policy, RuleKind, TablePolicy};
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
fn float(v: f64) -> String {
    let s = format!("{v:?}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

/// The columns that identify a row of `table` (raw columns, SQL).
fn row_identity(table: Table) -> &'static str {
    match table {
        Table::Records => "\"activity_id\", \"timestamp\"",
        Table::Laps | Table::Sessions => "\"activity_id\", \"message_index\"",
        Table::Activities => "\"activity_id\"",
    }
}

/// The seed of non-deterministic `encrypt` for a cell: the row's identity and the column
/// name joined by `|`, so nonces differ between cells and are stable across runs.
fn noise_seed(table: Table, col: &str) -> String {
    format!("concat_ws('|', {}, {})", row_identity(table), literal(col))
}

/// The same identity as separate `laplace_noise` seed arguments (the function joins them
/// with `|`, faster than building the string in SQL).
fn noise_seed_parts(table: Table, col: &str) -> String {
    format!("{}, {}", row_identity(table), literal(col))
}

/// The index of the `width_s`-second bucket (aligned to the Unix epoch) of timestamp `col`.
fn time_bucket(col: &str, width_s: f64) -> String {
    format!(
        "floor(CAST(to_unixtime({col}) AS DOUBLE) / {})",
        float(width_s)
    )
}

fn expr_for(t: &TablePolicy, col: &str) -> String {
    for r in t.rules.iter().filter(|r| r.enabled) {
        match &r.kind {
            RuleKind::Pseudonymize { columns, purpose } if columns.iter().any(|c| c == col) => {
                return match purpose {
                    Some(p) => format!("pseudonymize({}, {})", ident(col), literal(p)),
                    None => format!("pseudonymize({})", ident(col)),
                };
            }
            RuleKind::GeneralizeCoordinates {
                lat,
                long,
                grid_m,
                h3_resolution,
            } if lat == col || long == col => {
                let field = if lat == col { "lat" } else { "long" };
                let call = match (grid_m, h3_resolution) {
                    (_, Some(res)) => {
                        format!("h3_cell_center({}, {}, {res})", ident(lat), ident(long))
                    }
                    (g, None) => format!(
                        "generalize_coordinates({}, {}, {})",
                        ident(lat),
                        ident(long),
                        float(g.unwrap_or(1.0))
                    ),
                };
                return format!("get_field({call}, '{field}')");
            }
            RuleKind::TruncateTime { columns, unit } if columns.iter().any(|c| c == col) => {
                return format!("truncate_time({}, {})", ident(col), literal(unit));
            }
            RuleKind::Quantize { columns, step } if columns.iter().any(|c| c == col) => {
                return format!("quantize({}, {})", ident(col), float(*step));
            }
            RuleKind::Noise { columns, scale } if columns.iter().any(|c| c == col) => {
                return format!(
                    "laplace_noise({}, {}, {})",
                    ident(col),
                    float(*scale),
                    noise_seed_parts(t.table, col)
                );
            }
            RuleKind::Encrypt {
                columns,
                deterministic,
            } if columns.iter().any(|c| c == col) => {
                return if *deterministic {
                    format!("encrypt({})", ident(col))
                } else {
                    format!("encrypt({}, {})", ident(col), noise_seed(t.table, col))
                };
            }
            RuleKind::Relative { columns } if columns.iter().any(|c| c == col) => {
                return format!(
                    "{c} - min({c}) OVER (PARTITION BY \"activity_id\")",
                    c = ident(col)
                );
            }
            RuleKind::Suppress { columns } if columns.iter().any(|c| c == col) => {
                return format!("CASE WHEN false THEN {} END", ident(col));
            }
            RuleKind::GeneralizeNumber { columns, edges } if columns.iter().any(|c| c == col) => {
                let e: Vec<String> = edges.iter().map(|v| float(*v)).collect();
                return format!(
                    "generalize_number({}, make_array({}))",
                    ident(col),
                    e.join(", ")
                );
            }
            _ => {}
        }
    }
    ident(col)
}

/// The aggregate of kept column `col` for the `aggregate` rule, from its minimized value:
/// the first of strings and timestamps, the maximum of the cumulative `distance_m`, the
/// average of other numbers (integers rounded back to their type).
fn aggregate_expr(t: &TablePolicy, col: &str) -> String {
    let c = ident(col);
    let rewritten = t
        .rules
        .iter()
        .filter(|r| r.enabled)
        .find_map(|r| r.kind.columns().contains(&col).then_some(&r.kind));
    let raw = t
        .table
        .schema()
        .field_with_name(col)
        .map(|f| f.data_type().clone())
        .ok();
    match (rewritten, raw) {
        (
            Some(
                RuleKind::Pseudonymize { .. }
                | RuleKind::Encrypt { .. }
                | RuleKind::GeneralizeNumber { .. },
            ),
            _,
        ) => format!("min({c})"),
        (Some(RuleKind::Noise { .. } | RuleKind::Quantize { .. }), _) => format!("avg({c})"),
        _ if col == "distance_m" => format!("max({c})"),
        (_, Some(dt)) if dt.is_integer() => format!("arrow_cast(round(avg({c})), '{dt}')"),
        (_, Some(dt)) if dt.is_numeric() => format!("avg({c})"),
        _ => format!("min({c})"),
    }
}

/// The minimizing query of one table:
///
/// ```text
/// SELECT <kept columns, transformed>
/// FROM (SELECT *, <window helpers> FROM raw.t)      -- only with retention / downsample
/// WHERE <suppress_rows, retention, downsample>
/// -- k_anonymity wraps it: SELECT … FROM (SELECT *, count(*) OVER (PARTITION BY qis) …) WHERE n >= k
/// ORDER BY <all output columns>                       -- only with row rules: deterministic order
/// ```
fn select_for(t: &TablePolicy) -> String {
    let name = t.table.name();
    let mut helpers = Vec::new();
    let mut filters = Vec::new();
    let mut kanon = None;
    for (i, r) in t.rules.iter().enumerate().filter(|(_, r)| r.enabled) {
        match &r.kind {
            RuleKind::SuppressRows { condition } => {
                filters.push(format!("NOT coalesce(({condition}), false)"));
            }
            RuleKind::Retention {
                column,
                max_age_days,
            } => {
                let h = format!("__newest_{i}");
                helpers.push(format!("max({}) OVER () AS {}", ident(column), ident(&h)));
                let secs = (max_age_days * 86_400.0).round() as i64;
                filters.push(format!(
                    "{} >= {} - INTERVAL '{secs} seconds'",
                    ident(column),
                    ident(&h)
                ));
            }
            RuleKind::Downsample {
                column,
                width,
                by_distance,
            } => {
                let h = format!("__sample_{i}");
                let c = ident(column);
                let bucket = if *by_distance {
                    format!("floor({c} / {})", float(*width))
                } else {
                    time_bucket(&c, *width)
                };
                helpers.push(format!(
                    "row_number() OVER (PARTITION BY \"activity_id\", {bucket} ORDER BY \"timestamp\", {c}) AS {h}",
                    h = ident(&h)
                ));
                filters.push(format!("{} = 1", ident(&h)));
            }
            RuleKind::KAnonymity {
                quasi_identifiers,
                k,
            } => {
                kanon = Some((quasi_identifiers.clone(), *k));
            }
            _ => {}
        }
    }
    let aggregate = t.rules.iter().find_map(|r| match r.kind {
        RuleKind::Aggregate { interval_s } if r.enabled => Some(interval_s),
        _ => None,
    });
    let mut cols: Vec<String> = t
        .keep
        .iter()
        .map(|c| format!("  {} AS {}", expr_for(t, c), ident(c)))
        .collect();
    if let Some(interval) = aggregate {
        cols.push("  \"activity_id\" AS \"__activity\"".into());
        cols.push(match interval {
            Some(w) => format!("  {} AS \"__bucket\"", time_bucket("\"timestamp\"", w)),
            None => "  0 AS \"__bucket\"".into(),
        });
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
    if aggregate.is_some() {
        let aggs: Vec<String> = t
            .keep
            .iter()
            .map(|c| format!("{} AS {}", aggregate_expr(t, c), ident(c)))
            .collect();
        sql = format!(
            "SELECT {}, count(*) AS \"sample_count\"\nFROM (\n{sql}\n) AS minimized\nGROUP BY \"__activity\", \"__bucket\"",
            aggs.join(", ")
        );
        out_cols.push(ident("sample_count"));
    }
    if let Some((qis, k)) = kanon {
        let qis: Vec<String> = qis.iter().map(|c| ident(c)).collect();
        sql = format!(
            "SELECT {cols}\nFROM (SELECT *, count(*) OVER (PARTITION BY {qis}) AS \"__group_size\" FROM (\n{sql}\n) AS minimized) AS grouped\nWHERE \"__group_size\" >= {k}",
            cols = out_cols.join(", "),
            qis = qis.join(", ")
        );
    }
    if t.rules
        .iter()
        .any(|r| r.enabled && uses_window_or_grouping(&r.kind))
    {
        sql.push_str(&format!("\nORDER BY {}", out_cols.join(", ")));
    }
    sql
}

/// Whether a rule compiles to window functions or grouping, whose output order is not the
/// input order: such views end with `ORDER BY` all output columns (determinism).
fn uses_window_or_grouping(k: &RuleKind) -> bool {
    matches!(
        k,
        RuleKind::Retention { .. }
            | RuleKind::Downsample { .. }
            | RuleKind::KAnonymity { .. }
            | RuleKind::Relative { .. }
            | RuleKind::Aggregate { .. }
    )
}

/// Whether a rule removes or merges rows (rather than rewriting values).
pub fn is_row_rule(k: &RuleKind) -> bool {
    matches!(
        k,
        RuleKind::SuppressRows { .. }
            | RuleKind::Retention { .. }
            | RuleKind::Downsample { .. }
            | RuleKind::KAnonymity { .. }
            | RuleKind::Aggregate { .. }
    )
}

impl TablePolicy {
    /// For each enabled row rule (`suppress_rows`, `retention`, `downsample`, `k_anonymity`,
    /// `aggregate`), in policy order: its name and the table's query with only the row rules
    /// up to and including it enabled (value rules all applied). Counting the rows of each
    /// gives how many rows every row rule removed, for the run summary.
    pub fn row_rule_prefixes(&self) -> Vec<(String, String)> {
        let row_rules: Vec<usize> = (0..self.rules.len())
            .filter(|&i| self.rules[i].enabled && is_row_rule(&self.rules[i].kind))
            .collect();
        row_rules
            .iter()
            .map(|&upto| {
                let mut t = self.clone();
                for (i, r) in t.rules.iter_mut().enumerate() {
                    if i > upto && is_row_rule(&r.kind) {
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
                 --   hide points within {r} m of each start/end, zone centre shifted by a keyed per-subject\n\
                 --   offset of [{lo}, {hi}) x {r} m{offset}, zone radius grown by a keyed per-subject slack < {sl} m,\n\
                 --   plus a keyed path length < {t} m beyond each zone edge; for a keyed {g}% of activities\n\
                 --   everything on the home side of the line through the shifted centre is hidden too (gate);\n\
                 --   {n} explicit zone(s); distances re-based at the first visible point and rounded to {q} m;\n\
                 --   lap/session positions, bounding boxes and totals recomputed from the visible points\n",
                r = z.radius_m,
                lo = z.offset_range.0,
                hi = z.offset_range.1,
                offset = if z.offset { "" } else { " (offset off)" },
                t = z.trim_m,
                sl = z.radius_slack_m,
                g = z.gate_share * 100.0,
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
