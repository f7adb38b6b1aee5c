//! `generalize_number(value, edges)`: replace a number by the band it falls in, with
//! bottom and top coding.
//!
//! `edges` is a constant, strictly increasing list `[e0, e1, …, en]`. The output label is
//! `"<e0"` for `value < e0` (bottom coding), `"[ei, ei+1)"` for `ei ≤ value < ei+1`, and
//! `">=en"` for `value ≥ en` (top coding). Numbers are printed without a trailing `.0`.
//! Input: any number (cast to Float64); output: Utf8; `NULL` and NaN give `NULL`.
//! Units are those of the input column (years, kg, …). ISO/IEC 20889 §8.3 (generalization:
//! rounding, top and bottom coding).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::DOC_SECTION_DATAMIN;

/// The `generalize_number` scalar function. See the [module docs](self).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct GeneralizeNumberFunc {
    signature: Signature,
}

impl Default for GeneralizeNumberFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl GeneralizeNumberFunc {
    /// Creates the function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_DATAMIN,
        "Replaces a number by its band label: '<e0' below the first edge (bottom coding), \
         '[a, b)' inside, '>=en' at or above the last edge (top coding).",
        "generalize_number(value, edges)",
    )
    .with_sql_example("SELECT generalize_number(37, make_array(18, 30, 40, 50, 65));")
    .with_argument("value", "The number to generalize.")
    .with_argument("edges", "Constant list of strictly increasing band edges.")
    .build()
});

/// Formats a band edge: integers without a fractional part.
pub fn fmt_edge(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Index of the band of `v` for `edges` (strictly increasing): 0 is the bottom-coded band,
/// `edges.len()` the top-coded one; the label is `labels(edges)[index]`.
pub fn band_index(v: f64, edges: &[f64]) -> usize {
    edges.partition_point(|e| *e <= v)
}

/// Builds the `edges.len() + 1` band labels.
pub fn labels(edges: &[f64]) -> Vec<String> {
    let mut out = Vec::with_capacity(edges.len() + 1);
    out.push(format!("<{}", fmt_edge(edges[0])));
    for w in edges.windows(2) {
        out.push(format!("[{}, {})", fmt_edge(w[0]), fmt_edge(w[1])));
    }
    out.push(format!(">={}", fmt_edge(edges[edges.len() - 1])));
    out
}

fn edges_from(arg: &ColumnarValue) -> Result<Vec<f64>> {
    let ColumnarValue::Scalar(ScalarValue::List(list)) = arg else {
        return exec_err!(
            "generalize_number: edges must be a constant list such as make_array(18, 30, 40)"
        );
    };
    if list.is_null(0) {
        return exec_err!("generalize_number: edges must not be NULL");
    }
    let values = list.value(0);
    let values = datafusion::arrow::compute::cast(&values, &DataType::Float64)?;
    let values = values.as_primitive::<Float64Type>();
    if values.null_count() > 0 || values.is_empty() {
        return exec_err!("generalize_number: edges must be a non-empty list without NULLs");
    }
    let edges: Vec<f64> = values.values().to_vec();
    if edges.iter().any(|e| !e.is_finite()) || edges.windows(2).any(|w| w[0] >= w[1]) {
        return exec_err!(
            "generalize_number: edges must be finite and strictly increasing, got {edges:?}"
        );
    }
    Ok(edges)
}

impl ScalarUDFImpl for GeneralizeNumberFunc {
    fn name(&self) -> &str {
        "generalize_number"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return plan_err!(
                "generalize_number takes 2 arguments (value, edges), got {}",
                arg_types.len()
            );
        }
        if !arg_types[0].is_numeric() && !arg_types[0].is_null() {
            return plan_err!(
                "generalize_number: value must be a number, got {}",
                arg_types[0]
            );
        }
        match &arg_types[1] {
            DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _) => {}
            other => {
                return plan_err!(
                    "generalize_number: edges must be a list such as make_array(18, 30), got {other}"
                );
            }
        }
        Ok(vec![
            DataType::Float64,
            DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))),
        ])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let edges = edges_from(&args.args[1])?;
        let labels = labels(&edges);
        let n = args.number_rows;
        let input = args.args[0].clone().into_array(n)?;
        let input = input.as_primitive::<Float64Type>();
        let mut b = StringBuilder::with_capacity(n, n * 8);
        for v in input.iter() {
            match v {
                Some(v) if !v.is_nan() => b.append_value(&labels[band_index(v, &edges)]),
                _ => b.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(b.finish())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_with_top_and_bottom_coding() {
        let e = [18.0, 30.0, 65.0];
        let l = labels(&e);
        let lab = |v: f64| l[band_index(v, &e)].clone();
        assert_eq!(lab(17.9), "<18");
        assert_eq!(lab(18.0), "[18, 30)");
        assert_eq!(lab(64.99), "[30, 65)");
        assert_eq!(lab(65.0), ">=65");
        assert_eq!(fmt_edge(72.5), "72.5");
    }
}
