//! Spherical geometry shared by the location rules (WGS 84 positions in degrees, distances
//! in metres, on a sphere of the IUGG mean Earth radius).

/// Mean Earth radius in metres (IUGG, Moritz 2000).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres between two positions in degrees (haversine formula).
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// The position reached from (`lat`, `lon`) after `dist_m` metres on initial bearing
/// `bearing_rad` (radians clockwise from north); the direct geodesic problem on a sphere.
pub fn destination(lat: f64, lon: f64, bearing_rad: f64, dist_m: f64) -> (f64, f64) {
    let d = dist_m / EARTH_RADIUS_M;
    let p1 = lat.to_radians();
    let l1 = lon.to_radians();
    let p2 = (p1.sin() * d.cos() + p1.cos() * d.sin() * bearing_rad.cos()).asin();
    let l2 = l1 + (bearing_rad.sin() * d.sin() * p1.cos()).atan2(d.cos() - p1.sin() * p2.sin());
    let lon2 = (l2.to_degrees() + 540.0).rem_euclid(360.0) - 180.0;
    (p2.to_degrees(), lon2)
}

/// Local east/north projection (metres) around an origin: equirectangular, accurate to
/// well under 1 m within a few kilometres of the origin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalFrame {
    lat0: f64,
    lon0: f64,
    cos0: f64,
}

impl LocalFrame {
    /// A frame with its origin at (`lat0`, `lon0`) degrees.
    pub fn new(lat0: f64, lon0: f64) -> Self {
        Self {
            lat0,
            lon0,
            cos0: lat0.to_radians().cos(),
        }
    }

    /// (east, north) in metres of a position in degrees.
    pub fn to_xy(&self, lat: f64, lon: f64) -> (f64, f64) {
        let k = std::f64::consts::PI * EARTH_RADIUS_M / 180.0;
        ((lon - self.lon0) * k * self.cos0, (lat - self.lat0) * k)
    }

    /// Position in degrees of (east, north) metres.
    pub fn to_latlon(&self, x: f64, y: f64) -> (f64, f64) {
        let k = std::f64::consts::PI * EARTH_RADIUS_M / 180.0;
        (self.lat0 + y / k, self.lon0 + x / (k * self.cos0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_and_haversine_agree() {
        for &(lat, lon) in &[(51.5, -0.12), (-33.9, 151.2), (0.0, 179.999)] {
            for b in [0.0, 1.0, 2.5, 4.0] {
                let (a, o) = destination(lat, lon, b, 150.0);
                assert!((haversine_m(lat, lon, a, o) - 150.0).abs() < 1e-6);
            }
        }
        // one degree of latitude
        assert!((haversine_m(0.0, 0.0, 1.0, 0.0) - 111_195.08).abs() < 0.01);
    }

    #[test]
    fn local_frame_round_trips() {
        let f = LocalFrame::new(50.85, 4.35);
        let (x, y) = f.to_xy(50.86, 4.37);
        let (a, o) = f.to_latlon(x, y);
        assert!((a - 50.86).abs() < 1e-12 && (o - 4.37).abs() < 1e-12);
        assert!((x.hypot(y) - haversine_m(50.85, 4.35, 50.86, 4.37)).abs() < 1.0);
    }
}
