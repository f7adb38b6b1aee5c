//! The privacy-zone rule on a real activity and the `[privacy_zone]` policy section (the
//! attack evaluation is tested in the `datamin-eval` crate, eval/tests/attacks.rs).

use datamin::format::{ActivityFormat, decode};
use datamin::policy::Policy;
use datamin::privacy::displace::Displacement;
use datamin::privacy::mask::hidden_disks;
use datamin::privacy::{ZoneConfig, apply_zone};
use datamin::udfs::geo::haversine_m;

const KEY: &[u8] = b"privacy-test-key-0123456789";

fn shared(p: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The positions of an activity's records.
fn track(a: &datamin::format::Activity) -> Vec<(f64, f64)> {
    a.records
        .iter()
        .filter_map(|r| r.position_lat.zip(r.position_long))
        .collect()
}

#[test]
fn no_point_or_derived_value_reveals_the_hidden_endpoints() {
    let bytes = shared("fitparse__Edge810-Vector-2013-08-16-15-35-10.fit");
    let orig = decode(ActivityFormat::Fit, "ride.fit", &bytes).unwrap();
    assert!(!orig.laps.is_empty() && orig.info.time_created_us.is_some());
    let mut a = orig.clone();
    let cfg = ZoneConfig::default();
    let stats = apply_zone(&mut a, &cfg, Some(KEY), "subject-1").unwrap();
    let pts = track(&orig);
    let (start, end) = (pts[0], *pts.last().unwrap());
    let disks = hidden_disks(&[start, end], &cfg, Some(KEY), "subject-1", None);
    let outside = |p: (f64, f64)| {
        disks
            .iter()
            .all(|d| haversine_m(p.0, p.1, d.lat, d.long) >= d.radius_m)
    };
    let far = |p: (f64, f64)| {
        haversine_m(p.0, p.1, start.0, start.1) >= cfg.radius_m
            && haversine_m(p.0, p.1, end.0, end.1) >= cfg.radius_m
    };
    assert!(
        stats.records_hidden > 0 && !a.records.is_empty(),
        "{stats:?}"
    );
    // 1. the disks are centred on cell centres, within the cell's reach of the true ends,
    //    and reach at least R beyond the ends
    for (d, e) in disks.iter().zip([start, end]) {
        let off = haversine_m(d.lat, d.long, e.0, e.1);
        assert!(off <= 1.06 * cfg.cell_m, "{off}");
        assert!(d.radius_m - off >= cfg.radius_m, "{d:?} {off}");
    }
    // 2. every published point is a recorded point outside the disks (hence none within R
    //    of the true start or end), moved by the subject's keyed displacement: one vector of
    //    100-700 m for all its points
    let vis = track(&a);
    let shift = Displacement::for_subject(&cfg, Some(KEY), "subject-1").unwrap();
    assert!((100.0..=700.0).contains(&shift.length_m()), "{shift:?}");
    let recorded: Vec<(f64, f64)> = a
        .records
        .iter()
        .filter(|r| r.position_lat.is_some())
        .map(|r| {
            let o = orig
                .records
                .iter()
                .find(|o| o.timestamp_us == r.timestamp_us)
                .unwrap();
            o.position_lat.zip(o.position_long).unwrap()
        })
        .collect();
    assert_eq!(recorded.len(), vis.len());
    assert!(recorded.iter().all(|p| outside(*p) && far(*p)));
    for (p, r) in vis.iter().zip(&recorded) {
        assert_eq!(*p, shift.apply(*r));
        let moved = haversine_m(p.0, p.1, r.0, r.1);
        assert!((moved - shift.length_m()).abs() < 0.5, "{moved}");
    }
    // 3. cumulative distance re-based at the first visible point and rounded to 100 m
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
        first_visible_orig > cfg.radius_m,
        "the hidden distance was {first_visible_orig} m"
    );
    // 4. laps (boundaries at fixed distances from the hidden start) and the file's creation
    //    time are gone
    assert!(a.laps.is_empty(), "{} laps", a.laps.len());
    assert_eq!(stats.laps_removed, orig.laps.len());
    assert_eq!(a.info.time_created_us, None);
    // 5. the session: positions, bounding box and totals from the visible points only
    for s in &a.sessions {
        for p in [
            s.start_position_lat.zip(s.start_position_long),
            s.end_position_lat.zip(s.end_position_long),
        ]
        .into_iter()
        .flatten()
        {
            assert!(vis.contains(&p), "summary position {p:?} is not visible");
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
    assert_eq!(
        s.total_elapsed_time_s,
        Some(
            (a.records.last().unwrap().timestamp_us.unwrap() - a.records[0].timestamp_us.unwrap())
                as f64
                / 1e6
        )
    );
    // 6. the same subject and key always give the same output
    let mut b = orig.clone();
    apply_zone(&mut b, &cfg, Some(KEY), "subject-1").unwrap();
    assert_eq!(a.records, b.records);
}

#[test]
fn every_start_in_a_cell_gives_the_same_hidden_region() {
    use datamin::privacy::cells::Grid;
    use datamin::udfs::geo::destination;
    let cfg = ZoneConfig::default();
    let grid = Grid::new(Some(KEY), "subject-1", cfg.cell_m);
    let home = (50.85, 4.35);
    let centre = grid.cell_centre(home.0, home.1);
    // homes all over the home's cell, found by walking from its centre
    let mut same = 0;
    for i in 0..72 {
        let p = destination(
            centre.0,
            centre.1,
            (i * 5) as f64 * std::f64::consts::PI / 180.0,
            (i % 8) as f64 * 90.0,
        );
        if grid.cell_centre(p.0, p.1) != centre {
            continue; // beyond this cell (its hexagon is not a disk)
        }
        same += 1;
        let d = hidden_disks(&[p], &cfg, Some(KEY), "subject-1", None);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].lat, d[0].long), centre);
        assert_eq!(d[0].radius_m, 1.06 * cfg.cell_m + cfg.radius_m);
    }
    assert!(same >= 40, "{same}");
    // another key or subject: another grid
    let other = hidden_disks(&[home], &cfg, Some(b"another key"), "subject-1", None);
    assert_ne!((other[0].lat, other[0].long), centre);
    // cell_m = 0: a plain circle around the point (the platform-style zone)
    let plain = ZoneConfig {
        cell_m: 0.0,
        ..cfg.clone()
    };
    let d = hidden_disks(&[home], &plain, Some(KEY), "subject-1", None);
    assert_eq!(
        (d[0].lat, d[0].long, d[0].radius_m),
        (home.0, home.1, 200.0)
    );
}

