//! Shared by the benches: the activity files of ../shared/data that decode.

use std::path::{Path, PathBuf};

use datamin::format::ActivityFormat;

/// (name, bytes) of every FIT file under `../shared/data/fit` (or `$DATAMIN_BENCH_FIT_DIR`)
/// that datamin decodes.
pub fn fit_corpus() -> Vec<(String, Vec<u8>)> {
    let dir = std::env::var("DATAMIN_BENCH_FIT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| shared(ActivityFormat::Fit));
    corpus_in(&dir, ActivityFormat::Fit)
}

/// (name, bytes) of every file of `format` under `../shared/data/<format>` that datamin
/// decodes.
#[allow(dead_code)]
pub fn corpus(format: ActivityFormat) -> Vec<(String, Vec<u8>)> {
    corpus_in(&shared(format), format)
}

fn shared(format: ActivityFormat) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(format.name())
}

/// (name, bytes) of the files named `*.<format>` in `dir` that decode, by name.
fn corpus_in(dir: &Path, format: ActivityFormat) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case(format.name()))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .filter(|(n, b)| datamin::format::decode(format, n, b).is_ok())
        .collect()
}
