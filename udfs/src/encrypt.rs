//! `encrypt(value [, seed])` and `decrypt(ciphertext)`: reversible field encryption with
//! AES-256-GCM-SIV (RFC 8452), for data the key holder must be able to recover.
//!
//! The data key is `HMAC-SHA256(k, "datamin/encrypt/v1")` (32 bytes) of the datamin key `k`.
//! The 96-bit nonce is *synthetic*, so output is deterministic and replays write identical
//! files:
//! - `encrypt(value)` — **deterministic mode** for joinable columns: nonce =
//!   `HMAC-SHA256(data key, "nonce" ‖ value)[..12]`; equal plaintexts give equal ciphertexts
//!   (the only thing revealed), so encrypted columns can still be joined and grouped;
//! - `encrypt(value, seed)` — nonce from `seed` instead (e.g. the row id): equal plaintexts
//!   in different rows give different ciphertexts.
//!
//! AES-GCM-SIV is nonce-misuse resistant (RFC 8452 §1), so a repeated nonce never leaks more
//! than plaintext equality.
//!
//! Format: `"dm1:"` + lowercase hex of `nonce ‖ ciphertext ‖ tag`. Input: string (other types
//! are cast to their SQL string form); `NULL` stays `NULL`. `decrypt` returns the UTF-8
//! plaintext and fails on a value that was not made with this key.

use std::sync::{Arc, LazyLock};

use aes_gcm_siv::aead::{Aead, KeyInit};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::DOC_SECTION_DATAMIN;
use crate::pseudonymize::PseudonymKey;

const PREFIX: &str = "dm1:";

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Encryption with the data key derived from a datamin key (see the module docs).
#[derive(Clone)]
pub struct FieldCipher {
    data_key: [u8; 32],
    cipher: Aes256GcmSiv,
}

impl FieldCipher {
    /// The cipher of `key`.
    pub fn new(key: &PseudonymKey) -> Self {
        let data_key = hmac(key.secret_bytes(), &[b"datamin/encrypt/v1"]);
        let cipher = Aes256GcmSiv::new_from_slice(&data_key).expect("32-byte key");
        Self { data_key, cipher }
    }

    /// Encrypts `plain`; the nonce comes from `seed` (deterministic mode: `seed = plain`).
    pub fn encrypt(&self, plain: &[u8], seed: &[u8]) -> String {
        let n = hmac(&self.data_key, &[b"nonce", seed]);
        let nonce = Nonce::from_slice(&n[..12]);
        let ct = self
            .cipher
            .encrypt(nonce, plain)
            .expect("AES-GCM-SIV encryption cannot fail");
        let mut out = String::with_capacity(PREFIX.len() + 2 * (12 + ct.len()));
        out.push_str(PREFIX);
        out.push_str(&hex::encode(&n[..12]));
        out.push_str(&hex::encode(ct));
        out
    }

    /// Decrypts a value made by [`FieldCipher::encrypt`] with the same key.
    ///
    /// # Errors
    /// The text is not a datamin ciphertext (wrong prefix, bad hex, too short), or it was
    /// encrypted with another key or altered (authentication fails).
    pub fn decrypt(&self, text: &str) -> Result<String, String> {
        let body = text
            .strip_prefix(PREFIX)
            .ok_or("not a datamin ciphertext (no 'dm1:' prefix)")?;
        let bytes = hex::decode(body).map_err(|e| format!("bad ciphertext encoding: {e}"))?;
        if bytes.len() < 12 + 16 {
            return Err("ciphertext too short".into());
        }
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(&bytes[..12]), &bytes[12..])
            .map_err(|_| "authentication failed: wrong key or altered ciphertext".to_string())?;
        String::from_utf8(plain).map_err(|e| format!("plaintext is not UTF-8: {e}"))
    }
}

/// The `encrypt` scalar function. See the [module docs](self).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct EncryptFunc {
    signature: Signature,
    key: Option<Arc<PseudonymKey>>,
}

/// The `decrypt` scalar function. See the [module docs](self).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DecryptFunc {
    signature: Signature,
    key: Option<Arc<PseudonymKey>>,
}

impl EncryptFunc {
    /// Creates the function; without a key, planning a call fails.
    pub fn new(key: Option<PseudonymKey>) -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            key: key.map(Arc::new),
        }
    }
}

impl DecryptFunc {
    /// Creates the function; without a key, planning a call fails.
    pub fn new(key: Option<PseudonymKey>) -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            key: key.map(Arc::new),
        }
    }
}

