//! Signed verdict artifacts: a frozen wire format ([`wire`], specified in
//! `docs/artifact.md`), serialised as RFC 8785 canonical JSON inside an
//! in-toto Statement v1 whose subject is the diff, wrapped in a DSSE envelope.
//!
//! Signing is split so a remote signer (a KMS call, async, outside the core)
//! can sit in the middle: [`payload`] gives the statement bytes,
//! [`signing_input`] the exact DSSE PAE bytes to sign, and [`assemble`] the
//! envelope from the payload and the signatures. [`sign`] does all three with
//! a local [`Signer`].
//!
//! [`verify`] checks, in order: the envelope is canonical JSON; a signature by
//! a key in the [`Keyring`] verifies over the exact PAE bytes (and none by a
//! known key fails); the payload is canonical JSON of a v2 statement; its
//! parts agree with each other ([`wire::VerdictV2::check`]); and the signer
//! the predicate names is the key that verified it. The result says which
//! key and which mode verified it.
//!
//! The published development key is a mode of its own: a keyring holds
//! either it alone ([`Keyring::development`], refused in production) or
//! operator keys, never both; operator HMAC keys are at least
//! [`MIN_HMAC_KEY_BYTES`] long.
//!
//! ```
//! use diffver_core::artifact::{self, HmacSigner, KeyMode, Keyring, SigningMode};
//! use diffver_core::{policy::Policy, rules::Ruleset, suppress::Timestamp, verdict};
//!
//! let now = Timestamp::from_unix_seconds(1_790_000_000).unwrap();
//! let ctx = verdict::ScanContext::new("s1", now).unwrap();
//! let (rules, policy) = (Ruleset::builtin(), Policy::builtin("standard").unwrap());
//! let diff = b"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n";
//! let v = verdict::evaluate(&verdict::Inputs::new(diff, &rules, &policy, &ctx));
//!
//! let signer = HmacSigner::new("ci-2026", [7u8; 32]).unwrap();
//! let envelope = artifact::sign(&v, &signer).unwrap();
//! let keyring = Keyring::new().with_key("ci-2026", [7u8; 32]).unwrap();
//! let checked = artifact::verify(&envelope, &keyring).unwrap();
//! assert_eq!(checked.verdict.decision.as_str(), "pass");
//! assert_eq!((checked.key_id.as_str(), checked.mode), ("ci-2026", KeyMode::Operator));
//!
//! // The development key verifies only in a keyring of its own.
//! assert!(Keyring::development(SigningMode::Production).is_err());
//! assert!(Keyring::new().with_key("dev", artifact::DEVELOPMENT_KEY).is_err());
//! ```

pub mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::verdict::Verdict;
pub use wire::{Algorithm, KeyMode};

/// DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The shortest HMAC key accepted, for signing and for verifying: 32 bytes,
/// the output size of SHA-256 (RFC 2104 §3: shorter keys weaken the MAC).
pub const MIN_HMAC_KEY_BYTES: usize = 32;

