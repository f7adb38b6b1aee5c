//! Synthetic subjects from real GPS tracks, made to look like people.
//!
//! Real activity files are decoded ([`load_activities`]) and turned into tracks in local
//! metres ([`tracks_from`]). [`synthesize`] then gives each subject a secret home and
//! activities built from those tracks, turned by a random angle and anchored at the home.
//! [`Realism`] says how much of what real people do is imitated ([`synthesize_with`] takes
//! it; [`synthesize`] uses [`Realism::default`]):
//!
//! - **Habitual routes.** Each subject draws [`Realism::routes_per_subject`] routes once
//!   (a track, a rotation, and out-and-back or loop) and reuses them: the same roads every
//!   time, only the turnaround of an out-and-back varies (the track is cut at 70–100 % of
//!   its samples, [`TURNAROUND_MIN`]). A share [`Realism::fresh_route_share`] of activities
//!   still takes a fresh random track and rotation.
//! - **Loops that close.** A loop runs the first half of one track out, then comes back
//!   along a prefix of another track, turned and scaled (by a factor near 1) so it meets the
//!   first half's end exactly ([`Realism::closed_loops`]; the old loops jumped at the
//!   turnaround).
//! - **Commuters.** A share [`Realism::commuter_share`] of subjects also has a workplace
//!   [`WORK_MIN_M`]–[`WORK_MAX_M`] from home (then [`Subject::places`] holds both). A share
//!   [`Realism::commute_share`] of their activities are commutes, home → work or work → home
//!   (equally likely), all along the subject's one commute route: a track turned so that a
//!   prefix of it points at the workplace and scaled so that the prefix ends exactly there
//!   (of [`FIT_CANDIDATES`] random tracks, the one needing the least scaling and detour).
//! - **A short walk.** In a share [`Realism::walk_share`] of activities the recording starts
//!   and ends a short walk from the place (each end independently: uniform 0–[`WALK_MAX_M`]
//!   in a uniform direction). The route's first and last [`WALK_BLEND_M`] are bent to meet
//!   those points; the rest of the route is unchanged.
//! - **GPS warm-up.** The first [`JITTER_FIXES`] fixes of every activity get a position
//!   error in a uniform direction, bell-shaped in size and bounded by [`Realism::jitter_m`],
//!   decaying linearly to 0.
//! - **Columns a watch records.** Every record has a cumulative distance, a speed (from
//!   consecutive points) and a heart rate (rising from [`HR_START_BPM`] to [`HR_STEADY_BPM`]
//!   over [`HR_WARMUP_S`], then flat, ±[`HR_NOISE_BPM`]); every [`LAP_M`] of distance closes
//!   an auto-lap; one session summarizes the whole; `time_created` is the first timestamp.
//!
//! [`Realism::simple`] turns all of this off except the columns, laps and `time_created`,
//! and then reproduces the positions and timestamps of the original synthesis exactly (every
//! activity a fresh random track, out and back for even-numbered activities and an open loop
//! for odd-numbered ones, starting exactly at home), so old numbers can be compared.
//!
//! Everything random comes from a seeded [`SplitMix64`], so an evaluation is reproducible.
//!
//! # How each choice favours attacker or defender
//!
//! - **Exact start at home** (no walk, no jitter: [`Realism::simple`]) favours the
//!   **attacker**: every track's first point *is* the home, so any visible piece of the
//!   track's beginning, and every heading, points straight at it.
//! - **Habitual routes** favour the **defender** against averaging attacks (circle fits,
//!   centroids, heading lines): the same few exits repeat, so ten activities give about
//!   `routes_per_subject` independent samples of where tracks leave the zone, not ten. They
//!   favour the **attacker** in a different way: a repeated exit is recognisable, and a
//!   subject's activities can be linked to each other across pseudonyms.
//! - **Fresh random rotations** (every activity of [`Realism::simple`], and the
//!   [`Realism::fresh_route_share`] of the others) make departure directions uniform, which
//!   favours the **attacker**: the attacks that fit a circle or reflect a centroid assume
//!   exits spread evenly around the zone. Real departures are not uniform (streets, a park
//!   on one side).
//! - **Varying turnarounds** change only the far end of a route, which no home attack
//!   looks at: neutral, except that published distances vary a little (slightly favours the
//!   **defender** against distance matching across activities).
//! - **Commuters** favour the **attacker**: there are two places to find, and an attack
//!   succeeds when it lands near either ([`Subject::places`]); the workplace gets its own
//!   zone, and commute tracks run straight between the two places, so each commute's heading
//!   points at the other end. The defender must hide both ends of every commute.
//! - **Walks** favour the **defender** slightly: the recorded ends scatter up to
//!   [`WALK_MAX_M`] around the home (about a disk of that radius), so ends, headings and
//!   distances point at the walk's end, not at the home. Under datamin's zone (disk radius
//!   ≥ 942 m at the defaults) the bent part is hidden anyway; they matter most for raw data
//!   and a platform-style zone.
//! - **GPS warm-up jitter** favours the **defender** very slightly: it perturbs only the
//!   first fixes (within [`Realism::jitter_m`]), which any zone hides; with raw data it adds
//!   metres of error to the exact-start attack and a little to the first distances.
//! - **Auto-laps and `time_created`** favour the **attacker**: a lap boundary sits at an
//!   exact multiple of [`LAP_M`] from the (hidden) start, and `time_created` dates the hidden
//!   first sample. datamin removes both from every activity its zone cut; a platform-style
//!   zone keeps them.
//! - **Heart rate and speed** are neutral for the home attacks, but make the warm-up
//!   visible: a low heart rate at the first visible sample says that little time has passed
//!   since the start (favours the **attacker** a little against a zone that hides time).

