//! `generalize_coordinates`: snap a latitude/longitude pair to the centre of its cell, through
//! the SQL functions `generalize_coordinates` (a ≈`grid_m` metre grid on a sphere of radius
//! 6 371 008.8 m, [`datamin_udfs::generalize_coordinates`]) or `h3_cell_center` (the H3 cell of
//! resolution `h3_resolution`, [`datamin_udfs::h3`]). ISO/IEC 20889 generalization
//! (rounding); position error ≤ 0.71 · `grid_m`.
//!
//! ```toml
//! [[tables.records.rules]]
//! rule = "generalize_coordinates"
//! lat = "position_lat"     # default
//! long = "position_long"   # default
//! grid_m = 500             # or: h3_resolution = 8 (average hexagon edge ≈ 461 m)
//! ```

use datafusion::arrow::datatypes::DataType;
use serde::Serialize;

use super::RuleDef;
use crate::policy::PolicyError;
use crate::policy::TablePolicy;
use crate::policy::compile::{float, ident};
use crate::policy::params::Type;
use crate::policy::validate::RuleInput;

/// Snap a latitude/longitude pair (degrees) to the centre of its cell: a `grid_m` metre
/// grid cell, or the H3 cell of resolution `h3_resolution` (exactly one of the two).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeneralizeCoordinates {
    /// Latitude column (degrees, Float64; default `position_lat`).
    pub lat: String,
    /// Longitude column (degrees, Float64; default `position_long`).
    pub long: String,
    /// Grid cell size in metres, > 0 and at most 20 000 000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grid_m: Option<f64>,
    /// H3 resolution 0–15.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h3_resolution: Option<u8>,
}

impl RuleDef for GeneralizeCoordinates {
    const PARAMS: &'static [(&'static str, Type)] = &[
        ("lat", Type::Text),
        ("long", Type::Text),
        ("grid_m", Type::Number),
        ("h3_resolution", Type::Integer),
    ];

    fn validate(r: &RuleInput<'_>) -> Result<Self, PolicyError> {
        let is_f64 = |t: &DataType| *t == DataType::Float64;
        let coord = |p: &str, default: &str| {
            r.kept_column(&r.column_or(p, default), p, &is_f64, "degrees (Float64)")
        };
        let lat = coord("lat", "position_lat")?;
        let long = coord("long", "position_long")?;
        let (grid_m, h3_resolution) = match (r.number("grid_m"), r.integer("h3_resolution")) {
            (Some(g), None) => {
                let grid_m = *g.get_ref();
                if !(grid_m.is_finite() && grid_m > 0.0 && grid_m <= 20_000_000.0) {
                    return Err(r.err(
                        g.span(),
                        "grid_m",
                        format!("grid_m must be > 0 and at most 20000000 metres, got {grid_m}"),
                    ));
                }
                (Some(grid_m), None)
            }
            (None, Some(h)) => {
                let res = *h.get_ref();
                if !(0..=15).contains(&res) {
                    return Err(r.err(
                        h.span(),
                        "h3_resolution",
                        format!("h3_resolution must be an integer 0-15, got {res}"),
                    ));
                }
                (None, Some(res as u8))
            }
            _ => {
                return Err(r.needs(
                    "grid_m",
                    "rule 'generalize_coordinates' needs exactly one of 'grid_m' (cell size in metres) or 'h3_resolution' (0-15)",
                ));
            }
        };
        Ok(GeneralizeCoordinates {
            lat,
            long,
            grid_m,
            h3_resolution,
        })
    }

    fn columns(&self) -> Vec<&str> {
        vec![&self.lat, &self.long]
    }

    /// The `lat` or `long` field of the cell centre (`struct<lat, long>`).
    fn expr(&self, _table: &TablePolicy, col: &str) -> String {
        let field = if self.lat == col { "lat" } else { "long" };
        let (lat, long) = (ident(&self.lat), ident(&self.long));
        let call = match (self.grid_m, self.h3_resolution) {
            (_, Some(res)) => format!("h3_cell_center({lat}, {long}, {res})"),
            (g, None) => format!(
                "generalize_coordinates({lat}, {long}, {})",
                float(g.unwrap_or(1.0))
            ),
        };
        format!("get_field({call}, '{field}')")
    }
}
