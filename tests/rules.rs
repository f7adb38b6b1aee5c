//! The row and value rules of policy v1, applied through the compiled views on known input.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int16Type, TimestampMicrosecondType};
use datamin::format::{Activity, ActivityRow, RecordRow};
use datamin::minimizer::Minimizer;
use datamin::policy::Policy;
use datamin::schema::{Table, TableBatches};
use datamin::udfs::PseudonymKey;

const T0: i64 = 1_700_000_000_000_000;

/// Two activities of 1 Hz samples: `a` 100 s long 3 days before `b` (60 s).
fn input() -> Vec<Activity> {
    let mk = |id: &str, start: i64, n: i64| Activity {
        activity_id: id.into(),
        source_file: format!("{id}.fit"),
        file_format: "fit",
        records: (0..n)
            .map(|i| RecordRow {
                timestamp_us: Some(start + i * 1_000_000),
                altitude_m: Some(100.0 + i as f64 * 0.7),
                heart_rate_bpm: Some(if i == 5 { 250 } else { 100 + (i % 50) as i16 }),
                ..Default::default()
            })
            .collect(),
        info: ActivityRow {
            user_gender: Some("female".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    vec![mk("a", T0, 100), mk("b", T0 + 3 * 86_400_000_000, 60)]
}

async fn run(policy: &str, table: Table, acts: &[Activity]) -> RecordBatch {
    let p = Policy::parse("p.toml", policy).unwrap();
    let key = PseudonymKey::new("t", b"rules-test-key-0123456789".to_vec()).unwrap();
    let m = Minimizer::new(p, Some(key)).unwrap();
    let mut input = TableBatches::new();
    for a in acts {
        input.push(table, a.to_batch(table).unwrap());
    }
    let out = m.minimize_table(input, table).await.unwrap().unwrap();
    datafusion::arrow::compute::concat_batches(&out.schema, &out.batches).unwrap()
}

#[tokio::test]
async fn suppress_rows_and_columns() {
    let b = run(
        r#"[tables.records]
keep = ["timestamp", "heart_rate_bpm", "altitude_m"]
[[tables.records.rules]]
rule = "suppress_rows"
where = "heart_rate_bpm > 220"
[[tables.records.rules]]
rule = "suppress"
columns = ["altitude_m"]
"#,
        Table::Records,
        &input(),
    )
    .await;
    assert_eq!(
        b.num_rows(),
        158,
        "the 250 bpm sample of each activity is dropped"
    );
    let hr = b.column(1).as_primitive::<Int16Type>();
    assert!(hr.iter().all(|v| v.unwrap() <= 220));
    assert_eq!(b.column(2).null_count(), 158, "altitude suppressed");
    assert_eq!(
        b.schema().field(2).data_type().to_string(),
        "Float64",
        "type kept"
    );
}

#[tokio::test]
async fn retention_and_downsample() {
    let b = run(
        r#"[tables.records]
keep = ["activity_id", "timestamp"]
[[tables.records.rules]]
rule = "retention"
max_age_days = 1
"#,
        Table::Records,
        &input(),
    )
    .await;
    assert_eq!(
        b.num_rows(),
        60,
        "only b is within 1 day of the newest sample"
    );
    assert!(
        b.column(0)
            .as_string::<i32>()
            .iter()
            .all(|v| v == Some("b"))
    );

    let b = run(
        r#"[tables.records]
keep = ["activity_id", "timestamp"]
[[tables.records.rules]]
rule = "downsample"
interval_s = 10
"#,
        Table::Records,
        &input(),
    )
    .await;
    assert_eq!(b.num_rows(), 10 + 6);
    let ts = b.column(1).as_primitive::<TimestampMicrosecondType>();
    // sorted, one sample per 10 s bucket: T0 is a multiple of 10 s
    assert_eq!(ts.value(0), T0);
    assert_eq!(ts.value(1), T0 + 10_000_000);
}

#[tokio::test]
async fn quantize_and_noise_are_deterministic() {
    let policy = r#"[tables.records]
keep = ["timestamp", "altitude_m", "heart_rate_bpm"]
[[tables.records.rules]]
rule = "quantize"
columns = ["altitude_m"]
step = 10
[[tables.records.rules]]
rule = "noise"
columns = ["heart_rate_bpm"]
scale = 3
"#;
    let acts = input();
    let b = run(policy, Table::Records, &acts).await;
    let alt = b.column(1).as_primitive::<Float64Type>();
    assert_eq!(alt.value(0), 100.0);
    assert_eq!(alt.value(20), 110.0); // 100 + 20·0.7 = 114 -> 110
    let hr = b.column(2).as_primitive::<Float64Type>();
    let raw: Vec<f64> = acts
        .iter()
        .flat_map(|a| a.records.iter().map(|r| r.heart_rate_bpm.unwrap() as f64))
        .collect();
    let diffs: Vec<f64> = hr.values().iter().zip(&raw).map(|(a, b)| a - b).collect();
    assert!(diffs.iter().any(|d| d.abs() > 0.01), "noise was added");
    let mean_abs = diffs.iter().map(|d| d.abs()).sum::<f64>() / diffs.len() as f64;
    assert!(
        (1.5..6.0).contains(&mean_abs),
        "E|noise| = b = 3, got {mean_abs}"
    );
    let again = run(policy, Table::Records, &acts).await;
    assert_eq!(b, again, "same input and key: same output");
}

#[tokio::test]
async fn k_anonymity_suppresses_small_groups() {
    let mut acts = Vec::new();
    for (i, (g, age)) in [
        ("female", 31),
        ("female", 35),
        ("female", 38),
        ("male", 33),
        ("male", 61),
    ]
    .iter()
    .enumerate()
    {
        acts.push(Activity {
            activity_id: format!("x{i}"),
            source_file: format!("x{i}.fit"),
            file_format: "fit",
            info: ActivityRow {
                user_gender: Some(g.to_string()),
                user_age_years: Some(*age),
                ..Default::default()
            },
            ..Default::default()
        });
    }
    let b = run(
        r#"[tables.activities]
keep = ["user_gender", "user_age_years"]
[[tables.activities.rules]]
rule = "generalize_number"
columns = ["user_age_years"]
edges = [30, 40, 50]
[[tables.activities.rules]]
rule = "k_anonymity"
columns = ["user_gender", "user_age_years"]
k = 2
"#,
        Table::Activities,
        &acts,
    )
    .await;
    // (female, [30, 40)) has 3 rows; (male, [30, 40)) and (male, >=50) have 1 each
    assert_eq!(b.num_rows(), 3);
    assert!(
        b.column(0)
            .as_string::<i32>()
            .iter()
            .all(|v| v == Some("female"))
    );
    assert!(
        b.column(1)
            .as_string::<i32>()
            .iter()
            .all(|v| v == Some("[30, 40)"))
    );
}

#[test]
fn rule_parameters_are_validated() {
    let bad = |body: &str| {
        Policy::parse("p.toml", &format!("[tables.records]\nkeep = [\"timestamp\", \"heart_rate_bpm\"]\n[[tables.records.rules]]\n{body}")).unwrap_err()
    };
    assert!(
        bad("rule = \"suppress_rows\"\nwhere = \"heart_rate_bpm >\"\n")
            .message
            .contains("not an SQL condition")
    );
    assert!(
        bad("rule = \"quantize\"\ncolumns = [\"heart_rate_bpm\"]\nstep = 0\n")
            .message
            .contains("step must be > 0")
    );
    assert!(
        bad("rule = \"k_anonymity\"\ncolumns = [\"heart_rate_bpm\"]\nk = 1\n")
            .message
            .contains("k must be >= 2")
    );
    assert!(
        bad("rule = \"retention\"\ncolumn = \"heart_rate_bpm\"\nmax_age_days = 3\n")
            .message
            .contains("needs a timestamp")
    );
    assert!(
        bad("rule = \"noise\"\ncolumns = [\"heart_rate_bpm\"]\n")
            .message
            .contains("needs 'scale'")
    );
    assert_eq!(
        bad("rule = \"downsample\"\ninterval_s = 5\nstep = 3\n")
            .key
            .as_deref(),
        Some("tables.records.rules[0].step")
    );
}
