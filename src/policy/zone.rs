//! Validation of the `[privacy_zone]` section (see [`crate::privacy`]).

use toml::Spanned;

use super::model::PolicyError;
use super::validate::Ctx;
use serde::Deserialize;

/// `[privacy_zone]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawZone {
    enabled: Option<bool>,
    radius_m: Option<Spanned<f64>>,
    distance_quantum_m: Option<Spanned<f64>>,
    cell_m: Option<Spanned<f64>>,
    trim_m: Option<Spanned<f64>>,
    displacement_min_m: Option<Spanned<f64>>,
    displacement_max_m: Option<Spanned<f64>>,
    #[serde(default)]
    zones: Vec<Spanned<RawExplicitZone>>,
}

/// One entry of `privacy_zone.zones` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExplicitZone {
    lat: f64,
    long: f64,
    radius_m: f64,
    subject: Option<String>,
}

/// The privacy zone configuration of `[privacy_zone]`; `None` when `enabled = false`.
pub(crate) fn validate_zone(
    cx: &Ctx<'_>,
    z: Spanned<RawZone>,
) -> Result<Option<crate::privacy::ZoneConfig>, PolicyError> {
    let span = z.span();
    let z = z.into_inner();
    if z.enabled == Some(false) {
        return Ok(None);
    }
    let mut cfg = crate::privacy::ZoneConfig::default();
    // a number in `range`, else an error at its position naming the field
    let number = |v: &Option<Spanned<f64>>,
                  field: &str,
                  range: std::ops::RangeInclusive<f64>,
                  what: &str|
     -> Result<Option<f64>, PolicyError> {
        match v {
            Some(x) if !range.contains(x.get_ref()) => Err(cx.err(
                Some(x.span()),
                &format!("privacy_zone.{field}"),
                format!("{field} must be {what}"),
            )),
            Some(x) => Ok(Some(*x.get_ref())),
            None => Ok(None),
        }
    };
    let metres = "between 0 and 100000 metres";
    if let Some(v) = number(&z.radius_m, "radius_m", 0.0..=100_000.0, metres)? {
        cfg.radius_m = v;
    }
    if let Some(v) = number(
        &z.distance_quantum_m,
        "distance_quantum_m",
        0.0..=f64::MAX,
        ">= 0 metres",
    )? {
        cfg.distance_quantum_m = v;
    }
    if let Some(v) = number(&z.cell_m, "cell_m", 0.0..=100_000.0, metres)? {
        cfg.cell_m = v;
    }
    if let Some(v) = number(&z.trim_m, "trim_m", 0.0..=100_000.0, metres)? {
        cfg.trim_m = v;
    }
    if let Some(v) = number(
        &z.displacement_min_m,
        "displacement_min_m",
        0.0..=100_000.0,
        metres,
    )? {
        cfg.displacement_min_m = v;
    }
    if let Some(v) = number(
        &z.displacement_max_m,
        "displacement_max_m",
        0.0..=100_000.0,
        metres,
    )? {
        cfg.displacement_max_m = v;
    }
    if cfg.displacement_max_m > 0.0 && cfg.displacement_min_m > cfg.displacement_max_m {
        let at = z
            .displacement_min_m
            .as_ref()
            .or(z.displacement_max_m.as_ref());
        return Err(cx.err(
            at.map(Spanned::span),
            "privacy_zone.displacement_min_m",
            format!(
                "displacement_min_m ({}) must not exceed displacement_max_m ({})",
                cfg.displacement_min_m, cfg.displacement_max_m
            ),
        ));
    }
    for (i, e) in z.zones.into_iter().enumerate() {
        let sp = e.span();
        let e = e.into_inner();
        let valid = (-90.0..=90.0).contains(&e.lat)
            && (-180.0..=180.0).contains(&e.long)
            && e.radius_m > 0.0
            && e.radius_m.is_finite();
        if !valid {
            return Err(cx.err(Some(sp), &format!("privacy_zone.zones[{i}]"), "a zone needs lat in [-90, 90], long in [-180, 180] (degrees) and radius_m > 0 (metres)"));
        }
        cfg.zones.push(crate::privacy::ExplicitZone {
            lat: e.lat,
            long: e.long,
            radius_m: e.radius_m,
            subject: e.subject,
        });
    }
    if cfg.radius_m == 0.0 && cfg.zones.is_empty() {
        return Err(cx.err(
            Some(span),
            "privacy_zone",
            "privacy_zone hides nothing: set radius_m > 0 or list zones",
        ));
    }
    Ok(Some(cfg))
}
