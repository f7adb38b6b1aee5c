//! The batch pipeline and SQL over activity files, end to end on real files.

use std::path::{Path, PathBuf};

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datamin::context::session_context;
use datamin::minimizer::Minimizer;
use datamin::policy::Policy;
use datamin::runner::{RunOptions, run};
use datamin::udfs::PseudonymKey;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

const POLICY: &str = r#"
[tables.records]
keep = ["activity_id", "timestamp", "position_lat", "position_long", "heart_rate_bpm"]
[[tables.records.rules]]
rule = "pseudonymize"
columns = ["activity_id"]
[[tables.records.rules]]
rule = "truncate_time"
columns = ["timestamp"]
unit = "minute"
[[tables.records.rules]]
rule = "generalize_coordinates"
grid_m = 1000
[tables.activities]
keep = ["activity_id", "manufacturer", "user_weight_kg"]
[[tables.activities.rules]]
rule = "pseudonymize"
columns = ["activity_id"]
[[tables.activities.rules]]
rule = "generalize_number"
columns = ["user_weight_kg"]
edges = [60, 70, 80]
"#;

fn key() -> PseudonymKey {
    PseudonymKey::new("test", b"run-test-key-0123456789".to_vec()).unwrap()
}

async fn run_into(out: &Path) -> datamin::runner::RunSummary {
    let policy = Policy::parse("inline", POLICY).unwrap();
    let m = Minimizer::new(policy, Some(key())).unwrap();
    let opts = RunOptions {
        input: testdata().to_string_lossy().into_owned(),
        output: out.to_string_lossy().into_owned(),
        jobs: 2,
        ..RunOptions::default()
    };
    run(&m, &opts).await.unwrap()
}

fn read_parquet(p: &Path) -> (Vec<RecordBatch>, Vec<(String, String)>) {
    let f = std::fs::File::open(p).unwrap();
    let b = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let kv = datamin::sink::parquet::key_value_metadata(b.metadata().file_metadata());
    (b.build().unwrap().map(|r| r.unwrap()).collect(), kv)
}

#[tokio::test]
async fn run_writes_minimized_parquet_and_quarantines_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let s = run_into(&out).await;
    assert_eq!(s.files_found, 4);
    assert_eq!(s.files_decoded, 3);
    assert_eq!(s.rejected.len(), 1);
    assert!(
        s.rejected[0]
            .file
            .ends_with("fitparse__activity-unexpected-eof.fit")
    );
    assert!(
        s.rejected[0].reason.contains("FIT"),
        "{}",
        s.rejected[0].reason
    );
    let rej = std::fs::read_to_string(out.join("_rejected/part-00000.jsonl")).unwrap();
    assert!(rej.contains("activity-unexpected-eof"));
    assert!(out.join("_SUCCESS").exists());
    assert!(!out.join("laps").exists());

    let (batches, kv) = read_parquet(&out.join("records/part-00000-00000.parquet"));
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 14 + 21 + 111);
    let schema = batches[0].schema();
    let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "activity_id",
            "timestamp",
            "position_lat",
            "position_long",
            "heart_rate_bpm"
        ]
    );
    let kv: std::collections::HashMap<_, _> = kv.into_iter().collect();
    assert_eq!(kv["datamin.key_id"], "test");
    assert_eq!(kv["datamin.table"], "records");
    assert!(
        kv["datamin.policy.rules"].contains("\"grid_m\":1000.0"),
        "{}",
        kv["datamin.policy.rules"]
    );
    assert!(
        !kv.values().any(|v| v.contains("run-test-key")),
        "the key never reaches the output"
    );

    let (acts, _) = read_parquet(&out.join("activities/part-00000-00000.parquet"));
    let w = acts[0]
        .column_by_name("user_weight_kg")
        .unwrap()
        .as_string::<i32>();
    // fenix 5 user weighs 68.0 kg (fitdecode) -> band [60, 70)
    assert!(w.iter().any(|v| v == Some("[60, 70)")));

    // the same output location again: resumed from its checkpoint, nothing new to read
    let before = std::fs::read(out.join("records/part-00000-00000.parquet")).unwrap();
    let again = run_into(&out).await;
    assert!(
        again.batches.is_empty() && again.files_found == 0,
        "{again:?}"
    );
    assert_eq!(
        std::fs::read(out.join("records/part-00000-00000.parquet")).unwrap(),
        before
    );
    assert!(!out.join("records/part-00001-00000.parquet").exists());

    // a non-empty location that datamin did not write: refused without --overwrite
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let e = run(
        &Minimizer::new(Policy::parse("inline", POLICY).unwrap(), Some(key())).unwrap(),
        &RunOptions {
            input: testdata().to_string_lossy().into_owned(),
            output: other.to_string_lossy().into_owned(),
            ..RunOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("not empty"), "{e}");
    assert!(other.join("notes.txt").exists());
}

