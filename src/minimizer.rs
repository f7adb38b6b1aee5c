//! Applying a policy to batches of the canonical tables: the one minimization step that
//! `datamin run`, `datamin sql` and embedding jobs share.
//!
//! [`Minimizer::minimize`] applies **every** step the policy names — the activity-level
//! privacy zone first, then the compiled SQL view of each table — so a caller cannot get
//! less minimization than the policy says by forgetting a step.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use datamin::format::{decode, ActivityFormat};
//! use datamin::minimizer::Minimizer;
//! use datamin::policy::Policy;
//! use datamin::schema::{Table, TableBatches};
//!
//! let policy = Policy::parse("inline", r#"
//!     [privacy_zone]
//!     radius_m = 200
//!     [tables.records]
//!     keep = ["timestamp", "position_lat", "position_long", "heart_rate_bpm"]
//!     [[tables.records.rules]]
//!     rule = "truncate_time"
//!     columns = ["timestamp"]
//!     unit = "minute"
//! "#)?;
//! let key = datamin::udfs::PseudonymKey::new("k1", b"a secret of at least 16 bytes".to_vec())?;
//! let minimizer = Minimizer::new(policy, Some(key))?;
//! let bytes = std::fs::read("activity.fit")?;
//! let activity = decode(ActivityFormat::Fit, "activity.fit", &bytes)?;
//! let mut input = TableBatches::new();
//! for t in Table::ALL {
//!     input.push(t, activity.to_batch(t)?);
//! }
//! let out = minimizer.minimize(input).await?;
//! let records = out.table(Table::Records).expect("the policy writes records");
//! println!("{} of {} samples published", records.rows_out, records.rows_in);
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::MemTable;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, TableReference, plan_err};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datamin_udfs::PseudonymKey;

use crate::context::session_context;
use crate::policy::{CompiledView, Policy, RAW_SCHEMA};
use crate::privacy::{PrivacyZone, ZoneStats};
use crate::schema::{Table, TableBatches};

/// Applies a compiled [`Policy`] to batches of the canonical tables.
///
/// Cheap to share (`&self` methods, no lock): every call plans in its own DataFusion
/// session. Output rows keep the order of the input batches and of rows inside them (by
/// activity when the policy has a privacy zone), so the same input gives the same output.
#[derive(Debug)]
pub struct Minimizer {
    policy: Arc<Policy>,
    key: Option<PseudonymKey>,
    zone: Option<PrivacyZone>,
    views: Vec<CompiledView>,
    target_partitions: usize,
    /// [`Minimizer::input_columns`], computed on first use.
    input_columns: OnceLock<InputColumns>,
}

/// The columns of each canonical table that a minimization reads, as indices into
/// [`Table::schema`], ascending; `None`: every column of every table (see
/// [`Minimizer::input_columns`]). A table that is not in the map is not read at all.
pub type InputColumns = Option<Arc<BTreeMap<Table, Vec<usize>>>>;

/// One table after minimization.
#[derive(Debug, Clone)]
pub struct MinimizedTable {
    /// The table.
    pub table: Table,
    /// The output schema: the policy's kept columns, in its order.
    pub schema: SchemaRef,
    /// The output rows.
    pub batches: Vec<RecordBatch>,
    /// Rows given to the minimizer (before the privacy zone).
    pub rows_in: u64,
    /// Rows in `batches`.
    pub rows_out: u64,
    /// Rows removed (or merged, `aggregate`) by each enabled row rule, in policy order:
    /// `(rule, rows)`. Each count is of what the rules before it left.
    pub removed_by_rule: Vec<(String, u64)>,
}

/// The result of [`Minimizer::minimize`].
#[derive(Debug, Clone)]
pub struct Minimized {
    /// The tables the policy writes: the canonical ones in [`Table::ALL`] order, then the
    /// declared ones by name.
    pub tables: Vec<MinimizedTable>,
    /// What the privacy zone hid (`None`: the policy has no zone).
    pub privacy_zone: Option<ZoneStats>,
}

impl Minimized {
    /// The output of `table`, if the policy writes it.
    pub fn table(&self, table: Table) -> Option<&MinimizedTable> {
        self.tables.iter().find(|t| t.table == table)
    }
}

impl Minimizer {
    /// Compiles `policy`. `key` is the secret of the keyed steps ([`Policy::needs_key`]:
    /// `pseudonymize`, `noise`, `encrypt`, the privacy zone's offset, slack and trimming).
    ///
    /// # Errors
    /// The policy needs a key and `key` is `None`.
    pub fn new(policy: Policy, key: Option<PseudonymKey>) -> Result<Self> {
        if policy.needs_key() && key.is_none() {
            return plan_err!(
                "the policy has keyed rules (pseudonymize, noise, encrypt or a privacy zone offset/trim) but no key was given"
            );
        }
        let zone = match &policy.privacy_zone {
            Some(cfg) => Some(PrivacyZone::new(cfg.clone(), key.clone())?),
            None => None,
        };
        let views = policy.compile();
        Ok(Self {
            policy: Arc::new(policy),
            key,
            zone,
            views,
            target_partitions: std::thread::available_parallelism().map_or(1, |n| n.get()),
            input_columns: OnceLock::new(),
        })
    }