use std::f64::consts::TAU;

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

/// A commuter's workplace is at least this far from the home (straight line), metres.
pub const WORK_MIN_M: f64 = 2000.0;

/// A commuter's workplace is at most this far from the home (straight line), metres.
pub const WORK_MAX_M: f64 = 8000.0;

/// A commute route, and the way back of a closed loop, is the best fitting of this many
/// randomly drawn tracks (the one whose prefix needs the least scaling to reach its
/// target).
pub const FIT_CANDIDATES: usize = 8;

/// The recording of an activity with a walk starts (ends) up to this far from the place,
/// metres.
pub const WALK_MAX_M: f64 = 150.0;

/// A walk's offset fades out over this length of path from each end, metres.
pub const WALK_BLEND_M: f64 = 500.0;

/// GPS warm-up affects this many first fixes of an activity.
pub const JITTER_FIXES: usize = 10;

/// An out-and-back on a habitual route turns at a uniform share of its track's samples in
/// `[TURNAROUND_MIN, 1]`.
pub const TURNAROUND_MIN: f64 = 0.7;

/// Auto-lap distance: a lap closes at the first record at or beyond every multiple of this,
/// metres.
pub const LAP_M: f64 = 1000.0;

/// Heart rate at the start of an activity, beats per minute.
pub const HR_START_BPM: f64 = 90.0;

/// Heart rate after the warm-up, beats per minute.
pub const HR_STEADY_BPM: f64 = 150.0;

/// Heart rate rises linearly from [`HR_START_BPM`] to [`HR_STEADY_BPM`] over this long,
/// seconds.
pub const HR_WARMUP_S: f64 = 600.0;

/// Heart rate noise: uniform in ±this, beats per minute.
pub const HR_NOISE_BPM: f64 = 3.0;

/// Sessions and laps averaging faster than this are `cycling`, metres per second.
pub const CYCLING_SPEED_M_S: f64 = 4.5;

/// Sessions and laps averaging slower than this are `walking` (between the two: `running`),
/// metres per second.
pub const WALKING_SPEED_M_S: f64 = 2.0;

/// Start time of subject 0's first activity, µs since the Unix epoch (2023-11-14 22:13:20
/// UTC); activity `k` of subject `s` starts `1000·s + k` days later.
pub const FIRST_START_US: i64 = 1_700_000_000_000_000;

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

/// One sample of a path: (east m, north m, seconds since start).
type P = (f64, f64, f64);

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
    /// An index uniform in `0..n` (`n` > 0).
    fn index(&mut self, n: usize) -> usize {
        ((self.next_f64() * n as f64) as usize).min(n - 1)
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
    /// Activities that start and end at (or, with a walk, near) the home, and commutes
    /// between the home and the workplace.
    pub activities: Vec<Activity>,
}

/// How much of real people's behaviour the synthetic subjects imitate (see the module
/// documentation for what each choice does to the attacks). Shares are in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Realism {
    /// Habitual routes drawn once per subject and reused (0: every activity is a fresh
    /// route).
    pub routes_per_subject: usize,
    /// Share of activities that take a fresh random track and rotation instead of one of
    /// the habitual routes.
    pub fresh_route_share: f64,
    /// Whether loops close: the way back is turned and scaled to meet the way out (false:
    /// the original open loops, which jump at the turnaround).
    pub closed_loops: bool,
    /// Share of subjects who also commute between the home and a workplace
    /// [`WORK_MIN_M`]–[`WORK_MAX_M`] away.
    pub commuter_share: f64,
    /// Share of a commuter's activities that are commutes (home → work or work → home).
    pub commute_share: f64,
    /// Share of activities whose recording starts and ends a short walk (up to
    /// [`WALK_MAX_M`]) from the place.
    pub walk_share: f64,
    /// Largest GPS warm-up error of an activity's first fix, metres; it decays linearly to 0
    /// over [`JITTER_FIXES`] fixes (0: none).
    pub jitter_m: f64,
}

impl Default for Realism {
    /// 3 habitual routes, 30 % fresh routes, closed loops, 25 % commuters of whom 40 % of
    /// activities are commutes, 30 % walks, 15 m warm-up jitter.
    fn default() -> Self {
        Self {
            routes_per_subject: 3,
            fresh_route_share: 0.3,
            closed_loops: true,
            commuter_share: 0.25,
            commute_share: 0.4,
            walk_share: 0.3,
            jitter_m: 15.0,
        }
    }
}

impl Realism {
    /// The original synthesis: every activity a fresh random track (out and back, or an
    /// open loop), starting and ending exactly at the home, no commuters, no walks, no
    /// jitter. Positions and timestamps are those of the original [`synthesize`].
    pub fn simple() -> Self {
        Self {
            routes_per_subject: 0,
            fresh_route_share: 1.0,
            closed_loops: false,
            commuter_share: 0.0,
            commute_share: 0.0,
            walk_share: 0.0,
            jitter_m: 0.0,
        }
    }
}

