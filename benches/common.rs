//! Shared by the benches: the FIT files of ../shared/data/fit that decode.

use std::path::PathBuf;

/// (name, bytes) of every FIT file under `../shared/data/fit` that datamin decodes.
pub fn fit_corpus() -> Vec<(String, Vec<u8>)> {
    let dir = std::env::var("DATAMIN_BENCH_FIT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/fit"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("fit")))
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
        .filter(|(n, b)| {
            datamin::format::decode(datamin::format::ActivityFormat::Fit, n, b).is_ok()
        })
        .collect()
}

/// (name, bytes) of every file of `format` (`tcx`, `gpx`) under `../shared/data/<format>`
/// that datamin decodes.
#[allow(dead_code)]
pub fn corpus(format: datamin::format::ActivityFormat) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(format.name());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
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
