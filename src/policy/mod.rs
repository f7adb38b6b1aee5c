//! Minimization policies: a TOML file → a validated [`Policy`] → SQL views.
//!
//! A policy names, per table, the columns to **keep** (an allow-list: every other column is
//! dropped — deny by default) and the **rules** that transform kept columns. Example:
//!
//! ```toml
//! version = 1
//!
//! [key]                      # secret for pseudonymize: never stored in the policy
//! env = "DATAMIN_KEY"        # environment variable holding it (default), or:
//! # file = "/run/secrets/datamin.key"
//! id = "2026-11"             # public key id written to the output
//!
//! [tables.records]
//! keep = ["activity_id", "timestamp", "position_lat", "position_long", "heart_rate_bpm"]
//!
//! [[tables.records.rules]]
//! rule = "pseudonymize"
//! columns = ["activity_id"]
//!
//! [[tables.records.rules]]
//! rule = "generalize_coordinates"
//! lat = "position_lat"
//! long = "position_long"
//! grid_m = 500
//!
//! [[tables.records.rules]]
//! rule = "truncate_time"
//! columns = ["timestamp"]
//! unit = "minute"
//! ```
//!
//! [`Policy::parse`] rejects anything it does not understand — an unknown table, column,
//! rule or parameter, a parameter of the wrong rule, an out-of-range value — with a
//! [`PolicyError`] that names the file, line, column and key. [`Policy::compile`] turns the
//! policy into `CREATE VIEW minimized.<table> AS SELECT … FROM raw.<table>` statements.
//!
//! Layout: `model.rs` (the policy, its tables and kept columns), `validate.rs` (error
//! locations and the shared parameter checks), `params.rs` (a rule's raw TOML), `zone.rs`
//! (`[privacy_zone]`), `load.rs` (a policy with its key), `overrides.rs` (`--set`), `job.rs` (`[job]`), [`rules`] (one file per rule, registered in one list) and
//! `compile.rs` (the query of a table, assembled from the rules' parts).

mod compile;
mod declared;
mod default_keyring;
mod job;
mod key;
mod load;
mod model;
mod overrides;
mod params;
pub mod rules;
mod validate;
mod zone;

pub use compile::{CompiledView, RAW_SCHEMA, VIEW_SCHEMA, ident, literal};
pub use declared::{TYPE_NAMES, parse_type, spark_pattern_to_strftime};
pub use default_keyring::{
    DATAMIN_HOME_ENV, KeyOrigin, default_keyring_path, load_existing_key, load_or_create_key,
};
pub use job::JobConfig;
pub use key::{DEFAULT_KEY_ENV, KeyConfig, KeyError, load_key, load_key_by_id};
pub use load::{load_policy_and_key, load_session_key, read_policy, read_policy_with};
pub use model::{Policy, PolicyError, Rule, TablePolicy};
pub use overrides::parse_with_overrides;
pub use rules::RuleKind;
