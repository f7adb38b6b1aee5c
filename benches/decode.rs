//! FIT decode throughput (MB/s) over the shared FIT corpus, one core, each beside the
//! reference measured in the same run:
//! - `fitparser_from_bytes`: the reference Rust decoder, `fitparser::from_bytes` alone;
//! - `datamin_decode`: datamin's columnar decoder into typed rows (all tables);
//! - `datamin_decode_to_arrow`: the same plus building the four Arrow batches;
//! - `datamin_project_3_record_columns`: only `timestamp`, `position_lat`, `position_long`
//!   of `records` read and built (what `SELECT timestamp, position_lat, position_long`
//!   decodes).
//!
//! - `tcx_decode`, `gpx_decode`: the XML formats of a mixed export, to Arrow.
//!
//! After criterion's groups, one timed pass of each prints MB/s, messages/s and ns per
//! record (a message is a FIT data message; a record a `record` message).
//!
//! `cargo bench --bench decode`. Python's fitdecode is measured on the same files by
//! `benches/fitdecode_bench.py`.

use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datamin::format::fit::{Projection, decode_projected};
use datamin::format::{Activity, ActivityFormat, decode};
use datamin::schema::Table;

#[path = "common.rs"]
mod common;

/// `records` columns 2, 3, 4: timestamp, position_lat, position_long.
const THREE: [usize; 3] = [2, 3, 4];

fn project3(f: &[u8]) {
    let mut a = Activity::default();
    decode_projected(f, &Projection::records(&THREE), &mut a).expect("decodes");
    std::hint::black_box(a.to_batch_projected(Table::Records, Some(&THREE)).unwrap());
}

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
    g.bench_function("datamin_project_3_record_columns", |b| {
        b.iter(|| {
            for (_, f) in &corpus {
                project3(f);
            }
        })
    });
    g.finish();
    summary(&corpus, bytes);
    xml(c);
}

/// TCX and GPX (the XML formats of a mixed export): decode to Arrow, MB/s and ns per record.
fn xml(c: &mut Criterion) {
    for format in [ActivityFormat::Tcx, ActivityFormat::Gpx] {
        let corpus = common::corpus(format);
        let bytes: u64 = corpus.iter().map(|(_, b)| b.len() as u64).sum();
        let records: usize = corpus
            .iter()
            .map(|(n, f)| decode(format, n, f).unwrap().records.len())
            .sum();
        let mut g = c.benchmark_group(format!("{}_decode", format.name()));
        g.throughput(Throughput::Bytes(bytes));
        g.sample_size(10);
        let run = || {
            for (n, f) in &corpus {
                let a = decode(format, n, f).unwrap();
                std::hint::black_box(a.to_batches().unwrap());
            }
        };
        g.bench_function("datamin_decode_to_arrow", |b| b.iter(run));
        g.finish();
        let t = (0..5)
            .map(|_| {
                let t = Instant::now();
                run();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        println!(
            "{}: {} files, {:.2} MB, {records} records: {:.1} ms, {:.1} MB/s, {:.0} ns/record (to Arrow, 1 core, best of 5)",
            format.name(),
            corpus.len(),
            bytes as f64 / 1e6,
            t * 1e3,
            bytes as f64 / 1e6 / t,
            t * 1e9 / records as f64
        );
    }
}

/// One timed pass of each decoder (best of 5): MB/s, messages/s, ns per record.
fn summary(corpus: &[(String, Vec<u8>)], bytes: u64) {
    let (mut messages, mut records) = (0u64, 0u64);
    for (n, f) in corpus {
        let a = decode(ActivityFormat::Fit, n, f).unwrap();
        messages += a.message_counts.values().sum::<u64>();
        records += a.records.len() as u64;
    }
    let best = |run: &dyn Fn()| {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                run();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let rows: [(&str, f64); 4] = [
        (
            "fitparser::from_bytes",
            best(&|| {
                for (_, f) in corpus {
                    let _ = std::hint::black_box(fitparser::from_bytes(f));
                }
            }),
        ),
        (
            "datamin decode (rows)",
            best(&|| {
                for (n, f) in corpus {
                    std::hint::black_box(decode(ActivityFormat::Fit, n, f).unwrap());
                }
            }),
        ),
        (
            "datamin decode to Arrow",
            best(&|| {
                for (n, f) in corpus {
                    let a = decode(ActivityFormat::Fit, n, f).unwrap();
                    std::hint::black_box(a.to_batches().unwrap());
                }
            }),
        ),
        (
            "datamin 3 record columns",
            best(&|| {
                for (_, f) in corpus {
                    project3(f);
                }
            }),
        ),
    ];
    println!(
        "\n{} files, {:.2} MB, {messages} data messages, {records} records (1 core, best of 5):",
        corpus.len(),
        bytes as f64 / 1e6
    );
    println!("| decoder | time | MB/s | messages/s | ns/record | vs fitparser |");
    println!("|---|---|---|---|---|---|");
    let reference = rows[0].1;
    for (name, t) in rows {
        println!(
            "| {name} | {:.1} ms | {:.1} | {:.2} M | {:.0} | {:.1}× |",
            t * 1e3,
            bytes as f64 / 1e6 / t,
            messages as f64 / t / 1e6,
            t * 1e9 / records as f64,
            reference / t
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
