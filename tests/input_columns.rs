//! `datamin run` decodes only the columns a policy reads ([`Minimizer::input_columns`]).
//! That must never change the output: a column a rule reads (even one it does not keep, as in
//! `suppress_rows`' `where`) is decoded, and every policy gives the same minimized rows from
//! the projected decode as from the full one.

use std::path::PathBuf;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::record_batch::RecordBatch;
use datamin::format::ActivityFormat;
use datamin::minimizer::Minimizer;
use datamin::policy::Policy;
use datamin::schema::{Table, TableBatches};
use datamin::udfs::PseudonymKey;

/// Reads columns it does not keep (the `where` of `suppress_rows`) and removes rows by
/// several rules, `k_anonymity` among them.
const ROW_RULES: &str = r#"
[tables.records]
keep = ["activity_id", "timestamp", "heart_rate_bpm", "altitude_m"]
[[tables.records.rules]]
rule = "suppress_rows"
where = "temperature_c > 25 OR cadence_rpm IS NULL"
[[tables.records.rules]]
rule = "downsample"
interval_s = 10
[[tables.records.rules]]
rule = "relative"
columns = ["altitude_m"]
[tables.activities]
keep = ["activity_id", "sport", "user_age_years"]
[[tables.activities.rules]]
rule = "k_anonymity"
columns = ["sport", "user_age_years"]
k = 2
"#;

const ZONE: &str = r#"
[privacy_zone]
radius_m = 200
[tables.records]
keep = ["timestamp", "heart_rate_bpm"]
"#;

fn key() -> PseudonymKey {
    PseudonymKey::new("t", b"input-columns-test-key-0123456789".to_vec()).unwrap()
}

fn files() -> Vec<(String, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["testdata", "tests/data"] {
        let mut names: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| ActivityFormat::from_path(p.to_str().unwrap()).is_some())
            .collect();
        names.sort();
        for p in names {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

/// The batches of every decodable file, all columns (`None`) or only `columns`.
fn input(columns: Option<&std::collections::BTreeMap<Table, Vec<usize>>>) -> TableBatches {
    let mut input = TableBatches::new();
    for (name, bytes) in files() {
        let format = ActivityFormat::from_path(&name).unwrap();
        let decoder = match columns {
            Some(c) => format.decoder_for(
                Table::Records,
                c.get(&Table::Records).map_or(&[], Vec::as_slice),
            ),
            None => format.decoder(),
        };
        let Ok(a) = datamin::format::decode_with(format, &name, &bytes, decoder) else {
            continue;
        };
        for t in Table::ALL {
            let b = match columns {
                Some(c) => a
                    .to_batch_projected(t, Some(c.get(&t).map_or(&[], Vec::as_slice)))
                    .unwrap(),
                None => a.to_batch(t).unwrap(),
            };
            input.push(t, b);
        }
    }
    input
}

fn column_names(t: Table, idx: &[usize]) -> Vec<String> {
    idx.iter()
        .map(|&i| t.schema().field(i).name().clone())
        .collect()
}

async fn same_output(policy: Policy) -> std::collections::BTreeMap<Table, Vec<String>> {
    let m = Minimizer::new(policy, Some(key())).unwrap();
    let columns = m
        .input_columns()
        .await
        .unwrap()
        .expect("no zone: a projection");
    let full = m.minimize(input(None)).await.unwrap();
    let projected = m.minimize(input(Some(&columns))).await.unwrap();
    assert_eq!(full.tables.len(), projected.tables.len());
    for (f, p) in full.tables.iter().zip(&projected.tables) {
        let one = |b: &[RecordBatch], s| concat_batches(s, b).unwrap();
        assert!(f.rows_out > 0, "{}: the test needs rows", f.table);
        assert_eq!(f.rows_in, p.rows_in, "{}", f.table);
        assert_eq!(f.removed_by_rule, p.removed_by_rule, "{}", f.table);
        assert_eq!(
            one(&f.batches, &f.schema),
            one(&p.batches, &p.schema),
            "{}: projected decode changed the output",
            f.table
        );
    }
    columns
        .iter()
        .map(|(t, c)| (*t, column_names(*t, c)))
        .collect()
}

#[tokio::test]
async fn the_research_policy_reads_only_what_it_keeps_and_gives_the_same_output() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/research.toml");
    let cols = same_output(Policy::from_file(path.to_str().unwrap()).unwrap()).await;
    assert_eq!(
        cols[&Table::Records],
        [
            "activity_id",
            "timestamp",
            "position_lat",
            "position_long",
            "altitude_m",
            "distance_m",
            "speed_m_s",
            "heart_rate_bpm",
            "cadence_rpm",
            "power_w"
        ]
    );
    assert!(!cols.contains_key(&Table::Laps), "laps are not written");
}

#[tokio::test]
async fn columns_that_rules_read_but_do_not_keep_are_decoded() {
    let cols = same_output(Policy::parse("inline", ROW_RULES).unwrap()).await;
    let records = &cols[&Table::Records];
    for c in ["temperature_c", "cadence_rpm", "timestamp", "altitude_m"] {
        assert!(
            records.iter().any(|r| r == c),
            "{c} missing from {records:?}"
        );
    }
    assert!(
        !records
            .iter()
            .any(|r| r == "developer_fields" || r == "source_file")
    );
    assert_eq!(
        cols[&Table::Activities],
        ["activity_id", "sport", "user_age_years"]
    );
}

#[tokio::test]
async fn a_policy_with_a_privacy_zone_reads_every_column() {
    let m = Minimizer::new(Policy::parse("inline", ZONE).unwrap(), Some(key())).unwrap();
    assert_eq!(m.input_columns().await.unwrap(), None);
}
