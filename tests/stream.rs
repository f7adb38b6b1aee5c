//! The micro-batch runner: triggers, Spark's file source options, the checkpoint layout, the
//! exactly-once sink log, replay after an interrupted batch, and source cleaning.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datamin::minimizer::Minimizer;
use datamin::policy::Policy;
use datamin::runner::{RunOptions, RunSummary, Trigger, run};
use datamin::udfs::PseudonymKey;

const POLICY: &str = r#"
[tables.records]
keep = ["activity_id", "timestamp", "heart_rate_bpm"]
[[tables.records.rules]]
rule = "pseudonymize"
columns = ["activity_id"]
[tables.activities]
keep = ["activity_id", "sport"]
[[tables.activities.rules]]
rule = "pseudonymize"
columns = ["activity_id"]
"#;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

fn minimizer() -> Minimizer {
    let key = PseudonymKey::new("t", b"stream-test-key-0123456789".to_vec()).unwrap();
    Minimizer::new(Policy::parse("inline", POLICY).unwrap(), Some(key)).unwrap()
}

fn opts(input: &Path, output: &Path, options: &[(&str, &str)]) -> RunOptions {
    RunOptions {
        input: input.to_string_lossy().into_owned(),
        output: output.to_string_lossy().into_owned(),
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        jobs: 2,
        ..RunOptions::default()
    }
}

/// Copies the decodable test files into `dir` with modification times one second apart, in
/// the order given (names prefixed so that path order differs from time order).
fn stage(dir: &Path, names: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    let t0 = std::time::SystemTime::now() - Duration::from_secs(3600);
    for (i, name) in names.iter().enumerate() {
        let to = dir.join(format!("{}-{name}", 9 - i));
        std::fs::copy(testdata().join(name), &to).unwrap();
        let f = std::fs::File::options().write(true).open(&to).unwrap();
        f.set_modified(t0 + Duration::from_secs(i as u64)).unwrap();
    }
}

const GOOD: [&str; 3] = [
    "fitparse__garmin-fenix-5-run.fit",
    "tcxparser__sup_activity_1.tcx",
    "fitparse__Activity.fit",
];

fn rows_of(files: &[PathBuf]) -> Vec<RecordBatch> {
    files
        .iter()
        .flat_map(|p| {
            let f = std::fs::File::open(p).unwrap();
            ParquetRecordBatchReaderBuilder::try_new(f)
                .unwrap()
                .build()
                .unwrap()
                .map(|b| b.unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The data files the `_spark_metadata` log of `table` lists, as local paths.
fn committed(out: &Path, table: &str) -> Vec<PathBuf> {
    let log = out.join(table).join("_spark_metadata");
    let mut ids: Vec<(u64, String)> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| Some((n.trim_end_matches(".compact").parse().ok()?, n)))
        .collect();
    ids.sort();
    // from the latest compaction on
    let start = ids
        .iter()
        .rposition(|(_, n)| n.ends_with(".compact"))
        .unwrap_or(0);
    let mut out = Vec::new();
    for (_, n) in &ids[start..] {
        let text = std::fs::read_to_string(log.join(n)).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("v1"));
        for l in lines {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["action"], "add");
            assert_eq!(v["isDir"], false);
            let url = url::Url::parse(v["path"].as_str().unwrap()).unwrap();
            let p = url.to_file_path().unwrap();
            assert_eq!(
                v["size"].as_u64().unwrap(),
                std::fs::metadata(&p).unwrap().len()
            );
            out.push(p);
        }
    }
    out
}

fn sorted_heart_rates(batches: &[RecordBatch]) -> Vec<Option<i64>> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::{DataType, Int64Type};
    let mut v: Vec<Option<i64>> = batches
        .iter()
        .flat_map(|b| {
            let c = cast(
                b.column_by_name("heart_rate_bpm").unwrap(),
                &DataType::Int64,
            )
            .unwrap();
            c.as_primitive::<Int64Type>().iter().collect::<Vec<_>>()
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn max_files_per_trigger_gives_one_batch_per_file_in_modification_order() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("in"), dir.path().join("out"));
    stage(&input, &GOOD);
    let s = run(
        &minimizer(),
        &opts(&input, &out, &[("maxFilesPerTrigger", "1")]),
    )
    .await
    .unwrap();
    assert_eq!(s.batches, vec![0, 1, 2]);
    assert_eq!(s.files_found, 3);
    assert!(out.join("_SUCCESS").exists());

    // checkpoint in Spark's layout
    let cp = out.join("_checkpoint");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cp.join("metadata")).unwrap()).unwrap();
    assert_eq!(meta["id"].as_str().unwrap().len(), 36);
    for (n, name) in GOOD.iter().enumerate() {
        let off = std::fs::read_to_string(cp.join(format!("offsets/{n}"))).unwrap();
        let lines: Vec<&str> = off.lines().collect();
        assert_eq!(lines[0], "v1");
        let m: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(m["batchWatermarkMs"], 0);
        assert!(m["batchTimestampMs"].as_i64().unwrap() > 1_700_000_000_000);
        assert_eq!(
            m["conf"]["datamin.policy.sha256"],
            minimizer().policy().sha256.as_str()
        );
        assert_eq!(lines[2], format!("{{\"logOffset\":{n}}}"));
        assert_eq!(
            std::fs::read_to_string(cp.join(format!("commits/{n}"))).unwrap(),
            "v1\n{\"nextBatchWatermarkMs\":0}"
        );
        // one file per batch, oldest first
        let src = std::fs::read_to_string(cp.join(format!("sources/0/{n}"))).unwrap();
        let lines: Vec<&str> = src.lines().collect();
        assert_eq!(lines.len(), 2, "{src}");
        let e: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert!(
            e["path"].as_str().unwrap().ends_with(name),
            "batch {n}: {e}"
        );
        assert_eq!(e["batchId"], n as u64);
    }

    // the sink's log lists exactly the data files, one per batch and table
    let files = committed(&out, "records");
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "part-00000-00000.parquet",
            "part-00001-00000.parquet",
            "part-00002-00000.parquet"
        ]
    );

    // same rows as one batch over the same files
    let one = dir.path().join("one");
    let s1 = run(&minimizer(), &opts(&input, &one, &[])).await.unwrap();
    assert_eq!(s1.batches, vec![0]);
    let a = rows_of(&files);
    let b = rows_of(&committed(&one, "records"));
    let n: usize = a.iter().map(|b| b.num_rows()).sum();
    assert_eq!(n, 111 + 21 + 14);
    assert_eq!(sorted_heart_rates(&a), sorted_heart_rates(&b));
}

