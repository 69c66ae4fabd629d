//! Signed verdict artifacts: a frozen wire format ([`wire`]), serialised as
//! RFC 8785 canonical JSON inside an in-toto Statement v1 whose subject is the
//! diff, wrapped in a DSSE envelope.
//!
//! Signing goes through the [`Signer`] trait over the exact DSSE PAE bytes, so
//! a remote signer (a KMS) plugs in outside the core. [`verify`] checks the
//! signature over the exact bytes first, then parses; any changed byte fails.
//!
//! ```
//! use diffver_core::artifact::{self, HmacSigner, Keyring, SigningMode};
//! use diffver_core::{policy::Policy, rules::Ruleset, suppress::Timestamp, verdict};
//!
//! let ctx = verdict::ScanContext::new("s1", Timestamp(1_790_000_000));
//! let (rules, policy) = (Ruleset::builtin(), Policy::builtin("standard").unwrap());
//! let diff = b"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n";
//! let v = verdict::evaluate(&verdict::Inputs::new(diff, &rules, &policy, &ctx));
//! let signer = HmacSigner::deterministic(SigningMode::Development).unwrap();
//! let envelope = artifact::sign(&v, &signer).unwrap();
//! let checked = artifact::verify(&envelope, &Keyring::development()).unwrap();
//! assert_eq!(checked.decision, "pass");
//! assert!(HmacSigner::deterministic(SigningMode::Production).is_err());
//! ```

pub mod wire;

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::verdict::Verdict;

/// DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Why an artifact could not be made or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The envelope is not a DSSE envelope in canonical JSON.
    #[error("malformed envelope: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// No signature is by a key in the keyring.
    #[error("no signature by a known key (key ids in the envelope: {keyids:?})")]
    UnknownKey {
        /// The key ids the envelope names.
        keyids: Vec<String>,
    },
    /// A signature by a known key does not match the bytes.
    #[error(
        "signature by key {keyid:?} does not match: the artifact was changed or signed with another key"
    )]
    BadSignature {
        /// The key id.
        keyid: String,
    },
    /// The envelope's payload type is not an in-toto statement.
    #[error("payload type {found:?} is not {PAYLOAD_TYPE:?}")]
    PayloadType {
        /// The type found.
        found: String,
    },
    /// The signed payload is not a diffver verdict statement.
    #[error("signed payload is not a diffver verdict: {reason}")]
    Payload {
        /// What is wrong.
        reason: String,
    },
    /// The deterministic development key was asked for in production.
    #[error(
        "the deterministic development signer is refused in production mode; configure an operator key"
    )]
    DeterministicInProduction,
    /// A signing key is empty or a key id is empty.
    #[error("signing keys and key ids must not be empty")]
    EmptyKey,
    /// A remote signer failed.
    #[error("signer failed: {reason}")]
    Signer {
        /// Why.
        reason: String,
    },
}

/// DSSE pre-authentication encoding: `DSSEv1 <len(type)> <type> <len(body)> <body>`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Signs DSSE PAE bytes. Implement it over a KMS outside the core.
pub trait Signer {
    /// The key id recorded in the envelope.
    fn key_id(&self) -> &str;
    /// Signs the exact PAE bytes.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::Signer`] when a remote signer fails.
    fn sign(&self, pae: &[u8]) -> Result<Vec<u8>, ArtifactError>;
}

/// Whether the caller runs in production (where the development key is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningMode {
    /// Development and tests: the published deterministic key is allowed.
    Development,
    /// Production: only operator keys.
    Production,
}

/// The published development key: signatures with it prove nothing but
/// integrity in transit. Never accepted in production.
pub const DEVELOPMENT_KEY: &[u8] =
    b"diffver deterministic development key v1 (public, not a secret)";
/// Key id of [`DEVELOPMENT_KEY`].
pub const DEVELOPMENT_KEY_ID: &str = "diffver-dev-v1";

/// HMAC-SHA256 signer: the `deterministic` mode (development key) or
/// `kms-hmac` (an operator key handed over by a key manager).
#[derive(Clone)]
pub struct HmacSigner {
    key_id: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for HmacSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl HmacSigner {
    /// A signer with an operator key.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::EmptyKey`] for an empty key or key id.
    pub fn new(
        key_id: impl Into<String>,
        key: impl Into<Vec<u8>>,
    ) -> Result<HmacSigner, ArtifactError> {
        let (key_id, key) = (key_id.into(), key.into());
        if key_id.is_empty() || key.is_empty() {
            return Err(ArtifactError::EmptyKey);
        }
        Ok(HmacSigner { key_id, key })
    }

    /// The deterministic signer with the published development key.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::DeterministicInProduction`] in production mode.
    pub fn deterministic(mode: SigningMode) -> Result<HmacSigner, ArtifactError> {
        if mode == SigningMode::Production {
            return Err(ArtifactError::DeterministicInProduction);
        }
        HmacSigner::new(DEVELOPMENT_KEY_ID, DEVELOPMENT_KEY)
    }
}

fn hmac(key: &[u8], msg: &[u8]) -> Result<Hmac<Sha256>, ArtifactError> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).map_err(|_| ArtifactError::EmptyKey)?;
    m.update(msg);
    Ok(m)
}

