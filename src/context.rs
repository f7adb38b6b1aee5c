//! The DataFusion session datamin runs SQL in: Apache Spark's function semantics
//! (`datafusion-spark`), datamin UDFs, `STORED AS FIT|TCX|GPX`, and object stores that include S3
//! on demand.

use std::sync::Arc;

use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_spark::SessionStateBuilderSpark;
use datamin_udfs::PseudonymKey;

use crate::format::ActivityFormat;
use crate::format::datasource::{ActivityFormatFactory, ActivityListingFactory};

/// The session's secret key, kept in the session config so that statements run later
/// (`APPLY POLICY`) can use it for activity-level rules. `None` without a key.
#[derive(Debug, Clone)]
pub struct SessionKey(pub Option<PseudonymKey>);

/// The key `ctx` was built with ([`session_context`]).
pub fn session_key(ctx: &SessionContext) -> Option<PseudonymKey> {
    ctx.state()
        .config()
        .get_extension::<SessionKey>()
        .and_then(|k| k.0.clone())
}

/// Builds a session with datamin's functions (with `key` for `pseudonymize`), the FIT, TCX
/// and GPX file formats (`CREATE EXTERNAL TABLE … STORED AS FIT|TCX|GPX` makes
/// `ListingTable`s, see [`crate::format::datasource`]), and the lazily-registering object
/// store registry.
///
/// `target_partitions` bounds parallelism (0: number of cores).
pub fn session_context(key: Option<PseudonymKey>, target_partitions: usize) -> SessionContext {
    let mut config = SessionConfig::new().with_information_schema(true);
    // Activity files are often organized in folders (per subject, per day): read them all.
    config
        .options_mut()
        .execution
        .listing_table_ignore_subdirectory = false;
    // Spark's null ordering: NULLs first in ascending order, last in descending order.
    config.options_mut().sql_parser.default_null_ordering = "nulls_min".into();
    if target_partitions > 0 {
        config = config.with_target_partitions(target_partitions);
    }
    config = config.with_extension(Arc::new(SessionKey(key.clone())));
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(crate::store::registry())
        .build_arc()
        .expect("runtime env with default settings");
    let mut builder = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        // Spark's semantics for the functions Spark has (sha2, date/time, string, math…) and
        // Spark's expression planner, so that Spark SQL runs unchanged; datamin's own UDFs are
        // registered after, so their names win.
        .with_spark_features();
    builder.file_formats().get_or_insert_with(Vec::new).extend([
        Arc::new(ActivityFormatFactory::new(ActivityFormat::Fit)) as _,
        Arc::new(ActivityFormatFactory::new(ActivityFormat::Tcx)) as _,
        Arc::new(ActivityFormatFactory::new(ActivityFormat::Gpx)) as _,
    ]);
    let factory = Arc::new(ActivityListingFactory::new());
    let state = builder
        .with_table_factory("FIT".into(), factory.clone())
        .with_table_factory("TCX".into(), factory.clone())
        .with_table_factory("GPX".into(), factory)
        .build();
    let ctx = SessionContext::new_with_state(state);
    datamin_udfs::register_all(&ctx, key);
    ctx
}