#[tokio::test]
async fn an_interrupted_batch_is_rerun_with_the_same_files_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("in"), dir.path().join("out"));
    stage(&input, &GOOD);
    let mut o = opts(&input, &out, &[("maxFilesPerTrigger", "2")]);
    o.trigger = Trigger::Once;
    // `once` ignores the limits: every new file in one batch
    let s = run(&minimizer(), &o).await.unwrap();
    assert_eq!((s.batches.clone(), s.files_found), (vec![0], 3));
    let data = out.join("records/part-00000-00000.parquet");
    let bytes = std::fs::read(&data).unwrap();

    // a crash after the activities log but before the records log and the commit: the
    // records data file is an orphan (here: garbage), its log entry and the commit missing
    std::fs::remove_file(out.join("_checkpoint/commits/0")).unwrap();
    std::fs::remove_file(out.join("records/_spark_metadata/0")).unwrap();
    std::fs::write(&data, b"half-written").unwrap();
    let acts = std::fs::read(out.join("activities/part-00000-00000.parquet")).unwrap();

    // new files arrived meanwhile: the re-run takes the logged files only
    stage(&input.join("later"), &["fitparse__Activity.fit"]);
    let s = run(&minimizer(), &o).await.unwrap();
    assert_eq!((s.batches.clone(), s.files_found), (vec![0], 3));
    assert_eq!(
        std::fs::read(&data).unwrap(),
        bytes,
        "same bytes as before the crash"
    );
    let t = s.tables.iter().find(|t| t.table == "activities").unwrap();
    assert_eq!(t.files, 0, "activities were committed: not written again");
    assert_eq!(
        std::fs::read(out.join("activities/part-00000-00000.parquet")).unwrap(),
        acts
    );
    assert_eq!(committed(&out, "records").len(), 1);

    // then the new file, as batch 1
    let s = run(&minimizer(), &o).await.unwrap();
    assert_eq!((s.batches.clone(), s.files_found), (vec![1], 1));
    assert_eq!(committed(&out, "records").len(), 2);
}

