//! GitHub App authentication and the few REST calls the publisher makes: an
//! installation token, a pull request's diff (or a compare), check-run create and
//! update. Plain reqwest calls with the documented media types and headers.
//!
//! The App JWT is RS256 with `iat` 60 s in the past and `exp` 9 minutes ahead (GitHub
//! allows at most 10); installation tokens are cached until 5 minutes before they
//! expire. Tokens and the JWT never reach a log or an error message.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, USER_AGENT};
use serde::Serialize;

use super::GithubSettings;

/// The REST API version diffver speaks.
pub const API_VERSION: &str = "2022-11-28";

/// A failed call, classified for the publisher's retry policy. The reason never holds
/// a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// Worth retrying (a 5xx, a rate limit, the network), no sooner than `retry_after`
    /// when GitHub said so (`Retry-After`, or `x-ratelimit-reset` with nothing left).
    Transient {
        /// What happened.
        reason: String,
        /// GitHub's wait, if it gave one.
        retry_after: Option<Duration>,
    },
    /// Retrying will not help (not found, no permission, unprocessable).
    Permanent {
        /// The HTTP status (0 when no response was involved).
        status: u16,
        /// What GitHub said.
        reason: String,
    },
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Transient { reason, .. } => write!(f, "{reason} (will retry)"),
            CallError::Permanent { status, reason } => write!(f, "{reason} (HTTP {status})"),
        }
    }
}

impl CallError {
    /// The metrics label.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Transient {
                retry_after: Some(_),
                ..
            } => "rate_limited",
            CallError::Transient { .. } => "transient",
            CallError::Permanent { .. } => "permanent",
        }
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iat: u64,
    exp: u64,
    iss: &'a str,
}

/// A GitHub App client for one API base URL.
pub struct GithubClient {
    http: reqwest::Client,
    api: String,
    app_id: String,
    key: EncodingKey,
    tokens: Mutex<HashMap<i64, (String, SystemTime)>>,
}

