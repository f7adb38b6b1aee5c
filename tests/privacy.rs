//! The privacy-zone rule on a real activity and the `[privacy_zone]` policy section (the
//! attack evaluation is tested in the `datamin-eval` crate, eval/tests/attacks.rs).

use datamin::format::{ActivityFormat, decode};
use datamin::policy::Policy;
use datamin::privacy::{ZoneConfig, apply_zone};
use datamin::udfs::geo::haversine_m;

const KEY: &[u8] = b"privacy-test-key-0123456789";

fn shared(p: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn no_point_or_derived_value_reveals_the_hidden_endpoints() {
    let bytes = shared("fitparse__activity-small-fenix2-run.fit");
    let orig = decode(ActivityFormat::Fit, "run.fit", &bytes).unwrap();
    let mut a = orig.clone();
    // ungated, so that the derived values of a partly visible activity can be checked (the
    // gate is tested below)
    let cfg = ZoneConfig {
        radius_m: 200.0,
        distance_quantum_m: 100.0,
        gate_share: 0.0,
        ..ZoneConfig::default()
    };
    let stats = apply_zone(&mut a, &cfg, Some(KEY), "subject-1").unwrap();
    let pos = |r: &datamin::format::RecordRow| r.position_lat.zip(r.position_long);
    let start = orig.records.iter().find_map(pos).unwrap();
    let end = orig.records.iter().rev().find_map(pos).unwrap();
    let far = |p: (f64, f64)| {
        haversine_m(p.0, p.1, start.0, start.1) >= 200.0
            && haversine_m(p.0, p.1, end.0, end.1) >= 200.0
    };
    assert!(
        stats.records_hidden > 0 && !a.records.is_empty(),
        "{stats:?}"
    );
    // 1. no visible point within R of the true start or end
    assert!(a.records.iter().filter_map(pos).all(far));
    // 2. cumulative distance re-based at the first visible point and rounded to 100 m
    let d: Vec<f64> = a.records.iter().filter_map(|r| r.distance_m).collect();
    assert_eq!(d[0], 0.0);
    assert!(d.iter().all(|v| v % 100.0 == 0.0));
    let first_visible_orig = orig
        .records
        .iter()
        .find(|r| r.timestamp_us == a.records[0].timestamp_us)
        .and_then(|r| r.distance_m)
        .unwrap();
    assert!(
        first_visible_orig > 150.0,
        "the hidden distance was {first_visible_orig} m"
    );
    // 3. session and laps: positions, bounding box and totals from the visible points only
    let vis: Vec<(f64, f64)> = a.records.iter().filter_map(pos).collect();
    for s in a.sessions.iter().chain(&a.laps) {
        for p in [
            s.start_position_lat.zip(s.start_position_long),
            s.end_position_lat.zip(s.end_position_long),
        ]
        .into_iter()
        .flatten()
        {
            assert!(
                vis.contains(&p),
                "summary position {p:?} is not a visible point"
            );
            assert!(far(p));
        }
        if let (Some(n), Some(sw)) = (s.nec_lat, s.swc_lat) {
            assert_eq!(n, vis.iter().map(|p| p.0).fold(f64::MIN, f64::max).min(n));
            assert!(sw >= vis.iter().map(|p| p.0).fold(f64::MAX, f64::min) - 1e-12);
        }
        assert!(s.total_timer_time_s.is_none() && s.total_calories_kcal.is_none());
    }
    let s = &a.sessions[0];
    assert_eq!(
        s.start_position_lat.zip(s.start_position_long),
        Some(vis[0])
    );
    assert_eq!(
        s.nec_lat,
        Some(vis.iter().map(|p| p.0).fold(f64::MIN, f64::max))
    );
    assert_eq!(
        s.swc_long,
        Some(vis.iter().map(|p| p.1).fold(f64::MAX, f64::min))
    );
    let span = *d.last().unwrap();
    assert!((s.total_distance_m.unwrap() - span).abs() <= 100.0);
    assert!(s.total_distance_m.unwrap() < orig.sessions[0].total_distance_m.unwrap());
    assert_eq!(s.start_time_us, a.records[0].timestamp_us);
    // 4. the same subject and key always give the same output (deterministic, stable offset)
    let mut b = orig.clone();
    apply_zone(&mut b, &cfg, Some(KEY), "subject-1").unwrap();
    assert_eq!(a.records, b.records);
}

#[test]
fn gated_activities_show_nothing_on_the_home_side_of_the_shifted_centre() {
    use datamin::privacy::subject_offset;
    use datamin::udfs::geo::LocalFrame;
    let bytes = shared("fitparse__activity-small-fenix2-run.fit");
    let orig = decode(ActivityFormat::Fit, "run.fit", &bytes).unwrap();
    let pos = |r: &datamin::format::RecordRow| r.position_lat.zip(r.position_long);
    let start = orig.records.iter().find_map(pos).unwrap();
    let cfg = ZoneConfig {
        gate_share: 1.0,
        ..ZoneConfig::default()
    };
    let (mut visible, mut hidden_whole) = (0, 0);
    for s in 0..12 {
        let subject = format!("subject-{s}");
        let mut a = orig.clone();
        apply_zone(&mut a, &cfg, Some(KEY), &subject).unwrap();
        let mut ungated = orig.clone();
        let open = ZoneConfig {
            gate_share: 0.0,
            ..cfg.clone()
        };
        apply_zone(&mut ungated, &open, Some(KEY), &subject).unwrap();
        // the gate only hides more
        assert!(a.records.len() <= ungated.records.len());
        if a.records.is_empty() {
            hidden_whole += 1;
            continue;
        }
        // every visible point lies beyond the line through the start's shifted centre,
        // perpendicular to the offset
        let (bearing, dist) = subject_offset(KEY, &subject, cfg.radius_m, cfg.offset_range);
        let f = LocalFrame::new(start.0, start.1);
        for p in a.records.iter().filter_map(pos) {
            let (x, y) = f.to_xy(p.0, p.1);
            let along = x * bearing.sin() + y * bearing.cos();
            assert!(along >= dist - 1.0, "{subject}: {along} m < {dist} m");
            visible += 1;
        }
    }
    assert!(visible > 0 && hidden_whole > 0, "{visible} {hidden_whole}");
}

#[test]
fn privacy_zone_policy_section() {
    let p = Policy::parse(
        "p.toml",
        "[privacy_zone]\nradius_m = 300\noffset_range = [2, 3]\ntrim_m = 150\nradius_slack_m = 250\ngate_share = 0.25\nzones = [{ lat = 50.85, long = 4.35, radius_m = 250 }]\n[tables.records]\nkeep = [\"timestamp\"]\n",
    )
    .unwrap();
    let z = p.privacy_zone.as_ref().unwrap();
    assert_eq!(
        (
            z.radius_m,
            z.distance_quantum_m,
            z.offset,
            z.offset_range,
            z.trim_m,
            z.radius_slack_m,
            z.gate_share,
            z.zones.len()
        ),
        (300.0, 100.0, true, (2.0, 3.0), 150.0, 250.0, 0.25, 1)
    );
    assert!(p.needs_key(), "the keyed offset needs the key");
    let explain = p.explain();
    assert!(
        explain.contains("offset of [2, 3) x 300 m")
            && explain.contains("path length < 150 m")
            && explain.contains("slack < 250 m")
            && explain.contains("a keyed 25% of activities")
            && explain.contains("1 explicit zone(s)"),
        "{explain}"
    );
    let e = Policy::parse(
        "p.toml",
        "[privacy_zone]\nradius_m = -1\n[tables.records]\nkeep = [\"timestamp\"]\n",
    )
    .unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(2), Some("privacy_zone.radius_m")),
        "{e}"
    );
    let e = Policy::parse(
        "p.toml",
        "[privacy_zone]\noffset_range = [3, 2]\n[tables.records]\nkeep = [\"timestamp\"]\n",
    )
    .unwrap_err();
    assert_eq!(
        (e.line, e.column, e.key.as_deref()),
        (Some(2), Some(16), Some("privacy_zone.offset_range")),
        "{e}"
    );
    let e = Policy::parse(
        "p.toml",
        "[privacy_zone]\ntrim_m = -1\n[tables.records]\nkeep = [\"timestamp\"]\n",
    )
    .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("privacy_zone.trim_m"), "{e}");
    let e = Policy::parse(
        "p.toml",
        "[privacy_zone]\ngate_share = 1.5\n[tables.records]\nkeep = [\"timestamp\"]\n",
    )
    .unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(2), Some("privacy_zone.gate_share")),
        "{e}"
    );
    assert!(e.message.contains("between 0 and 1"), "{e}");
    let e = Policy::parse(
        "p.toml",
        "[privacy_zone]\nradius_slack_m = -5\n[tables.records]\nkeep = [\"timestamp\"]\n",
    )
    .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("privacy_zone.radius_slack_m"), "{e}");
    let e = Policy::parse(
        "p.toml",
        "[privacy_zone]\nradius = 5\n[tables.records]\nkeep = [\"timestamp\"]\n",
    )
    .unwrap_err();
    assert!(e.message.contains("unknown field `radius`"), "{e}");
    let p = Policy::parse(
        "p.toml",
        "[privacy_zone]\nenabled = false\n[tables.records]\nkeep = [\"timestamp\"]\n",
    )
    .unwrap();
    assert!(p.privacy_zone.is_none());
}