/// The longest key id.
pub const MAX_KEY_ID_LEN: usize = 256;

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
    /// The signed payload is not a consistent diffver verdict statement.
    #[error("signed payload is not a valid diffver verdict: {reason}")]
    Payload {
        /// What is wrong.
        reason: String,
    },
    /// The predicate names a signer other than the key that verified it.
    #[error(
        "the verdict says it was signed by {claimed} but it verified with {verified}: refusing a relabelled artifact"
    )]
    SignerMismatch {
        /// `key_id (mode, algorithm)` named in the predicate.
        claimed: String,
        /// `key_id (mode, algorithm)` that verified.
        verified: String,
    },
    /// The deterministic development key was asked for in production.
    #[error(
        "the deterministic development key is refused in production mode; configure an operator key"
    )]
    DeterministicInProduction,
    /// A key or key id is empty, or a key id is not printable ASCII.
    #[error(
        "key ids must be 1 to {MAX_KEY_ID_LEN} printable ASCII characters without spaces, and keys must not be empty"
    )]
    EmptyKey,
    /// An HMAC key is shorter than [`MIN_HMAC_KEY_BYTES`].
    #[error(
        "HMAC key {key_id:?} is {len} bytes; at least {min} are required (an unset secret or a short password is not a key)"
    )]
    KeyTooShort {
        /// The key id.
        key_id: String,
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// The development key (or its id) was given as an operator key, or
    /// mixed with operator keys in one keyring.
    #[error(
        "the published development key cannot be an operator key or share a keyring with one (key id {key_id:?})"
    )]
    DevelopmentKeyMixed {
        /// The key id involved.
        key_id: String,
    },
    /// Two keys with one id.
    #[error("key id {key_id:?} is in the keyring twice")]
    DuplicateKey {
        /// The key id.
        key_id: String,
    },
    /// A public key could not be read.
    #[error("public key {key_id:?} is not a valid {algorithm} key: {reason}")]
    PublicKey {
        /// The key id.
        key_id: String,
        /// The algorithm expected.
        algorithm: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The artifact is about another diff.
    #[error("the artifact is about a diff with sha256 {signed}, not this one ({given})")]
    SubjectMismatch {
        /// The digest inside the signed statement.
        signed: String,
        /// The digest of the diff given.
        given: String,
    },
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

/// Who signs: the key id, the key's mode and the algorithm, recorded inside
/// the signed predicate.
pub type SignerIdentity = wire::SignerV2;

/// Signs DSSE PAE bytes. Implement it over a KMS outside the core (or use the
/// [`payload`] / [`signing_input`] / [`assemble`] split for async signers).
pub trait Signer {
    /// The key id, mode and algorithm recorded in the predicate and envelope.
    fn identity(&self) -> SignerIdentity;
    /// Signs the exact PAE bytes.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::Signer`] when a remote signer fails.
    fn sign(&self, pae: &[u8]) -> Result<Vec<u8>, ArtifactError>;
}

/// Checks a signature over PAE bytes with one key, offline.
pub trait Verifier: Send + Sync {
    /// The key id signatures name.
    fn key_id(&self) -> &str;
    /// Development or operator.
    fn mode(&self) -> KeyMode;
    /// The algorithm.
    fn algorithm(&self) -> Algorithm;
    /// Whether `sig` is this key's signature over `pae`.
    fn verify(&self, pae: &[u8], sig: &[u8]) -> bool;
}

/// Whether the caller runs in production (where the development key is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningMode {
    /// Development and tests: the published deterministic key is allowed
    /// when asked for explicitly.
    Development,
    /// Production: only operator keys.
    Production,
}

/// The published development key: signatures with it prove nothing but
/// integrity in transit. Never accepted in production, never in an operator
/// keyring.
pub const DEVELOPMENT_KEY: &[u8] =
    b"diffver deterministic development key v1 (public, not a secret)";
/// Key id of [`DEVELOPMENT_KEY`].
pub const DEVELOPMENT_KEY_ID: &str = "diffver-dev-v1";

fn check_key_id(key_id: &str) -> Result<(), ArtifactError> {
    let ok = !key_id.is_empty()
        && key_id.len() <= MAX_KEY_ID_LEN
        && key_id.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(ArtifactError::EmptyKey)
    }
}

/// Checks an operator HMAC key: a valid id, at least
/// [`MIN_HMAC_KEY_BYTES`], and not the development key or its id.
fn check_operator_hmac(key_id: &str, key: &[u8]) -> Result<(), ArtifactError> {
    check_key_id(key_id)?;
    if key_id == DEVELOPMENT_KEY_ID || key == DEVELOPMENT_KEY {
        return Err(ArtifactError::DevelopmentKeyMixed {
            key_id: key_id.to_owned(),
        });
    }
    if key.len() < MIN_HMAC_KEY_BYTES {
        return Err(ArtifactError::KeyTooShort {
            key_id: key_id.to_owned(),
            len: key.len(),
            min: MIN_HMAC_KEY_BYTES,
        });
    }
    Ok(())
}

/// HMAC-SHA256 signer: the development mode (the published key) or an
/// operator key handed over by a key manager.
#[derive(Clone)]
pub struct HmacSigner {
    key_id: String,
    key: Vec<u8>,
    mode: KeyMode,
}

