//! Synthetic subjects from real GPS tracks.
//!
//! Real activity files are decoded ([`load_activities`]) and turned into tracks in local
//! metres ([`tracks_from`]). [`synthesize`] then gives each subject a secret home and
//! activities that start and end there: even-numbered activities run a track out and back,
//! odd-numbered ones are loops (half of one track out, half of another back, so the way home
//! differs). Everything random comes from a seeded [`SplitMix64`], so an evaluation is
//! reproducible.

use datamin::format::{Activity, RecordRow, SummaryRow};
use datamin::udfs::geo::{LocalFrame, destination, haversine_m};

/// Centre of the city around which homes are drawn (Brussels), degrees (lat, long).
pub const CITY_CENTRE: (f64, f64) = (50.8503, 4.3517);

/// Homes are drawn uniformly in bearing and distance up to this far from [`CITY_CENTRE`],
/// metres.
pub const HOME_SPREAD_M: f64 = 10_000.0;

/// A track that never gets further than this from its first point (indoor, GPS off) is not
/// used, metres.
pub const MIN_TRACK_EXTENT_M: f64 = 1000.0;

/// Decodes every FIT/TCX file below `location` (path or URL), skipping undecodable ones.
pub async fn load_activities(location: &str) -> datafusion::common::Result<Vec<Activity>> {
    use datamin::format::ActivityFormat;
    let ctx = datamin::context::session_context(None, 1);
    let loc = datamin::store::Location::parse(location)?;
    let url = loc.listing_url()?;
    let store = std::sync::Arc::clone(loc.store());
    let files = datamin::source::files::list_activity_files(
        &ctx.state(),
        &store,
        &url,
        &[ActivityFormat::Fit, ActivityFormat::Tcx],
    )
    .await?;
    let mut out = Vec::new();
    for f in files {
        // the one decode driver; undecodable files are left out
        if let Ok(d) =
            datamin::format::read_activity(&store, &f.meta.location, &f.url, f.format).await?
        {
            out.push(d.activity);
        }
    }
    Ok(out)
}

/// A track in local metres: (east m, north m, seconds since start).
pub type Track = Vec<(f64, f64, f64)>;

/// Turns decoded activities into tracks of at most `max_points` positioned samples (those
/// with at least `min_points`), in metres relative to their first point. Tracks that never
/// get [`MIN_TRACK_EXTENT_M`] away from their start are skipped.
pub fn tracks_from(activities: &[Activity], min_points: usize, max_points: usize) -> Vec<Track> {
    let mut out = Vec::new();
    for a in activities {
        let pts: Vec<&RecordRow> = a
            .records
            .iter()
            .filter(|r| {
                r.position_lat.is_some() && r.position_long.is_some() && r.timestamp_us.is_some()
            })
            .take(max_points)
            .collect();
        if pts.len() < min_points {
            continue;
        }
        let (la0, lo0) = (pts[0].position_lat.unwrap(), pts[0].position_long.unwrap());
        let t0 = pts[0].timestamp_us.unwrap();
        let f = LocalFrame::new(la0, lo0);
        let t: Track = pts
            .iter()
            .map(|r| {
                let (x, y) = f.to_xy(r.position_lat.unwrap(), r.position_long.unwrap());
                (x, y, (r.timestamp_us.unwrap() - t0) as f64 / 1e6)
            })
            .collect();
        // skip tracks that never leave the start (indoor, GPS off)
        if t.iter().map(|p| p.0.hypot(p.1)).fold(0.0, f64::max) > MIN_TRACK_EXTENT_M {
            out.push(t);
        }
    }
    out
}

/// A deterministic pseudo-random generator (SplitMix64), so evaluations are reproducible.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// Next value, uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / 2f64.powi(64)
    }
}

/// A synthetic subject: its secret home and its activities.
#[derive(Debug, Clone)]
pub struct Subject {
    /// Subject id (used as the `subject=` path segment).
    pub id: String,
    /// True home, degrees (lat, long).
    pub home: (f64, f64),
    /// Every place the zone must protect, degrees (lat, long): the home first, then (for
    /// commuters) the workplace. An attack succeeds when it lands near any of them.
    pub places: Vec<(f64, f64)>,
    /// Activities that start and end at the home.
    pub activities: Vec<Activity>,
}