    /// The columns of each canonical table that [`Minimizer::minimize`] reads: what a
    /// decoder must fill for the output to be the same as with every column. A caller that
    /// decodes only these (`datamin run` does) saves the decoding and building of the rest;
    /// the other columns may then be missing from the input batches.
    ///
    /// They are read off DataFusion's optimized plans of the policy's queries (each table's
    /// view and its row-rule counts) over the canonical schemas: every column a scan
    /// projects or a pushed-down filter names. `None` (every column of every table) when
    /// the policy has a privacy zone, which reads positions, times and distances of every
    /// table and rebuilds laps and sessions from the records, or writes a declared table.
    /// Computed once per minimizer.
    ///
    /// # Errors
    /// A query of the policy cannot be planned.
    pub async fn input_columns(&self) -> Result<InputColumns> {
        if let Some(c) = self.input_columns.get() {
            return Ok(c.clone());
        }
        let c = self.plan_input_columns().await?;
        Ok(self.input_columns.get_or_init(|| c).clone())
    }

    async fn plan_input_columns(&self) -> Result<InputColumns> {
        if self.zone.is_some() {
            return Ok(None);
        }
        let ctx = self.session().await?;
        let mut out: BTreeMap<Table, BTreeSet<usize>> = BTreeMap::new();
        for view in &self.views {
            let Some(schema) = view.table.canonical_schema() else {
                return Ok(None);
            };
            let raw = TableReference::partial(RAW_SCHEMA, view.table.name());
            let empty = MemTable::try_new(Arc::clone(&schema), vec![Vec::new()])?;
            ctx.register_table(raw.clone(), Arc::new(empty))?;
            let mut queries = vec![view.select.clone()];
            if let Some(tp) = self.policy.table(view.table) {
                queries.extend(tp.row_rule_prefixes().into_iter().map(|(_, q)| q));
            }
            let cols = out.entry(view.table).or_default();
            for q in queries {
                let plan = ctx.sql(&q).await?.into_optimized_plan()?;
                let mut every = false;
                plan.apply_with_subqueries(|node| {
                    if let LogicalPlan::TableScan(scan) = node {
                        match &scan.projection {
                            Some(p) => cols.extend(p.iter().copied()),
                            None => every = true,
                        }
                        for c in scan.filters.iter().flat_map(|f| f.column_refs()) {
                            match schema.index_of(&c.name) {
                                Ok(i) => {
                                    cols.insert(i);
                                }
                                Err(_) => every = true,
                            }
                        }
                    }
                    Ok(TreeNodeRecursion::Continue)
                })?;
                if every {
                    cols.extend(0..schema.fields().len());
                }
            }
            ctx.deregister_table(raw)?;
        }
        Ok(Some(Arc::new(
            out.into_iter()
                .map(|(t, c)| (t, c.into_iter().collect()))
                .collect(),
        )))
    }

    /// Sets how many partitions the SQL step runs on (default: the number of cores; 0 also
    /// means that). The output does not depend on it.
    pub fn with_target_partitions(mut self, n: usize) -> Self {
        if n > 0 {
            self.target_partitions = n;
        }
        self
    }

    /// The policy being applied.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The key in use (for a minimizer of a reloaded policy version).
    pub(crate) fn key(&self) -> Option<&PseudonymKey> {
        self.key.as_ref()
    }

    /// The id of the key in use (written to output metadata), if any.
    pub fn key_id(&self) -> Option<&str> {
        self.key.as_ref().map(PseudonymKey::id)
    }

    /// The policy's privacy-zone step (`None`: no zone).
    pub fn privacy_zone(&self) -> Option<&PrivacyZone> {
        self.zone.as_ref()
    }

    /// Lets this minimizer's zone keep `other`'s subject anchors (see
    /// [`PrivacyZone::adopt_anchors`]); for a policy reload or a replayed batch.
    pub fn adopt_zone_anchors(&mut self, other: &Minimizer) {
        if let (Some(z), Some(o)) = (self.zone.as_mut(), other.zone.as_ref()) {
            z.adopt_anchors(o);
        }
    }

    /// Minimizes `input` into every table the policy writes: the privacy zone (if any)
    /// over all tables, then each table's view. Tables the policy does not name are not
    /// returned.
    ///
    /// # Errors
    /// The input lacks a column the policy or the zone needs, or a query fails.
    pub async fn minimize(&self, input: TableBatches) -> Result<Minimized> {
        self.minimize_tables(input, None).await
    }