impl std::fmt::Debug for HmacSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacSigner")
            .field("key_id", &self.key_id)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl HmacSigner {
    /// A signer with an operator key.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::EmptyKey`] for an invalid key id,
    /// [`ArtifactError::KeyTooShort`] under [`MIN_HMAC_KEY_BYTES`],
    /// [`ArtifactError::DevelopmentKeyMixed`] for the development key or id.
    pub fn new(
        key_id: impl Into<String>,
        key: impl Into<Vec<u8>>,
    ) -> Result<HmacSigner, ArtifactError> {
        let (key_id, key) = (key_id.into(), key.into());
        check_operator_hmac(&key_id, &key)?;
        Ok(HmacSigner {
            key_id,
            key,
            mode: KeyMode::Operator,
        })
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
        Ok(HmacSigner {
            key_id: DEVELOPMENT_KEY_ID.to_owned(),
            key: DEVELOPMENT_KEY.to_vec(),
            mode: KeyMode::Development,
        })
    }
}

/// HMAC-SHA256 keyed with `key`. HMAC takes keys of any length (longer ones
/// are hashed first), so `None` cannot happen in practice; lengths are checked
/// where keys are accepted.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> Option<Hmac<Sha256>> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    m.update(msg);
    Some(m)
}

impl Signer for HmacSigner {
    fn identity(&self) -> SignerIdentity {
        SignerIdentity {
            key_id: self.key_id.clone(),
            mode: self.mode,
            algorithm: Algorithm::HmacSha256,
        }
    }

    fn sign(&self, pae: &[u8]) -> Result<Vec<u8>, ArtifactError> {
        hmac_sha256(&self.key, pae)
            .map(|m| m.finalize().into_bytes().to_vec())
            .ok_or(ArtifactError::EmptyKey)
    }
}

/// An HMAC-SHA256 verification key.
#[derive(Clone)]
pub struct HmacVerifier {
    key_id: String,
    key: Vec<u8>,
    mode: KeyMode,
}

impl HmacVerifier {
    /// An operator key.
    ///
    /// # Errors
    ///
    /// As [`HmacSigner::new`].
    pub fn new(
        key_id: impl Into<String>,
        key: impl Into<Vec<u8>>,
    ) -> Result<HmacVerifier, ArtifactError> {
        let (key_id, key) = (key_id.into(), key.into());
        check_operator_hmac(&key_id, &key)?;
        Ok(HmacVerifier {
            key_id,
            key,
            mode: KeyMode::Operator,
        })
    }
}

impl Verifier for HmacVerifier {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn mode(&self) -> KeyMode {
        self.mode
    }

    fn algorithm(&self) -> Algorithm {
        Algorithm::HmacSha256
    }

    fn verify(&self, pae: &[u8], sig: &[u8]) -> bool {
        hmac_sha256(&self.key, pae).is_some_and(|m| m.verify_slice(sig).is_ok())
    }
}

/// An ECDSA P-256 public key (SHA-256 over the PAE bytes, DER signatures, as
/// cloud KMSs return them), for verifying artifacts signed by a KMS offline.
#[derive(Clone)]
pub struct EcdsaP256Verifier {
    key_id: String,
    key: p256::ecdsa::VerifyingKey,
}

impl EcdsaP256Verifier {
    /// From a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), as `openssl ec -pubout`
    /// and KMS `GetPublicKey` (base64 DER in PEM armour) give.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::PublicKey`] if it is not a P-256 public key.
    pub fn from_public_key_pem(
        key_id: impl Into<String>,
        pem: &str,
    ) -> Result<EcdsaP256Verifier, ArtifactError> {
        use p256::pkcs8::DecodePublicKey as _;
        let key_id = key_id.into();
        check_key_id(&key_id)?;
        let key = p256::ecdsa::VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| {
            ArtifactError::PublicKey {
                key_id: key_id.clone(),
                algorithm: Algorithm::EcdsaP256Sha256.as_str(),
                reason: e.to_string(),
            }
        })?;
        Ok(EcdsaP256Verifier { key_id, key })
    }

    /// From a SEC1-encoded point (65 bytes uncompressed or 33 compressed).
    ///
    /// # Errors
    ///
    /// [`ArtifactError::PublicKey`] if it is not a point on P-256.
    pub fn from_sec1_bytes(
        key_id: impl Into<String>,
        bytes: &[u8],
    ) -> Result<EcdsaP256Verifier, ArtifactError> {
        let key_id = key_id.into();
        check_key_id(&key_id)?;
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map_err(|e| {
            ArtifactError::PublicKey {
                key_id: key_id.clone(),
                algorithm: Algorithm::EcdsaP256Sha256.as_str(),
                reason: e.to_string(),
            }
        })?;
        Ok(EcdsaP256Verifier { key_id, key })
    }
}

