//! Runs every `sql/*.slt` file with sqllogictest, each in a fresh datamin session.
//!
//! `cargo test --test sqllogictests` runs them all; `-- NAME` runs the files whose name
//! contains NAME. The session has the datamin UDFs with the test key
//! `datamin-slt-test-key-0123456789` (id `slt`), the FIT/TCX table factories, and the
//! working directory at the crate root (so `LOCATION 'testdata/…'` works).

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use datamin::context::session_context;
use datamin::udfs::PseudonymKey;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

struct Db {
    ctx: SessionContext,
}

fn col_type(t: &DataType) -> DefaultColumnType {
    if t.is_integer() {
        DefaultColumnType::Integer
    } else if t.is_floating() || matches!(t, DataType::Decimal128(..)) {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

#[async_trait]
impl AsyncDB for Db {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
        let results = datamin::sql::run_script(&self.ctx, sql).await?;
        let Some(batches) = results.into_iter().last() else {
            return Ok(DBOutput::StatementComplete(0));
        };
        let is_query = sql.trim_start().to_ascii_lowercase().starts_with("select")
            || sql.trim_start().to_ascii_lowercase().starts_with("with")
            || sql.trim_start().to_ascii_lowercase().starts_with("explain")
            || sql.trim_start().to_ascii_lowercase().starts_with("show");
        if !is_query {
            return Ok(DBOutput::StatementComplete(0));
        }
        let mut types = Vec::new();
        let mut rows = Vec::new();
        let opts = FormatOptions::default().with_null("NULL");
        for b in &batches {
            if types.is_empty() {
                types = b
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| col_type(f.data_type()))
                    .collect();
            }
            let fmts: Vec<ArrayFormatter> = b
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
                .collect::<Result<_, _>>()?;
            for i in 0..b.num_rows() {
                rows.push(
                    fmts.iter()
                        .zip(b.columns())
                        .map(|(f, c)| {
                            if c.is_null(i) {
                                "NULL".to_string()
                            } else {
                                let s = f.value(i).to_string();
                                if s.is_empty() {
                                    "(empty)".to_string()
                                } else {
                                    s
                                }
                            }
                        })
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "datamin"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sql");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("sql/ exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .filter(|p| {
            filter
                .as_ref()
                .is_none_or(|f| p.to_string_lossy().contains(f.as_str()))
        })
        .collect();
    files.sort();
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("chdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (mut passed, mut failed) = (0, 0);
    for f in &files {
        let res = rt.block_on(async {
            let mut runner = sqllogictest::Runner::new(|| async {
                let key = PseudonymKey::new("slt", b"datamin-slt-test-key-0123456789".to_vec())
                    .expect("valid key");
                Ok(Db {
                    ctx: session_context(Some(key), 2),
                })
            });
            runner.with_column_validator(|_, _| true);
            runner.run_file_async(f).await
        });
        match res {
            Ok(()) => {
                passed += 1;
                println!("ok   {}", f.display());
            }
            Err(e) => {
                failed += 1;
                println!("FAIL {}\n{e}", f.display());
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 || files.is_empty() {
        std::process::exit(1);
    }
}
