//! The visible ends of published activities, with their headings, and their grouping by
//! the hidden disk they leave ([`crate::likelihood`]). Positions are local metres (east,
//! north).

use datamin::format::{Activity, RecordRow};
use datamin::udfs::geo::LocalFrame;

use crate::attacks::Point;

/// A visible end's heading is the direction to the first visible point at least this far
/// along the track from it, metres.
pub const HEADING_M: f64 = 150.0;

/// One visible end of an activity: its position, its heading and which activity (index in
/// the published list) and which end (`start`: its first visible point) it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct End {
    /// Position, local metres.
    pub at: Point,
    /// Unit direction of the visible track leaving this end, away from the hidden part.
    pub heading: Option<Point>,
    /// Index of the activity in the published list.
    pub activity: usize,
    /// Whether it is the first visible point (else the last).
    pub start: bool,
}

/// The visible records (with a position) of `a`.
pub fn visible(a: &Activity) -> Vec<&RecordRow> {
    a.records
        .iter()
        .filter(|r| r.position_lat.is_some() && r.position_long.is_some())
        .collect()
}

/// The visible ends of every published activity, local metres in `frame`.
pub fn ends_of(published: &[Activity], frame: &LocalFrame) -> Vec<End> {
    let mut out = Vec::new();
    for (i, a) in published.iter().enumerate() {
        let xy: Vec<Point> = visible(a)
            .iter()
            .map(|r| frame.to_xy(r.position_lat.unwrap(), r.position_long.unwrap()))
            .collect();
        if xy.is_empty() {
            continue;
        }
        let heading = |mut it: Box<dyn Iterator<Item = &Point> + '_>| {
            let p0 = *it.next()?;
            let q = it.find(|q| (q.0 - p0.0).hypot(q.1 - p0.1) >= HEADING_M)?;
            let n = (q.0 - p0.0).hypot(q.1 - p0.1);
            Some(((q.0 - p0.0) / n, (q.1 - p0.1) / n))
        };
        for start in [true, false] {
            let (at, h) = if start {
                (xy[0], heading(Box::new(xy.iter())))
            } else {
                (xy[xy.len() - 1], heading(Box::new(xy.iter().rev())))
            };
            out.push(End {
                at,
                heading: h,
                activity: i,
                start,
            });
        }
    }
    out
}

/// Indexes of the largest group of `ends` linked by distances below `link_m` (single
/// linkage): the ends of the disk most activities leave.
pub fn main_cluster(ends: &[End], link_m: f64) -> Vec<usize> {
    let n = ends.len();
    let mut label = vec![usize::MAX; n];
    let mut best: Vec<usize> = Vec::new();
    for s in 0..n {
        if label[s] != usize::MAX {
            continue;
        }
        label[s] = s;
        let (mut group, mut stack) = (vec![s], vec![s]);
        while let Some(i) = stack.pop() {
            for j in 0..n {
                let (a, b) = (ends[i].at, ends[j].at);
                if label[j] == usize::MAX && (a.0 - b.0).hypot(a.1 - b.1) < link_m {
                    label[j] = s;
                    group.push(j);
                    stack.push(j);
                }
            }
        }
        if group.len() > best.len() {
            best = group;
        }
    }
    best.sort_unstable();
    best
}
