//! Signing artifacts with an AWS KMS key (feature `aws-kms`).
//!
//! Two kinds of key, each producing a signature the existing wire format and the
//! core's offline verifiers already accept:
//!
//! - `ECC_NIST_P256` / `SIGN_VERIFY`: KMS `Sign` with `ECDSA_SHA_256`, a DER
//!   signature over SHA-256 of the DSSE PAE bytes (`ecdsa-p256-sha256`), checked
//!   offline with the key's public key (`diffver verify --public-key-file`). KMS
//!   takes at most 4096 bytes of `RAW` message, so a longer signing input is sent
//!   as its SHA-256 with `MessageType=DIGEST`, which KMS signs without hashing
//!   again: the same signature as over the message. Every signature is verified
//!   here with the public key before it is used, so a KMS (or an emulator) that
//!   returns anything else fails the attempt instead of storing an artifact that
//!   does not verify.
//! - `HMAC_256` / `GENERATE_VERIFY_MAC`: KMS `GenerateMac` with `HMAC_SHA_256`
//!   over the PAE bytes (`hmac-sha256`). An HMAC of a digest would be a different
//!   algorithm on the wire, and KMS MACs at most 4096 bytes, so a longer signing
//!   input is refused ([`KmsError::MessageTooLarge`]).
//!
//! The key id recorded in artifacts is the key's ARN, resolved once at start; every
//! call names that ARN, so re-pointing an alias never makes an artifact's key id
//! disagree with the key that signed it.

use std::time::Duration;

use aws_sdk_kms::Client;
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::error::DisplayErrorContext;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    KeySpec, KeyState, KeyUsageType, MacAlgorithmSpec, MessageType, SigningAlgorithmSpec,
};
use base64::Engine as _;
use diffver_core::artifact::{
    Algorithm, EcdsaP256Verifier, KeyMode, MAX_KEY_ID_LEN, SignerIdentity, Verifier as _,
};
use sha2::{Digest as _, Sha256};

/// The longest message KMS `Sign` (as `RAW`) and `GenerateMac` accept, in bytes.
pub const KMS_MAX_MESSAGE_BYTES: usize = 4096;

/// Why a KMS key cannot be used or a signature was not made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KmsError {
    /// No AWS region is configured.
    #[error("no AWS region: set AWS_REGION")]
    NoRegion,
    /// A KMS call failed (unreachable, throttled, denied, no such key…).
    #[error("KMS {operation} failed: {reason}")]
    Call {
        /// The API operation.
        operation: &'static str,
        /// The SDK's error with its causes.
        reason: String,
    },
    /// A KMS reply lacks a field it always carries.
    #[error("KMS {operation} returned no {field}")]
    MissingField {
        /// The API operation.
        operation: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// The key is disabled, pending deletion or otherwise not usable.
    #[error("KMS key {key_id} is {state}, not Enabled")]
    NotEnabled {
        /// The key.
        key_id: String,
        /// Its state.
        state: String,
    },
    /// The key's spec and usage are not one diffver signs with.
    #[error(
        "KMS key {key_id} is {key_spec} for {key_usage}; diffver signs with ECC_NIST_P256 for \
         SIGN_VERIFY or HMAC_256 for GENERATE_VERIFY_MAC"
    )]
    UnsupportedKey {
        /// The key.
        key_id: String,
        /// Its key spec.
        key_spec: String,
        /// Its key usage.
        key_usage: String,
    },
    /// The key's ARN cannot be an artifact key id.
    #[error(
        "the KMS key ARN {arn:?} cannot be a key id (1 to {MAX_KEY_ID_LEN} printable ASCII characters)"
    )]
    KeyId {
        /// The ARN.
        arn: String,
    },
    /// The public key KMS returned is not a P-256 key.
    #[error("the public key of KMS key {key_id} is unusable: {source}")]
    PublicKey {
        /// The key.
        key_id: String,
        /// The core's reason.
        source: diffver_core::artifact::ArtifactError,
    },
    /// The signing input is longer than KMS MACs (HMAC keys only: an HMAC of a
    /// digest would not be `hmac-sha256` over the PAE bytes).
    #[error(
        "the verdict's signing input is {len} bytes; a KMS HMAC key signs at most {max} \
         (use an ECC_NIST_P256 key, which signs any size)"
    )]
    MessageTooLarge {
        /// The signing input's length.
        len: usize,
        /// [`KMS_MAX_MESSAGE_BYTES`].
        max: usize,
    },
    /// KMS returned a signature that does not verify with the key's public key
    /// over the signing input (for example an emulator that ignores
    /// `MessageType=DIGEST`): nothing is stored.
    #[error(
        "the signature KMS returned for key {key_id} (message type {message_type}) does not \
         verify with the key's public key; refusing it"
    )]
    SignatureMismatch {
        /// The key.
        key_id: String,
        /// `RAW` or `DIGEST`.
        message_type: &'static str,
    },
    /// A MAC of the wrong length.
    #[error("KMS returned a {len}-byte MAC for key {key_id}; HMAC-SHA256 is 32 bytes")]
    MacLength {
        /// The key.
        key_id: String,
        /// Its length.
        len: usize,
    },
}

