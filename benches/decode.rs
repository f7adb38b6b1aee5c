//! FIT decode throughput (MB/s) over the shared FIT corpus:
//! - `fitparser_from_bytes`: the reference, `fitparser::from_bytes` alone;
//! - `datamin_decode`: datamin's decoder (fitparser stream + typed rows);
//! - `datamin_decode_to_arrow`: the same plus building the four Arrow batches.
//!
//! `cargo bench --bench decode`. Python's fitdecode is measured on the same files by
//! `benches/fitdecode_bench.py`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datamin::format::{ActivityFormat, decode};

#[path = "common.rs"]
mod common;

fn bench(c: &mut Criterion) {
    let corpus = common::fit_corpus();
    let bytes: u64 = corpus.iter().map(|(_, b)| b.len() as u64).sum();
    let mut g = c.benchmark_group("fit_decode");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    g.bench_function("fitparser_from_bytes", |b| {
        b.iter(|| {
            for (_, f) in &corpus {
                // the reference decoder fails on CRC mismatches that datamin accepts
                let _ = std::hint::black_box(fitparser::from_bytes(f));
            }
        })
    });
    g.bench_function("datamin_decode", |b| {
        b.iter(|| {
            for (n, f) in &corpus {
                std::hint::black_box(decode(ActivityFormat::Fit, n, f).unwrap());
            }
        })
    });
    g.bench_function("datamin_decode_to_arrow", |b| {
        b.iter(|| {
            for (n, f) in &corpus {
                let a = decode(ActivityFormat::Fit, n, f).unwrap();
                std::hint::black_box(a.to_batches().unwrap());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
