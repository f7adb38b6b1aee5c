//! `pseudonymize(value [, purpose])`: keyed pseudonymization with HMAC-SHA256.
//!
//! Output: the lowercase hexadecimal encoding (64 characters) of
//! `HMAC-SHA256(k, utf8(value))` (RFC 2104, FIPS 180-4), where `k` is the secret key, or,
//! when a `purpose` is given, the per-purpose subkey
//! `k_p = HMAC-SHA256(k, "datamin/purpose/" || utf8(purpose))`. Different purposes therefore
//! give unlinkable pseudonyms for the same subject (domain separation).
//! Non-string inputs are first cast to their SQL string form (integers in decimal);
//! binary inputs are hashed as their raw bytes. `NULL` stays `NULL`.
//!
//! ENISA, *Pseudonymisation techniques and best practices* (2019), recommends a keyed hash
//! over a plain hash: plain hashes of low-entropy identifiers (serial numbers, user ids) are
//! reversible by enumeration.

use std::fmt;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::DOC_SECTION_DATAMIN;
use crate::util::const_str;

type HmacSha256 = Hmac<Sha256>;

/// Minimum key length in bytes (128 bits; NIST SP 800-107 requires the HMAC key to have at
/// least the security strength wanted).
pub const MIN_KEY_BYTES: usize = 16;

/// A secret pseudonymization key and its public identifier.
///
/// The identifier (`id`) is written to output metadata so that a reader knows which key
/// made a pseudonym; the key bytes never leave the process and are redacted from `Debug`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PseudonymKey {
    id: String,
    bytes: Vec<u8>,
}

impl PseudonymKey {
    /// Creates a key.
    ///
    /// # Errors
    /// `bytes` is shorter than [`MIN_KEY_BYTES`], or `id` is empty.
    pub fn new(id: impl Into<String>, bytes: Vec<u8>) -> Result<Self, String> {
        let id = id.into();
        if id.trim().is_empty() {
            return Err("key id must not be empty".into());
        }
        if bytes.len() < MIN_KEY_BYTES {
            return Err(format!(
                "key is {} bytes; at least {MIN_KEY_BYTES} bytes are required",
                bytes.len()
            ));
        }
        Ok(Self { id, bytes })
    }

    /// The public key identifier.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret key bytes, for other keyed rules of the same process (zone offsets,
    /// noise). Never write them anywhere.
    pub fn secret_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// A keyed HMAC instance for `purpose` (`None`: the key itself).
    fn mac(&self, purpose: Option<&str>) -> HmacSha256 {
        match purpose {
            None => HmacSha256::new_from_slice(&self.bytes).expect("HMAC takes any key length"),
            Some(p) => {
                let mut m = HmacSha256::new_from_slice(&self.bytes).expect("any key length");
                m.update(b"datamin/purpose/");
                m.update(p.as_bytes());
                let sub = m.finalize().into_bytes();
                HmacSha256::new_from_slice(&sub).expect("any key length")
            }
        }
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PseudonymKey")
            .field("id", &self.id)
            .field("bytes", &"<redacted>")
            .finish()
    }
}

/// The `pseudonymize` scalar function. See the [module docs](self).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PseudonymizeFunc {
    signature: Signature,
    key: Option<Arc<PseudonymKey>>,
}

impl PseudonymizeFunc {
    /// Creates the function with `key`; without a key, planning a call fails.
    pub fn new(key: Option<PseudonymKey>) -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            key: key.map(Arc::new),
        }
    }
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_DATAMIN,
        "Replaces an identifier by a keyed pseudonym: the lowercase hex of HMAC-SHA256 \
         (64 characters). The same value and key always give the same pseudonym; without the \
         key it cannot be reversed by enumeration. With `purpose`, a per-purpose subkey is \
         used so pseudonyms of different purposes cannot be linked.",
        "pseudonymize(value [, purpose])",
    )
    .with_sql_example("SELECT pseudonymize('3889171245');")
    .with_argument(
        "value",
        "Identifier to pseudonymize: string, integer or binary.",
    )
    .with_argument(
        "purpose",
        "Optional constant string naming the purpose (domain separation).",
    )
    .build()
});

fn hex_digest(mac: &HmacSha256, data: &[u8]) -> String {
    let mut m = mac.clone();
    m.update(data);
    hex::encode(m.finalize().into_bytes())
}

impl ScalarUDFImpl for PseudonymizeFunc {
    fn name(&self) -> &str {
        "pseudonymize"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.is_empty() || arg_types.len() > 2 {
            return plan_err!(
                "pseudonymize takes 1 or 2 arguments (value [, purpose]), got {}",
                arg_types.len()
            );
        }
        let first = match &arg_types[0] {
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
            DataType::FixedSizeBinary(_) => DataType::Binary,
            _ => DataType::Utf8,
        };
        let mut out = vec![first];
        if arg_types.len() == 2 {
            out.push(DataType::Utf8);
        }
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        if self.key.is_none() {
            return plan_err!(
                "pseudonymize: no key configured; set the environment variable named in the \
                 policy's [key] section (default DATAMIN_KEY) or pass --key-file"
            );
        }
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(key) = &self.key else {
            return exec_err!("pseudonymize: no key configured");
        };
        let purpose = match args.args.get(1) {
            Some(p) => const_str("pseudonymize", "purpose", p)?,
            None => None,
        };
        let mac = key.mac(purpose.as_deref());
        let n = args.number_rows;
        let input = args.args[0].clone().into_array(n)?;
        let out = pseudonymize_array(&mac, &input)?;
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// Pseudonymizes every value of `input`. Equal consecutive values (an activity's records all
/// carry its id) are hashed once and the digest reused, which gives the same output.
fn pseudonymize_array(mac: &HmacSha256, input: &ArrayRef) -> Result<ArrayRef> {
    let values: Box<dyn Iterator<Item = Option<&[u8]>>> = match input.data_type() {
        DataType::Utf8 => Box::new(
            input
                .as_string::<i32>()
                .iter()
                .map(|v| v.map(str::as_bytes)),
        ),
        DataType::Binary => Box::new(input.as_binary::<i32>().iter()),
        other => return exec_err!("pseudonymize: unsupported input type {other}"),
    };
    let mut b = StringBuilder::with_capacity(input.len(), input.len() * 64);
    let mut last: Option<(&[u8], String)> = None;
    for v in values {
        match v {
            None => b.append_null(),
            Some(s) => {
                if last.as_ref().is_none_or(|(prev, _)| *prev != s) {
                    last = Some((s, hex_digest(mac, s)));
                }
                b.append_value(&last.as_ref().expect("set above").1);
            }
        }
    }
    Ok(Arc::new(b.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_test_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?"
        let mac = HmacSha256::new_from_slice(b"Jefe").unwrap();
        assert_eq!(
            hex_digest(&mac, b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn purposes_are_unlinkable_and_stable() {
        let k = PseudonymKey::new("k", vec![7u8; 32]).unwrap();
        let a = hex_digest(&k.mac(Some("research")), b"42");
        let b = hex_digest(&k.mac(Some("billing")), b"42");
        assert_ne!(a, b);
        assert_eq!(a, hex_digest(&k.mac(Some("research")), b"42"));
    }

    #[test]
    fn short_key_is_rejected_and_debug_redacts() {
        assert!(PseudonymKey::new("k", vec![1; 8]).is_err());
        let k = PseudonymKey::new("k", vec![1; 16]).unwrap();
        assert!(!format!("{k:?}").contains("1, 1"));
    }
}
