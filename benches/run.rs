//! The whole batch run (list, decode on all cores, policy views, Parquet) against the bare
//! single-threaded decode of the same files. Target: run time ≤ 1.5 × bare decode.
//!
//! `cargo bench --bench run`; with `DATAMIN_LOG=datamin=debug` each batch logs its split
//! (decode, minimize, write) to stderr; `BENCH_JOBS=n` sets the run's decode jobs (default:
//! one per core).

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datamin::format::{ActivityFormat, decode};
use datamin::minimizer::Minimizer;
use datamin::policy::{KeyConfig, Policy, load_key};
use datamin::runner::{RunOptions, run};

#[path = "common.rs"]
mod common;

fn bench(c: &mut Criterion) {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("DATAMIN_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    let corpus = common::fit_corpus();
    let bytes: u64 = corpus.iter().map(|(_, b)| b.len() as u64).sum();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for (n, b) in &corpus {
        std::fs::write(input.join(n), b).unwrap();
    }
    let policy_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/research.toml");
    let policy = Policy::from_file(policy_path.to_str().unwrap()).unwrap();
    // SAFETY: single-threaded at this point; the bench sets its own key.
    unsafe { std::env::set_var("DATAMIN_KEY", "bench-key-0123456789abcdef") };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let key = rt
        .block_on(load_key(
            &KeyConfig {
                id: Some("bench".into()),
                ..Default::default()
            },
            None,
        ))
        .unwrap();
    let minimizer = Minimizer::new(policy, Some(key)).unwrap();

    let mut g = c.benchmark_group("run");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    g.bench_function("bare_decode_1_core", |b| {
        b.iter(|| {
            for (n, f) in &corpus {
                std::hint::black_box(decode(ActivityFormat::Fit, n, f).unwrap());
            }
        })
    });
    let mut i = 0;
    g.bench_function("datamin_run_research_policy", |b| {
        b.iter(|| {
            i += 1;
            let opts = RunOptions {
                input: input.to_string_lossy().into_owned(),
                output: dir
                    .path()
                    .join(format!("out{i}"))
                    .to_string_lossy()
                    .into_owned(),
                jobs: std::env::var("BENCH_JOBS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                ..RunOptions::default()
            };
            rt.block_on(run(&minimizer, &opts)).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
