//! Differential test of datamin's FIT decoder against an independent one: every FIT file of
//! `../shared/data/fit` and `testdata/` is decoded by datamin and by fitparser 0.11 (its
//! message parser and profile, mapped into the same rows: `tests/fit_reference`), and the
//! results are compared value by value — every column of every row of `records`, `laps`,
//! `sessions` and `activities`, the message counts, and whether the file is rejected.
//!
//! Where the two differ, the difference is listed in [`EXPECTED`] with its reason; the test
//! fails on any difference not listed *and* on a listed difference that no longer occurs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use datamin::format::{Activity, ActivityFormat, decode};

#[allow(dead_code)]
mod fit_reference;

/// Differences between the decoders, per file: (file name, what differs, why). `what` is the
/// prefix of the difference lines the comparison prints.
/// `*` matches every file. `required`: the difference must occur (else the entry is stale);
/// not for entries that match every file, nor where fitparser's result depends on its
/// `HashMap` iteration order (it differs from run to run).
const EXPECTED: &[Expected] = &[
    Expected {
        file: "*",
        what: "lap bounding box: decoded only by datamin",
        required: false,
        why: "lap fields 27-30 (nec_lat, nec_long, swc_lat, swc_long) are defined by FIT SDK profile 21.218, not by fitparser's 21.202",
    },
    Expected {
        file: "garminjs__HrmPluginTestActivity.fit",
        what: "laps[0]:",
        required: false,
        why: SPEEDS,
    },
    Expected {
        file: "garminjs__HrmPluginTestActivity.fit",
        what: "sessions[0]:",
        required: false,
        why: SPEEDS,
    },
];

/// A known difference between datamin and fitparser.
struct Expected {
    file: &'static str,
    /// Prefix of the difference line.
    what: &'static str,
    required: bool,
    why: &'static str,
}

const SPEEDS: &str = "the lap's and session's avg_speed (4.64) and enhanced_avg_speed (0), max_speed (4.64) and enhanced_max_speed (1.0) disagree; datamin follows the FIT SDK's decoder (garmin-fit-sdk gives 4.64 and 4.64: a component's expansion replaces the enhanced field), fitparser's result depends on its HashMap order (4.64 and 1.0 here)";

fn files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut v = Vec::new();
    for dir in [root.join("../shared/data/fit"), root.join("testdata")] {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("fit")) {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

fn reference(bytes: &[u8]) -> Result<Activity, String> {
    let mut a = Activity::default();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        fit_reference::decode_into(bytes, &mut a)
    })) {
        Ok(Ok(())) => Ok(a),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("fitparser panicked".into()),
    }
}

