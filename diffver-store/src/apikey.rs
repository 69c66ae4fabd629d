//! API keys: `dv_<id>_<secret><check>`, stored as the id plus HMAC-SHA256(pepper, key).
//!
//! `id` is 16 hex digits (the visible prefix used for lookup and revocation), `secret` 64
//! hex digits (256 random bits, shown once) and `check` the first 8 hex digits of
//! SHA-256 over everything before it, so a typo is caught before any lookup and a
//! leaked-key scanner can tell a real key from look-alike text (diffver's own
//! `secret.diffver-api-key` rule checks the same shape). Verification looks the id up, recomputes
//! the HMAC and compares in constant time (`subtle`); an unknown id is compared against
//! a dummy so that timing does not say which ids exist.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{Result, StoreError};
use crate::model::{random_hex, sha256_hex};

/// `last_used` is recorded at this granularity, so verification does not write on
/// every request.
pub(crate) const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// Prefix of every key.
pub const KEY_PREFIX: &str = "dv_";
const PREFIX: &str = KEY_PREFIX;

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
    let body = format!("{PREFIX}{id}_{secret}");
    let check = checksum(&body);
    Ok((id, format!("{body}{check}")))
}

/// The 8-hex-digit checksum of a key's text before it.
fn checksum(body: &str) -> String {
    let mut h = sha256_hex(body.as_bytes());
    h.truncate(8);
    h
}

/// Whether `text` is shaped like a diffver API key and its checksum holds.
pub fn looks_like_key(text: &str) -> bool {
    parse_id(text).is_some()
}

/// The id of a presented key, if it is shaped like one.
pub(crate) fn parse_id(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex_ok = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    if !(hex_ok(id, 16) && hex_ok(secret, 72)) {
        return None;
    }
    let (body, check) = presented.split_at(presented.len() - 8);
    (checksum(body) == check).then_some(id)
}

/// Constant-time comparison of a presented key's HMAC with the stored one.
pub(crate) fn matches(pepper: &Pepper, presented: &str, stored: &[u8]) -> bool {
    let mac = pepper.mac(presented);
    mac.len() == stored.len() && bool::from(mac.ct_eq(stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_a_typo_does_not() {
        let (id, text) = generate().unwrap();
        assert!(text.starts_with("dv_"));
        assert_eq!(text.len(), 3 + 16 + 1 + 64 + 8);
        assert_eq!(parse_id(&text), Some(id.as_str()));
        // Any one changed character breaks the checksum (or the shape).
        for i in 3..text.len() {
            let mut b = text.clone().into_bytes();
            b[i] = if b[i] == b'0' { b'1' } else { b'0' };
            let typo = String::from_utf8(b).unwrap();
            if typo.as_bytes()[i] == b'_' || text.as_bytes()[i] == b'_' {
                continue;
            }
            assert_eq!(parse_id(&typo), None, "typo at {i} accepted");
        }
        assert_eq!(parse_id(&text.to_uppercase()), None);
    }
}