/// Builds `n_subjects` subjects with `per_subject` activities each from `tracks`, with
/// [`Realism::default`]: homes within [`HOME_SPREAD_M`] of [`CITY_CENTRE`], habitual routes,
/// commuters, walks and GPS warm-up ([`synthesize_with`]). Activities are one day apart.
/// Deterministic for a given `seed`.
///
/// # Panics
/// If `tracks` is empty.
pub fn synthesize(
    tracks: &[Track],
    n_subjects: usize,
    per_subject: usize,
    seed: u64,
) -> Vec<Subject> {
    synthesize_with(tracks, n_subjects, per_subject, seed, &Realism::default())
}

/// A habitual route: the same roads every time.
#[derive(Debug, Clone)]
struct Route {
    /// Rotation of the (outbound) track, radians counter-clockwise.
    th: f64,
    /// The outbound track.
    out: usize,
    /// `None`: out and back; `Some(u)`: a loop back along track `u`.
    back: Option<usize>,
}

/// Builds `n_subjects` subjects with `per_subject` activities each from `tracks`, as much
/// like people as `realism` says: homes within [`HOME_SPREAD_M`] of [`CITY_CENTRE`],
/// workplaces for commuters, activities one day apart (activity `k` of subject `s` starts
/// at [`FIRST_START_US`] + `1000·s + k` days). Every activity has records with position,
/// cumulative distance, speed and heart rate, an auto-lap every [`LAP_M`], one session, and
/// `time_created`. Deterministic for a given `seed`.
///
/// # Panics
/// If `tracks` is empty.
pub fn synthesize_with(
    tracks: &[Track],
    n_subjects: usize,
    per_subject: usize,
    seed: u64,
    realism: &Realism,
) -> Vec<Subject> {
    assert!(!tracks.is_empty(), "no usable tracks");
    let r = realism;
    let mut rng = SplitMix64::new(seed);
    let city = CITY_CENTRE;
    let mut out = Vec::new();
    for s in 0..n_subjects {
        // draws happen only for the features that are on, so that `Realism::simple` draws
        // exactly what the original synthesis drew
        let home = destination(
            city.0,
            city.1,
            rng.next_f64() * TAU,
            rng.next_f64() * HOME_SPREAD_M,
        );
        let frame = LocalFrame::new(home.0, home.1);
        let id = format!("s{s:04}");
        let commute = (r.commuter_share > 0.0 && rng.next_f64() < r.commuter_share)
            .then(|| commute_route(tracks, &mut rng));
        let routes: Vec<Route> = (0..r.routes_per_subject)
            .map(|_| {
                let out = rng.index(tracks.len());
                let th = rng.next_f64() * TAU;
                let back = (rng.next_f64() < 0.5).then(|| {
                    let u = rng.index(tracks.len());
                    if r.closed_loops {
                        best_track(tracks, u, half_reach(&tracks[out]), &mut rng)
                    } else {
                        u
                    }
                });
                Route { th, out, back }
            })
            .collect();
        let mut acts = Vec::new();
        for k in 0..per_subject {
            let t_start: i64 = FIRST_START_US + (s * 1000 + k) as i64 * 86_400_000_000;
            let is_commute =
                commute.is_some() && r.commute_share > 0.0 && rng.next_f64() < r.commute_share;
            let path = if let (true, Some((_, c))) = (is_commute, &commute) {
                if rng.next_f64() < 0.5 {
                    c.clone()
                } else {
                    reversed(c)
                }
            } else if routes.is_empty() || rng.next_f64() < r.fresh_route_share {
                let t = &tracks[rng.index(tracks.len())];
                let th = rng.next_f64() * TAU;
                if k % 2 == 0 {
                    out_and_back(t, th, t.len())
                } else {
                    let u = rng.index(tracks.len());
                    if r.closed_loops {
                        let u = best_track(tracks, u, half_reach(t), &mut rng);
                        closed_loop(t, &tracks[u], th)
                    } else {
                        open_loop(t, &tracks[u], th)
                    }
                }
            } else {
                let route = &routes[rng.index(routes.len())];
                let t = &tracks[route.out];
                match route.back {
                    None => {
                        let cut = TURNAROUND_MIN + (1.0 - TURNAROUND_MIN) * rng.next_f64();
                        out_and_back(t, route.th, (t.len() as f64 * cut).ceil() as usize)
                    }
                    Some(u) if r.closed_loops => closed_loop(t, &tracks[u], route.th),
                    Some(u) => open_loop(t, &tracks[u], route.th),
                }
            };
            let path = if r.walk_share > 0.0 && rng.next_f64() < r.walk_share {
                let mut offset = || {
                    let (b, d) = (rng.next_f64() * TAU, rng.next_f64() * WALK_MAX_M);
                    (d * b.sin(), d * b.cos())
                };
                let (ws, we) = (offset(), offset());
                walk(path, ws, we)
            } else {
                path
            };
            // noise that does not move the routes (jitter, heart rate) has its own stream
            let mut noise = SplitMix64::new(
                seed ^ ((s as u64) << 32 | k as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
            );
            let path = jitter(path, r.jitter_m, &mut noise);
            acts.push(activity(&id, k, t_start, &frame, path, &mut noise));
        }
        let mut places = vec![home];
        if let Some((w, _)) = commute {
            places.push(frame.to_latlon(w.0, w.1));
        }
        out.push(Subject {
            id,
            home,
            places,
            activities: acts,
        });
    }
    out
}

/// `p` turned by `th` radians counter-clockwise about the origin.
fn rot(th: f64, p: &P) -> P {
    let (c, sn) = (th.cos(), th.sin());
    (p.0 * c - p.1 * sn, p.0 * sn + p.1 * c, p.2)
}

/// Out and back: the first `n` samples of `t` turned by `th`, then the same samples
/// reversed, ending at the origin.
fn out_and_back(t: &[P], th: f64, n: usize) -> Vec<P> {
    let t = &t[..n.clamp(2.min(t.len()), t.len())];
    let last_t = t.last().map_or(0.0, |p| p.2);
    t.iter()
        .map(|p| rot(th, p))
        .chain(
            t.iter()
                .rev()
                .map(|p| rot(th, &(p.0, p.1, 2.0 * last_t - p.2 + 1.0))),
        )
        .collect()
}

/// The original loop: the first half of `t` out (turned by `th`), then the first half of
/// `u`, turned so that its end points the same way, back to the origin. The two halves
/// generally end at different distances, so the path jumps at the turnaround.
fn open_loop(t: &[P], u: &[P], th: f64) -> Vec<P> {
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
}

/// A closed loop: the first half of `t` out (turned by `th`), then back along the prefix of
/// `u` that is turned and scaled to connect the origin with the first half's end ([`toward`]);
/// `u` is chosen for a scale near 1 ([`best_track`]).
fn closed_loop(t: &[P], u: &[P], th: f64) -> Vec<P> {
    let a: Vec<P> = t[..(t.len() / 2).max(1)]
        .iter()
        .map(|p| rot(th, p))
        .collect();
    let pa = a[a.len() - 1];
    if pa.0.hypot(pa.1) < 1.0 {
        return open_loop(t, u, th);
    }
    let back = reversed(&toward(u, (pa.0, pa.1)));
    let t_a = pa.2;
    a.into_iter()
        .chain(back.into_iter().skip(1).map(|p| (p.0, p.1, t_a + p.2)))
        .collect()
}

/// The prefix of `t` that best reaches `d_m` from its start: the index `j ≥ 1` of the
/// first sample at least `d_m` from the start (else of the farthest sample), and its misfit
/// `|ln(d_m / r)| + ln(L / r)` (`r` the sample's distance from the start, `L` the prefix's
/// path length): 0 for a straight prefix needing no scaling. `None` if no sample is 1 m
/// from the start.
fn best_prefix(t: &[P], d_m: f64) -> Option<(usize, f64)> {
    let r = |p: &P| p.0.hypot(p.1);
    let j = t
        .iter()
        .position(|p| r(p) >= d_m)
        .filter(|&j| j > 0)
        .or_else(|| {
            (1..t.len())
                .max_by(|&a, &b| r(&t[a]).total_cmp(&r(&t[b])))
                .filter(|&j| r(&t[j]) >= 1.0)
        })?;
    let len: f64 = t[..=j]
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).hypot(w[1].1 - w[0].1))
        .sum();
    let rj = r(&t[j]);
    Some((j, (d_m / rj).ln().abs() + (len / rj).max(1.0).ln()))
}