impl Verifier for EcdsaP256Verifier {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn mode(&self) -> KeyMode {
        KeyMode::Operator
    }

    fn algorithm(&self) -> Algorithm {
        Algorithm::EcdsaP256Sha256
    }

    fn verify(&self, pae: &[u8], sig: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier as _;
        match p256::ecdsa::Signature::from_der(sig) {
            Ok(s) => self.key.verify(pae, &s).is_ok(),
            Err(_) => false,
        }
    }
}

/// Verification keys by key id, for rotation: old keys stay in the keyring so
/// older artifacts still verify. A keyring holds operator keys, or the
/// development key alone.
#[derive(Clone, Default)]
pub struct Keyring {
    keys: BTreeMap<String, Arc<dyn Verifier>>,
    development: bool,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("development", &self.development)
            .finish()
    }
}

impl Keyring {
    /// An empty operator keyring.
    pub fn new() -> Keyring {
        Keyring::default()
    }

    /// A keyring holding the published development key and nothing else.
    /// Artifacts it verifies are reported as [`KeyMode::Development`].
    ///
    /// # Errors
    ///
    /// [`ArtifactError::DeterministicInProduction`] in production mode.
    pub fn development(mode: SigningMode) -> Result<Keyring, ArtifactError> {
        if mode == SigningMode::Production {
            return Err(ArtifactError::DeterministicInProduction);
        }
        let dev = HmacVerifier {
            key_id: DEVELOPMENT_KEY_ID.to_owned(),
            key: DEVELOPMENT_KEY.to_vec(),
            mode: KeyMode::Development,
        };
        let mut keys: BTreeMap<String, Arc<dyn Verifier>> = BTreeMap::new();
        keys.insert(DEVELOPMENT_KEY_ID.to_owned(), Arc::new(dev));
        Ok(Keyring {
            keys,
            development: true,
        })
    }

    /// Adds an operator HMAC key.
    ///
    /// # Errors
    ///
    /// As [`HmacSigner::new`], and [`ArtifactError::DuplicateKey`] /
    /// [`ArtifactError::DevelopmentKeyMixed`] as [`Keyring::with_verifier`].
    pub fn with_key(
        self,
        key_id: impl Into<String>,
        key: impl Into<Vec<u8>>,
    ) -> Result<Keyring, ArtifactError> {
        let v = HmacVerifier::new(key_id, key)?;
        self.with_verifier(Arc::new(v))
    }

    /// Adds a verification key (an operator HMAC key, or a public key).
    ///
    /// # Errors
    ///
    /// [`ArtifactError::DevelopmentKeyMixed`] on a development keyring or
    /// for a development-mode verifier, [`ArtifactError::DuplicateKey`] for an
    /// id already present.
    pub fn with_verifier(mut self, v: Arc<dyn Verifier>) -> Result<Keyring, ArtifactError> {
        let key_id = v.key_id().to_owned();
        check_key_id(&key_id)?;
        if self.development || v.mode() == KeyMode::Development || key_id == DEVELOPMENT_KEY_ID {
            return Err(ArtifactError::DevelopmentKeyMixed { key_id });
        }
        if self.keys.contains_key(&key_id) {
            return Err(ArtifactError::DuplicateKey { key_id });
        }
        self.keys.insert(key_id, v);
        Ok(self)
    }