    /// [`Minimizer::minimize`] for one table only (the privacy zone still sees every table,
    /// since laps and sessions are recomputed from the visible records). `Ok(None)` when the
    /// policy does not write `table`.
    ///
    /// # Errors
    /// As [`Minimizer::minimize`].
    pub async fn minimize_table(
        &self,
        input: TableBatches,
        table: Table,
    ) -> Result<Option<MinimizedTable>> {
        let mut out = self.minimize_tables(input, Some(table)).await?;
        Ok(out.tables.pop())
    }

    async fn minimize_tables(&self, input: TableBatches, only: Option<Table>) -> Result<Minimized> {
        let rows_in: std::collections::BTreeMap<Table, u64> = self
            .views
            .iter()
            .map(|v| (v.table, input.num_rows(v.table) as u64))
            .collect();
        let (input, privacy_zone) = match &self.zone {
            Some(z) => {
                let (out, stats) = z.apply(input)?;
                (out, Some(stats))
            }
            None => (input, None),
        };
        let ctx = self.session().await?;
        // the tables' views run concurrently (each over its own `raw.<table>`); the output
        // keeps the views' order
        let runs = self
            .views
            .iter()
            .filter(|v| only.is_none_or(|t| t == v.table))
            .map(|view| {
                let (ctx, rows_in, batches) = (&ctx, &rows_in, input.get(view.table).to_vec());
                async move {
                    let t = self.run_view(ctx, view, batches).await?;
                    Ok::<_, datafusion::error::DataFusionError>(MinimizedTable {
                        rows_in: rows_in[&view.table],
                        ..t
                    })
                }
            });
        let tables = futures::future::try_join_all(runs).await?;
        Ok(Minimized {
            tables,
            privacy_zone,
        })
    }

    /// A fresh session with the datamin functions and the key; the SQL step keeps the
    /// partition order (no round-robin shuffles between the scan and the output).
    async fn session(&self) -> Result<SessionContext> {
        let ctx = session_context(self.key.clone(), self.target_partitions);
        ctx.sql("SET datafusion.optimizer.enable_round_robin_repartition = false")
            .await?;
        ctx.sql(&format!("CREATE SCHEMA {RAW_SCHEMA}")).await?;
        Ok(ctx)
    }

    /// Runs `view` over `batches` registered as `raw.<table>`, and counts what each row
    /// rule removed.
    async fn run_view(
        &self,
        ctx: &SessionContext,
        view: &CompiledView,
        batches: Vec<RecordBatch>,
    ) -> Result<MinimizedTable> {
        let table = view.table;
        let raw = TableReference::partial(RAW_SCHEMA, table.name());
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => match self.policy.table(table) {
                Some(t) => Arc::clone(&t.raw_schema),
                None => return plan_err!("the policy does not write table {table}"),
            },
        };
        let before: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        let mem = MemTable::try_new(schema, partitions(batches, self.target_partitions))?;
        ctx.register_table(raw.clone(), Arc::new(mem))?;
        let df = ctx.sql(&view.select).await?;
        let out_schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let out: Vec<RecordBatch> = df
            .collect_partitioned()
            .await?
            .into_iter()
            .flatten()
            .collect();
        let rows_out = out.iter().map(|b| b.num_rows() as u64).sum();
        let removed_by_rule = self.row_rule_counts(ctx, table, before, rows_out).await?;
        ctx.deregister_table(raw)?;
        Ok(MinimizedTable {
            table,
            schema: out_schema,
            batches: out,
            rows_in: before,
            rows_out,
            removed_by_rule,
        })
    }

    /// How many rows each enabled row rule of `table` removed, in policy order, given
    /// `before` rows in `raw.<table>` and `rows_out` in the output. Rules run in order, so
    /// each count is of what the rules before it left; the last rule's count comes from
    /// `rows_out`, so a table with one row rule needs no extra query.
    async fn row_rule_counts(
        &self,
        ctx: &SessionContext,
        table: Table,
        mut before: u64,
        rows_out: u64,
    ) -> Result<Vec<(String, u64)>> {
        let Some(tp) = self.policy.table(table) else {
            return Ok(Vec::new());
        };
        let mut prefixes = tp.row_rule_prefixes();
        let Some((last_rule, _)) = prefixes.pop() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (rule, select) in prefixes {
            let n = ctx.sql(&select).await?.count().await? as u64;
            out.push((rule, before.saturating_sub(n)));
            before = n;
        }
        out.push((last_rule, before.saturating_sub(rows_out)));
        Ok(out)
    }
}

/// `batches` split into at most `n` contiguous partitions (at least one, possibly empty),
/// so that concatenating the partitions gives the input order.
fn partitions(batches: Vec<RecordBatch>, n: usize) -> Vec<Vec<RecordBatch>> {
    if batches.is_empty() {
        return vec![Vec::new()];
    }
    let per = batches.len().div_ceil(n.max(1));
    let mut out = Vec::new();
    let mut it = batches.into_iter().peekable();
    while it.peek().is_some() {
        out.push(it.by_ref().take(per).collect());
    }
    out
}
