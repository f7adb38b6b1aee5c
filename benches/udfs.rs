//! Throughput of each datamin UDF and of a policy with all record-level rules, against a
//! plain projection of the same columns, on 1 M synthetic records in memory.
//! Target (issue #3): all record-level rules ≤ 3 × the plain projection.
//!
//! A plain projection in DataFusion is zero-copy (it hands out the input's buffers), so the
//! group `record_rules_1M_to_parquet` also measures what a run pays: the view *and* encoding
//! its output as datamin's Parquet (ZSTD, in memory), for the projection and all rules.
//!
//! `cargo bench --bench udfs`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datamin::format::{Activity, RecordRow};
use datamin::minimizer::Minimizer;
use datamin::policy::Policy;
use datamin::schema::{Table, TableBatches};
use datamin::udfs::PseudonymKey;

const ROWS: usize = 1_000_000;
const KEEP: &str = r#"keep = ["activity_id", "timestamp", "position_lat", "position_long", "altitude_m", "speed_m_s", "heart_rate_bpm"]"#;

fn input() -> TableBatches {
    // 100 activities of 10 000 samples at 1 Hz
    (0..100)
        .map(|a| {
            let act = Activity {
                activity_id: format!("{a:032x}"),
                source_file: format!("a{a}.fit"),
                file_format: "fit",
                records: (0..ROWS / 100)
                    .map(|i| RecordRow {
                        timestamp_us: Some(
                            1_700_000_000_000_000 + (a * 86_400 + i as i64) * 1_000_000,
                        ),
                        position_lat: Some(50.85 + i as f64 * 1e-5),
                        position_long: Some(4.35 + i as f64 * 1e-5),
                        altitude_m: Some(50.0 + (i % 100) as f64),
                        speed_m_s: Some(3.0 + (i % 7) as f64 * 0.1),
                        heart_rate_bpm: Some(100 + (i % 80) as i16),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            act.to_batch(Table::Records).unwrap()
        })
        .fold(TableBatches::new(), |mut t, b| {
            t.push(Table::Records, b);
            t
        })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let key = PseudonymKey::new("bench", b"bench-key-0123456789abcdef".to_vec()).unwrap();
    let data = input();
    let rule = |body: &str| format!("[tables.records]\n{KEEP}\n{body}");
    let cases = [
        ("plain_projection", rule("")),
        (
            "pseudonymize",
            rule(
                "[[tables.records.rules]]\nrule = \"pseudonymize\"\ncolumns = [\"activity_id\"]\n",
            ),
        ),
        (
            "truncate_time",
            rule(
                "[[tables.records.rules]]\nrule = \"truncate_time\"\ncolumns = [\"timestamp\"]\nunit = \"minute\"\n",
            ),
        ),
        (
            "generalize_coordinates",
            rule("[[tables.records.rules]]\nrule = \"generalize_coordinates\"\ngrid_m = 500\n"),
        ),
        (
            "quantize",
            rule(
                "[[tables.records.rules]]\nrule = \"quantize\"\ncolumns = [\"altitude_m\"]\nstep = 10\n",
            ),
        ),
        (
            "noise",
            rule(
                "[[tables.records.rules]]\nrule = \"noise\"\ncolumns = [\"heart_rate_bpm\"]\nscale = 2\n",
            ),
        ),
        (
            "encrypt",
            rule("[[tables.records.rules]]\nrule = \"encrypt\"\ncolumns = [\"activity_id\"]\n"),
        ),
        (
            "generalize_number",
            rule(
                "[[tables.records.rules]]\nrule = \"generalize_number\"\ncolumns = [\"heart_rate_bpm\"]\nedges = [60, 100, 140, 180]\n",
            ),
        ),
        (
            "all_record_rules",
            rule(
                "[[tables.records.rules]]\nrule = \"pseudonymize\"\ncolumns = [\"activity_id\"]\n\
                 [[tables.records.rules]]\nrule = \"truncate_time\"\ncolumns = [\"timestamp\"]\nunit = \"minute\"\n\
                 [[tables.records.rules]]\nrule = \"generalize_coordinates\"\ngrid_m = 500\n\
                 [[tables.records.rules]]\nrule = \"quantize\"\ncolumns = [\"altitude_m\", \"speed_m_s\"]\nstep = 10\n\
                 [[tables.records.rules]]\nrule = \"noise\"\ncolumns = [\"heart_rate_bpm\"]\nscale = 2\n",
            ),
        ),
    ];
    let mut g = c.benchmark_group("record_rules_1M");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(10);
    for (name, policy) in &cases {
        let p = Policy::parse(name, policy).unwrap();
        let m = Minimizer::new(p, Some(key.clone())).unwrap();
        g.bench_function(*name, |b| {
            b.iter(|| rt.block_on(m.minimize(data.clone())).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("record_rules_1M_to_parquet");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(10);
    for (name, policy) in cases
        .iter()
        .filter(|(n, _)| matches!(*n, "plain_projection" | "all_record_rules"))
    {
        let p = Policy::parse(name, policy).unwrap();
        let m = Minimizer::new(p, Some(key.clone())).unwrap();
        g.bench_function(*name, |b| {
            b.iter(|| {
                let out = rt.block_on(m.minimize(data.clone())).unwrap();
                let t = &out.tables[0];
                datamin::sink::parquet::encode(t.schema.clone(), &t.batches, Vec::new()).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
