//! # datamin-udfs
//!
//! DataFusion scalar functions that implement datamin's minimization rules. Each function
//! lives in its own module, is a pure function over Arrow arrays and carries SQL-facing
//! documentation (`Documentation`), so `datamin sql` can list it with help text.
//!
//! | SQL function | rule | technique (ISO/IEC 20889) |
//! |---|---|---|
//! | [`pseudonymize`](pseudonymize::PseudonymizeFunc) | `pseudonymize` | pseudonymization (keyed hash, HMAC-SHA256) |
//! | [`generalize_coordinates`](generalize_coordinates::GeneralizeCoordinatesFunc) | `generalize_coordinates` | generalization (rounding to a grid) |
//! | [`truncate_time`](truncate_time::TruncateTimeFunc) | `truncate_time` | generalization (rounding of time) |
//! | [`generalize_number`](generalize_number::GeneralizeNumberFunc) | `generalize_number` | generalization (bands, top/bottom coding) |
//! | [`quantize`](quantize::QuantizeFunc) | `quantize` | generalization (rounding) |
//! | [`encrypt`](encrypt::EncryptFunc), [`decrypt`](encrypt::DecryptFunc) | `encrypt` | deterministic encryption (AES-256-GCM-SIV) |
//! | [`laplace_noise`](laplace_noise::LaplaceNoiseFunc) | `noise` | randomization (noise addition, keyed) |
//!
//! ```
//! use datafusion::prelude::SessionContext;
//! use datamin_udfs::{register_all, PseudonymKey};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let ctx = SessionContext::new();
//! let key = PseudonymKey::new("k1", b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
//! register_all(&ctx, Some(key));
//! let df = ctx.sql("SELECT truncate_time(TIMESTAMP '2024-05-01T10:17:42Z', 'hour') AS t").await.unwrap();
//! let batches = df.collect().await.unwrap();
//! assert_eq!(batches[0].num_rows(), 1);
//! # });
//! ```
#![warn(missing_docs)]

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;

pub mod age;
pub mod encrypt;
pub mod generalize_coordinates;
pub mod generalize_number;
pub mod geo;
pub mod h3;
pub mod laplace_noise;
pub mod pseudonymize;
pub mod quantize;
pub mod truncate_time;
mod util;

pub use pseudonymize::PseudonymKey;

/// The documentation section under which every datamin function is listed.
pub const DOC_SECTION_DATAMIN: datafusion::logical_expr::DocSection =
    datafusion::logical_expr::DocSection {
        include: true,
        label: "Data minimization functions",
        description: Some("Functions that pseudonymize, generalize or suppress personal data."),
    };

/// The documentation of every datamin function, as `datamin functions` prints it: per
/// function its syntax, description, arguments and SQL example, then an empty line.
pub fn describe_functions() -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for f in functions(None) {
        if let Some(d) = f.documentation() {
            let _ = writeln!(s, "{}\n  {}", d.syntax_example, d.description);
            for (a, t) in d.arguments.iter().flatten() {
                let _ = writeln!(s, "    {a}: {t}");
            }
            if let Some(e) = &d.sql_example {
                let _ = writeln!(s, "  example: {e}");
            }
            let _ = writeln!(s);
        }
    }
    s
}

/// All datamin scalar functions. `key` is the secret used by `pseudonymize`; without it,
/// `pseudonymize` is still registered but fails at planning time with a message that says
/// how to configure a key.
pub fn functions(key: Option<PseudonymKey>) -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::from(pseudonymize::PseudonymizeFunc::new(
            key.clone(),
        ))),
        Arc::new(ScalarUDF::from(encrypt::EncryptFunc::new(key.clone()))),
        Arc::new(ScalarUDF::from(encrypt::DecryptFunc::new(key.clone()))),
        Arc::new(ScalarUDF::from(laplace_noise::LaplaceNoiseFunc::new(key))),
        Arc::new(ScalarUDF::from(quantize::QuantizeFunc::new())),
        Arc::new(ScalarUDF::from(
            generalize_coordinates::GeneralizeCoordinatesFunc::new(),
        )),
        Arc::new(ScalarUDF::from(truncate_time::TruncateTimeFunc::new())),
        Arc::new(ScalarUDF::from(age::AgeYearsFunc::new())),
        Arc::new(ScalarUDF::from(h3::H3Func::cell())),
        Arc::new(ScalarUDF::from(h3::H3Func::center())),
        Arc::new(ScalarUDF::from(
            generalize_number::GeneralizeNumberFunc::new(),
        )),
    ]
}

/// Registers every function of [`functions`] with `ctx`.
pub fn register_all(ctx: &SessionContext, key: Option<PseudonymKey>) {
    for f in functions(key) {
        ctx.register_udf(f.as_ref().clone());
    }
}
