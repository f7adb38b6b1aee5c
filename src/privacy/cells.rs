//! The keyed hexagonal cells whose centres anchor the privacy zone.
//!
//! Every subject gets its own hexagonal grid of cells with circumradius (= side) `a` metres:
//! the grid's origin and rotation are drawn from
//! `HMAC-SHA256(key, "datamin/zone-grid/" || subject)`, so it is stable per subject and
//! cannot be predicted without the key. [`Grid::cell_centre`] maps a position to the centre of the
//! cell that contains it. The zone then hides a disk around that *centre* (not around the
//! position), so every position inside one cell yields exactly the same hidden disk.
//!
//! The grid lives on the **sinusoidal projection** (equal-area: `x = R·(λ − λ₀)·cos φ`,
//! `y = R·φ`, R = 6 371 008.8 m, the IUGG mean Earth radius) with the central meridian λ₀ of
//! the position's 6° longitude zone (the UTM zone boundaries, λ₀ = 6·zone − 183°). Within a
//! zone the projection's shear is at most `|λ − λ₀|·sin φ ≤ 0.053`, so cells are hexagons
//! of the stated size on the ground to within about 5%; positions within one cell of a zone
//! boundary (0.2% of the Earth's surface at `a` = 700 m) get a cell cut by that boundary.
//! Cells have equal area `3√3/2 · a²` (1.27 km² at `a` = 700 m).

use super::keyed_uniform;

/// How far a cell reaches from its centre on the ground, as a multiple of its circumradius:
/// the projection's shear within a zone (≤ 0.053) stretches ground distances by at most
/// about half of it; 1.06 leaves room.
pub const GROUND_REACH: f64 = 1.06;

/// Mean Earth radius (IUGG), metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Width of the longitude zones whose central meridians the projection uses, degrees.
const ZONE_WIDTH_DEG: f64 = 6.0;

/// Range of the keyed grid origin, metres: any offset modulo the grid's period is equally
/// likely, and this is a multiple of no period in particular but far larger than all.
const ORIGIN_RANGE_M: f64 = 1.0e6;

/// A subject's keyed hexagonal grid: cells of circumradius `a` metres, shifted by `origin`
/// and turned by `rotation` radians on the sinusoidal plane.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    a: f64,
    origin: (f64, f64),
    rotation: (f64, f64),
}

impl Grid {
    /// The grid of `subject` under `key` (`None`: the unkeyed grid, origin 0, no rotation),
    /// with cells of circumradius `a_m` metres (> 0).
    pub fn new(key: Option<&[u8]>, subject: &str, a_m: f64) -> Self {
        let (u, v, w) = match key {
            Some(k) => {
                let (u, v) = keyed_uniform(k, b"datamin/zone-grid/", &[subject.as_bytes()]);
                let (w, _) =
                    keyed_uniform(k, b"datamin/zone-grid-rotation/", &[subject.as_bytes()]);
                (u, v, w)
            }
            None => (0.0, 0.0, 0.0),
        };
        let th = w * std::f64::consts::FRAC_PI_3; // a hexagon repeats every 60°
        Self {
            a: a_m,
            origin: (u * ORIGIN_RANGE_M, v * ORIGIN_RANGE_M),
            rotation: (th.cos(), th.sin()),
        }
    }

    /// The cell that contains `(lat, long)` (degrees).
    pub fn cell_of(&self, lat: f64, long: f64) -> Cell {
        let lon0 = central_meridian(long);
        let (x, y) = project(lat, long, lon0);
        // into the grid's frame: shift, then turn by -rotation
        let (dx, dy) = (x - self.origin.0, y - self.origin.1);
        let (c, s) = self.rotation;
        let (gx, gy) = (dx * c + dy * s, -dx * s + dy * c);
        let (q, r) = hex_round(gx, gy, self.a);
        Cell {
            lon0: lon0 as i16,
            q,
            r,
        }
    }

    /// The centre of `cell`, degrees (latitude, longitude).
    pub fn centre(&self, cell: Cell) -> (f64, f64) {
        let sqrt3 = 3f64.sqrt();
        let (cx, cy) = (
            self.a * sqrt3 * (cell.q as f64 + cell.r as f64 / 2.0),
            self.a * 1.5 * cell.r as f64,
        );
        // back: turn by +rotation, shift
        let (c, s) = self.rotation;
        let (bx, by) = (cx * c - cy * s, cx * s + cy * c);
        unproject(bx + self.origin.0, by + self.origin.1, f64::from(cell.lon0))
    }

    /// The centre (degrees: latitude, longitude) of the cell that contains `(lat, long)`
    /// (degrees).
    pub fn cell_centre(&self, lat: f64, long: f64) -> (f64, f64) {
        self.centre(self.cell_of(lat, long))
    }
}

/// One cell of a [`Grid`]: the central meridian of its longitude zone (degrees) and its
/// axial coordinates in the grid. Meaningless without the grid's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    /// Central meridian of the 6° longitude zone, degrees.
    pub lon0: i16,
    /// Axial column.
    pub q: i64,
    /// Axial row.
    pub r: i64,
}

