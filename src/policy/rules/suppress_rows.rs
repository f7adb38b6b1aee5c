//! `suppress_rows`: drop the rows for which an SQL condition over the table's raw columns is
//! true (NULL counts as false). ISO/IEC 20889 record suppression: outliers and records
//! outside the purpose.
//!
//! ```toml
//! [[tables.records.rules]]
//! rule = "suppress_rows"
//! where = "heart_rate_bpm > 220"
//! ```

use serde::Serialize;

use super::RuleDef;
use crate::policy::PolicyError;
use crate::policy::compile::RowFilter;
use crate::policy::params::Type;
use crate::policy::validate::RuleInput;

/// Drop the rows for which an SQL condition over the raw columns is true.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuppressRows {
    /// SQL boolean expression over the table's raw columns (`where` in the policy).
    pub condition: String,
}

impl RuleDef for SuppressRows {
    const PARAMS: &'static [(&'static str, Type)] = &[("where", Type::Text)];
    const REMOVES_ROWS: bool = true;

    fn validate(r: &RuleInput<'_>) -> Result<Self, PolicyError> {
        let Some(w) = r.text("where") else {
            return Err(r.needs(
                "where",
                "rule 'suppress_rows' needs 'where' (an SQL condition on the table's columns)",
            ));
        };
        let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
        let parsed = datafusion::sql::sqlparser::parser::Parser::new(&dialect)
            .try_with_sql(w.get_ref())
            .and_then(|mut p| p.parse_expr());
        if let Err(e) = parsed {
            return Err(r.err(w.span(), "where", format!("not an SQL condition: {e}")));
        }
        // Resolve the columns (and functions) now, so that a typo is reported here, with its
        // location, rather than when the view is created.
        let planned =
            datafusion::common::DFSchema::try_from(r.schema.as_ref().clone()).and_then(|schema| {
                datafusion::prelude::SessionContext::new().parse_sql_expr(w.get_ref(), &schema)
            });
        if let Err(e) = planned {
            return Err(r.err(w.span(), "where", e.strip_backtrace().to_string()));
        }
        Ok(SuppressRows {
            condition: w.get_ref().clone(),
        })
    }

    fn row_filter(&self, _i: usize) -> Option<RowFilter> {
        Some(RowFilter {
            helper: None,
            condition: format!("NOT coalesce(({}), false)", self.condition),
        })
    }
}
