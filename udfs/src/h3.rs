//! H3 cells (Uber's hierarchical hexagonal grid, <https://h3geo.org>) through the `h3o` crate:
//! `h3_cell(lat, long, resolution)` gives the index of the cell containing a position,
//! `h3_cell_center(lat, long, resolution)` the centre of that cell.
//!
//! Hexagons have one kind of neighbour and nearly equal areas, so H3 cells generalize positions
//! with less distortion than a latitude/longitude grid; the cell index is a common join key
//! (DuckDB, BigQuery, Spark's H3 functions). Resolution 0–15; average hexagon edge ≈ 1.28 km at
//! 7, 461 m at 8, 174 m at 9, 66 m at 10 (H3 resolution table). Inputs: WGS 84 degrees
//! (numbers are cast to Float64), `resolution` a constant integer. Outputs: the index as 15
//! lowercase hex digits (Utf8), or `struct<lat: Float64, long: Float64>` in degrees; `NULL`
//! when either coordinate is `NULL`. Non-finite coordinates are an error.
//! ISO/IEC 20889 generalization.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Builder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use h3o::{CellIndex, LatLng, Resolution};

use crate::DOC_SECTION_DATAMIN;
use crate::generalize_coordinates::{GeneralizeCoordinatesFunc, lat_long_struct};
use crate::util::const_f64;

/// The cell of resolution `res` containing (`lat`, `long`) in degrees; an error message when
/// the position is not finite.
///
/// # Errors
/// `lat` or `long` is NaN or infinite.
pub fn cell(lat: f64, long: f64, res: Resolution) -> std::result::Result<CellIndex, String> {
    LatLng::new(lat, long)
        .map(|ll| ll.to_cell(res))
        .map_err(|e| format!("position ({lat}, {long}) is not a valid WGS 84 position: {e}"))
}

/// The centre (degrees) of a cell.
pub fn center(c: CellIndex) -> (f64, f64) {
    let ll = LatLng::from(c);
    (ll.lat(), ll.lng())
}

/// Whether the function returns the cell index or its centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Output {
    Index,
    Center,
}

/// `h3_cell` or `h3_cell_center`. See the [module docs](self).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct H3Func {
    signature: Signature,
    output: Output,
}

impl H3Func {
    /// `h3_cell(lat, long, resolution)`: the cell index.
    pub fn cell() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            output: Output::Index,
        }
    }

    /// `h3_cell_center(lat, long, resolution)`: the cell centre.
    pub fn center() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            output: Output::Center,
        }
    }
}

static CELL_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_DATAMIN,
        "The H3 cell (15 hex digits) containing a position, at resolution 0-15.",
        "h3_cell(lat, long, resolution)",
    )
    .with_sql_example("SELECT h3_cell(45.0, 40.0, 2);  -- 822d57fffffffff")
    .with_argument("lat", "Latitude, degrees.")
    .with_argument("long", "Longitude, degrees.")
    .with_argument(
        "resolution",
        "Constant 0-15 (edge ≈ 461 m at 8, 174 m at 9).",
    )
    .build()
});

static CENTER_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_DATAMIN,
        "The centre of the H3 cell containing a position, as struct<lat, long> (degrees).",
        "h3_cell_center(lat, long, resolution)",
    )
    .with_sql_example("SELECT h3_cell_center(45.0, 40.0, 9)['lat'];")
    .with_argument("lat", "Latitude, degrees.")
    .with_argument("long", "Longitude, degrees.")
    .with_argument("resolution", "Constant 0-15.")
    .build()
});

impl ScalarUDFImpl for H3Func {
    fn name(&self) -> &str {
        match self.output {
            Output::Index => "h3_cell",
            Output::Center => "h3_cell_center",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 3 {
            return plan_err!(
                "{} takes 3 arguments (lat, long, resolution), got {}",
                self.name(),
                arg_types.len()
            );
        }
        for t in arg_types {
            if !t.is_numeric() && !t.is_null() {
                return plan_err!("{}: arguments must be numbers, got {t}", self.name());
            }
        }
        Ok(vec![DataType::Float64; 3])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.output {
            Output::Index => DataType::Utf8,
            Output::Center => DataType::Struct(GeneralizeCoordinatesFunc::fields()),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = self.name();
        let res = match const_f64(name, "resolution", &args.args[2])? {
            Some(r) if r.fract() == 0.0 && (0.0..=15.0).contains(&r) => {
                Resolution::try_from(r as u8).expect("0..=15 is a valid resolution")
            }
            other => return exec_err!("{name}: resolution must be an integer 0-15, got {other:?}"),
        };
        let n = args.number_rows;
        let lat = args.args[0].clone().into_array(n)?;
        let long = args.args[1].clone().into_array(n)?;
        let (lat, long) = (
            lat.as_primitive::<Float64Type>(),
            long.as_primitive::<Float64Type>(),
        );
        let mut index = StringBuilder::with_capacity(n, n * 15);
        let (mut out_lat, mut out_long) = (
            Float64Builder::with_capacity(n),
            Float64Builder::with_capacity(n),
        );
        for i in 0..n {
            if lat.is_null(i) || long.is_null(i) {
                index.append_null();
                out_lat.append_null();
                out_long.append_null();
                continue;
            }
            let c = match cell(lat.value(i), long.value(i), res) {
                Ok(c) => c,
                Err(e) => return exec_err!("{name}: {e}"),
            };
            match self.output {
                Output::Index => index.append_value(c.to_string()),
                Output::Center => {
                    let (a, b) = center(c);
                    out_lat.append_value(a);
                    out_long.append_value(b);
                }
            }
        }
        let out: ArrayRef = match self.output {
            Output::Index => Arc::new(index.finish()),
            Output::Center => lat_long_struct(out_lat, out_long)?,
        };
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(match self.output {
            Output::Index => &CELL_DOC,
            Output::Center => &CENTER_DOC,
        })
    }
}
