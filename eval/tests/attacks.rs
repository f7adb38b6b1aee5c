//! The attack evaluation on a reduced set: datamin's zone defeats the attacks that locate
//! homes behind a platform-style zone.

use datamin::format::{ActivityFormat, decode};
use datamin::privacy::ZoneConfig;
use datamin_eval::learned::ATTACKER_SEED;
use datamin_eval::{
    ATTACKS, Defence, MAX_TRACK_POINTS, MIN_TRACK_POINTS, evaluate, render, synthesize, tracks_from,
};

const KEY: &[u8] = b"privacy-test-key-0123456789";

/// Synthetic subjects of the reduced evaluation (10 activities each).
const SUBJECTS: usize = 60;

/// A file of the checkout's `tests/data/` (this crate is `<checkout>/eval`).
fn shared(p: &str) -> Vec<u8> {
    let path = format!("{}/../tests/data/{p}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn attacks_fail_on_datamin_zones_and_succeed_on_platform_zones() {
    let mut acts = Vec::new();
    for f in [
        "fitparse__activity-small-fenix2-run.fit",
        "fitparse__2013-02-06-12-11-14.fit",
        "fitparse__Edge810-Vector-2013-08-16-15-35-10.fit",
        "fitparse__garmin-edge-500-activity.fit",
        "tormoderfit__mornindew-broken.fit",
        "tcxparser__test.tcx",
        "stravalib__sample.tcx",
        "tcxreader__mapmyride_biking.tcx",
    ] {
        let fmt = ActivityFormat::from_path(f).unwrap();
        acts.push(decode(fmt, f, &shared(f)).unwrap());
    }
    let tracks = tracks_from(&acts, MIN_TRACK_POINTS, MAX_TRACK_POINTS);
    assert!(tracks.len() >= 6, "{} tracks", tracks.len());
    let subjects = synthesize(&tracks, SUBJECTS, 10, 42);
    // the learned attacker's own subjects: few, to keep this test fast
    let training = synthesize(&tracks, 60, 10, 42 ^ ATTACKER_SEED);
    let cfg = ZoneConfig {
        radius_m: 200.0,
        distance_quantum_m: 100.0,
        ..ZoneConfig::default()
    };
    // the same zone without the displacement: the hiding alone
    let hiding_only = ZoneConfig {
        displacement_max_m: 0.0,
        ..cfg.clone()
    };
    let res = evaluate(
        &subjects,
        &[
            Defence::Raw,
            Defence::PlatformZone { radius_m: 200.0 },
            Defence::Datamin(cfg),
            Defence::Datamin(hiding_only),
        ],
        KEY,
        &training,
    );
    println!("{}", render(&res, SUBJECTS, 10));
    for r in &res {
        assert_eq!(r.attacks.len(), ATTACKS.len());
        for (a, name) in r.attacks.iter().zip(ATTACKS) {
            assert!(a.attack.starts_with(name), "{} is not {name}", a.attack);
            assert!(a.within_22_95m <= a.within_100m && a.within_100m <= a.within_200m);
        }
    }
    let within100 = |d: usize, a: usize| res[d].attacks[a].within_100m;
    // raw data: the first point is the home (or, after a walk, near it)
    assert!(within100(0, 7) >= 0.9, "raw learned {}", within100(0, 7));
    // platform zone: circle fitting works, and the attacks that know the mechanism
    // (commuters' workplaces and walks make the published attacks weaker than before)
    assert!(
        within100(1, 0) >= 0.6,
        "platform circle fit {}",
        within100(1, 0)
    );
    for a in [6, 8, 9] {
        assert!(
            within100(1, a) >= 0.9,
            "platform {}",
            res[1].attacks[a].attack
        );
    }
    // datamin: every attack locates at most 5% of homes within 100 m (the full runs are in
    // README.md; the displacement bounds any attack at 2.1% per protected place). Here
    // 3 of 60 subjects are allowed (2 are located today).
    for (a, name) in ATTACKS.iter().enumerate() {
        assert!(
            within100(2, a) <= 0.05,
            "datamin: {} ({name}) succeeds for {}",
            res[2].attacks[a].attack,
            within100(2, a)
        );
    }
    // ... and this test sees the displacement's work: without it the visible tracks' exits
    // and headings give the homes away (today 13% within 100 m and 37% within 200 m, against
    // at most 7% within 200 m with it), so losing the displacement fails here
    let worst200 = |d: usize| {
        res[d]
            .attacks
            .iter()
            .map(|a| a.within_200m)
            .fold(0.0, f64::max)
    };
    assert!(worst200(2) <= 0.1, "datamin within 200 m: {}", worst200(2));
    assert!(
        worst200(3) >= 0.25,
        "hiding alone within 200 m: {}",
        worst200(3)
    );
    assert_eq!(
        res[3].points_kept, res[2].points_kept,
        "the displacement hides nothing"
    );
    // the price: about 74% of the points are kept on the full set, more on these tracks
    assert!(res[2].points_kept > 0.75, "{}", res[2].points_kept);
}