/// A path from the origin to `target` (metres) along `t`: the prefix of `t` that first
/// reaches `target`'s distance ([`best_prefix`]), turned to point at it and scaled so that
/// it ends exactly on it. Times are `t`'s.
fn toward(t: &[P], target: (f64, f64)) -> Vec<P> {
    let d = target.0.hypot(target.1);
    let Some((j, _)) = best_prefix(t, d) else {
        // a track that never leaves its start: a straight line
        return vec![(0.0, 0.0, 0.0), (target.0, target.1, 1.0)];
    };
    let e = t[j];
    let th = target.1.atan2(target.0) - e.1.atan2(e.0);
    let sc = d / e.0.hypot(e.1);
    let mut out: Vec<P> = t[..=j]
        .iter()
        .map(|p| {
            let q = rot(th, p);
            (q.0 * sc, q.1 * sc, q.2)
        })
        .collect();
    // exactly on the target, not within rounding
    let last = out.len() - 1;
    out[last] = (target.0, target.1, e.2);
    out
}

/// `p` driven backwards: the same samples in reverse order, times from 0.
fn reversed(p: &[P]) -> Vec<P> {
    let end = p.last().map_or(0.0, |q| q.2);
    p.iter().rev().map(|q| (q.0, q.1, end - q.2)).collect()
}

/// How far from its start the first half of `t` ends (where a loop turns), metres.
fn half_reach(t: &[P]) -> f64 {
    let p = t[(t.len() / 2).max(1) - 1];
    p.0.hypot(p.1)
}