#[tokio::test]
async fn logs_compact_every_ten_batches_and_corrupt_files_are_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("in"), dir.path().join("out"));
    let names: Vec<String> = (0..11).map(|i| format!("a{i:02}.fit")).collect();
    std::fs::create_dir_all(&input).unwrap();
    let t0 = std::time::SystemTime::now() - Duration::from_secs(3600);
    for (i, n) in names.iter().enumerate() {
        let src = if i == 4 {
            "fitparse__activity-unexpected-eof.fit"
        } else {
            "fitparse__Activity.fit"
        };
        std::fs::copy(testdata().join(src), input.join(n)).unwrap();
        let f = std::fs::File::options()
            .write(true)
            .open(input.join(n))
            .unwrap();
        f.set_modified(t0 + Duration::from_secs(i as u64)).unwrap();
    }
    let s = run(
        &minimizer(),
        &opts(&input, &out, &[("maxFilesPerTrigger", "1")]),
    )
    .await
    .unwrap();
    assert_eq!(s.batches, (0..11).collect::<Vec<_>>());
    assert_eq!(s.rejected.len(), 1);
    assert!(out.join("_rejected/part-00004.jsonl").exists());
    for log in ["records/_spark_metadata", "_checkpoint/sources/0"] {
        assert!(out.join(log).join("9.compact").exists(), "{log}");
        assert!(!out.join(log).join("9").exists(), "{log}");
        assert!(out.join(log).join("10").exists(), "{log}");
    }
    let compact = std::fs::read_to_string(out.join("_checkpoint/sources/0/9.compact")).unwrap();
    assert_eq!(compact.lines().count(), 1 + 10);
    assert_eq!(committed(&out, "records").len(), 11);

    // a restart reads nothing again, the corrupt file included
    let s: RunSummary = run(
        &minimizer(),
        &opts(&input, &out, &[("maxFilesPerTrigger", "1")]),
    )
    .await
    .unwrap();
    assert!(s.batches.is_empty() && s.rejected.is_empty(), "{s:?}");
}

#[tokio::test]
async fn processing_time_picks_up_new_files_and_stops_at_a_batch_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("in"), dir.path().join("out"));
    stage(&input, &GOOD[..1]);
    let mut o = opts(&input, &out, &[]);
    o.trigger = Trigger::ProcessingTime(Duration::from_millis(50));
    let stop = Arc::clone(&o.stop);
    let task = tokio::spawn(async move { run(&minimizer(), &o).await });
    let commits = out.join("_checkpoint/commits");
    let wait_for = |n: usize| {
        let commits = commits.clone();
        async move {
            for _ in 0..200 {
                if std::fs::read_dir(&commits).map_or(0, |d| d.count()) >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("batch {n} never committed");
        }
    };
    wait_for(1).await;
    stage(&input.join("new"), &GOOD[1..2]);
    wait_for(2).await;
    stop.store(true, Ordering::SeqCst);
    let s = task.await.unwrap().unwrap();
    assert!(s.stopped);
    assert_eq!(s.batches, vec![0, 1]);
    assert!(!out.join("_SUCCESS").exists(), "a stream does not finish");
    assert_eq!(committed(&out, "activities").len(), 2);
}

#[tokio::test]
async fn clean_source_archives_or_deletes_committed_files() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out, archive) = (
        dir.path().join("in"),
        dir.path().join("out"),
        dir.path().join("archive"),
    );
    stage(&input, &GOOD[..2]);
    let s = run(
        &minimizer(),
        &opts(
            &input,
            &out,
            &[
                ("cleanSource", "archive"),
                ("sourceArchiveDir", &archive.to_string_lossy()),
            ],
        ),
    )
    .await
    .unwrap();
    assert_eq!(s.files_found, 2);
    assert_eq!(std::fs::read_dir(&input).unwrap().count(), 0);
    // archived under the archive directory with the file's full path
    let moved = archive
        .join(input.strip_prefix("/").unwrap())
        .join(format!("9-{}", GOOD[0]));
    assert!(moved.exists(), "{moved:?}");

    stage(&input, &GOOD[2..]);
    let s = run(
        &minimizer(),
        &opts(&input, &out, &[("cleanSource", "delete")]),
    )
    .await
    .unwrap();
    assert_eq!((s.batches.clone(), s.files_found), (vec![1], 1));
    assert_eq!(std::fs::read_dir(&input).unwrap().count(), 0);

    // bad options are refused, naming them
    let e = run(
        &minimizer(),
        &opts(&input, &out, &[("maxFilesPerTrigge", "1")]),
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("unknown option \"maxFilesPerTrigge\""),
        "{e}"
    );
    let e = run(
        &minimizer(),
        &opts(&input, &out, &[("cleanSource", "archive")]),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("needs sourceArchiveDir"), "{e}");
}