fn call_error<E>(operation: &'static str, e: E) -> KmsError
where
    E: std::error::Error + 'static,
{
    KmsError::Call {
        operation,
        reason: DisplayErrorContext(&e).to_string(),
    }
}

enum Key {
    Ecdsa {
        verifier: EcdsaP256Verifier,
        public_key_pem: String,
    },
    Hmac,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Key::Ecdsa { .. } => "Ecdsa",
            Key::Hmac => "Hmac",
        })
    }
}

/// A KMS key that signs artifacts.
#[derive(Debug)]
pub struct KmsSigner {
    client: Client,
    arn: String,
    key: Key,
}

impl KmsSigner {
    /// Resolves `key_id` (a key id, ARN or alias) with the AWS configuration of the
    /// environment (`AWS_REGION`, `AWS_ENDPOINT_URL`, credentials…).
    ///
    /// # Errors
    ///
    /// As [`KmsSigner::from_config`], and [`KmsError::NoRegion`].
    pub async fn connect(key_id: &str) -> Result<KmsSigner, KmsError> {
        let config = aws_config::load_from_env().await;
        KmsSigner::from_config(&config, key_id).await
    }

    /// Resolves `key_id` with an explicit AWS configuration: `DescribeKey` (the
    /// ARN, state, spec and usage) and, for an ECDSA key, `GetPublicKey`.
    ///
    /// Calls time out (2 s to connect, 5 s per attempt, 10 s in all) and the SDK
    /// retries once; longer outages are the job queue's to retry.
    ///
    /// # Errors
    ///
    /// A failed call, a key that is not enabled or not of a supported kind, or an
    /// ARN that cannot be a key id.
    pub async fn from_config(
        config: &aws_config::SdkConfig,
        key_id: &str,
    ) -> Result<KmsSigner, KmsError> {
        if config.region().is_none() {
            return Err(KmsError::NoRegion);
        }
        let conf = aws_sdk_kms::config::Builder::from(config)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_attempt_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(10))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .build();
        let client = Client::from_conf(conf);
        let described = client
            .describe_key()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| call_error("DescribeKey", e))?;
        let meta = described.key_metadata().ok_or(KmsError::MissingField {
            operation: "DescribeKey",
            field: "KeyMetadata",
        })?;
        let arn = meta
            .arn()
            .ok_or(KmsError::MissingField {
                operation: "DescribeKey",
                field: "Arn",
            })?
            .to_owned();
        let arn_ok = !arn.is_empty()
            && arn.len() <= MAX_KEY_ID_LEN
            && arn.bytes().all(|b| b.is_ascii_graphic());
        if !arn_ok {
            return Err(KmsError::KeyId { arn });
        }
        if meta.key_state() != Some(&KeyState::Enabled) || !meta.enabled() {
            return Err(KmsError::NotEnabled {
                key_id: arn,
                state: meta
                    .key_state()
                    .map_or("in an unknown state", KeyState::as_str)
                    .to_owned(),
            });
        }
        let key = match (meta.key_spec(), meta.key_usage()) {
            (Some(KeySpec::EccNistP256), Some(KeyUsageType::SignVerify)) => {
                let out = client
                    .get_public_key()
                    .key_id(&arn)
                    .send()
                    .await
                    .map_err(|e| call_error("GetPublicKey", e))?;
                let der = out.public_key().ok_or(KmsError::MissingField {
                    operation: "GetPublicKey",
                    field: "PublicKey",
                })?;
                let public_key_pem = spki_pem(der.as_ref());
                let verifier = EcdsaP256Verifier::from_public_key_pem(arn.clone(), &public_key_pem)
                    .map_err(|source| KmsError::PublicKey {
                        key_id: arn.clone(),
                        source,
                    })?;
                Key::Ecdsa {
                    verifier,
                    public_key_pem,
                }
            }
            (Some(KeySpec::Hmac256), Some(KeyUsageType::GenerateVerifyMac)) => Key::Hmac,
            (spec, usage) => {
                return Err(KmsError::UnsupportedKey {
                    key_id: arn,
                    key_spec: spec.map_or("unknown", KeySpec::as_str).to_owned(),
                    key_usage: usage.map_or("unknown", KeyUsageType::as_str).to_owned(),
                });
            }
        };
        Ok(KmsSigner { client, arn, key })
    }

    /// The key id (the key's ARN), operator mode, and the algorithm.
    pub fn identity(&self) -> SignerIdentity {
        SignerIdentity {
            key_id: self.arn.clone(),
            mode: KeyMode::Operator,
            algorithm: match self.key {
                Key::Ecdsa { .. } => Algorithm::EcdsaP256Sha256,
                Key::Hmac => Algorithm::HmacSha256,
            },
        }
    }

    /// The public key (PEM SubjectPublicKeyInfo) of an ECDSA key, for
    /// `diffver verify --public-key-file`; `None` for an HMAC key.
    pub fn public_key_pem(&self) -> Option<&str> {
        match &self.key {
            Key::Ecdsa { public_key_pem, .. } => Some(public_key_pem),
            Key::Hmac => None,
        }
    }

    /// Signs the DSSE PAE bytes.
    ///
    /// # Errors
    ///
    /// [`KmsError::Call`] when KMS fails or is unreachable,
    /// [`KmsError::SignatureMismatch`] for a signature that does not verify,
    /// [`KmsError::MessageTooLarge`] for an HMAC key and more than
    /// [`KMS_MAX_MESSAGE_BYTES`].
    pub async fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, KmsError> {
        match &self.key {
            Key::Ecdsa { verifier, .. } => {
                // RAW up to KMS's limit (KMS hashes it with SHA-256); beyond it the
                // SHA-256 digest, which KMS signs as it is. Both are ECDSA_SHA_256
                // signatures over the signing input.
                let (message, message_type) = if signing_input.len() <= KMS_MAX_MESSAGE_BYTES {
                    (signing_input.to_vec(), MessageType::Raw)
                } else {
                    (Sha256::digest(signing_input).to_vec(), MessageType::Digest)
                };
                let out = self
                    .client
                    .sign()
                    .key_id(&self.arn)
                    .message(Blob::new(message))
                    .message_type(message_type.clone())
                    .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
                    .send()
                    .await
                    .map_err(|e| call_error("Sign", e))?;
                let sig = out
                    .signature()
                    .ok_or(KmsError::MissingField {
                        operation: "Sign",
                        field: "Signature",
                    })?
                    .as_ref()
                    .to_vec();
                if !verifier.verify(signing_input, &sig) {
                    return Err(KmsError::SignatureMismatch {
                        key_id: self.arn.clone(),
                        message_type: if message_type == MessageType::Raw {
                            "RAW"
                        } else {
                            "DIGEST"
                        },
                    });
                }
                Ok(sig)
            }
            Key::Hmac => {
                if signing_input.len() > KMS_MAX_MESSAGE_BYTES {
                    return Err(KmsError::MessageTooLarge {
                        len: signing_input.len(),
                        max: KMS_MAX_MESSAGE_BYTES,
                    });
                }
                let out = self
                    .client
                    .generate_mac()
                    .key_id(&self.arn)
                    .message(Blob::new(signing_input))
                    .mac_algorithm(MacAlgorithmSpec::HmacSha256)
                    .send()
                    .await
                    .map_err(|e| call_error("GenerateMac", e))?;
                let mac = out
                    .mac()
                    .ok_or(KmsError::MissingField {
                        operation: "GenerateMac",
                        field: "Mac",
                    })?
                    .as_ref()
                    .to_vec();
                if mac.len() != 32 {
                    return Err(KmsError::MacLength {
                        key_id: self.arn.clone(),
                        len: mac.len(),
                    });
                }
                Ok(mac)
            }
        }
    }
}

