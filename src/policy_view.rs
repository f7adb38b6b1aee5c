//! `minimized.<table>` in SQL sessions: a table whose scan runs the whole policy.
//!
//! A policy is more than SQL views: the privacy zone works on whole activities, across
//! `records`, `laps` and `sessions`. [`PolicyView`] therefore does not expand to a view over
//! `raw.*`; its scan reads the raw tables it needs, hands them to the same
//! [`Minimizer`] that `datamin run` uses, and returns the minimized rows. Every SQL query over
//! `minimized.*` thus sees exactly what `datamin run` writes, never less minimized.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::{ExecutionPlan, collect};

use crate::minimizer::Minimizer;
use crate::schema::{Table, TableBatches};

/// The minimized rows of one table, computed when scanned (see the module docs).
pub struct PolicyView {
    minimizer: Arc<Minimizer>,
    table: Table,
    /// The raw tables the policy reads, by canonical table.
    raw: Vec<(Table, Arc<dyn TableProvider>)>,
    schema: SchemaRef,
}

impl fmt::Debug for PolicyView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyView")
            .field("table", &self.table)
            .field("policy", &self.minimizer.policy().source)
            .finish()
    }
}

impl PolicyView {
    /// The minimized `table` of `minimizer`'s policy over the raw tables `raw` (one provider
    /// per canonical table; with a privacy zone every table whose rows the zone rewrites
    /// must be given). `Ok(None)` when the policy does not write `table`.
    ///
    /// # Errors
    /// The policy's view does not plan (a bug: policies are validated when parsed).
    pub async fn try_new(
        minimizer: Arc<Minimizer>,
        table: Table,
        raw: Vec<(Table, Arc<dyn TableProvider>)>,
    ) -> Result<Option<Self>> {
        // the output schema, from a run over no rows
        let Some(empty) = minimizer.minimize_table(TableBatches::new(), table).await? else {
            return Ok(None);
        };
        Ok(Some(Self {
            minimizer,
            table,
            raw,
            schema: empty.schema,
        }))
    }
}

#[async_trait]
impl TableProvider for PolicyView {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let zoned = self.minimizer.policy().privacy_zone.is_some();
        let mut input = TableBatches::new();
        for (t, provider) in &self.raw {
            if *t != self.table && !zoned {
                continue;
            }
            let plan = provider.scan(state, None, &[], None).await?;
            for b in collect(plan, state.task_ctx()).await? {
                input.push(*t, b);
            }
        }
        let out = self
            .minimizer
            .minimize_table(input, self.table)
            .await?
            .expect("the policy writes this table (checked in try_new)");
        let exec = MemorySourceConfig::try_new_exec(
            &[out.batches],
            Arc::clone(&self.schema),
            projection.cloned(),
        )?;
        Ok(exec)
    }
}