#[test]
fn the_hidden_part_of_a_real_track_moved_anywhere_in_a_cell_is_the_whole_disk() {
    // a real track translated so that it starts at two homes of one cell: the published
    // points of both lie outside the same disk, and each loses what lies inside it
    use datamin::privacy::cells::Grid;
    let bytes = shared("fitparse__activity-small-fenix2-run.fit");
    let orig = decode(ActivityFormat::Fit, "run.fit", &bytes).unwrap();
    let cfg = ZoneConfig {
        trim_m: 0.0,
        displacement_max_m: 0.0,
        ..ZoneConfig::default()
    };
    let start = track(&orig)[0];
    let centre = Grid::new(Some(KEY), "s", cfg.cell_m).cell_centre(start.0, start.1);
    let disk = hidden_disks(&[start], &cfg, Some(KEY), "s", None)[0];
    // shift it 100-500 m in some direction until its start is elsewhere in the cell
    let moved = (0..60)
        .map(|k| {
            let (bearing, dist) = (
                (k % 12) as f64 * std::f64::consts::FRAC_PI_6,
                100.0 + (k / 12) as f64 * 100.0,
            );
            let (la, lo) = datamin::udfs::geo::destination(start.0, start.1, bearing, dist);
            let (dla, dlo) = (la - start.0, lo - start.1);
            let mut m = orig.clone();
            for r in &mut m.records {
                r.position_lat = r.position_lat.map(|v| v + dla);
                r.position_long = r.position_long.map(|v| v + dlo);
            }
            m
        })
        .find(|m| {
            let s2 = track(m)[0];
            Grid::new(Some(KEY), "s", cfg.cell_m).cell_centre(s2.0, s2.1) == centre
                && haversine_m(s2.0, s2.1, start.0, start.1) > 90.0
        })
        .expect("a start elsewhere in the cell");
    for a in [orig, moved] {
        let mut z = a.clone();
        apply_zone(&mut z, &cfg, Some(KEY), "s").unwrap();
        let inside = |p: &(f64, f64)| haversine_m(p.0, p.1, disk.lat, disk.long) < disk.radius_m;
        // without trimming: exactly the points outside the disk(s) after the first exit stay
        assert!(track(&z).iter().all(|p| !inside(p)));
        let first_out = track(&a).iter().position(|p| !inside(p)).unwrap();
        assert_eq!(track(&z)[0], track(&a)[first_out]);
    }
}

