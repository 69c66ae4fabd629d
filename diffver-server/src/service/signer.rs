//! The artifact signer of a service process: a local HMAC key (the operator's key
//! file, or the published development key) or, with the `aws-kms` feature, an AWS
//! KMS key ([`super::kms`]).
//!
//! The core makes the bytes to sign and assembles the envelope
//! (`artifact::payload` → `artifact::signing_input` → signature →
//! `artifact::assemble`); a [`ServiceSigner`] only turns the signing input into a
//! signature. A local key signs on a blocking thread; a KMS key signs with an
//! async call on the runtime, so a slow KMS holds no blocking thread.

use anyhow::Context as _;
use diffver_core::artifact::{HmacSigner, KeyMode, Signer as _, SignerIdentity};

use super::config::SignerSettings;

/// Signs the artifacts of one process.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServiceSigner {
    /// An HMAC key held by the process (`DIFFVER_SIGNING_KEY_FILE`, or the
    /// development key).
    Local(HmacSigner),
    /// A key held by AWS KMS (`DIFFVER_SIGNING_KMS_KEY_ID`).
    #[cfg(feature = "aws-kms")]
    Kms(super::kms::KmsSigner),
}

impl From<HmacSigner> for ServiceSigner {
    fn from(s: HmacSigner) -> ServiceSigner {
        ServiceSigner::Local(s)
    }
}

#[cfg(feature = "aws-kms")]
impl From<super::kms::KmsSigner> for ServiceSigner {
    fn from(s: super::kms::KmsSigner) -> ServiceSigner {
        ServiceSigner::Kms(s)
    }
}

impl ServiceSigner {
    /// The key id, mode and algorithm recorded in every artifact.
    pub fn identity(&self) -> SignerIdentity {
        match self {
            ServiceSigner::Local(s) => s.identity(),
            #[cfg(feature = "aws-kms")]
            ServiceSigner::Kms(s) => s.identity(),
        }
    }

    /// Whether this is the published development key.
    pub fn is_development(&self) -> bool {
        self.identity().mode == KeyMode::Development
    }

    /// `key id (mode, algorithm)`, for logs.
    pub fn describe(&self) -> String {
        let i = self.identity();
        format!(
            "{} ({}, {})",
            i.key_id,
            i.mode.as_str(),
            i.algorithm.as_str()
        )
    }

    /// Signs `signing_input` (the DSSE PAE bytes of a payload made for
    /// [`ServiceSigner::identity`]).
    ///
    /// # Errors
    ///
    /// A KMS call that fails (the caller's job attempt fails and is retried), a
    /// signing input the key cannot sign, or a signature that does not verify.
    pub async fn sign(&self, signing_input: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        match self {
            ServiceSigner::Local(s) => {
                // A copy of the key, so the blocking task owns what it uses.
                let s = s.clone();
                tokio::task::spawn_blocking(move || s.sign(&signing_input))
                    .await
                    .context("the signing task panicked")?
                    .map_err(anyhow::Error::from)
            }
            #[cfg(feature = "aws-kms")]
            ServiceSigner::Kms(s) => Ok(s.sign(&signing_input).await?),
        }
    }
}

/// How a process signs, from flags and environment: a local key, or a KMS key.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SignerConfig {
    /// A key file, or the development key (refused in production).
    Local(SignerSettings),
    /// `DIFFVER_SIGNING_KMS_KEY_ID`: a KMS key id, ARN or alias; the AWS region,
    /// endpoint and credentials come from the usual AWS environment. Present in
    /// every build so that a binary without the `aws-kms` feature refuses the
    /// setting instead of silently signing with another key.
    Kms {
        /// The key id, ARN or `alias/…` name.
        key_id: String,
    },
}

impl SignerConfig {
    /// The signer. A KMS key is looked up now (its ARN, type and public key), so a
    /// wrong key refuses to start rather than failing every scan.
    ///
    /// # Errors
    ///
    /// Production mode without an operator key, a key that cannot be used, KMS
    /// unreachable at start, or a KMS key in a build without the `aws-kms` feature.
    pub async fn signer(&self) -> anyhow::Result<ServiceSigner> {
        match self {
            SignerConfig::Local(s) => Ok(ServiceSigner::Local(s.signer()?)),
            #[cfg(feature = "aws-kms")]
            SignerConfig::Kms { key_id } => {
                let s = super::kms::KmsSigner::connect(key_id)
                    .await
                    .with_context(|| format!("cannot use the KMS key {key_id}"))?;
                Ok(ServiceSigner::Kms(s))
            }
            #[cfg(not(feature = "aws-kms"))]
            SignerConfig::Kms { .. } => anyhow::bail!(
                "DIFFVER_SIGNING_KMS_KEY_ID is set, but this diffver was built without the \
                 `aws-kms` feature (cargo build --features aws-kms)"
            ),
        }
    }
}

/// Loads per-tenant signing keys from a directory: each `KEY_ID.key` file holds an HMAC
/// key of at least 32 bytes (trailing CR/LF stripped) and signs as operator key
/// `KEY_ID`. Other files are ignored.
///
/// # Errors
///
/// An unreadable directory, a key id the artifacts cannot record, or a key too short.
pub fn load_tenant_keys(
    dir: &std::path::Path,
) -> anyhow::Result<std::collections::HashMap<String, std::sync::Arc<ServiceSigner>>> {
    let mut keys = std::collections::HashMap::new();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the tenant signing keys in {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("key") {
            continue;
        }
        let Some(key_id) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let key = crate::cli::read_key_file(&path)?;
        let signer = HmacSigner::new(key_id.to_owned(), key)
            .with_context(|| format!("the tenant signing key {}", path.display()))?;
        keys.insert(
            key_id.to_owned(),
            std::sync::Arc::new(ServiceSigner::Local(signer)),
        );
    }
    Ok(keys)
}
