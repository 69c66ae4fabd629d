//! API keys: `dvk_<id>_<secret>`, stored as the id plus HMAC-SHA256(pepper, key).
//!
//! The secret is 256 random bits, shown once. Verification looks the id up, recomputes
//! the HMAC and compares in constant time (`subtle`); an unknown id is compared against
//! a dummy so that timing does not say which ids exist.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{Result, StoreError};
use crate::model::random_hex;

/// Prefix of every key.
const PREFIX: &str = "dvk_";

/// The server-side secret mixed into every stored key hash.
#[derive(Clone)]
pub struct Pepper(Vec<u8>);

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pepper(..)")
    }
}

impl Pepper {
    /// A pepper of at least 32 bytes.
    ///
    /// # Errors
    ///
    /// [`StoreError::Invalid`] for a shorter one.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Pepper> {
        let bytes = bytes.into();
        if bytes.len() < 32 {
            return Err(StoreError::Invalid {
                field: "pepper",
                reason: "must be at least 32 bytes",
            });
        }
        Ok(Pepper(bytes))
    }

    pub(crate) fn mac(&self, key_text: &str) -> Vec<u8> {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mut m) => {
                m.update(key_text.as_bytes());
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }
}

/// A new key's id and full text.
pub(crate) fn generate() -> Result<(String, String)> {
    let id = random_hex(8)?;
    let secret = random_hex(32)?;
    let text = format!("{PREFIX}{id}_{secret}");
    Ok((id, text))
}

/// The id of a presented key, if it is shaped like one.
pub(crate) fn parse_id(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex_ok = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_ok(id, 16) && hex_ok(secret, 64)).then_some(id)
}

/// Constant-time comparison of a presented key's HMAC with the stored one.
pub(crate) fn matches(pepper: &Pepper, presented: &str, stored: &[u8]) -> bool {
    let mac = pepper.mac(presented);
    mac.len() == stored.len() && bool::from(mac.ct_eq(stored))
}