#[test]
fn privacy_zone_policy_section() {
    let p = Policy::parse(
        "p.toml",
        "[privacy_zone]\nradius_m = 300\ncell_m = 900\ntrim_m = 150\nzones = [{ lat = 50.85, long = 4.35, radius_m = 250 }]\n[tables.records]\nkeep = [\"timestamp\"]\n",
    )
    .unwrap();
    let z = p.privacy_zone.as_ref().unwrap();
    assert_eq!(
        (
            z.radius_m,
            z.distance_quantum_m,
            z.cell_m,
            z.trim_m,
            z.zones.len()
        ),
        (300.0, 100.0, 900.0, 150.0, 1)
    );
    assert!(p.needs_key(), "the keyed grid needs the key");
    let explain = p.explain();
    assert!(
        explain.contains("cells of 900 m circumradius, 2.10 km²")
            && explain.contains("points within 1254 m of that centre")
            && explain.contains("path length < 150 m")
            && explain.contains("1 explicit zone(s)"),
        "{explain}"
    );
    let bad = |toml: &str| {
        Policy::parse(
            "p.toml",
            &format!("[privacy_zone]\n{toml}\n[tables.records]\nkeep = [\"timestamp\"]\n"),
        )
        .unwrap_err()
    };
    let e = bad("radius_m = -1");
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(2), Some("privacy_zone.radius_m")),
        "{e}"
    );
    let e = bad("cell_m = -700");
    assert_eq!(
        (e.line, e.column, e.key.as_deref()),
        (Some(2), Some(10), Some("privacy_zone.cell_m")),
        "{e}"
    );
    let e = bad("trim_m = -1");
    assert_eq!(e.key.as_deref(), Some("privacy_zone.trim_m"), "{e}");
    // the parameters of the former offset design are refused, not ignored
    for old in [
        "gate_share = 0.6",
        "radius_slack_m = 300",
        "offset_range = [2.5, 3.5]",
    ] {
        let e = bad(old);
        assert!(e.message.contains("unknown field"), "{e}");
    }
    let e = bad("radius = 5");
    assert!(e.message.contains("unknown field `radius`"), "{e}");
    let p = Policy::parse(
        "p.toml",
        "[privacy_zone]\nenabled = false\n[tables.records]\nkeep = [\"timestamp\"]\n",
    )
    .unwrap();
    assert!(p.privacy_zone.is_none());
}

