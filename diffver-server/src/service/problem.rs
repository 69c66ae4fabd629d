//! Errors as RFC 9457 problem details (`application/problem+json`).
//!
//! Every error the API returns has a stable `type` URI (`https://diffver.dev/problems/…`)
//! clients can branch on, a short `title`, the HTTP `status` and a `detail` written for
//! the caller. Internal errors never carry the underlying message: it is logged with
//! the request id, and the caller gets that id to quote.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use diffver_store::StoreError;
use serde::Serialize;

/// Base of every problem `type`.
pub const PROBLEM_BASE: &str = "https://diffver.dev/problems/";

/// A problem response.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// Stable machine-readable kind (`{PROBLEM_BASE}{slug}`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: &'static str,
    /// HTTP status.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// Seconds to wait before retrying (429, 503); also sent as `Retry-After`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of kind `slug`.
    pub fn new(
        status: StatusCode,
        slug: &str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            kind: format!("{PROBLEM_BASE}{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// 400 `invalid-request`.
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Invalid request",
            detail,
        )
    }

    /// 404 `not-found` (also another tenant's objects).
    pub fn not_found(what: &str) -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("no such {what}"),
        )
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Unauthenticated",
            detail,
        )
    }

    /// 403 `forbidden`.
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 409 `conflict`.
    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    /// 413 `payload-too-large`.
    pub fn too_large(limit: usize) -> Problem {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// 415 `unsupported-media-type`.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            detail,
        )
    }

    /// 429 `rate-limited` with `Retry-After`.
    pub fn rate_limited(detail: impl Into<String>, retry_after: u64) -> Problem {
        let mut p = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            detail,
        );
        p.retry_after = Some(retry_after.max(1));
        p
    }

    /// 503 `unavailable`.
    pub fn unavailable(detail: impl Into<String>) -> Problem {
        let mut p = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        );
        p.retry_after = Some(1);
        p
    }

    /// 500 `internal`: the cause is logged, never returned.
    pub fn internal(context: &str, err: &dyn std::fmt::Display) -> Problem {
        tracing::error!(error = %err, context, "internal error");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the server failed; the request id in the response headers identifies it in the logs",
        )
    }

    /// Maps a store error: not found → 404, conflict → 409, invalid → 400,
    /// unauthenticated → 401, an outage → 503, anything else → 500.
    pub fn from_store(e: StoreError, what: &str) -> Problem {
        match e {
            StoreError::NotFound { .. } => Problem::not_found(what),
            StoreError::Conflict { what } => Problem::conflict(what),
            StoreError::Invalid { field, reason } => {
                Problem::bad_request(format!("{field}: {reason}"))
            }
            StoreError::Unauthenticated => Problem::unauthenticated("the API key is not valid"),
            e @ (StoreError::Database(_) | StoreError::Object(_)) => {
                tracing::error!(error = %DisplayChain(&e), context = what, "storage unavailable");
                Problem::unavailable("storage is unavailable; retry later")
            }
            other => Problem::internal(what, &DisplayChain(&other)),
        }
    }
}

/// Displays an error with its sources.
pub(crate) struct DisplayChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut src = self.0.source();
        while let Some(s) = src {
            write!(f, ": {s}")?;
            src = s.source();
        }
        Ok(())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            h.insert(header::RETRY_AFTER, v);
        }
        if status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// `Result` of a handler.
pub type ApiResult<T> = Result<T, Problem>;