#[tokio::test]
async fn max_records_per_file_splits_a_batch_into_files() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("in"), dir.path().join("out"));
    stage(&input, &GOOD[1..2]);
    let s = run(
        &minimizer(),
        &opts(&input, &out, &[("maxRecordsPerFile", "50")]),
    )
    .await
    .unwrap();
    let t = s.tables.iter().find(|t| t.table == "records").unwrap();
    assert_eq!((t.rows_out, t.files), (111, 3));
    let files = committed(&out, "records");
    let sizes: Vec<usize> = files
        .iter()
        .map(|f| {
            rows_of(std::slice::from_ref(f))
                .iter()
                .map(|b| b.num_rows())
                .sum()
        })
        .collect();
    assert_eq!(sizes, [50, 50, 11]);
}

const RELOAD_V0: &str = r#"
[tables.records]
keep = ["activity_id", "timestamp", "heart_rate_bpm"]
[[tables.records.rules]]
rule = "pseudonymize"
columns = ["activity_id"]
[[tables.records.rules]]
rule = "generalize_number"
columns = ["heart_rate_bpm"]
edges = [100, 150]
"#;

fn metadata_of(p: &Path) -> std::collections::HashMap<String, String> {
    let f = std::fs::File::open(p).unwrap();
    let b = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    datamin::sink::parquet::key_value_metadata(b.metadata().file_metadata())
        .into_iter()
        .collect()
}