#[test]
fn starts_scattered_across_a_cell_edge_keep_the_subjects_anchored_cell() {
    use datamin::privacy::PrivacyZone;
    use datamin::privacy::cells::Grid;
    use datamin::udfs::PseudonymKey;
    use datamin::udfs::geo::destination;
    let cfg = ZoneConfig::default();
    let grid = Grid::new(Some(KEY), "s", cfg.cell_m);
    let home = (50.85, 4.35);
    let c = grid.cell_centre(home.0, home.1);
    // walk from the centre until the next cell begins (the edge lies between 0.87 and 1
    // cell_m from it), then 15 m on: a start just across the edge, still within 1.06·cell_m
    let bearing = 0.3;
    let walk = (0.8 * cfg.cell_m) as i64..(1.2 * cfg.cell_m) as i64;
    let across = walk
        .clone()
        .map(|d| destination(c.0, c.1, bearing, d as f64))
        .find(|p| grid.cell_centre(p.0, p.1) != c)
        .map(|p| destination(p.0, p.1, bearing, 15.0))
        .unwrap();
    assert_ne!(grid.cell_centre(across.0, across.1), c);
    assert!(haversine_m(across.0, across.1, c.0, c.1) <= 1.06 * cfg.cell_m);
    let mut anchors = Vec::new();
    let first = hidden_disks(&[home], &cfg, Some(KEY), "s", Some(&mut anchors));
    let second = hidden_disks(&[across], &cfg, Some(KEY), "s", Some(&mut anchors));
    assert_eq!(first, second, "the anchored cell is kept");
    assert_eq!(anchors.len(), 1);
    // the disk still hides everything within R of the scattered start
    let d = second[0];
    assert!(d.radius_m - haversine_m(across.0, across.1, d.lat, d.long) >= cfg.radius_m);
    // without anchors the scattered start shows the neighbouring cell
    let alone = hidden_disks(&[across], &cfg, Some(KEY), "s", None);
    assert_ne!(alone, first);
    // a far end (a workplace 5 km away) gets its own anchor
    let work = destination(home.0, home.1, 1.0, 5000.0);
    let w = hidden_disks(&[work], &cfg, Some(KEY), "s", Some(&mut anchors));
    assert_eq!(anchors.len(), 2);
    assert_eq!((w[0].lat, w[0].long), grid.cell_centre(work.0, work.1));

    // through the pipeline's zone: a real track, then the same track moved so that it
    // starts across the edge, publish nothing inside the first one's disk
    let bytes = shared("fitparse__Edge810-Vector-2013-08-16-15-35-10.fit");
    let orig = decode(ActivityFormat::Fit, "ride.fit", &bytes).unwrap();
    let start = track(&orig)[0];
    let zone = PrivacyZone::new(
        cfg.clone(),
        Some(PseudonymKey::new("t", KEY.to_vec()).unwrap()),
    )
    .unwrap();
    let centre = grid.cell_centre(start.0, start.1);
    let p = walk
        .map(|d| destination(centre.0, centre.1, bearing, d as f64))
        .find(|p| grid.cell_centre(p.0, p.1) != centre)
        .map(|p| destination(p.0, p.1, bearing, 15.0))
        .unwrap();
    let mut moved = orig.clone();
    for r in &mut moved.records {
        r.position_lat = r.position_lat.map(|v| v + p.0 - start.0);
        r.position_long = r.position_long.map(|v| v + p.1 - start.1);
    }
    let disk = hidden_disks(&[start], &cfg, Some(KEY), "s", None)[0];
    // published positions are displaced: so is the disk they keep out of
    let shift = Displacement::for_subject(&cfg, Some(KEY), "s").unwrap();
    let centre = shift.apply((disk.lat, disk.long));
    for mut a in [orig, moved] {
        zone.apply_activity(&mut a, "s").unwrap();
        assert!(!a.records.is_empty());
        assert!(
            track(&a)
                .iter()
                .all(|q| haversine_m(q.0, q.1, centre.0, centre.1) >= disk.radius_m - 0.5)
        );
    }
}

