//! Applying a policy to decoded batches: the embedding API.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use datamin::format::{decode, ActivityFormat};
//! use datamin::minimizer::Minimizer;
//! use datamin::policy::Policy;
//! use datamin::schema::Table;
//!
//! let policy = Policy::parse("inline", r#"
//!     [tables.records]
//!     keep = ["timestamp", "heart_rate_bpm"]
//!     [[tables.records.rules]]
//!     rule = "truncate_time"
//!     columns = ["timestamp"]
//!     unit = "minute"
//! "#)?;
//! let minimizer = Minimizer::new(policy, None).await?;
//! let bytes = std::fs::read("activity.fit")?;
//! let activity = decode(ActivityFormat::Fit, "activity.fit", &bytes)?;
//! let (schema, batches) = minimizer
//!     .minimize(Table::Records, vec![vec![activity.to_batch(Table::Records)?]])
//!     .await?
//!     .expect("the policy writes records");
//! # Ok(()) }
//! ```

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::MemTable;
use datafusion::common::{DataFusionError, Result, TableReference, plan_err};
use datafusion::prelude::SessionContext;
use datamin_udfs::PseudonymKey;
use tokio::sync::Mutex;

use crate::context::session_context;
use crate::policy::{CompiledView, Policy, RAW_SCHEMA, VIEW_SCHEMA};
use crate::schema::Table;

/// Applies a compiled [`Policy`] to batches of the canonical tables.
///
/// Output rows keep the order of the input partitions and of rows inside them, so the same
/// input gives the same output.
pub struct Minimizer {
    policy: Policy,
    key: Option<PseudonymKey>,
    views: Vec<CompiledView>,
    ctx: SessionContext,
    lock: Mutex<()>,
}

impl Minimizer {
    /// Compiles `policy`; `key` is needed when [`Policy::needs_key`] (keyed rules:
    /// `pseudonymize`, `noise`, `encrypt`, the privacy zone's offset and trimming).
    pub async fn new(policy: Policy, key: Option<PseudonymKey>) -> Result<Self> {
        if policy.needs_key() && key.is_none() {
            return plan_err!(
                "the policy has keyed rules (pseudonymize, noise, encrypt or a privacy zone offset/trim) but no key was given"
            );
        }
        let ctx = session_context(key.clone(), 0);
        // Keep partition order: no round-robin shuffles between the scan and the output.
        ctx.sql("SET datafusion.optimizer.enable_round_robin_repartition = false")
            .await?;
        ctx.sql(&format!("CREATE SCHEMA {RAW_SCHEMA}")).await?;
        ctx.sql(&format!("CREATE SCHEMA {VIEW_SCHEMA}")).await?;
        let views = policy.compile();
        Ok(Self {
            policy,
            key,
            views,
            ctx,
            lock: Mutex::new(()),
        })
    }

    /// Applies the policy's activity-level rules (the privacy zone) to a decoded activity,
    /// before its batches are built. Returns the zone statistics when the rule is enabled.
    pub fn prepare(
        &self,
        activity: &mut crate::format::Activity,
    ) -> Option<crate::privacy::ZoneStats> {
        prepare_activity(
            self.policy.privacy_zone.as_ref(),
            self.key.as_ref(),
            activity,
        )
    }

    /// The parts of the policy [`Minimizer::prepare`] needs, to move into worker threads.
    pub fn activity_rules(&self) -> (Option<crate::privacy::ZoneConfig>, Option<PseudonymKey>) {
        (self.policy.privacy_zone.clone(), self.key.clone())
    }

    /// The policy being applied.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The session (with the datamin UDFs) the minimizer runs in.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Minimizes the batches of `table` (one inner `Vec` per partition, all with the
    /// canonical schema of `table`). Returns the output schema and batches in input order;
    /// `None` when the policy does not write `table`.
    pub async fn minimize(
        &self,
        table: Table,
        partitions: Vec<Vec<RecordBatch>>,
    ) -> Result<Option<(SchemaRef, Vec<RecordBatch>)>> {
        let Some(view) = self.views.iter().find(|v| v.table == table) else {
            return Ok(None);
        };
        let _guard = self.lock.lock().await;
        let raw = self.register_raw(table, partitions)?;
        let out = async {
            let df = self.ctx.sql(&view.select).await?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect_partitioned().await?;
            Ok((schema, batches.into_iter().flatten().collect()))
        }
        .await;
        self.ctx.deregister_table(raw)?;
        out.map(Some)
    }

    /// Registers `partitions` as `raw.<table>` (replacing an earlier one) for the view
    /// queries; the caller holds `self.lock` and deregisters the returned name when done.
    fn register_raw(
        &self,
        table: Table,
        partitions: Vec<Vec<RecordBatch>>,
    ) -> Result<TableReference> {
        let raw = TableReference::partial(RAW_SCHEMA, table.name());
        let partitions = if partitions.is_empty() {
            vec![Vec::new()]
        } else {
            partitions
        };
        let mem = MemTable::try_new(table.schema(), partitions)?;
        self.ctx.deregister_table(raw.clone())?;
        self.ctx.register_table(raw.clone(), Arc::new(mem))?;
        Ok(raw)
    }
}

impl Minimizer {
    /// How many rows each enabled row rule of `table` removes from `partitions` (the same
    /// input as [`Minimizer::minimize`], whose output had `rows_out` rows), in policy order:
    /// `(rule, rows removed)`. Rules run in order, so each count is of what the rules before
    /// it left. The last rule's count comes from `rows_out`, so a table with one row rule
    /// needs no extra query. Empty without row rules.
    pub async fn row_rule_counts(
        &self,
        table: Table,
        partitions: Vec<Vec<RecordBatch>>,
        rows_out: u64,
    ) -> Result<Vec<(String, u64)>> {
        let Some(tp) = self.policy.table(table) else {
            return Ok(Vec::new());
        };
        let mut prefixes = tp.row_rule_prefixes();
        let Some((last_rule, _)) = prefixes.pop() else {
            return Ok(Vec::new());
        };
        let mut before: u64 = partitions
            .iter()
            .flatten()
            .map(|b| b.num_rows() as u64)
            .sum();
        let mut out = Vec::new();
        if !prefixes.is_empty() {
            let _guard = self.lock.lock().await;
            let raw = self.register_raw(table, partitions)?;
            let counts = async {
                let mut counts = Vec::new();
                for (_, select) in &prefixes {
                    counts.push(self.ctx.sql(select).await?.count().await? as u64);
                }
                Ok::<_, DataFusionError>(counts)
            }
            .await;
            self.ctx.deregister_table(raw)?;
            for ((rule, _), n) in prefixes.into_iter().zip(counts?) {
                out.push((rule, before.saturating_sub(n)));
                before = n;
            }
        }
        out.push((last_rule, before.saturating_sub(rows_out)));
        Ok(out)
    }
}

/// [`Minimizer::prepare`] without a minimizer (for worker threads).
pub fn prepare_activity(
    zone: Option<&crate::privacy::ZoneConfig>,
    key: Option<&PseudonymKey>,
    activity: &mut crate::format::Activity,
) -> Option<crate::privacy::ZoneStats> {
    let zone = zone?;
    let subject = crate::privacy::subject_of(activity);
    Some(crate::privacy::apply_zone(
        activity,
        zone,
        key.map(|k| k.secret_bytes()),
        &subject,
    ))
}
