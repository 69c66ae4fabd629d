//! The GitHub integration: webhook ingress ([`webhook`]), App authentication and the
//! REST calls ([`client`]), and the publisher that turns the check-run outbox into
//! Check Runs ([`publisher`]).
//!
//! Who talks to what: GitHub → the API process (`POST /v1/github/webhook`, verified,
//! persisted with its outbox row, answered at once); the publisher (in `serve`, or a
//! `diffver publisher` process) → GitHub (check runs, the pull request's diff) and the
//! store (creates the scan from the fetched diff); workers → the store only. The
//! worker never has network access to GitHub.

pub mod client;
pub mod publisher;
pub mod webhook;

use std::fmt;

use diffver_store::TenantId;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Configuration of the integration (`DIFFVER_GITHUB_*`).
#[derive(Clone)]
pub struct GithubSettings {
    /// `DIFFVER_GITHUB_WEBHOOK_SECRET`: the webhook's HMAC secret.
    pub webhook_secret: Vec<u8>,
    /// `DIFFVER_GITHUB_APP_ID`: the App's id (the JWT's `iss`); needed by the publisher.
    pub app_id: Option<String>,
    /// `DIFFVER_GITHUB_PRIVATE_KEY`: the App's RSA private key (PEM bytes).
    pub private_key_pem: Option<Vec<u8>>,
    /// `DIFFVER_GITHUB_API_URL`: `https://api.github.com`, a GitHub Enterprise Server's
    /// `https://HOST/api/v3`, or a test server.
    pub api_url: String,
    /// `DIFFVER_GITHUB_TENANT`: the tenant new installations are mapped to (unset:
    /// installations wait for `diffver admin map-installation`).
    pub tenant: Option<TenantId>,
    /// `DIFFVER_PUBLIC_URL`: the service's public base URL, for report links in check
    /// summaries.
    pub public_url: Option<String>,
    /// The check run's name.
    pub check_name: String,
    /// Largest diff fetched from GitHub, in bytes.
    pub max_diff_bytes: usize,
    /// Consecutive failures before an outbox row is dead (an admin redrives it).
    pub max_attempts: i32,
    /// First retry delay of a failed publish (doubles per consecutive failure).
    pub retry_base_ms: i64,
}

impl fmt::Debug for GithubSettings {
    /// Never prints the secret or the private key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubSettings")
            .field("app_id", &self.app_id)
            .field("api_url", &self.api_url)
            .field("tenant", &self.tenant)
            .field("public_url", &self.public_url)
            .field("check_name", &self.check_name)
            .field("max_diff_bytes", &self.max_diff_bytes)
            .field("max_attempts", &self.max_attempts)
            .field("retry_base_ms", &self.retry_base_ms)
            .finish_non_exhaustive()
    }
}

impl GithubSettings {
    /// Settings with the defaults for everything but the secret.
    pub fn new(webhook_secret: Vec<u8>) -> GithubSettings {
        GithubSettings {
            webhook_secret,
            app_id: None,
            private_key_pem: None,
            api_url: "https://api.github.com".into(),
            tenant: None,
            public_url: None,
            check_name: "diffver".into(),
            max_diff_bytes: 16 << 20,
            max_attempts: 10,
            retry_base_ms: 1_000,
        }
    }

    /// Whether the publisher can run (an App id and a private key).
    pub fn can_publish(&self) -> bool {
        self.app_id.is_some() && self.private_key_pem.is_some()
    }
}

/// Why a webhook signature is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header.
    Missing,
    /// Only the SHA-1 `X-Hub-Signature` header.
    Sha1Only,
    /// Not `sha256=` and 64 hex digits.
    Malformed,
    /// The HMAC does not match the body.
    Mismatch,
}

impl SignatureError {
    /// A short reason for the 401 and the metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureError::Missing => "missing",
            SignatureError::Sha1Only => "sha1_only",
            SignatureError::Malformed => "malformed",
            SignatureError::Mismatch => "mismatch",
        }
    }
}

/// Verifies `X-Hub-Signature-256` (`sha256=` + hex HMAC-SHA256 of the exact body
/// bytes) in constant time. `sha1` is the legacy `X-Hub-Signature` header, only to
/// say why a request without the SHA-256 one is refused.
///
/// # Errors
///
/// [`SignatureError`] for a missing, SHA-1-only, malformed or wrong signature.
pub fn verify_signature(
    secret: &[u8],
    body: &[u8],
    sha256: Option<&[u8]>,
    sha1: Option<&[u8]>,
) -> Result<(), SignatureError> {
    let Some(header) = sha256 else {
        return Err(if sha1.is_some() {
            SignatureError::Sha1Only
        } else {
            SignatureError::Missing
        });
    };
    let hex = header
        .strip_prefix(b"sha256=")
        .ok_or(SignatureError::Malformed)?;
    if hex.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let mut expected = [0u8; 32];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let hi = hex_val(pair[0]).ok_or(SignatureError::Malformed)?;
        let lo = hex_val(pair[1]).ok_or(SignatureError::Malformed)?;
        expected[i] = (hi << 4) | lo;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The `X-Hub-Signature-256` value of a body (for tests and tools that send deliveries).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(body);
    format!(
        "sha256={}",
        super::config::hex(&mac.finalize().into_bytes())
    )
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const VECTOR: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn githubs_documented_vector() {
        assert_eq!(sign(SECRET, b"Hello, World!"), VECTOR);
        assert_eq!(
            verify_signature(SECRET, b"Hello, World!", Some(VECTOR.as_bytes()), None),
            Ok(())
        );
        let upper = VECTOR.to_uppercase().replace("SHA256=", "sha256=");
        assert_eq!(
            verify_signature(SECRET, b"Hello, World!", Some(upper.as_bytes()), None),
            Ok(())
        );
    }

    #[test]
    fn refuses_forged_truncated_and_missing() {
        let body = b"Hello, World!";
        for (sig, want) in [
            (None, SignatureError::Missing),
            (Some("sha1=0123"), SignatureError::Malformed),
            (Some("sha256="), SignatureError::Malformed),
            (Some(&VECTOR[..VECTOR.len() - 2]), SignatureError::Malformed),
            (
                Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18"),
                SignatureError::Mismatch,
            ),
            (
                Some("sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
                SignatureError::Malformed,
            ),
        ] {
            assert_eq!(
                verify_signature(SECRET, body, sig.map(str::as_bytes), None),
                Err(want),
                "{sig:?}"
            );
        }
        assert_eq!(
            verify_signature(SECRET, body, None, Some(b"sha1=abc")),
            Err(SignatureError::Sha1Only)
        );
        // The same signature over a truncated or re-serialised body.
        assert_eq!(
            verify_signature(SECRET, b"Hello, World", Some(VECTOR.as_bytes()), None),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"another secret", body, Some(VECTOR.as_bytes()), None),
            Err(SignatureError::Mismatch)
        );
    }
}