/// Difference lines between two decodings of one file (empty: equal).
fn compare(ours: &Activity, theirs: &Activity) -> Vec<String> {
    let mut d = Vec::new();
    // fitparser's fields do not say which are developer fields, so the reference leaves
    // `developer_fields` empty; they are compared with Garmin's FIT SDK instead
    // (tests/python/test_fit_sdk_crosscheck.py)
    let mut ours = ours.clone();
    for r in &mut ours.records {
        r.developer_fields.clear();
    }
    let ours = &ours;
    // Lap fields 27–30 (nec_lat, nec_long, swc_lat, swc_long) are in the FIT SDK profile
    // datamin generates from (21.218) but not in fitparser's (21.202), which leaves them as
    // unknown fields: take datamin's values where fitparser has none, and say so.
    let mut theirs = theirs.clone();
    let mut boxes = 0;
    for (o, t) in ours.laps.iter().zip(theirs.laps.iter_mut()) {
        let ob = [o.nec_lat, o.nec_long, o.swc_lat, o.swc_long];
        let tb = [t.nec_lat, t.nec_long, t.swc_lat, t.swc_long];
        if tb == [None; 4] && ob != [None; 4] {
            (t.nec_lat, t.nec_long, t.swc_lat, t.swc_long) =
                (o.nec_lat, o.nec_long, o.swc_lat, o.swc_long);
            boxes += 1;
        }
    }
    if boxes > 0 {
        d.push(format!(
            "lap bounding box: decoded only by datamin in {boxes} laps"
        ));
    }
    // Message numbers that profile 21.218 names and 21.202 does not (e.g. 104 `battery`).
    for (k, n) in std::mem::take(&mut theirs.message_counts) {
        let k = match k.parse::<u32>() {
            Ok(g) => datamin::format::fit::profile::names::mesg_num(g).map_or(k, str::to_string),
            Err(_) => k,
        };
        *theirs.message_counts.entry(k).or_default() += n;
    }
    let theirs = &theirs;
    let rows = |name: &str, a: Vec<String>, b: Vec<String>, d: &mut Vec<String>| {
        if a.len() != b.len() {
            d.push(format!("{name}: {} rows, fitparser {}", a.len(), b.len()));
        }
        let mut shown = 0;
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            if x != y {
                if shown < 3 {
                    d.push(format!("{name}[{i}]: {x} vs fitparser {y}"));
                }
                shown += 1;
            }
        }
        if shown > 3 {
            d.push(format!("{name}: {shown} rows differ in all"));
        }
    };
    rows(
        "records",
        ours.records.iter().map(|r| format!("{r:?}")).collect(),
        theirs.records.iter().map(|r| format!("{r:?}")).collect(),
        &mut d,
    );
    rows(
        "laps",
        ours.laps.iter().map(|r| format!("{r:?}")).collect(),
        theirs.laps.iter().map(|r| format!("{r:?}")).collect(),
        &mut d,
    );
    rows(
        "sessions",
        ours.sessions.iter().map(|r| format!("{r:?}")).collect(),
        theirs.sessions.iter().map(|r| format!("{r:?}")).collect(),
        &mut d,
    );
    if ours.info != theirs.info {
        d.push(format!(
            "activities: {:?} vs fitparser {:?}",
            ours.info, theirs.info
        ));
    }
    let counts = |a: &Activity| -> BTreeMap<String, u64> { a.message_counts.clone() };
    if counts(ours) != counts(theirs) {
        d.push(format!(
            "message_counts: {:?} vs fitparser {:?}",
            counts(ours),
            counts(theirs)
        ));
    }
    d
}

#[test]
fn datamin_and_fitparser_decode_every_shared_fit_file_alike() {
    let mut report: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut compared = 0;
    for p in files() {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&p).unwrap();
        let ours = decode(ActivityFormat::Fit, &name, &bytes);
        let theirs = reference(&bytes);
        let diffs = match (&ours, &theirs) {
            (Ok(a), Ok(b)) => {
                compared += 1;
                compare(a, b)
            }
            (Err(a), Err(b)) => {
                println!("{name}: both reject ({a} | fitparser: {b})");
                vec![]
            }
            (Ok(_), Err(b)) => vec![format!("rejected: only by fitparser ({b})")],
            (Err(a), Ok(_)) => vec![format!("rejected: only by datamin ({a})")],
        };
        if !diffs.is_empty() {
            report.insert(name, diffs);
        }
    }
    let mut unexplained = Vec::new();
    for (file, diffs) in &report {
        for line in diffs {
            let listed = EXPECTED
                .iter()
                .any(|e| (e.file == "*" || e.file == file) && line.starts_with(e.what));
            println!("{file}: {line}");
            if !listed {
                unexplained.push(format!("{file}: {line}"));
            }
        }
    }
    let stale: Vec<_> = EXPECTED
        .iter()
        .filter(|e| {
            e.required
                && !report
                    .get(e.file)
                    .is_some_and(|d| d.iter().any(|l| l.starts_with(e.what)))
        })
        .map(|e| (e.file, e.what, e.why))
        .collect();
    assert!(compared >= 50, "only {compared} files decoded by both");
    assert!(
        unexplained.is_empty(),
        "differences not explained in EXPECTED:\n{}",
        unexplained.join("\n")
    );
    assert!(
        stale.is_empty(),
        "EXPECTED lists differences that no longer occur: {stale:?}"
    );
}