#[tokio::test]
async fn two_runs_give_byte_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    run_into(&dir.path().join("a")).await;
    run_into(&dir.path().join("b")).await;
    for t in ["records", "activities"] {
        let a = std::fs::read(dir.path().join(format!("a/{t}/part-00000-00000.parquet"))).unwrap();
        let b = std::fs::read(dir.path().join(format!("b/{t}/part-00000-00000.parquet"))).unwrap();
        assert_eq!(a, b, "{t} differs");
    }
}

#[tokio::test]
async fn create_external_table_stored_as_fit_and_tcx() {
    let ctx = session_context(None, 2);
    let dir = testdata();
    let sql = format!(
        "CREATE EXTERNAL TABLE r STORED AS FIT LOCATION '{}/' OPTIONS ('message' 'record', 'on_error' 'skip');
         CREATE EXTERNAL TABLE s STORED AS FIT LOCATION '{}/' OPTIONS ('message' 'session', 'on_error' 'skip');
         CREATE EXTERNAL TABLE t STORED AS TCX LOCATION 'file://{}/';
         SELECT count(*) AS n, count(heart_rate_bpm) AS hr FROM r;
         SELECT count(*) FROM s;
         SELECT count(*) FROM t;",
        dir.display(),
        dir.display(),
        dir.display()
    );
    let res = datamin::sql::run_script(&ctx, &sql).await.unwrap();
    let n = res[3][0].column(0).as_primitive::<Int64Type>().value(0);
    let hr = res[3][0].column(1).as_primitive::<Int64Type>().value(0);
    assert_eq!((n, hr), (14 + 21, 21));
    assert_eq!(res[4][0].column(0).as_primitive::<Int64Type>().value(0), 2);
    assert_eq!(
        res[5][0].column(0).as_primitive::<Int64Type>().value(0),
        111
    );

    // a corrupt file fails the query by default, naming the file
    let e = datamin::sql::run_script(
        &ctx,
        &format!(
            "CREATE EXTERNAL TABLE bad STORED AS FIT LOCATION '{}/'; SELECT count(*) FROM bad;",
            dir.display()
        ),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("activity-unexpected-eof.fit"), "{e}");

    let e = datamin::sql::run_script(
        &ctx,
        &format!(
            "CREATE EXTERNAL TABLE x STORED AS FIT LOCATION '{}/' OPTIONS ('msg' 'record');",
            dir.display()
        ),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("unknown option 'msg'"), "{e}");
}

#[tokio::test]
async fn summary_counts_rows_removed_per_row_rule() {
    let policy = Policy::parse(
        "inline",
        r#"
[tables.records]
keep = ["timestamp", "heart_rate_bpm"]
[[tables.records.rules]]
rule = "suppress_rows"
where = "heart_rate_bpm > 100"
[[tables.records.rules]]
rule = "downsample"
interval_s = 10
[tables.activities]
keep = ["sport"]
[[tables.activities.rules]]
rule = "k_anonymity"
columns = ["sport"]
k = 2
"#,
    )
    .unwrap();
    let m = Minimizer::new(policy, None).unwrap();
    let out = std::env::temp_dir().join(format!("datamin-rowcounts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let opts = RunOptions {
        input: testdata().to_string_lossy().into_owned(),
        output: out.to_string_lossy().into_owned(),
        jobs: 2,
        ..RunOptions::default()
    };
    let s = run(&m, &opts).await.unwrap();
    let t = |name: &str| s.tables.iter().find(|t| t.table == name).unwrap();
    // 146 records: 16 with heart rate > 100 (sql/suppress_rows.slt), then 10 s buckets
    let r = t("records");
    assert_eq!(r.removed_by_rule[0], ("suppress_rows".to_string(), 16));
    assert_eq!(r.removed_by_rule[1].0, "downsample");
    assert_eq!(
        r.rows_in - r.removed_by_rule[0].1 - r.removed_by_rule[1].1,
        r.rows_out
    );
    // activities: sport Other is unique
    assert_eq!(
        t("activities").removed_by_rule,
        vec![("k_anonymity".to_string(), 1)]
    );
    assert!(s.privacy_zone.is_none());
    assert!(s.render().contains("k_anonymity: 1 rows removed"));
    std::fs::remove_dir_all(&out).unwrap();
}