/// Builds `n_subjects` subjects with `per_subject` activities each from `tracks`: homes
/// within [`HOME_SPREAD_M`] of [`CITY_CENTRE`], each activity a randomly chosen and rotated
/// track (out and back for even-numbered activities, a loop for odd-numbered ones), one day
/// apart. Deterministic for a given `seed`.
///
/// # Panics
/// If `tracks` is empty.
pub fn synthesize(
    tracks: &[Track],
    n_subjects: usize,
    per_subject: usize,
    seed: u64,
) -> Vec<Subject> {
    assert!(!tracks.is_empty(), "no usable tracks");
    let mut rng = SplitMix64::new(seed);
    let city = CITY_CENTRE;
    let mut out = Vec::new();
    for s in 0..n_subjects {
        let home = destination(
            city.0,
            city.1,
            rng.next_f64() * std::f64::consts::TAU,
            rng.next_f64() * HOME_SPREAD_M,
        );
        let frame = LocalFrame::new(home.0, home.1);
        let id = format!("s{s:04}");
        let mut acts = Vec::new();
        for k in 0..per_subject {
            let t = &tracks[(rng.next_f64() * tracks.len() as f64) as usize];
            let th = rng.next_f64() * std::f64::consts::TAU;
            let t_start: i64 = 1_700_000_000_000_000 + (s * 1000 + k) as i64 * 86_400_000_000;
            let rot = |th: f64, p: &(f64, f64, f64)| {
                let (c, sn) = (th.cos(), th.sin());
                (p.0 * c - p.1 * sn, p.0 * sn + p.1 * c, p.2)
            };
            let path: Vec<(f64, f64, f64)> = if k % 2 == 0 {
                // out and back: the track, then the same track reversed, ending at the home
                let last_t = t.last().map_or(0.0, |p| p.2);
                t.iter()
                    .map(|p| rot(th, p))
                    .chain(
                        t.iter()
                            .rev()
                            .map(|p| rot(th, &(p.0, p.1, 2.0 * last_t - p.2 + 1.0))),
                    )
                    .collect()
            } else {
                // a loop: the first half of the track out, then the first half of another
                // track, turned to meet it, back to the home (the route home differs)
                let u = &tracks[(rng.next_f64() * tracks.len() as f64) as usize];
                let (a, b) = (&t[..t.len() / 2], &u[..u.len() / 2]);
                let (pa, pb) = (a[a.len() - 1], b[b.len() - 1]);
                let th_b = th + pa.1.atan2(pa.0) - pb.1.atan2(pb.0);
                let (t_a, t_b) = (pa.2, pb.2);
                a.iter()
                    .map(|p| rot(th, p))
                    .chain(
                        b.iter()
                            .rev()
                            .map(|p| rot(th_b, &(p.0, p.1, t_a + 1.0 + t_b - p.2))),
                    )
                    .collect()
            };
            acts.push(activity(&id, k, t_start, &frame, path));
        }
        out.push(Subject {
            id,
            home,
            places: vec![home],
            activities: acts,
        });
    }
    out
}

/// Activity `k` of subject `id`: the records of `path` (local metres in `frame`, seconds
/// after `t_start_us`) with cumulative distance, and a session summarizing them.
fn activity(
    id: &str,
    k: usize,
    t_start_us: i64,
    frame: &LocalFrame,
    path: Vec<(f64, f64, f64)>,
) -> Activity {
    let mut records = Vec::new();
    let mut dist = 0.0;
    let mut prev: Option<(f64, f64)> = None;
    for (x, y, ts) in path {
        let (la, lo) = frame.to_latlon(x, y);
        if let Some((pa, po)) = prev {
            dist += haversine_m(pa, po, la, lo);
        }
        prev = Some((la, lo));
        records.push(RecordRow {
            timestamp_us: Some(t_start_us + (ts * 1e6) as i64),
            position_lat: Some(la),
            position_long: Some(lo),
            distance_m: Some(dist),
            ..Default::default()
        });
    }
    let mut a = Activity {
        activity_id: format!("{id}-a{k:02}"),
        source_file: format!("synthetic/subject={id}/a{k:02}.fit"),
        file_format: "fit",
        records,
        ..Default::default()
    };
    let first = a.records.first().cloned().unwrap_or_default();
    let last = a.records.last().cloned().unwrap_or_default();
    a.sessions.push(SummaryRow {
        start_time_us: first.timestamp_us,
        end_time_us: last.timestamp_us,
        start_position_lat: first.position_lat,
        start_position_long: first.position_long,
        end_position_lat: last.position_lat,
        end_position_long: last.position_long,
        total_distance_m: last.distance_m,
        ..Default::default()
    });
    a
}
