//! FIT and TCX as DataFusion file formats: `CREATE EXTERNAL TABLE … STORED AS FIT|TCX` as
//! `ListingTable`s (Hive partitions, projection, LIMIT, on_error), mixed folders, other
//! object stores, and `inspect_location`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::object_store::memory::InMemory;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datamin::context::session_context;
use datamin::format::datasource::ActivitySource;
use datamin::inspect::inspect_location;
use datamin::sql::{TableSpec, register_table, run_script};

const FENIX: &str = "fitparse__garmin-fenix-5-run.fit"; // 21 records, HR on all
const ACTIVITY: &str = "fitparse__Activity.fit"; // 14 records, no HR
const SUP: &str = "tcxparser__sup_activity_1.tcx"; // 111 trackpoints
const EOF: &str = "fitparse__activity-unexpected-eof.fit"; // truncated

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// Copies testdata files into `dir` under the given relative paths.
fn layout(dir: &Path, files: &[(&str, &str)]) {
    for (rel, src) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::copy(testdata(src), p).unwrap();
    }
}

async fn query(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    let mut res = run_script(ctx, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    res.pop().unwrap()
}

fn int(b: &[RecordBatch], col: usize, row: usize) -> i64 {
    b[0].column(col).as_primitive::<Int64Type>().value(row)
}

/// Column `col` as strings (dictionary-encoded partition columns are cast).
fn strings(b: &[RecordBatch], col: usize) -> Vec<String> {
    b.iter()
        .flat_map(|b| {
            let c = cast(b.column(col), &DataType::Utf8).unwrap();
            let s = c.as_string::<i32>();
            (0..s.len())
                .map(|i| s.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn hive_folders_become_a_partition_column() {
    let dir = tempfile::tempdir().unwrap();
    layout(
        dir.path(),
        &[("subject=a/x.fit", FENIX), ("subject=b/y.fit", ACTIVITY)],
    );
    let ctx = session_context(None, 2);
    query(
        &ctx,
        &format!(
            "CREATE EXTERNAL TABLE t STORED AS FIT LOCATION '{}/'",
            dir.path().display()
        ),
    )
    .await;
    let b = query(&ctx, "SELECT count(*), count(DISTINCT subject) FROM t").await;
    assert_eq!((int(&b, 0, 0), int(&b, 1, 0)), (21 + 14, 2));

    let b = query(
        &ctx,
        "SELECT subject, count(*), count(heart_rate_bpm) FROM t GROUP BY subject ORDER BY subject",
    )
    .await;
    assert_eq!(strings(&b, 0), ["a", "b"]);
    let counts: Vec<_> = (0..2).map(|r| (int(&b, 1, r), int(&b, 2, r))).collect();
    assert_eq!(counts, [(21, 21), (14, 0)]);

    // the partition column follows the canonical columns
    let b = query(&ctx, "SELECT * FROM t WHERE subject = 'a' LIMIT 1").await;
    let s = b[0].schema();
    let names: Vec<_> = s.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names.first(), Some(&"activity_id"));
    assert_eq!(names.last(), Some(&"subject"));
    assert!(strings(&b, 1)[0].ends_with("/subject=a/x.fit"));

    // PARTITIONED BY names it explicitly; a filter on it prunes folders
    query(
        &ctx,
        &format!(
            "CREATE EXTERNAL TABLE p STORED AS FIT PARTITIONED BY (subject) LOCATION '{}/' OPTIONS ('message' 'session')",
            dir.path().display()
        ),
    )
    .await;
    let b = query(&ctx, "SELECT subject, sport FROM p ORDER BY subject").await;
    assert_eq!(strings(&b, 0), ["a", "b"]);
    assert_eq!(strings(&b, 1), ["running", "running"]);
}

/// The `ActivitySource` under the scan of `sql`.
async fn scan_source(ctx: &SessionContext, sql: &str) -> ActivitySource {
    fn find(p: &Arc<dyn ExecutionPlan>) -> Option<ActivitySource> {
        if let Some(d) = p.downcast_ref::<DataSourceExec>()
            && let Some(c) = d.data_source().downcast_ref::<FileScanConfig>()
        {
            return c.file_source.downcast_ref::<ActivitySource>().cloned();
        }
        p.children().into_iter().find_map(find)
    }
    let plan = ctx
        .sql(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    find(&plan).expect("an activity scan")
}

#[tokio::test]
async fn only_projected_columns_are_built_and_limit_stops_early() {
    let ctx = session_context(None, 2);
    let dir = testdata("");
    query(
        &ctx,
        &format!(
            "CREATE EXTERNAL TABLE r STORED AS FIT LOCATION '{}/' OPTIONS ('on_error' 'skip')",
            dir.display()
        ),
    )
    .await;
    // heart_rate_bpm is column 8 of records, timestamp 2: the scan builds exactly those
    let s = scan_source(&ctx, "SELECT max(heart_rate_bpm) FROM r").await;
    assert_eq!(s.file_projection(), [8]);
    let s = scan_source(&ctx, "SELECT heart_rate_bpm, timestamp FROM r").await;
    assert_eq!(s.file_projection(), [2, 8]);
    // count(*): no column at all, only row counts
    let s = scan_source(&ctx, "SELECT count(*) FROM r").await;
    assert!(s.file_projection().is_empty());

    let b = query(&ctx, "SELECT heart_rate_bpm, timestamp FROM r").await;
    assert_eq!(b[0].num_columns(), 2);
    assert_eq!(b.iter().map(RecordBatch::num_rows).sum::<usize>(), 35);
    let b = query(&ctx, "SELECT max(heart_rate_bpm) FROM r").await;
    assert_eq!(
        b[0].column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int16Type>()
            .value(0),
        112
    );
    let b = query(&ctx, "SELECT * FROM r LIMIT 5").await;
    assert_eq!(b.iter().map(RecordBatch::num_rows).sum::<usize>(), 5);
}

#[tokio::test]
async fn on_error_fails_naming_the_file_or_skips_it() {
    let dir = tempfile::tempdir().unwrap();
    layout(
        dir.path(),
        &[("subject=a/ok.fit", FENIX), ("subject=b/bad.fit", EOF)],
    );
    let ctx = session_context(None, 2);
    let loc = format!("{}/", dir.path().display());
    query(
        &ctx,
        &format!("CREATE EXTERNAL TABLE f STORED AS FIT LOCATION '{loc}'"),
    )
    .await;
    let e = run_script(&ctx, "SELECT count(*) FROM f")
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("/subject=b/bad.fit: corrupt FIT file at byte"),
        "{e}"
    );
    query(
        &ctx,
        &format!(
            "CREATE EXTERNAL TABLE s STORED AS FIT LOCATION '{loc}' OPTIONS ('on_error' 'skip')"
        ),
    )
    .await;
    let b = query(&ctx, "SELECT subject, count(*) FROM s GROUP BY subject").await;
    assert_eq!(strings(&b, 0), ["a"]);
    assert_eq!(int(&b, 1, 0), 21);

    for (opts, msg) in [
        (
            "('msg' 'record')",
            "unknown option 'msg' for STORED AS FIT; valid options: 'message', 'on_error'",
        ),
        (
            "('on_error' 'maybe')",
            "option 'on_error' must be 'fail' or 'skip', got 'maybe'",
        ),
        ("('message' 'lapz')", "unknown table or message 'lapz'"),
    ] {
        let e = run_script(
            &ctx,
            &format!("CREATE EXTERNAL TABLE x STORED AS FIT LOCATION '{loc}' OPTIONS {opts}"),
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains(msg), "{e}");
    }
    let e = run_script(
        &ctx,
        &format!("CREATE EXTERNAL TABLE x (a INT) STORED AS TCX LOCATION '{loc}'"),
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("STORED AS TCX tables have a fixed schema; omit the column list"),
        "{e}"
    );
}

#[tokio::test]
async fn tcx_in_sub_folders_any_case_and_mixed_folders() {
    let dir = tempfile::tempdir().unwrap();
    layout(
        dir.path(),
        &[
            ("2022/07/SUP.TCX", SUP),
            ("2022/07/run.FIT", FENIX),
            ("notes.txt", "ATTRIBUTION.md"),
        ],
    );
    let ctx = session_context(None, 2);
    let loc = dir.path().display();
    query(
        &ctx,
        &format!(
            "CREATE EXTERNAL TABLE t STORED AS TCX LOCATION '{loc}/';
             CREATE EXTERNAL TABLE l STORED AS TCX LOCATION '{loc}/' OPTIONS ('message' 'lap');
             CREATE EXTERNAL TABLE f STORED AS FIT LOCATION '{loc}/'"
        ),
    )
    .await;
    let b = query(&ctx, "SELECT count(*), count(DISTINCT activity_id) FROM t").await;
    assert_eq!((int(&b, 0, 0), int(&b, 1, 0)), (111, 1));
    let b = query(&ctx, "SELECT count(*) FROM l").await;
    assert_eq!(int(&b, 0, 0), 2);
    let b = query(&ctx, "SELECT count(*) FROM f").await;
    assert_eq!(int(&b, 0, 0), 21);

    // mixed: one table over both formats, each file by its extension, other files ignored
    let spec: TableSpec = format!("acts:file_id={loc}").parse().unwrap();
    register_table(&ctx, &spec).await.unwrap();
    let b = query(
        &ctx,
        "SELECT file_format, record_count FROM acts ORDER BY file_format",
    )
    .await;
    assert_eq!(strings(&b, 0), ["fit", "tcx"]);
    let rc = b[0].column(1).as_primitive::<Int64Type>();
    assert_eq!((rc.value(0), rc.value(1)), (21, 111));
}

#[tokio::test]
async fn object_store_folders_read_only_their_format() {
    let store = Arc::new(InMemory::new());
    for (key, src) in [
        ("in/a.fit", FENIX),
        ("in/deep/B.FIT", ACTIVITY),
        ("in/c.tcx", SUP),
        ("in/readme.md", "ATTRIBUTION.md"),
    ] {
        let bytes = std::fs::read(testdata(src)).unwrap();
        store
            .put(&ObjectPath::from(key), PutPayload::from(bytes))
            .await
            .unwrap();
    }
    let ctx = session_context(None, 2);
    ctx.register_object_store(
        &url::Url::parse("mem://bucket").unwrap(),
        store as Arc<dyn ObjectStore>,
    );
    // on_error = fail: the .tcx and .md files must not be read as FIT
    query(
        &ctx,
        "CREATE EXTERNAL TABLE r STORED AS FIT LOCATION 'mem://bucket/in/'",
    )
    .await;
    let b = query(
        &ctx,
        "SELECT count(*), count(DISTINCT source_file), min(source_file) FROM r",
    )
    .await;
    assert_eq!((int(&b, 0, 0), int(&b, 1, 0)), (35, 2));
    assert_eq!(strings(&b, 2), ["mem://bucket/in/a.fit"]);
}

#[tokio::test]
async fn inspect_reads_through_the_one_driver() {
    let i = inspect_location(testdata(FENIX).to_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(i.messages["record"], 21);
    assert_eq!(i.product.as_deref(), Some("fenix5"));
    assert_eq!(i.bytes, std::fs::metadata(testdata(FENIX)).unwrap().len());

    let bad = testdata(EOF);
    let Ok(Err(q)) = inspect_location(bad.to_str().unwrap()).await else {
        panic!("a truncated file is corrupt")
    };
    assert!(q.file.starts_with("file:///") && q.file.ends_with(EOF));
    assert_eq!(q.size, std::fs::metadata(&bad).unwrap().len());
    assert_eq!(q.sha256.len(), 64);
    assert!(
        q.reason.starts_with("corrupt FIT file at byte"),
        "{}",
        q.reason
    );

    let Err(e) = inspect_location("testdata/ATTRIBUTION.md").await else {
        panic!("not an activity file")
    };
    assert_eq!(
        e.to_string(),
        "testdata/ATTRIBUTION.md: not a .fit, .tcx or .gpx file (optionally .gz)"
    );
}
