//! The rules of policy v1, one file per rule (like `udfs/`: one function per file).
//!
//! Each file `rules/<name>.rs` holds the rule's parameter struct (what it serializes to in
//! the Parquet metadata `datamin.policy.rules`), its validation from the raw TOML, the SQL it
//! compiles to and its properties (needs the key, removes rows, uses windows or grouping),
//! all through the crate-private trait `RuleDef`. The list below is the only place rule names are written: it
//! declares each module, and generates [`RuleKind`], its name dispatch and its parsing. The
//! rule's name in a policy is its module's (file's) name.
//!
//! **Adding a rule**: write `rules/<name>.rs` with a struct implementing `RuleDef`, and
//! add the line `<name>::<Struct>,` to the `rules!` list below. The order of the list is the
//! order the "unknown rule" error lists the names in.
//!
//! The rule files are declared by the `rules!` macro, which `cargo fmt` does not look into:
//! format them with `rustfmt --edition 2024 src/policy/rules/*.rs`.

use datafusion::arrow::datatypes::SchemaRef;
use serde::Serialize;

use super::compile::{RowFilter, ident};
use super::model::{PolicyError, Rule};
use super::params::{RawRule, Type};
use super::validate::{Ctx, RuleInput};
use crate::policy::TablePolicy;
use crate::schema::Table;

/// Declares the rule modules and generates [`RuleKind`] with its dispatch to [`RuleDef`].
macro_rules! rules {
    ($($module:ident :: $Rule:ident),+ $(,)?) => {
        $(mod $module;)+
        $(pub use $module::$Rule;)+

        /// A rule of policy v1 with its validated parameters. Serializes as
        /// `{"rule": "<name>", <parameters>…}`.
        #[derive(Debug, Clone, PartialEq)]
        pub enum RuleKind {
            $(
                #[doc = concat!("`rule = \"", stringify!($module), "\"`: see [`", stringify!($Rule), "`].")]
                $Rule($Rule),
            )+
        }

        impl RuleKind {
            /// The rule names of policy v1 (`rule = "…"`).
            pub const NAMES: &'static [&'static str] = &[$(stringify!($module)),+];

            /// Each rule's name and parameters.
            const PARAMS: &'static [(&'static str, &'static [(&'static str, Type)])] =
                &[$((stringify!($module), <$Rule as RuleDef>::PARAMS)),+];

            /// The rule's name in the policy file.
            pub fn name(&self) -> &'static str {
                match self {
                    $(RuleKind::$Rule(_) => stringify!($module),)+
                }
            }

            /// The columns the rule writes.
            pub fn columns(&self) -> Vec<&str> {
                match self {
                    $(RuleKind::$Rule(r) => r.columns(),)+
                }
            }

            /// Whether the rule needs the secret key (`pseudonymize`, `noise`, `encrypt`).
            pub fn needs_key(&self) -> bool {
                match self {
                    $(RuleKind::$Rule(_) => <$Rule as RuleDef>::NEEDS_KEY,)+
                }
            }

            /// Whether the rule removes or merges rows (`suppress_rows`, `retention`,
            /// `downsample`, `aggregate`, `k_anonymity`) rather than rewriting values.
            pub fn removes_rows(&self) -> bool {
                match self {
                    $(RuleKind::$Rule(_) => <$Rule as RuleDef>::REMOVES_ROWS,)+
                }
            }

            /// Whether the rule compiles to window functions or grouping (see
            /// [`RuleDef::WINDOW_OR_GROUPING`]).
            pub(crate) fn uses_window_or_grouping(&self) -> bool {
                match self {
                    $(RuleKind::$Rule(_) => <$Rule as RuleDef>::WINDOW_OR_GROUPING,)+
                }
            }

            /// See [`RuleDef::expr`].
            pub(crate) fn expr(&self, table: &TablePolicy, col: &str) -> String {
                match self {
                    $(RuleKind::$Rule(r) => r.expr(table, col),)+
                }
            }

            /// See [`RuleDef::aggregate`].
            pub(crate) fn aggregate(&self, c: &str) -> Option<String> {
                match self {
                    $(RuleKind::$Rule(r) => r.aggregate(c),)+
                }
            }

            /// See [`RuleDef::row_filter`].
            pub(crate) fn row_filter(&self, i: usize) -> Option<RowFilter> {
                match self {
                    $(RuleKind::$Rule(r) => r.row_filter(i),)+
                }
            }

            /// Validates rule `name`; `None` when there is no such rule.
            fn validate(name: &str, r: &RuleInput<'_>) -> Option<Result<Self, PolicyError>> {
                $(
                    if name == stringify!($module) {
                        return Some(<$Rule as RuleDef>::validate(r).map(RuleKind::$Rule));
                    }
                )+
                None
            }
        }

        impl Serialize for RuleKind {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $(RuleKind::$Rule(r) => Tagged { rule: stringify!($module), params: r }.serialize(s),)+
                }
            }
        }
    };
}

