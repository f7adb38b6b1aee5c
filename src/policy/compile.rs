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

fn expr_for(t: &TablePolicy, col: &str) -> String {
    for r in t.rules.iter().filter(|r| r.enabled) {
        match &r.kind {
            RuleKind::Pseudonymize { columns, purpose } if columns.iter().any(|c| c == col) => {
                return match purpose {
                    Some(p) => format!("pseudonymize({}, {})", ident(col), literal(p)),
                    None => format!("pseudonymize({})", ident(col)),
                };
            }
            RuleKind::GeneralizeCoordinates { lat, long, grid_m } if lat == col || long == col => {
                let field = if lat == col { "lat" } else { "long" };
                return format!(
                    "get_field(generalize_coordinates({}, {}, {}), '{field}')",
                    ident(lat),
                    ident(long),
                    float(*grid_m)
                );
            }
            RuleKind::TruncateTime { columns, unit } if columns.iter().any(|c| c == col) => {
                return format!("truncate_time({}, {})", ident(col), literal(unit));
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

impl Policy {
    /// The `CREATE VIEW` statement of every table the policy writes, in table order.
    /// Kept columns keep their names and order; dropped columns do not appear.
    pub fn compile(&self) -> Vec<CompiledView> {
        self.tables
            .iter()
            .map(|t| {
                let cols: Vec<String> = t
                    .keep
                    .iter()
                    .map(|c| format!("  {} AS {}", expr_for(t, c), ident(c)))
                    .collect();
                let select = format!(
                    "SELECT\n{}\nFROM {RAW_SCHEMA}.{name}",
                    cols.join(",\n"),
                    name = t.table.name()
                );
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
        for v in self.compile() {
            s.push('\n');
            s.push_str(&v.sql);
            s.push_str(";\n");
        }
        s
    }
}