/// The central meridian of the 6° zone holding `long`, degrees.
fn central_meridian(long: f64) -> f64 {
    let zone = ((long + 180.0) / ZONE_WIDTH_DEG).floor().clamp(0.0, 59.0);
    zone * ZONE_WIDTH_DEG - 180.0 + ZONE_WIDTH_DEG / 2.0
}

/// Sinusoidal projection about `lon0`: metres (east, north).
fn project(lat: f64, long: f64, lon0: f64) -> (f64, f64) {
    let phi = lat.to_radians();
    (
        EARTH_RADIUS_M * (long - lon0).to_radians() * phi.cos(),
        EARTH_RADIUS_M * phi,
    )
}

/// Inverse of [`project`]: degrees (latitude, longitude).
fn unproject(x: f64, y: f64, lon0: f64) -> (f64, f64) {
    let phi = (y / EARTH_RADIUS_M).clamp(-std::f64::consts::FRAC_PI_2, std::f64::consts::FRAC_PI_2);
    let c = phi.cos().max(1e-12);
    (
        phi.to_degrees(),
        lon0 + (x / (EARTH_RADIUS_M * c)).to_degrees(),
    )
}

/// Axial coordinates of the pointy-top hexagon of circumradius `a` containing `(x, y)`,
/// rounded in cube space (the standard hexagon rounding; Red Blob Games, "Hexagonal Grids",
/// 2013).
fn hex_round(x: f64, y: f64, a: f64) -> (i64, i64) {
    let sqrt3 = 3f64.sqrt();
    let q = (sqrt3 / 3.0 * x - y / 3.0) / a;
    let r = (2.0 / 3.0 * y) / a;
    let s = -q - r;
    let (mut rq, mut rr, rs) = (q.round(), r.round(), s.round());
    let (dq, dr, ds) = ((rq - q).abs(), (rr - r).abs(), (rs - s).abs());
    if dq > dr && dq > ds {
        rq = -rr - rs;
    } else if dr > ds {
        rr = -rq - rs;
    }
    (rq as i64, rr as i64)
}

/// Centre of the pointy-top hexagon of circumradius `a` containing `(x, y)`.
#[cfg(test)]
fn hex_centre(x: f64, y: f64, a: f64) -> (f64, f64) {
    let (q, r) = hex_round(x, y, a);
    let (q, r) = (q as f64, r as f64);
    (a * 3f64.sqrt() * (q + r / 2.0), a * 1.5 * r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datamin_udfs::geo::haversine_m;

    #[test]
    fn every_position_lies_within_a_of_its_cell_centre_and_cells_are_stable() {
        let g = Grid::new(Some(b"k"), "s1", 700.0);
        let mut centres = std::collections::BTreeSet::new();
        for i in 0..400 {
            let (lat, long) = (
                50.8 + (i % 20) as f64 * 0.002,
                4.3 + (i / 20) as f64 * 0.003,
            );
            let c = g.cell_centre(lat, long);
            // within the circumradius, up to the projection's shear
            assert!(
                haversine_m(lat, long, c.0, c.1) <= 700.0 * GROUND_REACH,
                "{lat} {long} {c:?}"
            );
            // the centre is its own cell's centre
            let cc = g.cell_centre(c.0, c.1);
            assert!(haversine_m(c.0, c.1, cc.0, cc.1) < 0.01);
            centres.insert(((c.0 * 1e6) as i64, (c.1 * 1e6) as i64));
        }
        // a 4 km x 8 km patch holds about 32 km² / 1.27 km² = 25 cells
        assert!((15..=45).contains(&centres.len()), "{}", centres.len());
    }

    #[test]
    fn the_grid_depends_on_key_and_subject() {
        let p = (50.85, 4.35);
        let a = Grid::new(Some(b"k"), "s1", 700.0).cell_centre(p.0, p.1);
        let b = Grid::new(Some(b"k"), "s2", 700.0).cell_centre(p.0, p.1);
        let c = Grid::new(Some(b"other"), "s1", 700.0).cell_centre(p.0, p.1);
        assert!(haversine_m(a.0, a.1, b.0, b.1) > 1.0);
        assert!(haversine_m(a.0, a.1, c.0, c.1) > 1.0);
        assert_eq!(a, Grid::new(Some(b"k"), "s1", 700.0).cell_centre(p.0, p.1));
    }

    #[test]
    fn hexagon_rounding_picks_the_nearest_centre() {
        // on a pointy-top grid of a = 1 the centres next to the origin are at distance √3
        assert_eq!(hex_centre(0.1, 0.2, 1.0), (0.0, 0.0));
        let (x, y) = hex_centre(3f64.sqrt() * 0.9, 0.0, 1.0);
        assert!((x - 3f64.sqrt()).abs() < 1e-9 && y.abs() < 1e-9);
        let (x, y) = hex_centre(0.0, 1.45, 1.0);
        // (0, 1.45) is nearer (√3/2, 1.5) than the origin
        assert!((x.abs() - 3f64.sqrt() / 2.0).abs() < 1e-9 && (y - 1.5).abs() < 1e-9);
    }
}
