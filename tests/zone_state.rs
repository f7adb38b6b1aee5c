//! The privacy zone's subject anchors survive a restart: `datamin run` keeps them in its
//! checkpoint (`state/privacy_zone/<batch>`), so a later run over new files of the same
//! subject keeps showing the subject's first cell even when a start lies just across its edge.

use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datamin::minimizer::Minimizer;
use datamin::policy::Policy;
use datamin::privacy::cells::Grid;
use datamin::privacy::mask::hidden_disks;
use datamin::runner::{RunOptions, run};
use datamin::udfs::PseudonymKey;
use datamin::udfs::geo::{destination, haversine_m};

const KEY: &[u8] = b"zone-state-test-key-0123456789";

const POLICY: &str = r#"
[privacy_zone]
radius_m = 50
cell_m = 150
trim_m = 0
# positions stay where recorded, so the test can measure them against the true ends
displacement_max_m = 0
[tables.records]
keep = ["timestamp", "position_lat", "position_long"]
"#;

fn minimizer() -> Minimizer {
    let key = PseudonymKey::new("t", KEY.to_vec()).unwrap();
    Minimizer::new(Policy::parse("inline", POLICY).unwrap(), Some(key)).unwrap()
}

fn sup() -> String {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/tcxparser__sup_activity_1.tcx");
    std::fs::read_to_string(p).unwrap()
}

/// The TCX text with every position moved by `(dlat, dlong)` degrees.
fn shifted(tcx: &str, dlat: f64, dlong: f64) -> String {
    let mut out = tcx.to_string();
    for (tag, d) in [("LatitudeDegrees", dlat), ("LongitudeDegrees", dlong)] {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        let mut s = String::new();
        let mut rest = out.as_str();
        while let Some(i) = rest.find(&open) {
            let j = rest[i..].find(&close).unwrap() + i;
            let v: f64 = rest[i + open.len()..j].trim().parse().unwrap();
            s.push_str(&rest[..i + open.len()]);
            s.push_str(&format!("{:.7}", v + d));
            rest = &rest[j..];
        }
        s.push_str(rest);
        out = s;
    }
    out
}

/// The first `<LatitudeDegrees>`/`<LongitudeDegrees>` of the TCX text.
fn first_position(tcx: &str) -> (f64, f64) {
    let v = |tag: &str| {
        let i = tcx.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
        let j = tcx[i..].find('<').unwrap() + i;
        tcx[i..j].trim().parse::<f64>().unwrap()
    };
    (v("LatitudeDegrees"), v("LongitudeDegrees"))
}

/// The published positions of batch `batch` (files `part-<batch>-*.parquet` in `dir`).
fn positions(dir: &Path, batch: u64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let prefix = format!("part-{batch:05}-");
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with(&prefix) || !name.ends_with(".parquet") {
            continue;
        }
        let r = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&p).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for b in r {
            let b: RecordBatch = b.unwrap();
            let la = b
                .column_by_name("position_lat")
                .unwrap()
                .as_primitive::<Float64Type>()
                .clone();
            let lo = b
                .column_by_name("position_long")
                .unwrap()
                .as_primitive::<Float64Type>()
                .clone();
            for i in 0..b.num_rows() {
                if la.is_valid(i) {
                    out.push((la.value(i), lo.value(i)));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn a_restarted_run_keeps_the_subjects_anchored_cell() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (tmp.path().join("in/subject=s1"), tmp.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    let text = sup();
    let start = first_position(&text);
    let cfg = Policy::parse("inline", POLICY)
        .unwrap()
        .privacy_zone
        .unwrap();
    let grid = Grid::new(Some(KEY), "s1", cfg.cell_m);
    let centre = grid.cell_centre(start.0, start.1);
    // a start just across the edge of the first start's cell, within 1.06·cell_m of its centre
    let across = (120..200)
        .map(|d| destination(centre.0, centre.1, 2.0, d as f64))
        .find(|p| grid.cell_centre(p.0, p.1) != centre)
        .map(|p| destination(p.0, p.1, 2.0, 5.0))
        .unwrap();
    assert!(haversine_m(across.0, across.1, centre.0, centre.1) <= 1.06 * cfg.cell_m);
    let anchored = hidden_disks(&[start], &cfg, Some(KEY), "s1", None)[0];
    let alone = hidden_disks(&[across], &cfg, Some(KEY), "s1", None)[0];
    assert_ne!(anchored, alone);

    // run 1: the recorded activity anchors s1 to its cell
    std::fs::write(input.join("a.tcx"), &text).unwrap();
    let opts = RunOptions {
        input: tmp.path().join("in").to_string_lossy().into_owned(),
        output: output.to_string_lossy().into_owned(),
        jobs: 1,
        ..RunOptions::default()
    };
    run(&minimizer(), &opts).await.unwrap();
    let state = std::fs::read_to_string(output.join("_checkpoint/state/privacy_zone/0")).unwrap();
    let json: serde_json::Value = serde_json::from_str(state.lines().nth(1).unwrap()).unwrap();
    let anchors = json["anchors"].as_object().unwrap();
    assert_eq!(json["cell_m"], 150.0);
    assert_eq!(anchors.len(), 1);
    let (id, cells) = anchors.iter().next().unwrap();
    assert!(
        id.len() == 64 && !id.contains("s1"),
        "a keyed id, not the subject: {id}"
    );
    assert!(!cells.as_array().unwrap().is_empty());

    // run 2, a new process: the same route started across the edge
    let moved = shifted(&text, across.0 - start.0, across.1 - start.1);
    std::fs::write(input.join("b.tcx"), moved).unwrap();
    let s = run(&minimizer(), &opts).await.unwrap();
    assert!(s.privacy_zone.unwrap().records_hidden > 0);
    assert_eq!(
        s.privacy_zone.unwrap().activities_without_subject,
        0,
        "subject=s1"
    );
    assert!(output.join("_checkpoint/state/privacy_zone/1").exists());
    let pts = positions(&output.join("records"), 1);
    assert!(!pts.is_empty());
    // the second activity was zoned with the anchored cell: nothing inside its disk is
    // published, while points inside the disk it would have had alone are
    for p in &pts {
        assert!(haversine_m(p.0, p.1, anchored.lat, anchored.long) >= anchored.radius_m);
    }
    let moved_start_disk_points = pts
        .iter()
        .filter(|p| haversine_m(p.0, p.1, alone.lat, alone.long) < alone.radius_m)
        .count();
    assert!(
        moved_start_disk_points > 0,
        "the moved activity was zoned with its own cell, not the anchored one"
    );
}