/// DER SubjectPublicKeyInfo in PEM armour (`-----BEGIN PUBLIC KEY-----`, base64 in
/// 64-character lines, RFC 7468).
pub fn spki_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // Base64 is ASCII, so every chunk is valid UTF-8.
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::hazmat::PrehashSigner as _;
    use p256::pkcs8::EncodePublicKey as _;

    /// What KMS returns for `MessageType=DIGEST` (an ECDSA signature over the given
    /// SHA-256, not hashed again) verifies with the core's verifier over the
    /// message itself: the digest path signs the same thing as the RAW path.
    #[test]
    fn a_signature_over_the_digest_verifies_over_the_message() {
        let sk = SigningKey::from_slice(&[0x42; 32]).unwrap();
        let der = sk.verifying_key().to_public_key_der().unwrap();
        let pem = spki_pem(der.as_bytes());
        let v = EcdsaP256Verifier::from_public_key_pem("arn:aws:kms:k", &pem).unwrap();
        let message = vec![b'x'; KMS_MAX_MESSAGE_BYTES * 3];
        let digest = Sha256::digest(&message);
        let sig: p256::ecdsa::Signature = sk.sign_prehash(&digest).unwrap();
        assert!(v.verify(&message, sig.to_der().as_bytes()));
        // Hashing the digest again (an emulator that ignores DIGEST) does not.
        let twice: p256::ecdsa::Signature = sk.sign_prehash(&Sha256::digest(digest)).unwrap();
        assert!(!v.verify(&message, twice.to_der().as_bytes()));
    }

    #[test]
    fn pem_lines_are_64_characters() {
        let pem = spki_pem(&[7u8; 91]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN PUBLIC KEY-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last().copied(), Some("-----END PUBLIC KEY-----"));
    }
}
