//! What is published: the defences compared by the evaluation.

use datamin::format::Activity;
use datamin::privacy::{ZoneConfig, apply_zone};
use datamin::udfs::geo::haversine_m;

use crate::synthesis::Subject;

/// What is published.
#[derive(Debug, Clone, PartialEq)]
pub enum Defence {
    /// Everything as recorded.
    Raw,
    /// Points within `radius_m` of the true home removed; centre exactly on the home;
    /// distances kept as recorded (Strava/Garmin Connect style).
    PlatformZone {
        /// Zone radius, metres.
        radius_m: f64,
    },
    /// datamin's privacy-zone rule.
    Datamin(ZoneConfig),
}

impl Defence {
    /// A short name for tables.
    pub fn name(&self) -> String {
        match self {
            Defence::Raw => "raw data".into(),
            Defence::PlatformZone { radius_m } => {
                format!("platform zone {radius_m} m (Strava-style)")
            }
            Defence::Datamin(c) => format!("datamin privacy_zone {} m", c.radius_m),
        }
    }

    /// The zone radius R an attacker knows (from the platform or the policy), metres; 0 for
    /// raw data.
    pub fn radius_m(&self) -> f64 {
        match self {
            Defence::Raw => 0.0,
            Defence::PlatformZone { radius_m } => *radius_m,
            Defence::Datamin(c) => c.radius_m,
        }
    }
}

/// Applies `d` to a subject's activities; `key` is the key of datamin's keyed zone offset.
///
/// # Panics
/// If datamin's zone rejects an activity (synthetic activities are canonical, so it does
/// not).
pub fn publish(s: &Subject, d: &Defence, key: &[u8]) -> Vec<Activity> {
    s.activities
        .iter()
        .map(|a| {
            let mut a = a.clone();
            match d {
                Defence::Raw => {}
                Defence::PlatformZone { radius_m } => {
                    a.records.retain(|r| {
                        haversine_m(
                            r.position_lat.unwrap(),
                            r.position_long.unwrap(),
                            s.home.0,
                            s.home.1,
                        ) >= *radius_m
                    });
                }
                Defence::Datamin(cfg) => {
                    apply_zone(&mut a, cfg, Some(key), &s.id)
                        .expect("synthetic activities are canonical");
                }
            }
            a
        })
        .collect()
}