impl Signer for HmacSigner {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn sign(&self, pae: &[u8]) -> Result<Vec<u8>, ArtifactError> {
        Ok(hmac(&self.key, pae)?.finalize().into_bytes().to_vec())
    }
}

/// HMAC verification keys by key id, for rotation: old keys stay in the
/// keyring so older artifacts still verify.
#[derive(Clone, Default)]
pub struct Keyring {
    keys: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Keyring {
        Keyring::default()
    }

    /// A keyring with the development key only.
    pub fn development() -> Keyring {
        Keyring::new().with_key(DEVELOPMENT_KEY_ID, DEVELOPMENT_KEY)
    }

    /// Adds a key.
    pub fn with_key(mut self, key_id: impl Into<String>, key: impl Into<Vec<u8>>) -> Keyring {
        self.keys.insert(key_id.into(), key.into());
        self
    }
}

fn canonical<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, ArtifactError> {
    serde_jcs::to_vec(v).map_err(|e| ArtifactError::Payload {
        reason: e.to_string(),
    })
}

/// The in-toto statement of a verdict, as canonical JSON (the signed payload).
///
/// # Errors
///
/// Only if serialisation fails, which the wire types rule out.
pub fn statement_bytes(v: &Verdict) -> Result<Vec<u8>, ArtifactError> {
    canonical(&wire::Statement::from_verdict(v))
}

/// Signs a verdict: the DSSE envelope, as canonical JSON bytes. The same
/// verdict and key give byte-identical envelopes.
///
/// # Errors
///
/// [`ArtifactError::Signer`] if the signer fails.
pub fn sign(v: &Verdict, signer: &dyn Signer) -> Result<Vec<u8>, ArtifactError> {
    let payload = statement_bytes(v)?;
    let sig = signer.sign(&pae(PAYLOAD_TYPE, &payload))?;
    canonical(&wire::Envelope {
        payload: STANDARD.encode(&payload),
        payload_type: PAYLOAD_TYPE.to_owned(),
        signatures: vec![wire::Signature {
            keyid: signer.key_id().to_owned(),
            sig: STANDARD.encode(sig),
        }],
    })
}

/// Verifies an envelope: it must be canonical JSON, carry a signature by a
/// key in `keyring` over the exact payload bytes, and only then is the payload
/// parsed into the wire verdict.
///
/// # Errors
///
/// An [`ArtifactError`] saying which check failed.
pub fn verify(envelope: &[u8], keyring: &Keyring) -> Result<wire::VerdictV1, ArtifactError> {
    let env: wire::Envelope =
        serde_json::from_slice(envelope).map_err(|e| ArtifactError::Malformed {
            reason: e.to_string(),
        })?;
    // Canonical form only: any other byte sequence is a changed artifact.
    if canonical(&env)? != envelope {
        return Err(ArtifactError::Malformed {
            reason: "the envelope is not in canonical JSON form".into(),
        });
    }
    if env.payload_type != PAYLOAD_TYPE {
        return Err(ArtifactError::PayloadType {
            found: env.payload_type,
        });
    }
    let payload = STANDARD
        .decode(&env.payload)
        .map_err(|e| ArtifactError::Malformed {
            reason: format!("payload is not base64: {e}"),
        })?;
    let message = pae(&env.payload_type, &payload);
    let mut verified = false;
    for s in &env.signatures {
        let Some(key) = keyring.keys.get(&s.keyid) else {
            continue;
        };
        let sig = STANDARD
            .decode(&s.sig)
            .map_err(|e| ArtifactError::Malformed {
                reason: format!("signature is not base64: {e}"),
            })?;
        if hmac(key, &message)?.verify_slice(&sig).is_err() {
            return Err(ArtifactError::BadSignature {
                keyid: s.keyid.clone(),
            });
        }
        verified = true;
    }
    if !verified {
        return Err(ArtifactError::UnknownKey {
            keyids: env.signatures.iter().map(|s| s.keyid.clone()).collect(),
        });
    }
    let statement: wire::Statement =
        serde_json::from_slice(&payload).map_err(|e| ArtifactError::Payload {
            reason: e.to_string(),
        })?;
    statement
        .check()
        .map_err(|reason| ArtifactError::Payload { reason })?;
    Ok(statement.predicate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_test_vector() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }
}
