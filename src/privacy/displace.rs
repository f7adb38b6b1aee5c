//! Keyed per-subject displacement of every published position ("donut" geomasking).
//!
//! The hidden disks of [`super::mask`] keep a home's *cell* secret, but the visible tracks
//! still leave the disk along paths that came from the home; an attacker who models that
//! (the maximum-likelihood attack of `datamin-eval`) narrows the home down inside its cell.
//! Displacement takes away the frame those estimates are made in: every published position
//! of a subject is moved by one vector, the same for all of the subject's activities,
//! whose length is uniform *by area* in `[min_m, max_m]` and whose direction is uniform,
//! both drawn from HMAC-SHA256(key, `"datamin/zone-displacement/"` ‖ subject). This is
//! donut geomasking (Hampton et al., "Mapping health data: improved privacy protection with
//! donut method geomasking", American Journal of Epidemiology 172(9), 2010), drawn once per
//! subject instead of once per point so that repeated activities cannot average it away.
//!
//! Whatever an attacker computes from the published tracks alone locates at best the
//! *displaced* home; the home itself is then uniform over an annulus of area
//! `π·(max_m² − min_m²)` around that estimate, so any guess is within 100 m of the home
//! with probability at most `100² / (max_m² − min_m²)` (2.1% at the default 100–700 m) per protected
//! place. Shapes change by less than 1e-4 (relative), and the published distances, speeds,
//! elevations and times (which come from the recorded values) not at all. The limit: an
//! attacker who can place one published track on the ground (a map, a known route, an
//! elevation model) learns the vector and is left with the hidden disks' protection only.

use datamin_udfs::geo::EARTH_RADIUS_M;

use super::mask::LatLong;
use super::{ZoneConfig, keyed_uniform};

/// One subject's displacement: metres to the east and to the north.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Displacement {
    /// Metres east (negative: west).
    pub east_m: f64,
    /// Metres north (negative: south).
    pub north_m: f64,
}

impl Displacement {
    /// The displacement of `subject` under `key` for `cfg`'s
    /// [`ZoneConfig::displacement_min_m`]..[`ZoneConfig::displacement_max_m`]; `None` when
    /// `displacement_max_m` is 0 or there is no key.
    ///
    /// Length `sqrt(u₁·(max² − min²) + min²)` (uniform by area over the annulus) and bearing
    /// `2π·u₂`, with `(u₁, u₂)` from HMAC-SHA256(key, "datamin/zone-displacement/" ‖
    /// subject).
    pub fn for_subject(cfg: &ZoneConfig, key: Option<&[u8]>, subject: &str) -> Option<Self> {
        let key = key?;
        if cfg.displacement_max_m <= 0.0 {
            return None;
        }
        let (lo, hi) = (cfg.displacement_min_m, cfg.displacement_max_m);
        let (u1, u2) = keyed_uniform(key, b"datamin/zone-displacement/", &[subject.as_bytes()]);
        let r = (u1 * (hi * hi - lo * lo) + lo * lo).sqrt();
        let bearing = std::f64::consts::TAU * u2;
        Some(Self {
            east_m: r * bearing.sin(),
            north_m: r * bearing.cos(),
        })
    }

    /// Length of the vector, metres.
    pub fn length_m(&self) -> f64 {
        self.east_m.hypot(self.north_m)
    }

    /// `p` (degrees) moved by this vector on the sphere of radius
    /// [`EARTH_RADIUS_M`] (6 371 008.8 m): latitude by `north_m / R`, longitude by
    /// `east_m / (R·cos lat)` at the point's own latitude. Latitude is clamped to ±90°,
    /// longitude wrapped to [-180°, 180°). Distances between moved points change by the
    /// relative amount `north_m / R · tan(lat)` at most (east-west spans follow the new
    /// latitude's `cos`): below 1.4e-4 for 700 m up to 60° of latitude.
    pub fn apply(&self, (lat, long): LatLong) -> LatLong {
        let dlat = (self.north_m / EARTH_RADIUS_M).to_degrees();
        let cos = lat.to_radians().cos().max(1e-6);
        let dlong = (self.east_m / (EARTH_RADIUS_M * cos)).to_degrees();
        let long = (long + dlong + 180.0).rem_euclid(360.0) - 180.0;
        ((lat + dlat).clamp(-90.0, 90.0), long)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datamin_udfs::geo::haversine_m;

    fn cfg(lo: f64, hi: f64) -> ZoneConfig {
        ZoneConfig {
            displacement_min_m: lo,
            displacement_max_m: hi,
            ..ZoneConfig::default()
        }
    }

    #[test]
    fn lengths_lie_in_the_annulus_uniformly_by_area_and_bearings_are_uniform() {
        let c = cfg(100.0, 500.0);
        let (mut inner, mut east, n) = (0, 0, 4000);
        for i in 0..n {
            let d = Displacement::for_subject(&c, Some(b"k"), &format!("s{i}")).unwrap();
            let r = d.length_m();
            assert!((100.0 - 1e-9..=500.0 + 1e-9).contains(&r), "{r}");
            // the disk of radius 300 m holds (300² − 100²)/(500² − 100²) = 1/3 of the area
            inner += usize::from(r < 300.0);
            east += usize::from(d.east_m > 0.0);
        }
        let share = inner as f64 / n as f64;
        assert!((share - 1.0 / 3.0).abs() < 0.03, "{share}");
        let share = east as f64 / n as f64;
        assert!((share - 0.5).abs() < 0.03, "{share}");
    }

    #[test]
    fn the_vector_depends_on_key_and_subject_only_and_is_off_without_one() {
        let c = cfg(100.0, 500.0);
        let a = Displacement::for_subject(&c, Some(b"k"), "s1");
        assert_eq!(a, Displacement::for_subject(&c, Some(b"k"), "s1"));
        assert_ne!(a, Displacement::for_subject(&c, Some(b"k2"), "s1"));
        assert_ne!(a, Displacement::for_subject(&c, Some(b"k"), "s2"));
        assert_eq!(Displacement::for_subject(&c, None, "s1"), None);
        assert_eq!(
            Displacement::for_subject(&cfg(0.0, 0.0), Some(b"k"), "s1"),
            None
        );
    }

    #[test]
    fn moving_keeps_distances_and_moves_each_point_by_the_length() {
        let d = Displacement {
            east_m: 300.0,
            north_m: -400.0,
        };
        let (a, b) = ((50.85, 4.35), (50.86, 4.37));
        let (a2, b2) = (d.apply(a), d.apply(b));
        assert!((haversine_m(a.0, a.1, a2.0, a2.1) - 500.0).abs() < 0.5);
        let (before, after) = (
            haversine_m(a.0, a.1, b.0, b.1),
            haversine_m(a2.0, a2.1, b2.0, b2.1),
        );
        // a sphere has no translations: east-west spans scale by cos(lat'), here by 7.5e-5
        assert!((before - after).abs() / before < 1e-4, "{before} {after}");
        assert!(a2.0 < a.0 && a2.1 > a.1);
        // across the antimeridian
        let w = Displacement {
            east_m: 2000.0,
            north_m: 0.0,
        }
        .apply((0.0, 179.99));
        assert!(w.1 < -179.9, "{w:?}");
    }
}