/// Of track `first` and [`FIT_CANDIDATES`] − 1 more random tracks, the one with a prefix
/// reaching `d_m` from its start with the least scaling ([`best_prefix`]).
fn best_track(tracks: &[Track], first: usize, d_m: f64, rng: &mut SplitMix64) -> usize {
    let misfit = |i: usize| best_prefix(&tracks[i], d_m).map_or(f64::INFINITY, |x| x.1);
    std::iter::once(first)
        .chain((1..FIT_CANDIDATES).map(|_| rng.index(tracks.len())))
        .min_by(|&a, &b| misfit(a).total_cmp(&misfit(b)))
        .expect("at least one candidate")
}

/// A subject's commute: the workplace (metres from home) and the path home → work, along
/// the best fitting of [`FIT_CANDIDATES`] random tracks.
fn commute_route(tracks: &[Track], rng: &mut SplitMix64) -> ((f64, f64), Vec<P>) {
    let bearing = rng.next_f64() * TAU;
    let d = WORK_MIN_M + (WORK_MAX_M - WORK_MIN_M) * rng.next_f64();
    let work = (d * bearing.sin(), d * bearing.cos());
    let first = rng.index(tracks.len());
    let best = best_track(tracks, first, d, rng);
    (work, toward(&tracks[best], work))
}

/// `path` with its start moved by `ws` and its end by `we` (metres), the offsets fading out
/// linearly over the first and last [`WALK_BLEND_M`] of path.
fn walk(mut path: Vec<P>, ws: (f64, f64), we: (f64, f64)) -> Vec<P> {
    let mut s = Vec::with_capacity(path.len());
    let mut acc = 0.0;
    for (i, p) in path.iter().enumerate() {
        if i > 0 {
            acc += (p.0 - path[i - 1].0).hypot(p.1 - path[i - 1].1);
        }
        s.push(acc);
    }
    for (p, si) in path.iter_mut().zip(s) {
        let w1 = (1.0 - si / WALK_BLEND_M).max(0.0);
        let w2 = (1.0 - (acc - si) / WALK_BLEND_M).max(0.0);
        p.0 += ws.0 * w1 + we.0 * w2;
        p.1 += ws.1 * w1 + we.1 * w2;
    }
    path
}

/// GPS warm-up: fix `i < JITTER_FIXES` moves in a uniform direction by `jitter_m · (1 −
/// i/JITTER_FIXES) · |h|`, `h` bell-shaped in [−1, 1) (the mean of three uniforms, rescaled).
fn jitter(mut path: Vec<P>, jitter_m: f64, noise: &mut SplitMix64) -> Vec<P> {
    if jitter_m <= 0.0 {
        return path;
    }
    for (i, p) in path.iter_mut().take(JITTER_FIXES).enumerate() {
        let decay = 1.0 - i as f64 / JITTER_FIXES as f64;
        let h = (noise.next_f64() + noise.next_f64() + noise.next_f64()) * 2.0 / 3.0 - 1.0;
        let (b, m) = (noise.next_f64() * TAU, jitter_m * decay * h.abs());
        p.0 += m * b.sin();
        p.1 += m * b.cos();
    }
    path
}