    /// The key ids, sorted.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Whether this is the development keyring.
    pub fn is_development(&self) -> bool {
        self.development
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn canonical<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, ArtifactError> {
    serde_jcs::to_vec(v).map_err(|e| ArtifactError::Payload {
        reason: e.to_string(),
    })
}

/// The signed payload: the in-toto statement of a verdict, signed by
/// `signer`, as canonical JSON.
///
/// # Errors
///
/// Only if serialisation fails, which the wire types rule out.
pub fn payload(v: &Verdict, signer: &SignerIdentity) -> Result<Vec<u8>, ArtifactError> {
    check_key_id(&signer.key_id)?;
    canonical(&wire::Statement::from_verdict(v, signer.clone()))
}

/// The exact bytes a signer signs for `payload`: the DSSE PAE of the in-toto
/// payload type and the payload.
pub fn signing_input(payload: &[u8]) -> Vec<u8> {
    pae(PAYLOAD_TYPE, payload)
}

/// One signature made over [`signing_input`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSignature {
    /// The key id.
    pub key_id: String,
    /// The signature bytes (HMAC tag, or DER ECDSA signature).
    pub sig: Vec<u8>,
}

/// The DSSE envelope (canonical JSON) of a payload and its signatures. The
/// payload must be a statement [`payload`] made (canonical, consistent, its
/// signer among the signatures); signatures keep their order.
///
/// # Errors
///
/// [`ArtifactError::Payload`] for a payload that is not one, and
/// [`ArtifactError::Malformed`] for no signatures or a repeated key id.
pub fn assemble(payload: &[u8], signatures: &[RawSignature]) -> Result<Vec<u8>, ArtifactError> {
    let statement = parse_statement(payload)?;
    if signatures.is_empty() {
        return Err(ArtifactError::Malformed {
            reason: "an envelope needs at least one signature".into(),
        });
    }
    for (i, s) in signatures.iter().enumerate() {
        check_key_id(&s.key_id)?;
        if signatures[..i].iter().any(|t| t.key_id == s.key_id) {
            return Err(ArtifactError::Malformed {
                reason: format!("key id {:?} signs twice", s.key_id),
            });
        }
    }
    let named = statement
        .predicate
        .signer
        .as_ref()
        .map(|s| s.key_id.as_str());
    if !signatures.iter().any(|s| Some(s.key_id.as_str()) == named) {
        return Err(ArtifactError::Malformed {
            reason: "no signature is by the signer the predicate names".into(),
        });
    }
    canonical(&wire::Envelope {
        payload: STANDARD.encode(payload),
        payload_type: PAYLOAD_TYPE.to_owned(),
        signatures: signatures
            .iter()
            .map(|s| wire::Signature {
                keyid: s.key_id.clone(),
                sig: STANDARD.encode(&s.sig),
            })
            .collect(),
    })
}

/// Signs a verdict: the DSSE envelope, as canonical JSON bytes. The same
/// verdict and key give byte-identical envelopes.
///
/// # Errors
///
/// [`ArtifactError::Signer`] if the signer fails.
pub fn sign(v: &Verdict, signer: &dyn Signer) -> Result<Vec<u8>, ArtifactError> {
    let identity = signer.identity();
    let payload = payload(v, &identity)?;
    let sig = signer.sign(&signing_input(&payload))?;
    assemble(
        &payload,
        &[RawSignature {
            key_id: identity.key_id,
            sig,
        }],
    )
}

/// What [`verify`] established.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The signed verdict, parsed and checked for consistency.
    pub verdict: wire::VerdictV2,
    /// The key that verified it (the signer the predicate names).
    pub key_id: String,
    /// Whether that is the development key.
    pub mode: KeyMode,
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// The subject's sha256: the diff the verdict is about.
    pub subject_sha256: String,
    /// Signatures by keys not in the keyring (ignored).
    pub ignored_keyids: Vec<String>,
}

impl Verified {
    /// Checks that the verdict is about `diff` (its SHA-256 is the subject's).
    ///
    /// # Errors
    ///
    /// [`ArtifactError::SubjectMismatch`] otherwise.
    pub fn check_diff(&self, diff: &[u8]) -> Result<(), ArtifactError> {
        let given = crate::hex(&Sha256::digest(diff));
        if given == self.subject_sha256 {
            Ok(())
        } else {
            Err(ArtifactError::SubjectMismatch {
                signed: self.subject_sha256.clone(),
                given,
            })
        }
    }
}

