//! A policy with a privacy zone gives zoned output from every public entry point — the
//! embedding API ([`Minimizer::minimize`]), SQL (`minimized.*`) and `datamin run` — with no
//! extra step for the caller to remember, and the three agree row for row.

use std::path::PathBuf;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::Float64Type;
use datamin::format::{ActivityFormat, decode};
use datamin::minimizer::Minimizer;
use datamin::policy::Policy;
use datamin::runner::{RunOptions, run};
use datamin::schema::{Table, TableBatches};
use datamin::udfs::PseudonymKey;
use datamin::udfs::geo::haversine_m;

const R: f64 = 100.0;

const POLICY: &str = r#"
[privacy_zone]
radius_m = 100
distance_quantum_m = 10
cell_m = 150
trim_m = 50
# positions stay where recorded, so the test can measure them against the true ends
displacement_max_m = 0
[tables.records]
keep = ["timestamp", "position_lat", "position_long", "distance_m"]
[tables.laps]
keep = ["start_time", "start_position_lat", "start_position_long", "end_position_lat", "end_position_long", "total_distance_m"]
[tables.sessions]
keep = ["start_position_lat", "start_position_long", "end_position_lat", "end_position_long", "nec_lat", "nec_long", "swc_lat", "swc_long", "total_distance_m"]
"#;

fn file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/tcxparser__sup_activity_1.tcx")
}

fn key() -> PseudonymKey {
    PseudonymKey::new("t", b"fail-closed-test-key-0123456789".to_vec()).unwrap()
}

/// Every (lat, long) pair of `batch` found in the column pairs `pairs`.
fn positions(batch: &RecordBatch, pairs: &[(&str, &str)]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for (la, lo) in pairs {
        let (Some(a), Some(o)) = (batch.column_by_name(la), batch.column_by_name(lo)) else {
            continue;
        };
        let (a, o) = (
            a.as_primitive::<Float64Type>(),
            o.as_primitive::<Float64Type>(),
        );
        for i in 0..a.len() {
            if a.is_valid(i) && o.is_valid(i) {
                out.push((a.value(i), o.value(i)));
            }
        }
    }
    out
}

const PAIRS: [(&str, &str); 5] = [
    ("position_lat", "position_long"),
    ("start_position_lat", "start_position_long"),
    ("end_position_lat", "end_position_long"),
    ("nec_lat", "nec_long"),
    ("swc_lat", "swc_long"),
];

/// The true start and end of the activity.
fn true_ends() -> [(f64, f64); 2] {
    let a = decode(ActivityFormat::Tcx, "f", &std::fs::read(file()).unwrap()).unwrap();
    let pos = |r: &datamin::format::RecordRow| r.position_lat.zip(r.position_long);
    [
        a.records.iter().find_map(pos).unwrap(),
        a.records.iter().rev().find_map(pos).unwrap(),
    ]
}

/// Asserts that no published position of `batch` lies within R of the true ends.
fn assert_zoned(what: &str, batch: &RecordBatch) {
    let ends = true_ends();
    let pts = positions(batch, &PAIRS);
    for p in &pts {
        for e in ends {
            let d = haversine_m(p.0, p.1, e.0, e.1);
            assert!(d >= R, "{what}: {p:?} is {d:.1} m from the true end {e:?}");
        }
    }
}

fn one(batches: &[RecordBatch]) -> RecordBatch {
    concat_batches(&batches[0].schema(), batches).unwrap()
}

async fn via_library() -> [RecordBatch; 3] {
    let policy = Policy::parse("p.toml", POLICY).unwrap();
    let m = Minimizer::new(policy, Some(key())).unwrap();
    let a = decode(
        ActivityFormat::Tcx,
        "f.tcx",
        &std::fs::read(file()).unwrap(),
    )
    .unwrap();
    let mut input = TableBatches::new();
    for t in Table::ALL {
        input.push(t, a.to_batch(t).unwrap());
    }
    let out = m.minimize(input).await.unwrap();
    let zs = out.privacy_zone.unwrap();
    assert_eq!((zs.records_in, zs.records_hidden), (111, 67), "{zs:?}");
    [Table::Records, Table::Laps, Table::Sessions].map(|t| one(&out.table(t).unwrap().batches))
}

async fn via_sql() -> [RecordBatch; 3] {
    let ctx = datamin::context::session_context(Some(key()), 0);
    let policy = Policy::parse("p.toml", POLICY).unwrap();
    datamin::sql::register_input(&ctx, file().to_str().unwrap(), Some(&policy))
        .await
        .unwrap();
    let mut out = Vec::new();
    for t in ["records", "laps", "sessions"] {
        let b = ctx
            .sql(&format!("SELECT * FROM minimized.{t}"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        out.push(one(&b));
    }
    out.try_into().unwrap()
}

async fn via_run() -> [RecordBatch; 3] {
    let policy = Policy::parse("p.toml", POLICY).unwrap();
    let m = Minimizer::new(policy, Some(key())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        input: file().to_string_lossy().into_owned(),
        output: dir.path().to_string_lossy().into_owned(),
        overwrite: true,
        jobs: 1,
        ..RunOptions::default()
    };
    let s = run(&m, &opts).await.unwrap();
    assert_eq!(s.privacy_zone.unwrap().records_hidden, 67);
    // the TCX file names its device (UnitId): that is its subject
    assert_eq!(s.privacy_zone.unwrap().activities_without_subject, 0);
    ["records", "laps", "sessions"].map(|t| {
        let f = std::fs::File::open(dir.path().join(t).join("part-00000-00000.parquet")).unwrap();
        let r =
            datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(f, 1024)
                .unwrap();
        let schema = datafusion::arrow::record_batch::RecordBatchReader::schema(&r);
        let b = r.collect::<Result<Vec<_>, _>>().unwrap();
        if b.is_empty() {
            RecordBatch::new_empty(schema)
        } else {
            one(&b)
        }
    })
}

#[tokio::test]
async fn every_entry_point_applies_the_zone_and_they_agree() {
    let lib = via_library().await;
    let sql = via_sql().await;
    let run = via_run().await;
    for (name, out) in [("library", &lib), ("sql", &sql), ("run", &run)] {
        for (t, b) in ["records", "laps", "sessions"].iter().zip(out.iter()) {
            assert_zoned(&format!("{name} {t}"), b);
        }
        // 111 samples, 67 hidden; laps removed (the zone hid samples); one session
        assert_eq!(
            out.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(),
            vec![44, 0, 1],
            "{name}"
        );
    }
    // the same rows, values and columns from all three
    for i in 0..3 {
        assert_eq!(
            lib[i].columns(),
            sql[i].columns(),
            "library vs sql, table {i}"
        );
        assert_eq!(
            lib[i].columns(),
            run[i].columns(),
            "library vs run, table {i}"
        );
    }
    // the published distance starts at 0 at the first visible sample (re-based, 10 m steps)
    let d = lib[0]
        .column_by_name("distance_m")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(d.value(0), 0.0);
    assert!(d.iter().flatten().all(|v| v % 10.0 == 0.0));
}

#[tokio::test]
async fn a_keyed_zone_without_a_key_is_an_error_not_unzoned_output() {
    let policy = Policy::parse("p.toml", POLICY).unwrap();
    let e = Minimizer::new(policy.clone(), None).unwrap_err();
    assert!(e.to_string().contains("no key"), "{e}");
    let ctx = datamin::context::session_context(None, 0);
    let e = datamin::sql::register_input(&ctx, file().to_str().unwrap(), Some(&policy))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no key"), "{e}");
}