#[tokio::test]
async fn policy_edits_take_effect_between_batches_and_invalid_ones_are_refused() {
    use datamin::runner::PolicySource;
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("in"), dir.path().join("out"));
    let policy_file = dir.path().join("policy.toml");
    std::fs::write(&policy_file, RELOAD_V0).unwrap();
    let source = PolicySource {
        location: policy_file.to_string_lossy().into_owned(),
        overrides: vec![],
    };
    let key = PseudonymKey::new("t", b"stream-test-key-0123456789".to_vec()).unwrap();
    let p0 = datamin::policy::read_policy(&source.location)
        .await
        .unwrap();
    let m = Minimizer::new(p0.clone(), Some(key.clone())).unwrap();
    stage(&input, &GOOD[..1]);
    let mut o = opts(&input, &out, &[]);
    o.trigger = Trigger::ProcessingTime(Duration::from_millis(30));
    o.policy = Some(source.clone());
    let stop = Arc::clone(&o.stop);
    let task = tokio::spawn(async move { run(&m, &o).await });
    let commits = out.join("_checkpoint/commits");
    let wait_for = |n: usize| {
        let commits = commits.clone();
        async move {
            for _ in 0..200 {
                if std::fs::read_dir(&commits).map_or(0, |d| d.count()) >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("batch {n} never committed");
        }
    };
    wait_for(1).await;
    // a threshold edited and a rule disabled
    let v1 = RELOAD_V0
        .replace("edges = [100, 150]", "edges = [120]")
        .replace(
            "rule = \"pseudonymize\"\n",
            "rule = \"pseudonymize\"\nenabled = false\n",
        );
    std::fs::write(&policy_file, &v1).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stage(&input.join("b"), &GOOD[1..2]);
    wait_for(2).await;
    // an invalid edit: the stream goes on with the last valid version
    std::fs::write(
        &policy_file,
        v1.replace("edges = [120]", "edges = [120, 90]"),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stage(&input.join("c"), &GOOD[2..3]);
    wait_for(3).await;
    stop.store(true, Ordering::SeqCst);
    let s = task.await.unwrap().unwrap();
    assert_eq!(s.batches, vec![0, 1, 2]);

    let p1 = datamin::policy::Policy::parse("x", &v1).unwrap();
    assert_eq!(
        s.policy_versions,
        vec![(0, p0.sha256.clone()), (1, p1.sha256.clone())]
    );
    assert_eq!(s.policy_errors.len(), 1, "{:?}", s.policy_errors);
    let e = &s.policy_errors[0];
    assert!(
        e.contains("policy.toml:") && e.contains("tables.records.rules[1].edges"),
        "{e}"
    );
    let part = |b: u64| out.join(format!("records/part-{b:05}-00000.parquet"));
    let sha = |b: u64| metadata_of(&part(b))["datamin.policy.sha256"].clone();
    assert_eq!(
        [sha(0), sha(1), sha(2)],
        [p0.sha256.clone(), p1.sha256.clone(), p1.sha256.clone()]
    );
    let rules = |b: u64| metadata_of(&part(b))["datamin.policy.rules"].clone();
    assert!(rules(0).contains("pseudonymize") && rules(0).contains("150"));
    assert!(!rules(1).contains("pseudonymize") && rules(1).contains("120"));
    let bands = |b: u64| {
        use datafusion::arrow::array::AsArray;
        let rows = rows_of(&[part(b)]);
        let mut v: Vec<String> = rows
            .iter()
            .flat_map(|r| {
                r.column_by_name("heart_rate_bpm")
                    .unwrap()
                    .as_string::<i32>()
                    .iter()
                    .flatten()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        v.sort();
        v.dedup();
        v
    };
    assert!(bands(0).iter().any(|b| b == "[100, 150)"), "{:?}", bands(0));
    assert!(bands(1).iter().all(|b| b.contains("120")), "{:?}", bands(1));
    // the checkpoint holds both versions
    for p in [&p0, &p1] {
        assert!(
            out.join(format!("_checkpoint/policies/{}.toml", p.sha256))
                .exists()
        );
    }

    // batch 1 interrupted, the policy edited again meanwhile: the re-run uses the version
    // batch 1 was planned with (from the checkpoint), so its bytes do not change
    let before = std::fs::read(part(1)).unwrap();
    std::fs::remove_file(out.join("_checkpoint/commits/2")).unwrap();
    std::fs::remove_file(out.join("_checkpoint/commits/1")).unwrap();
    std::fs::remove_file(out.join("_checkpoint/offsets/2")).unwrap();
    std::fs::remove_file(out.join("records/_spark_metadata/1")).unwrap();
    std::fs::remove_file(out.join("records/_spark_metadata/2")).unwrap();
    std::fs::remove_file(part(1)).unwrap();
    std::fs::write(&policy_file, RELOAD_V0).unwrap();
    let m0 = Minimizer::new(p0.clone(), Some(key)).unwrap();
    let mut o = opts(&input, &out, &[]);
    o.policy = Some(source);
    let s = run(&m0, &o).await.unwrap();
    assert_eq!(s.batches, vec![1, 2]);
    assert_eq!(std::fs::read(part(1)).unwrap(), before);
    // batch 2 was not planned (no offsets): it takes the current version
    assert_eq!(sha(2), p0.sha256);
    assert_eq!(
        s.policy_versions,
        vec![(1, p1.sha256.clone()), (2, p0.sha256.clone())]
    );
}

#[tokio::test]
async fn set_overrides_a_policy_parameter() {
    use datamin::runner::PolicySource;
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("in"), dir.path().join("out"));
    let policy_file = dir.path().join("policy.toml");
    std::fs::write(&policy_file, RELOAD_V0).unwrap();
    let source = PolicySource {
        location: policy_file.to_string_lossy().into_owned(),
        overrides: vec![("tables.records.rules[1].edges".into(), "[130]".into())],
    };
    let p = datamin::policy::read_policy_with(&source.location, &source.overrides)
        .await
        .unwrap();
    let key = PseudonymKey::new("t", b"stream-test-key-0123456789".to_vec()).unwrap();
    stage(&input, &GOOD[..1]);
    let mut o = opts(&input, &out, &[]);
    o.policy = Some(source);
    run(&Minimizer::new(p.clone(), Some(key)).unwrap(), &o)
        .await
        .unwrap();
    let md = metadata_of(&out.join("records/part-00000-00000.parquet"));
    assert!(md["datamin.policy.rules"].contains("130"));
    assert_eq!(md["datamin.policy.sha256"], p.sha256);
}

#[tokio::test]
async fn a_glob_input_takes_only_matching_files() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("in"), dir.path().join("out"));
    stage(&input.join("alice"), &GOOD);
    stage(&input.join("bob"), &GOOD[..1]);
    let glob = input.join("*").join("9-*.fit");
    let s = run(&minimizer(), &opts(&glob, &out, &[])).await.unwrap();
    // the FIT file named 9-… in each folder; not the TCX or 7-… files
    assert_eq!(s.files_found, 2);
    let t = s.tables.iter().find(|t| t.table == "records").unwrap();
    assert_eq!(t.rows_out, 21 + 21);
}
