//! `generalize_coordinates(lat, long, grid_m)`: snap a WGS 84 position to the centre of a
//! grid cell about `grid_m` metres on a side.
//!
//! The grid: latitude is cut into bands of `Δφ = grid_m / M` degrees, where
//! `M = π·R/180 ≈ 111 195.08 m` is the length of one degree of arc on a sphere of the IUGG mean
//! Earth radius `R = 6 371 008.8 m`. Inside a band, longitude is cut into cells of
//! `Δλ = grid_m / (M·cos φc)` degrees, with `φc` the latitude of the band's centre (so a cell
//! is about `grid_m` wide at every latitude; `cos φc` is floored at `1e-6` near the poles).
//! The output is the cell centre, so every point of a cell gives the same value.
//!
//! Inputs: degrees (Float64, other numbers are cast); `grid_m` a positive constant in
//! metres. Output: `struct<lat: Float64, long: Float64>` in degrees; `NULL` when either
//! coordinate is `NULL`. Out-of-range latitudes (|lat| > 90) are an error.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Builder, StructArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Float64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::DOC_SECTION_DATAMIN;
use crate::util::const_f64;

/// `struct<lat, long>` ([`GeneralizeCoordinatesFunc::fields`]) from two builders filled in
/// step, null where `lat` is null.
///
/// # Errors
/// The builders hold different numbers of values.
pub fn lat_long_struct(mut lat: Float64Builder, mut long: Float64Builder) -> Result<ArrayRef> {
    let la: ArrayRef = Arc::new(lat.finish());
    let lo: ArrayRef = Arc::new(long.finish());
    let nulls = la
        .logical_nulls()
        .map(|n| NullBuffer::new(n.inner().clone()));
    Ok(Arc::new(StructArray::try_new(
        GeneralizeCoordinatesFunc::fields(),
        vec![la, lo],
        nulls,
    )?))
}

/// Mean Earth radius in metres (IUGG, Moritz 2000).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Metres per degree of arc on the sphere of radius [`EARTH_RADIUS_M`].
pub const METRES_PER_DEGREE: f64 = std::f64::consts::PI * EARTH_RADIUS_M / 180.0;

/// Snaps one position (degrees) to the centre of its `grid_m` cell. See the module docs.
pub fn snap(lat: f64, long: f64, grid_m: f64) -> (f64, f64) {
    let dlat = grid_m / METRES_PER_DEGREE;
    let lat_idx = ((lat + 90.0) / dlat).floor();
    let lat_c = (-90.0 + (lat_idx + 0.5) * dlat).min(90.0);
    let cos = lat_c.to_radians().cos().max(1e-6);
    let dlon = (grid_m / (METRES_PER_DEGREE * cos)).min(360.0);
    let lon_norm = (long + 180.0).rem_euclid(360.0);
    let lon_idx = (lon_norm / dlon).floor();
    let lon_c = -180.0 + (lon_idx + 0.5) * dlon;
    (lat_c, lon_c.min(180.0))
}

/// The `generalize_coordinates` scalar function. See the [module docs](self).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct GeneralizeCoordinatesFunc {
    signature: Signature,
}

impl Default for GeneralizeCoordinatesFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl GeneralizeCoordinatesFunc {
    /// Creates the function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    /// The output struct fields: `lat` and `long`, Float64 degrees.
    pub fn fields() -> Fields {
        Fields::from(vec![
            Field::new("lat", DataType::Float64, true),
            Field::new("long", DataType::Float64, true),
        ])
    }
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_DATAMIN,
        "Snaps a position (degrees) to the centre of a grid cell about `grid_m` metres on a \
         side, returning struct<lat, long> in degrees. All points of one cell map to the same \
         value.",
        "generalize_coordinates(lat, long, grid_m)",
    )
    .with_sql_example("SELECT get_field(generalize_coordinates(51.5007, -0.1246, 1000), 'lat');")
    .with_argument("lat", "Latitude in degrees (WGS 84).")
    .with_argument("long", "Longitude in degrees (WGS 84).")
    .with_argument("grid_m", "Constant cell size in metres, > 0.")
    .build()
});

impl ScalarUDFImpl for GeneralizeCoordinatesFunc {
    fn name(&self) -> &str {
        "generalize_coordinates"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 3 {
            return plan_err!(
                "generalize_coordinates takes 3 arguments (lat, long, grid_m), got {}",
                arg_types.len()
            );
        }
        for t in arg_types {
            if !t.is_numeric() && !t.is_null() {
                return plan_err!("generalize_coordinates: arguments must be numbers, got {t}");
            }
        }
        Ok(vec![DataType::Float64; 3])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(Self::fields()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let grid = const_f64("generalize_coordinates", "grid_m", &args.args[2])?;
        let grid = match grid {
            Some(g) if g.is_finite() && g > 0.0 => g,
            other => {
                return exec_err!(
                    "generalize_coordinates: grid_m must be a positive number of metres, got {other:?}"
                );
            }
        };
        let n = args.number_rows;
        let lat = args.args[0].clone().into_array(n)?;
        let long = args.args[1].clone().into_array(n)?;
        let lat = lat.as_primitive::<Float64Type>();
        let long = long.as_primitive::<Float64Type>();
        let mut out_lat = Float64Builder::with_capacity(n);
        let mut out_long = Float64Builder::with_capacity(n);
        for i in 0..n {
            if lat.is_null(i) || long.is_null(i) {
                out_lat.append_null();
                out_long.append_null();
                continue;
            }
            let (a, b) = (lat.value(i), long.value(i));
            if !(-90.0..=90.0).contains(&a) || !b.is_finite() {
                return exec_err!(
                    "generalize_coordinates: position ({a}, {b}) is not a valid WGS 84 position in degrees"
                );
            }
            let (sa, sb) = snap(a, b, grid);
            out_lat.append_value(sa);
            out_long.append_value(sb);
        }
        Ok(ColumnarValue::Array(lat_long_struct(out_lat, out_long)?))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn haversine_m(a: (f64, f64), b: (f64, f64)) -> f64 {
        let (p1, p2) = (a.0.to_radians(), b.0.to_radians());
        let dp = p2 - p1;
        let dl = (b.1 - a.1).to_radians();
        let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * h.sqrt().asin()
    }

    #[test]
    fn snapped_point_is_within_half_diagonal() {
        for &(lat, lon) in &[
            (51.5007, -0.1246),
            (-33.86, 151.21),
            (69.6, 18.9),
            (0.0, 0.0),
        ] {
            for &g in &[10.0, 200.0, 1000.0] {
                let s = snap(lat, lon, g);
                let d = haversine_m((lat, lon), s);
                assert!(d <= g * 0.7072 + 0.01, "{lat},{lon} grid {g}: moved {d} m");
            }
        }
    }

    #[test]
    fn points_in_one_cell_share_the_centre() {
        let a = snap(51.50070, -0.12460, 1000.0);
        let b = snap(51.50075, -0.12455, 1000.0);
        assert_eq!(a, b);
    }
}