impl std::fmt::Debug for GithubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubClient")
            .field("api", &self.api)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl GithubClient {
    /// A client from the settings.
    ///
    /// # Errors
    ///
    /// No App id or private key, a key that is not an RSA PEM, or no HTTP client.
    pub fn new(s: &GithubSettings) -> anyhow::Result<GithubClient> {
        let (Some(app_id), Some(pem)) = (&s.app_id, &s.private_key_pem) else {
            anyhow::bail!(
                "the GitHub publisher needs DIFFVER_GITHUB_APP_ID and DIFFVER_GITHUB_PRIVATE_KEY"
            );
        };
        let key = EncodingKey::from_rsa_pem(pem).map_err(|_| {
            anyhow::anyhow!("DIFFVER_GITHUB_PRIVATE_KEY is not an RSA private key in PEM form")
        })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(GithubClient {
            http,
            api: s.api_url.trim_end_matches('/').to_owned(),
            app_id: app_id.clone(),
            key,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// The App's JWT, valid from 60 s ago for 10 minutes in all.
    fn jwt(&self) -> Result<String, CallError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = Claims {
            iat: now.saturating_sub(60),
            exp: now + 540,
            iss: &self.app_id,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key).map_err(|_| {
            CallError::Permanent {
                status: 0,
                reason: "cannot sign the App JWT with the configured key".into(),
            }
        })
    }

    /// An installation access token, from the cache while it has 5 minutes left.
    async fn token(&self, installation: i64) -> Result<String, CallError> {
        if let Ok(m) = self.tokens.lock()
            && let Some((t, until)) = m.get(&installation)
            && SystemTime::now() < *until
        {
            return Ok(t.clone());
        }
        let jwt = self.jwt()?;
        let resp = self
            .http
            .post(format!(
                "{}/app/installations/{installation}/access_tokens",
                self.api
            ))
            .headers(common_headers("application/vnd.github+json"))
            .header(AUTHORIZATION, format!("Bearer {jwt}"))
            .send()
            .await
            .map_err(network)?;
        let resp = check(resp, "installation token").await?;
        #[derive(serde::Deserialize)]
        struct Token {
            token: String,
            expires_at: String,
        }
        let body = resp.bytes().await.map_err(network)?;
        let t: Token = serde_json::from_slice(&body).map_err(|_| CallError::Transient {
            reason: "installation token: unreadable response".into(),
            retry_after: None,
        })?;
        let expires = diffver_core::suppress::Timestamp::parse_rfc3339(&t.expires_at)
            .ok()
            .and_then(|ts| u64::try_from(ts.unix_seconds()).ok())
            .map_or_else(
                || SystemTime::now() + Duration::from_secs(50 * 60),
                |s| UNIX_EPOCH + Duration::from_secs(s),
            );
        let use_until = expires
            .checked_sub(Duration::from_secs(300))
            .unwrap_or(UNIX_EPOCH);
        if let Ok(mut m) = self.tokens.lock() {
            m.insert(installation, (t.token.clone(), use_until));
        }
        Ok(t.token)
    }

    fn forget_token(&self, installation: i64) {
        if let Ok(mut m) = self.tokens.lock() {
            m.remove(&installation);
        }
    }

    async fn send(
        &self,
        installation: i64,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<reqwest::Response, CallError> {
        let token = self.token(installation).await?;
        let resp = req
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .await
            .map_err(network)?;
        if resp.status().as_u16() == 401 {
            // Revoked or expired early: fetch a new one next time.
            self.forget_token(installation);
        }
        check(resp, what).await
    }

    /// Creates a check run; returns its id.
    ///
    /// # Errors
    ///
    /// A classified [`CallError`].
    pub async fn create_check_run(
        &self,
        installation: i64,
        repository: &str,
        body: &serde_json::Value,
    ) -> Result<i64, CallError> {
        let req = self
            .http
            .post(format!("{}/repos/{repository}/check-runs", self.api))
            .headers(common_headers("application/vnd.github+json"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body).unwrap_or_default());
        let resp = self.send(installation, req, "create check run").await?;
        let bytes = resp.bytes().await.map_err(network)?;
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("id").and_then(serde_json::Value::as_i64))
            .ok_or(CallError::Transient {
                reason: "create check run: no id in the response".into(),
                retry_after: None,
            })
    }

    /// The check run named `name` on `head_sha` whose `external_id` is `external_id`,
    /// if GitHub has one: a create whose answer was lost, or whose publisher died
    /// before saving the id, must not be repeated.
    ///
    /// # Errors
    ///
    /// A classified [`CallError`].
    pub async fn find_check_run(
        &self,
        installation: i64,
        repository: &str,
        head_sha: &str,
        name: &str,
        external_id: &str,
    ) -> Result<Option<i64>, CallError> {
        let req = self
            .http
            .get(format!(
                "{}/repos/{repository}/commits/{head_sha}/check-runs",
                self.api
            ))
            .query(&[("check_name", name), ("filter", "all"), ("per_page", "100")])
            .headers(common_headers("application/vnd.github+json"));
        let resp = self.send(installation, req, "list check runs").await?;
        let bytes = resp.bytes().await.map_err(network)?;
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|_| CallError::Transient {
                reason: "list check runs: unreadable response".into(),
                retry_after: None,
            })?;
        Ok(v.get("check_runs")
            .and_then(serde_json::Value::as_array)
            .and_then(|runs| {
                runs.iter().find(|r| {
                    r.get("external_id").and_then(serde_json::Value::as_str) == Some(external_id)
                })
            })
            .and_then(|r| r.get("id"))
            .and_then(serde_json::Value::as_i64))
    }

    /// Updates a check run.
    ///
    /// # Errors
    ///
    /// A classified [`CallError`].
    pub async fn update_check_run(
        &self,
        installation: i64,
        repository: &str,
        check_run_id: i64,
        body: &serde_json::Value,
    ) -> Result<(), CallError> {
        let req = self
            .http
            .patch(format!(
                "{}/repos/{repository}/check-runs/{check_run_id}",
                self.api
            ))
            .headers(common_headers("application/vnd.github+json"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body).unwrap_or_default());
        self.send(installation, req, "update check run").await?;
        Ok(())
    }

    /// The diff of a pull request (or, without one, of `base...head`), at most `limit`
    /// bytes.
    ///
    /// # Errors
    ///
    /// [`CallError::Permanent`] for a diff over `limit` or one GitHub will not produce
    /// (too large for it: 406/422), or no pull request and no base; otherwise a
    /// classified [`CallError`].
    pub async fn fetch_diff(
        &self,
        installation: i64,
        repository: &str,
        pull: Option<i64>,
        base: Option<&str>,
        head: &str,
        limit: usize,
    ) -> Result<Vec<u8>, CallError> {
        let url = match (pull, base) {
            (Some(n), _) => format!("{}/repos/{repository}/pulls/{n}", self.api),
            (None, Some(b)) => format!("{}/repos/{repository}/compare/{b}...{head}", self.api),
            (None, None) => {
                return Err(CallError::Permanent {
                    status: 0,
                    reason: "the event names no pull request and no base commit to compare".into(),
                });
            }
        };
        let req = self
            .http
            .get(url)
            .headers(common_headers("application/vnd.github.diff"));
        let mut resp = self.send(installation, req, "fetch diff").await?;
        if resp
            .content_length()
            .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
        {
            return Err(too_large(limit));
        }
        let mut out = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(network)? {
            if out.len() + chunk.len() > limit {
                return Err(too_large(limit));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

fn too_large(limit: usize) -> CallError {
    CallError::Permanent {
        status: 413,
        reason: format!("the diff is larger than this server's limit of {limit} bytes"),
    }
}

fn common_headers(accept: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(ACCEPT, reqwest::header::HeaderValue::from_static(accept));
    h.insert(
        USER_AGENT,
        reqwest::header::HeaderValue::from_static("diffver"),
    );
    h.insert(
        "x-github-api-version",
        reqwest::header::HeaderValue::from_static(API_VERSION),
    );
    h
}

fn network(e: reqwest::Error) -> CallError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "the connection failed"
    };
    CallError::Transient {
        reason: format!("GitHub {what}"),
        retry_after: None,
    }
}

/// Passes a 2xx through; classifies anything else.
async fn check(resp: reqwest::Response, what: &str) -> Result<reqwest::Response, CallError> {
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(resp);
    }
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        })
        .map(|m| clean(&m))
        .unwrap_or_default();
    let reason = if message.is_empty() {
        format!("{what}: GitHub answered {status}")
    } else {
        format!("{what}: GitHub answered {status}: {message}")
    };
    let header_secs = |name: &str| -> Option<u64> {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let retry_after = header_secs("retry-after")
        .map(Duration::from_secs)
        .or_else(|| {
            (header_secs("x-ratelimit-remaining") == Some(0))
                .then(|| header_secs("x-ratelimit-reset"))
                .flatten()
                .map(|reset| {
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    Duration::from_secs(reset.saturating_sub(now).max(1))
                })
        });
    match status {
        401 | 408 | 500..=599 => Err(CallError::Transient {
            reason,
            retry_after,
        }),
        403 | 429 if retry_after.is_some() || status == 429 => Err(CallError::Transient {
            reason,
            retry_after: retry_after.or(Some(Duration::from_secs(60))),
        }),
        _ => Err(CallError::Permanent { status, reason }),
    }
}

/// GitHub's message, printable and short (it may echo what an attacker put in a
/// repository name or a ref).
fn clean(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_control() || diffver_core::text::is_display_hazard(c) {
                ' '
            } else {
                c
            }
        })
        .take(300)
        .collect();
    t.trim().to_owned()
}