// One line per rule: `<name>::<parameter struct>`, the file being `rules/<name>.rs`.
rules! {
    encrypt::Encrypt,
    pseudonymize::Pseudonymize,
    generalize_coordinates::GeneralizeCoordinates,
    truncate_time::TruncateTime,
    generalize_number::GeneralizeNumber,
    quantize::Quantize,
    noise::Noise,
    suppress::Suppress,
    suppress_rows::SuppressRows,
    retention::Retention,
    downsample::Downsample,
    relative::Relative,
    aggregate::Aggregate,
    k_anonymity::KAnonymity,
}

/// A rule of policy v1, implemented by the parameter struct in the rule's file.
///
/// A *value rule* rewrites kept columns ([`columns`](Self::columns),
/// [`expr`](Self::expr)); a *row rule* removes or merges rows
/// ([`REMOVES_ROWS`](Self::REMOVES_ROWS), [`row_filter`](Self::row_filter), or a stage of
/// its own in the query that `compile.rs` assembles).
pub(crate) trait RuleDef: Sized {
    /// The parameters the rule takes (besides `rule` and `enabled`) with their TOML types, in
    /// the order "rule 'x' has no parameter 'y'; its parameters: …" lists them. A parameter
    /// name shared by several rules must have the same type in all of them.
    const PARAMS: &'static [(&'static str, Type)];
    /// Whether the rule needs the secret key (keyed HMAC, AES or noise).
    const NEEDS_KEY: bool = false;
    /// Whether the rule removes or merges rows (rather than rewriting values).
    const REMOVES_ROWS: bool = false;
    /// Whether the rule compiles to window functions or grouping, whose output order is not
    /// the input order: such views end with `ORDER BY` all output columns (determinism).
    const WINDOW_OR_GROUPING: bool = false;

    /// The rule's parameters, validated, from the raw TOML rule; errors keep the location and
    /// key of the offending value.
    fn validate(r: &RuleInput<'_>) -> Result<Self, PolicyError>;

    /// The columns the rule writes (value rules; row rules write none).
    fn columns(&self) -> Vec<&str> {
        Vec::new()
    }

    /// The SQL expression of kept column `col`, one of [`columns`](Self::columns), in the
    /// view of `table`.
    fn expr(&self, _table: &TablePolicy, col: &str) -> String {
        ident(col)
    }

    /// How the `aggregate` rule summarizes column `c` (quoted SQL) this rule wrote, when not
    /// by the column's type (see [`Aggregate`]).
    fn aggregate(&self, _c: &str) -> Option<String> {
        None
    }

    /// The `WHERE` condition (and window helper column) of a row rule at index `i` of its
    /// table's rules.
    fn row_filter(&self, _i: usize) -> Option<RowFilter> {
        None
    }
}

/// A rule's parameters behind its name, as `{"rule": "<name>", <parameters>…}`.
#[derive(Serialize)]
struct Tagged<'a, T> {
    rule: &'static str,
    #[serde(flatten)]
    params: &'a T,
}

impl RuleKind {
    /// The parameters of rule `name`, `None` when there is no such rule.
    pub(crate) fn params(name: &str) -> Option<&'static [(&'static str, Type)]> {
        Self::PARAMS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
    }

    /// Every rule's parameters, in registration order (with repeats).
    pub(crate) fn all_params() -> impl Iterator<Item = &'static (&'static str, Type)> {
        Self::PARAMS.iter().flat_map(|(_, p)| p.iter())
    }

    /// The type of parameter `p` (of whichever rule declares it), `None` when no rule has it.
    pub(crate) fn param_type(p: &str) -> Option<Type> {
        Self::all_params().find(|(n, _)| *n == p).map(|(_, t)| *t)
    }
}

