//! What is published: the defences compared by the evaluation.

use datamin::format::Activity;
use datamin::privacy::{PrivacyZone, ZoneConfig};
use datamin::udfs::PseudonymKey;
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

    /// The displacement's smallest and largest length an attacker knows (from the policy),
    /// metres; `(0, 0)` when positions are not displaced.
    pub fn displacement_m(&self) -> (f64, f64) {
        match self {
            Defence::Datamin(c) if c.displacement_max_m > 0.0 => {
                (c.displacement_min_m, c.displacement_max_m)
            }
            _ => (0.0, 0.0),
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

/// Applies `d` to a subject's activities, in order; `key` is the key of datamin's keyed
/// zone. datamin's zone runs as the pipeline runs it ([`PrivacyZone::apply_activity`], one
/// zone per subject, so the subject's anchored cells carry over between its activities);
/// the platform zone hides the points near every protected place (home and work).
///
/// # Panics
/// If datamin's zone rejects an activity (synthetic activities are canonical, so it does
/// not), or `key` is shorter than a pseudonymization key may be.
pub fn publish(s: &Subject, d: &Defence, key: &[u8]) -> Vec<Activity> {
    let zone = match d {
        Defence::Datamin(cfg) => Some(
            PrivacyZone::new(
                cfg.clone(),
                Some(PseudonymKey::new("eval", key.to_vec()).expect("evaluation key")),
            )
            .expect("a key is given"),
        ),
        _ => None,
    };
    s.activities
        .iter()
        .map(|a| {
            let mut a = a.clone();
            match d {
                Defence::Raw => {}
                Defence::PlatformZone { radius_m } => {
                    a.records.retain(|r| {
                        s.places.iter().all(|p| {
                            haversine_m(r.position_lat.unwrap(), r.position_long.unwrap(), p.0, p.1)
                                >= *radius_m
                        })
                    });
                }
                Defence::Datamin(_) => {
                    if let Some(z) = &zone {
                        z.apply_activity(&mut a, &s.id)
                            .expect("synthetic activities are canonical");
                    }
                }
            }
            a
        })
        .collect()
}