#[test]
fn a_subjects_positions_move_by_one_keyed_vector_and_nothing_else_changes() {
    use datamin::privacy::PrivacyZone;
    use datamin::udfs::PseudonymKey;
    let bytes = shared("fitparse__Edge810-Vector-2013-08-16-15-35-10.fit");
    let orig = decode(ActivityFormat::Fit, "ride.fit", &bytes).unwrap();
    let key = || Some(PseudonymKey::new("t", KEY.to_vec()).unwrap());
    let cfg = ZoneConfig::default();
    let still = ZoneConfig {
        displacement_max_m: 0.0,
        ..cfg.clone()
    };
    let (zone, plain) = (
        PrivacyZone::new(cfg.clone(), key()).unwrap(),
        PrivacyZone::new(still, key()).unwrap(),
    );
    let run = |z: &PrivacyZone, subject: &str| {
        let mut a = orig.clone();
        z.apply_activity(&mut a, subject).unwrap();
        a
    };
    let (a, b, other, base) = (
        run(&zone, "s"),
        run(&zone, "s"),
        run(&zone, "t"),
        run(&plain, "s"),
    );
    let vector = |x: &datamin::format::Activity| {
        let (p, q) = (track(x)[0], track(&base)[0]);
        (p.0 - q.0, p.1 - q.1)
    };
    // the same points are hidden; every published value but the positions is unchanged
    assert_eq!(a.records.len(), base.records.len());
    for (r, q) in a.records.iter().zip(&base.records) {
        assert_eq!(
            (r.timestamp_us, r.distance_m, r.heart_rate_bpm, r.altitude_m),
            (q.timestamp_us, q.distance_m, q.heart_rate_bpm, q.altitude_m)
        );
    }
    // one vector per subject, 100-700 m long: the same in a second activity, another for
    // another subject
    let shift = Displacement::for_subject(&cfg, Some(KEY), "s").unwrap();
    for (p, q) in track(&a).iter().zip(track(&base)) {
        assert_eq!(*p, shift.apply(q));
    }
    assert_eq!(track(&a), track(&b));
    assert_ne!(vector(&other), vector(&a));
    assert!((100.0..=700.0).contains(&shift.length_m()));
    // the session's positions and bounding box are the displaced ones, its totals unchanged
    let (s, t) = (&a.sessions[0], &base.sessions[0]);
    let moved = |la: Option<f64>, lo: Option<f64>| la.zip(lo).map(|p| shift.apply(p));
    assert_eq!(
        s.start_position_lat.zip(s.start_position_long),
        moved(t.start_position_lat, t.start_position_long)
    );
    assert_eq!(
        s.nec_lat,
        Some(track(&a).iter().map(|p| p.0).fold(f64::MIN, f64::max))
    );
    assert_eq!(
        (s.total_distance_m, s.total_elapsed_time_s, s.total_ascent_m),
        (t.total_distance_m, t.total_elapsed_time_s, t.total_ascent_m)
    );
}

#[test]
fn developer_fields_of_a_zoned_activity_are_removed() {
    // app-defined values may count from the real start (a Connect IQ distance field)
    let bytes = shared("fitparse__Edge810-Vector-2013-08-16-15-35-10.fit");
    let mut a = decode(ActivityFormat::Fit, "ride.fit", &bytes).unwrap();
    for r in &mut a.records {
        r.developer_fields = vec![datamin::format::DeveloperField {
            name: "app distance".into(),
            units: Some("m".into()),
            value: r.distance_m,
        }];
    }
    let orig = a.clone();
    let stats = apply_zone(&mut a, &ZoneConfig::default(), Some(KEY), "subject-1").unwrap();
    assert!(stats.records_hidden > 0 && !a.records.is_empty());
    assert!(a.records.iter().all(|r| r.developer_fields.is_empty()));
    // an activity the zone hides nothing of (no automatic zones here): its app fields stay,
    // unless positions are displaced (an app field may hold a position)
    for (displacement_max_m, kept) in [(0.0, true), (700.0, false)] {
        let cfg = ZoneConfig {
            radius_m: 0.0,
            displacement_max_m,
            ..ZoneConfig::default()
        };
        let mut b = orig.clone();
        let stats = apply_zone(&mut b, &cfg, Some(KEY), "subject-1").unwrap();
        assert_eq!(stats.records_hidden, 0);
        assert_eq!(
            b.records.iter().all(|r| !r.developer_fields.is_empty()),
            kept,
            "displacement up to {displacement_max_m} m"
        );
    }
}