/// Base64 as DSSE allows it: the standard or the URL-safe alphabet, with or
/// without padding (diffver itself writes standard, padded).
fn decode_b64(what: &str, s: &str) -> Result<Vec<u8>, ArtifactError> {
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
        .ok_or_else(|| ArtifactError::Malformed {
            reason: format!("{what} is not base64 (standard or URL-safe)"),
        })
}

fn parse_statement(payload: &[u8]) -> Result<wire::Statement, ArtifactError> {
    let statement: wire::Statement =
        serde_json::from_slice(payload).map_err(|e| ArtifactError::Payload {
            reason: e.to_string(),
        })?;
    if canonical(&statement)? != payload {
        return Err(ArtifactError::Payload {
            reason: "the payload is not in canonical JSON form (RFC 8785)".into(),
        });
    }
    statement
        .check()
        .map_err(|reason| ArtifactError::Payload { reason })?;
    Ok(statement)
}

fn describe(key_id: &str, mode: KeyMode, algorithm: Algorithm) -> String {
    format!("{key_id:?} ({}, {})", mode.as_str(), algorithm.as_str())
}

/// Verifies an envelope (see the module documentation for the order of the
/// checks). Nothing in the payload is trusted before a signature by a known
/// key has verified over its exact bytes.
///
/// # Errors
///
/// An [`ArtifactError`] saying which check failed.
pub fn verify(envelope: &[u8], keyring: &Keyring) -> Result<Verified, ArtifactError> {
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
    let payload = decode_b64("the payload", &env.payload)?;
    let message = pae(&env.payload_type, &payload);
    let mut verified: Vec<&Arc<dyn Verifier>> = Vec::new();
    let mut ignored = Vec::new();
    for (i, s) in env.signatures.iter().enumerate() {
        if env.signatures[..i].iter().any(|t| t.keyid == s.keyid) {
            return Err(ArtifactError::Malformed {
                reason: format!("key id {:?} signs twice", s.keyid),
            });
        }
        // The keyid only selects the key to try; whether a signature counts
        // is decided by the cryptography, and the predicate's signer must then
        // be the key that verified. An empty keyid (DSSE makes it optional)
        // is tried against every key; a keyid naming no key is ignored, so
        // a changed keyid is a changed artifact.
        let sig = decode_b64("a signature", &s.sig)?;
        let found = if s.keyid.is_empty() {
            keyring.keys.values().find(|k| k.verify(&message, &sig))
        } else {
            match keyring.keys.get(&s.keyid) {
                Some(key) if key.verify(&message, &sig) => Some(key),
                Some(_) => {
                    return Err(ArtifactError::BadSignature {
                        keyid: s.keyid.clone(),
                    });
                }
                None => None,
            }
        };
        match found {
            Some(key) => verified.push(key),
            None => ignored.push(s.keyid.clone()),
        }
    }
    if verified.is_empty() {
        return Err(ArtifactError::UnknownKey {
            keyids: env.signatures.iter().map(|s| s.keyid.clone()).collect(),
        });
    }
    // Only now is the payload trusted enough to parse.
    let statement = parse_statement(&payload)?;
    let claimed = statement
        .predicate
        .signer
        .clone()
        .ok_or_else(|| ArtifactError::Payload {
            reason: "the predicate names no signer".into(),
        })?;
    let Some(key) = verified.iter().find(|k| {
        k.key_id() == claimed.key_id
            && k.mode() == claimed.mode
            && k.algorithm() == claimed.algorithm
    }) else {
        let k = verified[0];
        return Err(ArtifactError::SignerMismatch {
            claimed: describe(&claimed.key_id, claimed.mode, claimed.algorithm),
            verified: describe(k.key_id(), k.mode(), k.algorithm()),
        });
    };
    let subject_sha256 = statement.predicate.diff.sha256.clone();
    Ok(Verified {
        key_id: key.key_id().to_owned(),
        mode: key.mode(),
        algorithm: key.algorithm(),
        verdict: statement.predicate,
        subject_sha256,
        ignored_keyids: ignored,
    })
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
