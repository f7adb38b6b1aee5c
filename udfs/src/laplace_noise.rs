//! `laplace_noise(value, scale, seed [, seed…])`: add Laplace noise drawn from a keyed,
//! deterministic generator.
//!
//! The noise for a row is `−b · sgn(u) · ln(1 − 2|u|)` (inverse CDF of Laplace(0, b)), with
//! `u ∈ (−½, ½)` taken from the first 8 bytes of `HMAC-SHA256(k, "datamin/noise/" ‖ seed)`.
//! The same value, seed and key always give the same output, so a replayed batch writes the
//! same file (exactly-once); without the key the noise cannot be predicted or removed.
//! `seed` should identify the cell (e.g. activity id, timestamp and column name) so that
//! noise is independent between cells. Several seed arguments are joined with `|` (integers
//! and timestamps as decimal integers, timestamps in their unit since the epoch), which
//! avoids building the seed string in SQL: `laplace_noise(hr, 2, activity_id, timestamp,
//! 'heart_rate_bpm')` equals `laplace_noise(hr, 2, '<id>|<µs>|heart_rate_bpm')`. Input: number (cast to Float64); `scale` b > 0, a
//! constant in the column's unit; output Float64; `NULL` stays `NULL`.
//! ISO/IEC 20889 randomization (noise addition).

use std::io::Write;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, AsArray, Float64Builder};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::DOC_SECTION_DATAMIN;
use crate::pseudonymize::PseudonymKey;
use crate::util::const_f64;

/// The `laplace_noise` scalar function. See the [module docs](self).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LaplaceNoiseFunc {
    signature: Signature,
    key: Option<Arc<PseudonymKey>>,
}

impl LaplaceNoiseFunc {
    /// Creates the function with `key`; without a key, planning a call fails.
    pub fn new(key: Option<PseudonymKey>) -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            key: key.map(Arc::new),
        }
    }
}

/// Laplace(0, `b`) noise for `seed` under `key` (see the module docs).
pub fn noise(key: &[u8], seed: &[u8], b: f64) -> f64 {
    noise_with(&noise_mac(key), seed, b)
}

/// `HMAC-SHA256(k, "datamin/noise/")`'s state, to clone per row ([`noise_with`]).
fn noise_mac(key: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(b"datamin/noise/");
    m
}

/// [`noise`] from a prepared [`noise_mac`] (the key schedule is done once per batch).
fn noise_with(mac: &Hmac<Sha256>, seed: &[u8], b: f64) -> f64 {
    let mut m = mac.clone();
    m.update(seed);
    let h = m.finalize().into_bytes();
    let r = u64::from_be_bytes(h[..8].try_into().expect("8 bytes"));
    // u in (-1/2, 1/2), never exactly ±1/2
    let u = ((r >> 11) as f64 + 0.5) / (1u64 << 53) as f64 - 0.5;
    -b * u.signum() * (1.0 - 2.0 * u.abs()).ln()
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_DATAMIN,
        "Adds Laplace(0, scale) noise from a keyed deterministic generator: the same value, \
         seed and key always give the same result.",
        "laplace_noise(value, scale, seed [, seed...])",
    )
    .with_sql_example("SELECT laplace_noise(72.0, 2.0, 'activity-1|2024-05-01T10:00:00|weight');")
    .with_argument("value", "The number.")
    .with_argument(
        "scale",
        "Constant Laplace scale b > 0 (standard deviation √2·b).",
    )
    .with_argument(
        "seed",
        "Strings, integers or timestamps identifying the cell, joined with '|'; different \
         seeds give independent noise.",
    )
    .build()
});

impl ScalarUDFImpl for LaplaceNoiseFunc {
    fn name(&self) -> &str {
        "laplace_noise"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() < 3 {
            return plan_err!(
                "laplace_noise takes at least 3 arguments (value, scale, seed [, seed...]), got {}",
                arg_types.len()
            );
        }
        for t in &arg_types[..2] {
            if !t.is_numeric() && !t.is_null() {
                return plan_err!("laplace_noise: value and scale must be numbers, got {t}");
            }
        }
        let mut out = vec![DataType::Float64, DataType::Float64];
        for t in &arg_types[2..] {
            out.push(if t.is_integer() || matches!(t, DataType::Timestamp(..)) {
                DataType::Int64
            } else {
                DataType::Utf8
            });
        }
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        if self.key.is_none() {
            return plan_err!(
                "laplace_noise: no key configured; set DATAMIN_KEY or pass --key-file"
            );
        }
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(key) = &self.key else {
            return exec_err!("laplace_noise: no key configured");
        };
        let b = match const_f64("laplace_noise", "scale", &args.args[1])? {
            Some(b) if b.is_finite() && b > 0.0 => b,
            other => {
                return exec_err!("laplace_noise: scale must be a positive number, got {other:?}");
            }
        };
        let n = args.number_rows;
        let v = args.args[0].clone().into_array(n)?;
        let v = v.as_primitive::<Float64Type>();
        let parts = args.args[2..]
            .iter()
            .map(|a| a.clone().into_array(n))
            .collect::<Result<Vec<_>>>()?;
        let mut out = Float64Builder::with_capacity(n);
        let mac = noise_mac(key.secret_bytes());
        let mut seed = Vec::with_capacity(96);
        for i in 0..n {
            if v.is_null(i) {
                out.append_null();
                continue;
            }
            seed.clear();
            for (k, p) in parts.iter().enumerate() {
                if k > 0 {
                    seed.push(b'|');
                }
                if p.is_null(i) {
                    continue;
                }
                match p.data_type() {
                    DataType::Int64 => {
                        let x = p.as_primitive::<Int64Type>().value(i);
                        write!(seed, "{x}").expect("writing to a Vec cannot fail");
                    }
                    _ => seed.extend_from_slice(p.as_string::<i32>().value(i).as_bytes()),
                }
            }
            out.append_value(v.value(i) + noise_with(&mac, &seed, b));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_laplace_distributed_and_deterministic() {
        let k = b"noise-test-key-0123456789";
        let xs: Vec<f64> = (0..20000)
            .map(|i| noise(k, format!("{i}").as_bytes(), 2.0))
            .collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let mad = xs.iter().map(|x| x.abs()).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.1, "mean {mean}");
        // E|X| = b for Laplace(0, b)
        assert!((mad - 2.0).abs() < 0.1, "mean |x| {mad}");
        assert_eq!(noise(k, b"a", 2.0), noise(k, b"a", 2.0));
        assert_ne!(
            noise(k, b"a", 2.0),
            noise(b"another-key-0123456789", b"a", 2.0)
        );
    }
}