static ENC_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_DATAMIN,
        "Encrypts a value with AES-256-GCM-SIV under the datamin key: 'dm1:' + hex. Without \
         seed the result is deterministic (joinable); with seed the nonce comes from it.",
        "encrypt(value [, seed])",
    )
    .with_sql_example("SELECT decrypt(encrypt('3889171245'));")
    .with_argument("value", "Value to encrypt (cast to string).")
    .with_argument(
        "seed",
        "Optional string the nonce is derived from (e.g. a row id).",
    )
    .build()
});

static DEC_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_DATAMIN,
        "Decrypts a value made by encrypt() with the same key; fails on a wrong key or an \
         altered value.",
        "decrypt(ciphertext)",
    )
    .with_argument("ciphertext", "A 'dm1:' string from encrypt().")
    .build()
});

fn no_key(name: &str) -> datafusion::common::DataFusionError {
    datafusion::common::DataFusionError::Plan(format!(
        "{name}: no key configured; set DATAMIN_KEY or pass --key-file"
    ))
}

impl ScalarUDFImpl for EncryptFunc {
    fn name(&self) -> &str {
        "encrypt"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.is_empty() || arg_types.len() > 2 {
            return plan_err!(
                "encrypt takes 1 or 2 arguments (value [, seed]), got {}",
                arg_types.len()
            );
        }
        Ok(vec![DataType::Utf8; arg_types.len()])
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        self.key.as_ref().ok_or_else(|| no_key("encrypt"))?;
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(key) = &self.key else {
            return Err(no_key("encrypt"));
        };
        let c = FieldCipher::new(key);
        let n = args.number_rows;
        let v = args.args[0].clone().into_array(n)?;
        let seed = args
            .args
            .get(1)
            .map(|s| s.clone().into_array(n))
            .transpose()?;
        let v = v.as_string::<i32>();
        let mut b = StringBuilder::with_capacity(n, n * 64);
        // Equal consecutive (plaintext, seed) pairs give equal ciphertexts: encrypt once.
        let mut last: Option<(&[u8], &[u8], String)> = None;
        for i in 0..n {
            if v.is_null(i) {
                b.append_null();
                continue;
            }
            let p = v.value(i).as_bytes();
            let s = match &seed {
                Some(s) if !s.is_null(i) => s.as_string::<i32>().value(i).as_bytes(),
                _ => p,
            };
            if last.as_ref().is_none_or(|(lp, ls, _)| *lp != p || *ls != s) {
                last = Some((p, s, c.encrypt(p, s)));
            }
            b.append_value(&last.as_ref().expect("set above").2);
        }
        Ok(ColumnarValue::Array(Arc::new(b.finish())))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&ENC_DOC)
    }
}

impl ScalarUDFImpl for DecryptFunc {
    fn name(&self) -> &str {
        "decrypt"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 1 {
            return plan_err!(
                "decrypt takes 1 argument (ciphertext), got {}",
                arg_types.len()
            );
        }
        Ok(vec![DataType::Utf8])
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        self.key.as_ref().ok_or_else(|| no_key("decrypt"))?;
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(key) = &self.key else {
            return Err(no_key("decrypt"));
        };
        let c = FieldCipher::new(key);
        let v = args.args[0].clone().into_array(args.number_rows)?;
        let mut b = StringBuilder::new();
        for x in v.as_string::<i32>() {
            match x {
                None => b.append_null(),
                Some(t) => match c.decrypt(t) {
                    Ok(p) => b.append_value(p),
                    Err(e) => return exec_err!("decrypt: {e}"),
                },
            }
        }
        Ok(ColumnarValue::Array(Arc::new(b.finish())))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&DEC_DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let k = PseudonymKey::new("k", b"encrypt-test-key-0123456789".to_vec()).unwrap();
        let c = FieldCipher::new(&k);
        let a = c.encrypt(b"3889171245", b"3889171245");
        assert_eq!(a, c.encrypt(b"3889171245", b"3889171245"), "deterministic");
        assert_ne!(
            a,
            c.encrypt(b"3889171245", b"row-2"),
            "seeded nonce differs"
        );
        assert_eq!(c.decrypt(&a).unwrap(), "3889171245");
        let mut t = a.clone().into_bytes();
        let last = t.len() - 1;
        t[last] = if t[last] == b'0' { b'1' } else { b'0' };
        assert!(
            c.decrypt(std::str::from_utf8(&t).unwrap())
                .unwrap_err()
                .contains("authentication failed")
        );
        let other =
            FieldCipher::new(&PseudonymKey::new("o", b"another-key-0123456789".to_vec()).unwrap());
        assert!(other.decrypt(&a).is_err());
    }
}
