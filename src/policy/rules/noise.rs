//! `noise`: add Laplace noise of scale b, drawn from a keyed deterministic generator
//! (`HMAC-SHA256(key, "datamin/noise/" ‖ seed)`, the seed naming the cell), through the SQL
//! function `laplace_noise` ([`datamin_udfs::laplace_noise`]). Replays give the same file;
//! without the key the noise can be neither predicted nor removed. ISO/IEC 20889
//! randomization (noise addition); variance 2b².
//!
//! ```toml
//! [[tables.records.rules]]
//! rule = "noise"
//! columns = ["heart_rate_bpm"]
//! scale = 2   # Laplace b, in the column's unit (here bpm)
//! ```

use serde::Serialize;

use super::RuleDef;
use crate::policy::PolicyError;
use crate::policy::TablePolicy;
use crate::policy::compile::{float, ident, literal, row_identity};
use crate::policy::params::Type;
use crate::policy::validate::RuleInput;

/// Add keyed deterministic Laplace noise of scale `scale`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Noise {
    /// Numeric columns (the output is Float64).
    pub columns: Vec<String>,
    /// Laplace scale b, > 0, in the column's unit.
    pub scale: f64,
}

impl RuleDef for Noise {
    const PARAMS: &'static [(&'static str, Type)] =
        &[("columns", Type::Columns), ("scale", Type::Number)];
    const NEEDS_KEY: bool = true;

    fn validate(r: &RuleInput<'_>) -> Result<Self, PolicyError> {
        let columns = r.columns(&|t| t.is_numeric(), "a number")?;
        Ok(Noise {
            columns,
            scale: r.positive("scale")?,
        })
    }

    fn columns(&self) -> Vec<&str> {
        self.columns.iter().map(String::as_str).collect()
    }

    /// `laplace_noise(col, scale, <row identity>, 'col')`: the seed is the cell, passed as
    /// separate arguments that the function joins with `|` (faster than building the string
    /// in SQL).
    fn expr(&self, table: &TablePolicy, col: &str) -> String {
        format!(
            "laplace_noise({}, {}, {}, {})",
            ident(col),
            float(self.scale),
            row_identity(table),
            literal(col)
        )
    }

    /// The average of the bucket (not rounded back to the column's type).
    fn aggregate(&self, c: &str) -> Option<String> {
        Some(format!("avg({c})"))
    }
}