/// Activity `k` of subject `id`: the records of `path` (local metres in `frame`, seconds
/// after `t_start_us`) with cumulative distance, speed and heart rate, auto-laps every
/// [`LAP_M`], a session summarizing them, and `time_created`.
fn activity(
    id: &str,
    k: usize,
    t_start_us: i64,
    frame: &LocalFrame,
    path: Vec<P>,
    noise: &mut SplitMix64,
) -> Activity {
    let mut records: Vec<RecordRow> = Vec::with_capacity(path.len());
    let mut dist = 0.0;
    let mut speed = 0.0;
    let mut prev: Option<(f64, f64, f64)> = None;
    let t0 = path.first().map_or(0.0, |p| p.2);
    for (x, y, ts) in path {
        let (la, lo) = frame.to_latlon(x, y);
        if let Some((pa, po, pt)) = prev {
            let step = haversine_m(pa, po, la, lo);
            dist += step;
            if ts > pt {
                speed = step / (ts - pt);
            }
        }
        prev = Some((la, lo, ts));
        let warm = ((ts - t0) / HR_WARMUP_S).clamp(0.0, 1.0);
        let hr = HR_START_BPM
            + (HR_STEADY_BPM - HR_START_BPM) * warm
            + HR_NOISE_BPM * (2.0 * noise.next_f64() - 1.0);
        records.push(RecordRow {
            timestamp_us: Some(t_start_us + (ts * 1e6) as i64),
            position_lat: Some(la),
            position_long: Some(lo),
            distance_m: Some(dist),
            speed_m_s: Some(speed),
            heart_rate_bpm: Some(hr.round() as i16),
            ..Default::default()
        });
    }
    let mut laps = Vec::new();
    let (mut lap_start, mut mark) = (0, LAP_M);
    for (i, r) in records.iter().enumerate() {
        let d = r.distance_m.unwrap_or(0.0);
        if d >= mark && i > lap_start {
            laps.push(summary(&records[lap_start..=i], laps.len()));
            lap_start = i;
            mark = ((d / LAP_M).floor() + 1.0) * LAP_M;
        }
    }
    if lap_start + 1 < records.len() {
        laps.push(summary(&records[lap_start..], laps.len()));
    }
    let session = summary(&records, 0);
    let first_time = records.first().and_then(|r| r.timestamp_us);
    Activity {
        activity_id: format!("{id}-a{k:02}"),
        source_file: format!("synthetic/subject={id}/a{k:02}.fit"),
        file_format: "fit",
        records,
        laps,
        sessions: vec![session],
        info: datamin::format::ActivityRow {
            time_created_us: first_time,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A lap or session row (`message_index` `index`) summarizing `rs` (records with positions,
/// distance, speed and heart rate): times, end positions, bounding box, elapsed (= timer)
/// time, distance, speeds, heart rates and sport.
fn summary(rs: &[RecordRow], index: usize) -> SummaryRow {
    let (Some(first), Some(last)) = (rs.first(), rs.last()) else {
        return SummaryRow::default();
    };
    let elapsed = match (first.timestamp_us, last.timestamp_us) {
        (Some(a), Some(b)) => Some((b - a) as f64 / 1e6),
        _ => None,
    };
    let distance = match (first.distance_m, last.distance_m) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let avg_speed = match (distance, elapsed) {
        (Some(d), Some(e)) if e > 0.0 => Some(d / e),
        _ => None,
    };
    let fold = |f: fn(&RecordRow) -> Option<f64>, max: bool| {
        rs.iter()
            .filter_map(f)
            .reduce(if max { f64::max } else { f64::min })
    };
    let hrs: Vec<f64> = rs
        .iter()
        .filter_map(|r| r.heart_rate_bpm.map(f64::from))
        .collect();
    SummaryRow {
        message_index: index as i32,
        sport: avg_speed.map(|v| {
            if v > CYCLING_SPEED_M_S {
                "cycling"
            } else if v < WALKING_SPEED_M_S {
                "walking"
            } else {
                "running"
            }
            .to_string()
        }),
        start_time_us: first.timestamp_us,
        end_time_us: last.timestamp_us,
        start_position_lat: first.position_lat,
        start_position_long: first.position_long,
        end_position_lat: last.position_lat,
        end_position_long: last.position_long,
        nec_lat: fold(|r| r.position_lat, true),
        nec_long: fold(|r| r.position_long, true),
        swc_lat: fold(|r| r.position_lat, false),
        swc_long: fold(|r| r.position_long, false),
        total_elapsed_time_s: elapsed,
        total_timer_time_s: elapsed,
        total_distance_m: distance,
        avg_speed_m_s: avg_speed,
        max_speed_m_s: fold(|r| r.speed_m_s, true),
        avg_heart_rate_bpm: (!hrs.is_empty())
            .then(|| (hrs.iter().sum::<f64>() / hrs.len() as f64).round() as i16),
        max_heart_rate_bpm: rs.iter().filter_map(|r| r.heart_rate_bpm).max(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A track of `n` samples one second apart at `speed` m/s, heading `base` radians
    /// (counter-clockwise from east) with a gentle wiggle.
    fn curve(n: usize, speed: f64, base: f64) -> Track {
        let (mut x, mut y) = (0.0, 0.0);
        let mut t = vec![(0.0, 0.0, 0.0)];
        for j in 1..n {
            let h = base + 0.4 * (j as f64 / 60.0).sin();
            x += speed * h.cos();
            y += speed * h.sin();
            t.push((x, y, j as f64));
        }
        t
    }

    fn tracks() -> Vec<Track> {
        vec![
            curve(900, 3.0, 0.0),
            curve(1200, 3.5, 1.0),
            curve(700, 6.0, 2.5),
            curve(1500, 2.8, -1.2),
        ]
    }

    fn pos(r: &RecordRow) -> (f64, f64) {
        (r.position_lat.unwrap(), r.position_long.unwrap())
    }

    fn dist(a: (f64, f64), b: (f64, f64)) -> f64 {
        haversine_m(a.0, a.1, b.0, b.1)
    }

    /// The original synthesis (before `Realism`), verbatim but for returning (lat, long,
    /// timestamp) of every record.
    fn original(
        tracks: &[Track],
        n_subjects: usize,
        per_subject: usize,
        seed: u64,
    ) -> Vec<Vec<Vec<(f64, f64, i64)>>> {
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
                acts.push(
                    path.into_iter()
                        .map(|(x, y, ts)| {
                            let (la, lo) = frame.to_latlon(x, y);
                            (la, lo, t_start + (ts * 1e6) as i64)
                        })
                        .collect(),
                );
            }
            out.push(acts);
        }
        out
    }

    #[test]
    fn simple_reproduces_the_original_synthesis() {
        let tr = tracks();
        let new = synthesize_with(&tr, 6, 5, 7, &Realism::simple());
        let old = original(&tr, 6, 5, 7);
        for (s, o) in new.iter().zip(&old) {
            assert_eq!(s.places, vec![s.home]);
            assert_eq!(s.activities.len(), 5);
            for (a, oa) in s.activities.iter().zip(o) {
                let got: Vec<(f64, f64, i64)> = a
                    .records
                    .iter()
                    .map(|r| (pos(r).0, pos(r).1, r.timestamp_us.unwrap()))
                    .collect();
                assert_eq!(&got, oa, "{}", a.activity_id);
                // exactly at home at both ends
                assert!(dist(pos(&a.records[0]), s.home) < 1e-6);
                assert!(dist(pos(a.records.last().unwrap()), s.home) < 1e-6);
            }
        }
    }

    #[test]
    fn same_seed_same_subjects_other_seed_other_subjects() {
        let tr = tracks();
        let (a, b) = (synthesize(&tr, 8, 6, 3), synthesize(&tr, 8, 6, 3));
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((&x.id, x.home, &x.places), (&y.id, y.home, &y.places));
            for (p, q) in x.activities.iter().zip(&y.activities) {
                assert_eq!(p.records, q.records);
                assert_eq!(p.laps, q.laps);
                assert_eq!(p.sessions, q.sessions);
                assert_eq!(p.info, q.info);
            }
        }
        let c = synthesize(&tr, 8, 6, 4);
        assert_ne!(a[0].home, c[0].home);
        assert_ne!(a[0].activities[0].records, c[0].activities[0].records);
    }

    #[test]
    fn auto_laps_every_1000_m_and_time_created() {
        // one straight track east at 3 m/s, 600 samples: out and back is 2·599·3 = 3594 m
        let tr = vec![
            curve(600, 3.0, 0.0)
                .iter()
                .map(|p| (p.2 * 3.0, 0.0, p.2))
                .collect(),
        ];
        let s = synthesize_with(&tr, 1, 1, 5, &Realism::simple());
        let a = &s[0].activities[0];
        let total = a.sessions[0].total_distance_m.unwrap();
        assert!((total - 3594.0).abs() < 3.0, "{total}");
        let d: Vec<f64> = a.laps.iter().map(|l| l.total_distance_m.unwrap()).collect();
        assert_eq!(d.len(), 4, "{d:?}");
        let mut end = 0.0;
        for (i, x) in d[..3].iter().enumerate() {
            // the lap closes at the first sample at or beyond the next whole kilometre of
            // the activity (3 m steps), so a lap's distance is 1000 m ± one step
            assert!((997.0..1003.01).contains(x), "{d:?}");
            end += x;
            let km = 1000.0 * (i + 1) as f64;
            assert!((km..km + 3.01).contains(&end), "{d:?}");
        }
        assert!((d[3] - (total - d[..3].iter().sum::<f64>())).abs() < 1e-6);
        assert!((590.0..600.0).contains(&d[3]), "{d:?}");
        for (i, l) in a.laps.iter().enumerate() {
            assert_eq!(l.message_index, i as i32);
            let e = l.total_elapsed_time_s.unwrap();
            assert!(
                (l.total_distance_m.unwrap() / e - 3.0).abs() < 0.05,
                "{l:?}"
            );
            if i > 0 {
                assert_eq!(l.start_time_us, a.laps[i - 1].end_time_us);
                assert_eq!(l.start_position_lat, a.laps[i - 1].end_position_lat);
            }
        }
        let first = a.records[0].timestamp_us;
        assert_eq!(a.laps[0].start_time_us, first);
        assert_eq!(
            a.laps[3].end_time_us,
            a.records.last().unwrap().timestamp_us
        );
        assert_eq!(a.info.time_created_us, first);
        assert_eq!(a.sessions[0].start_time_us, first);
        assert_eq!(a.sessions[0].total_elapsed_time_s, Some(1199.0));
        assert_eq!(a.sessions[0].sport.as_deref(), Some("running"));
    }

    #[test]
    fn speed_and_heart_rate_are_realistic() {
        let tr = vec![
            curve(1200, 3.0, 0.0)
                .iter()
                .map(|p| (p.2 * 3.0, 0.0, p.2))
                .collect(),
        ];
        let s = synthesize_with(&tr, 1, 1, 5, &Realism::simple());
        let a = &s[0].activities[0];
        assert_eq!(a.records[0].speed_m_s, Some(0.0));
        for r in &a.records[1..1199] {
            assert!((r.speed_m_s.unwrap() - 3.0).abs() < 0.01, "{r:?}");
        }
        let hr = |i: usize| f64::from(a.records[i].heart_rate_bpm.unwrap());
        assert!((hr(0) - 90.0).abs() <= 3.0);
        assert!((hr(300) - 120.0).abs() <= 3.0);
        for i in 600..a.records.len() {
            assert!((hr(i) - 150.0).abs() <= 3.0, "{i}: {}", hr(i));
        }
        let max = a.sessions[0].max_heart_rate_bpm.unwrap();
        assert!((150..=153).contains(&max), "{max}");
    }

    #[test]
    fn commutes_run_between_home_and_work() {
        let r = Realism {
            commuter_share: 1.0,
            commute_share: 1.0,
            walk_share: 0.0,
            jitter_m: 0.0,
            ..Realism::default()
        };
        let subjects = synthesize_with(&tracks(), 10, 6, 11, &r);
        let (mut to_work, mut to_home) = (0, 0);
        for s in &subjects {
            assert_eq!(s.places.len(), 2);
            assert_eq!(s.places[0], s.home);
            let work = s.places[1];
            let d = dist(s.home, work);
            assert!((WORK_MIN_M - 20.0..WORK_MAX_M + 20.0).contains(&d), "{d}");
            for a in &s.activities {
                let (b, e) = (pos(&a.records[0]), pos(a.records.last().unwrap()));
                if dist(b, s.home) < 1.0 && dist(e, work) < 1.0 {
                    to_work += 1;
                } else if dist(b, work) < 1.0 && dist(e, s.home) < 1.0 {
                    to_home += 1;
                } else {
                    panic!("{} is not a commute", a.activity_id);
                }
            }
        }
        assert!(to_work > 10 && to_home > 10, "{to_work} {to_home}");
        // the default: about a quarter of subjects commute
        let n = synthesize_with(&tracks(), 200, 1, 1, &Realism::default())
            .iter()
            .filter(|s| s.places.len() == 2)
            .count();
        assert!((30..=70).contains(&n), "{n}");
    }

    #[test]
    fn jitter_is_bounded_and_decays() {
        let tr = tracks();
        let plain = synthesize_with(&tr, 5, 4, 9, &Realism::simple());
        let r = Realism {
            jitter_m: 15.0,
            ..Realism::simple()
        };
        let jittered = synthesize_with(&tr, 5, 4, 9, &r);
        let mut largest: f64 = 0.0;
        for (p, q) in plain.iter().zip(&jittered) {
            for (a, b) in p.activities.iter().zip(&q.activities) {
                for (i, (x, y)) in a.records.iter().zip(&b.records).enumerate() {
                    let e = dist(pos(x), pos(y));
                    if i < JITTER_FIXES {
                        let bound = 15.0 * (1.0 - i as f64 / JITTER_FIXES as f64);
                        assert!(e <= bound + 1e-6, "fix {i}: {e} > {bound}");
                        largest = largest.max(e);
                    } else {
                        assert_eq!(pos(x), pos(y));
                    }
                }
            }
        }
        assert!(largest > 5.0, "{largest}");
    }

    #[test]
    fn walks_move_the_ends_only() {
        let tr = tracks();
        let r = Realism {
            walk_share: 1.0,
            ..Realism::simple()
        };
        let walked = synthesize_with(&tr, 20, 4, 13, &r);
        let mut moved = 0;
        for s in &walked {
            for a in &s.activities {
                for e in [pos(&a.records[0]), pos(a.records.last().unwrap())] {
                    let d = dist(e, s.home);
                    assert!(d <= WALK_MAX_M + 0.1, "{d}");
                    if d > 1.0 {
                        moved += 1;
                    }
                }
            }
        }
        assert!(moved > 150, "{moved}");
        // each subject's first activity draws its route before the walk: away from the ends
        // it is the route without a walk
        let plain = synthesize_with(&tr, 20, 4, 13, &Realism::simple());
        let (a, b) = (&plain[0].activities[0], &walked[0].activities[0]);
        let total = a.records.last().unwrap().distance_m.unwrap();
        let mut compared = 0;
        for (x, y) in a.records.iter().zip(&b.records) {
            let d = x.distance_m.unwrap();
            if d > WALK_BLEND_M + 10.0 && d < total - WALK_BLEND_M - 10.0 {
                assert!(dist(pos(x), pos(y)) < 1e-6);
                compared += 1;
            }
        }
        assert!(compared > 500, "{compared}");
    }

    #[test]
    fn habitual_routes_repeat() {
        let tr = tracks();
        let r = Realism {
            fresh_route_share: 0.0,
            commuter_share: 0.0,
            walk_share: 0.0,
            jitter_m: 0.0,
            ..Realism::default()
        };
        let distinct = |subjects: &[Subject]| {
            subjects
                .iter()
                .map(|s| {
                    let mut v: Vec<(f64, f64)> =
                        s.activities.iter().map(|a| pos(&a.records[50])).collect();
                    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
                    v.dedup();
                    v.len()
                })
                .max()
                .unwrap()
        };
        // the same roads on the way out: at most 3 different 50th samples in 20 activities
        assert!(distinct(&synthesize_with(&tr, 10, 20, 17, &r)) <= 3);
        assert!(distinct(&synthesize_with(&tr, 10, 20, 17, &Realism::simple())) > 10);
    }

    #[test]
    fn closed_loops_do_not_jump() {
        let tr = tracks();
        let max_step = |r: &Realism| {
            synthesize_with(&tr, 10, 6, 19, r)
                .iter()
                .flat_map(|s| &s.activities)
                .flat_map(|a| a.records.windows(2))
                .map(|w| dist(pos(&w[0]), pos(&w[1])))
                .fold(0.0, f64::max)
        };
        let closed = Realism {
            closed_loops: true,
            ..Realism::simple()
        };
        // track steps are at most 6 m; the way back is scaled by a factor near 1
        assert!(max_step(&closed) < 20.0, "{}", max_step(&closed));
        assert!(max_step(&Realism::simple()) > 100.0);
    }

    #[test]
    fn datamin_zone_accepts_synthetic_activities() {
        use datamin::privacy::{ZoneConfig, apply_zone};
        let s = synthesize(&tracks(), 2, 3, 23);
        for subj in &s {
            for a in &subj.activities {
                assert!(!a.laps.is_empty());
                let mut a = a.clone();
                apply_zone(&mut a, &ZoneConfig::default(), Some(b"k"), &subj.id).unwrap();
                assert!(a.laps.is_empty());
                assert_eq!(a.info.time_created_us, None);
            }
        }
    }
}