/// Validates rule `raw` of `table` at key `key` (`tables.records.rules[0]`): a known rule,
/// only its own parameters, then the rule's own checks.
pub(crate) fn validate_rule(
    cx: &Ctx<'_>,
    key: &str,
    table: Table,
    schema: &SchemaRef,
    kept: &[String],
    raw: &RawRule,
) -> Result<Rule, PolicyError> {
    let name = raw.rule.get_ref().as_str();
    let Some(params) = RuleKind::params(name) else {
        return Err(cx.err(
            Some(raw.rule.span()),
            &format!("{key}.rule"),
            format!(
                "unknown rule '{name}'; expected one of {}",
                RuleKind::NAMES.join(", ")
            ),
        ));
    };
    // The first parameter (in the file) that is not the rule's.
    let foreign = raw
        .params
        .iter()
        .filter(|(p, _)| !params.iter().any(|(q, _)| *q == p.as_str()))
        .min_by_key(|(_, v)| v.span().start);
    if let Some((p, v)) = foreign {
        let names: Vec<&str> = params.iter().map(|(q, _)| *q).collect();
        return Err(cx.err(
            Some(v.span()),
            &format!("{key}.{p}"),
            format!(
                "rule '{name}' has no parameter '{p}'; its parameters: {}",
                names.join(", ")
            ),
        ));
    }
    let input = RuleInput {
        cx,
        key,
        table,
        schema,
        kept,
        raw,
        params,
    };
    let kind = RuleKind::validate(name, &input).expect("a registered rule")?;
    Ok(Rule {
        enabled: raw.enabled.unwrap_or(true),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parameter_has_one_type_in_every_rule() {
        for (p, t) in RuleKind::all_params() {
            assert_eq!(RuleKind::param_type(p), Some(*t), "parameter '{p}'");
        }
    }

    #[test]
    fn names_are_unique_and_no_parameter_is_reserved() {
        let mut names = RuleKind::NAMES.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), RuleKind::NAMES.len());
        for (p, _) in RuleKind::all_params() {
            assert!(!["rule", "enabled"].contains(p), "parameter '{p}'");
        }
    }

    /// The rules' JSON (Parquet metadata `datamin.policy.rules`) as written before the rules
    /// moved to one file each.
    #[test]
    fn rules_serialize_as_before() {
        let rules = |body: &str| {
            let text = format!(
                "[tables.records]\nkeep = [\"activity_id\", \"timestamp\", \"position_lat\", \"position_long\", \"altitude_m\", \"distance_m\", \"speed_m_s\", \"heart_rate_bpm\", \"cadence_rpm\", \"power_w\", \"temperature_c\"]\n{body}"
            );
            let p = crate::policy::Policy::parse("p.toml", &text).unwrap();
            serde_json::to_string(&p.tables[0].rules).unwrap()
        };
        let r = "[[tables.records.rules]]\nrule";
        assert_eq!(
            rules(&format!(
                "{r} = \"pseudonymize\"\ncolumns = [\"activity_id\"]\npurpose = \"p\"\n\
                 {r} = \"generalize_coordinates\"\ngrid_m = 500\n\
                 {r} = \"truncate_time\"\ncolumns = [\"timestamp\"]\nunit = \"minute\"\n\
                 {r} = \"generalize_number\"\ncolumns = [\"heart_rate_bpm\"]\nedges = [60, 100.5]\n\
                 {r} = \"quantize\"\ncolumns = [\"altitude_m\"]\nstep = 10\n\
                 {r} = \"noise\"\ncolumns = [\"power_w\"]\nscale = 2.5\n\
                 {r} = \"encrypt\"\ncolumns = [\"cadence_rpm\"]\ndeterministic = false\n\
                 {r} = \"suppress\"\ncolumns = [\"speed_m_s\"]\n\
                 {r} = \"suppress_rows\"\nwhere = \"heart_rate_bpm > 180\"\n\
                 {r} = \"retention\"\nmax_age_days = 30\nenabled = false\n\
                 {r} = \"downsample\"\ninterval_s = 5\n\
                 {r} = \"relative\"\ncolumns = [\"distance_m\"]\n\
                 {r} = \"aggregate\"\ninterval_s = 60\n\
                 {r} = \"k_anonymity\"\ncolumns = [\"heart_rate_bpm\", \"temperature_c\"]\nk = 3\n"
            )),
            r#"[{"enabled":true,"rule":"pseudonymize","columns":["activity_id"],"purpose":"p"},{"enabled":true,"rule":"generalize_coordinates","lat":"position_lat","long":"position_long","grid_m":500.0},{"enabled":true,"rule":"truncate_time","columns":["timestamp"],"unit":"minute"},{"enabled":true,"rule":"generalize_number","columns":["heart_rate_bpm"],"edges":[60.0,100.5]},{"enabled":true,"rule":"quantize","columns":["altitude_m"],"step":10.0},{"enabled":true,"rule":"noise","columns":["power_w"],"scale":2.5},{"enabled":true,"rule":"encrypt","columns":["cadence_rpm"],"deterministic":false},{"enabled":true,"rule":"suppress","columns":["speed_m_s"]},{"enabled":true,"rule":"suppress_rows","condition":"heart_rate_bpm > 180"},{"enabled":false,"rule":"retention","column":"timestamp","max_age_days":30.0},{"enabled":true,"rule":"downsample","column":"timestamp","width":5.0,"by_distance":false},{"enabled":true,"rule":"relative","columns":["distance_m"]},{"enabled":true,"rule":"aggregate","interval_s":60.0},{"enabled":true,"rule":"k_anonymity","quasi_identifiers":["heart_rate_bpm","temperature_c"],"k":3}]"#
        );
        assert_eq!(
            rules(&format!(
                "{r} = \"pseudonymize\"\ncolumns = [\"activity_id\"]\n\
                 {r} = \"generalize_coordinates\"\nh3_resolution = 9\n\
                 {r} = \"downsample\"\nspacing_m = 25.5\n\
                 {r} = \"aggregate\"\n"
            )),
            r#"[{"enabled":true,"rule":"pseudonymize","columns":["activity_id"],"purpose":null},{"enabled":true,"rule":"generalize_coordinates","lat":"position_lat","long":"position_long","h3_resolution":9},{"enabled":true,"rule":"downsample","column":"distance_m","width":25.5,"by_distance":true},{"enabled":true,"rule":"aggregate","interval_s":null}]"#
        );
    }
}
