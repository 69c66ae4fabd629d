//! The HTTP API: routes, request parsing shared by the handlers, and the
//! middleware that gives every request an id, a log line and a latency sample.
//!
//! The OpenAPI 3.1 description is `diffver-server/openapi.json`, checked in and
//! served at `/openapi.json`; [`ROUTES`] lists the operations the router serves and a
//! test holds the two equal.

mod admin;
mod governance;
pub(crate) mod scans;
mod system;

pub use system::OPENAPI;

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use diffver_store::{Millis, Store};
use serde::de::DeserializeOwned;

use super::problem::{ApiResult, Problem};
use super::state::AppState;

/// Every operation the router serves, as (method, OpenAPI path template).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("post", "/v1/scans"),
    ("post", "/v1/github/webhook"),
    ("get", "/v1/scans/{id}"),
    ("get", "/v1/scans/{id}/findings"),
    ("get", "/v1/scans/{id}/artifact"),
    ("get", "/v1/scans/{id}/report.html"),
    ("get", "/v1/scans/{id}/report.sarif"),
    ("get", "/v1/policies"),
    ("post", "/v1/policies"),
    ("get", "/v1/policies/{name}"),
    ("get", "/v1/policies/{name}/versions/{version}"),
    ("delete", "/v1/policies/{name}/versions/{version}"),
    ("post", "/v1/policies/{name}/versions/{version}/activate"),
    ("get", "/v1/exceptions"),
    ("post", "/v1/exceptions"),
    ("get", "/v1/exceptions/{id}"),
    ("patch", "/v1/exceptions/{id}"),
    ("delete", "/v1/exceptions/{id}"),
    ("get", "/v1/baselines"),
    ("get", "/v1/baselines/{name}"),
    ("put", "/v1/baselines/{name}"),
    ("delete", "/v1/baselines/{name}"),
    ("get", "/v1/audit-events"),
    ("get", "/v1/admin/tenants"),
    ("post", "/v1/admin/tenants"),
    ("get", "/v1/admin/tenants/{tenant}"),
    ("patch", "/v1/admin/tenants/{tenant}"),
    ("get", "/v1/admin/tenants/{tenant}/users"),
    ("post", "/v1/admin/tenants/{tenant}/users"),
    ("get", "/v1/admin/tenants/{tenant}/api-keys"),
    ("post", "/v1/admin/tenants/{tenant}/api-keys"),
    (
        "post",
        "/v1/admin/tenants/{tenant}/api-keys/{key_id}/rotate",
    ),
    ("delete", "/v1/admin/tenants/{tenant}/api-keys/{key_id}"),
    ("get", "/v1/admin/tenants/{tenant}/dead-letters"),
    (
        "post",
        "/v1/admin/tenants/{tenant}/dead-letters/{job_id}/redrive",
    ),
    ("get", "/v1/admin/tenants/{tenant}/github/publishes"),
    (
        "post",
        "/v1/admin/tenants/{tenant}/github/publishes/{id}/redrive",
    ),
    ("get", "/v1/admin/github/installations"),
    ("put", "/v1/admin/github/installations/{installation_id}"),
];

/// The API's router over a state.
pub fn app<S: Store + Clone + 'static>(state: AppState<S>) -> Router {
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz::<S>))
        .route("/metrics", get(system::metrics::<S>))
        .route("/openapi.json", get(system::openapi))
        .route("/v1/scans", post(scans::create::<S>))
        .route(
            "/v1/github/webhook",
            post(crate::service::github::webhook::receive::<S>),
        )
        .route("/v1/scans/{id}", get(scans::get_one::<S>))
        .route("/v1/scans/{id}/findings", get(scans::findings::<S>))
        .route("/v1/scans/{id}/artifact", get(scans::artifact::<S>))
        .route("/v1/scans/{id}/report.html", get(scans::report_html::<S>))
        .route("/v1/scans/{id}/report.sarif", get(scans::report_sarif::<S>))
        .route(
            "/v1/policies",
            get(governance::list_policies::<S>).post(governance::create_policy::<S>),
        )
        .route("/v1/policies/{name}", get(governance::active_policy::<S>))
        .route(
            "/v1/policies/{name}/versions/{version}",
            get(governance::get_policy::<S>).delete(governance::delete_policy::<S>),
        )
        .route(
            "/v1/policies/{name}/versions/{version}/activate",
            post(governance::activate_policy::<S>),
        )
        .route(
            "/v1/exceptions",
            get(governance::list_exceptions::<S>).post(governance::create_exception::<S>),
        )
        .route(
            "/v1/exceptions/{id}",
            get(governance::get_exception::<S>)
                .patch(governance::update_exception::<S>)
                .delete(governance::delete_exception::<S>),
        )
        .route("/v1/baselines", get(governance::list_baselines::<S>))
        .route(
            "/v1/baselines/{name}",
            get(governance::get_baseline::<S>)
                .put(governance::put_baseline::<S>)
                .delete(governance::delete_baseline::<S>),
        )
        .route("/v1/audit-events", get(governance::audit_events::<S>))
        .route(
            "/v1/admin/tenants",
            get(admin::list_tenants::<S>).post(admin::create_tenant::<S>),
        )
        .route(
            "/v1/admin/tenants/{tenant}",
            get(admin::get_tenant::<S>).patch(admin::update_tenant::<S>),
        )
        .route(
            "/v1/admin/tenants/{tenant}/users",
            get(admin::list_users::<S>).post(admin::create_user::<S>),
        )
        .route(
            "/v1/admin/tenants/{tenant}/api-keys",
            get(admin::list_keys::<S>).post(admin::create_key::<S>),
        )
        .route(
            "/v1/admin/tenants/{tenant}/api-keys/{key_id}/rotate",
            post(admin::rotate_key::<S>),
        )
        .route(
            "/v1/admin/tenants/{tenant}/api-keys/{key_id}",
            axum::routing::delete(admin::revoke_key::<S>),
        )
        .route(
            "/v1/admin/tenants/{tenant}/dead-letters",
            get(admin::dead_letters::<S>),
        )
        .route(
            "/v1/admin/tenants/{tenant}/dead-letters/{job_id}/redrive",
            post(admin::redrive::<S>),
        )
        .route(
            "/v1/admin/tenants/{tenant}/github/publishes",
            get(admin::github_publishes::<S>),
        )
        .route(
            "/v1/admin/tenants/{tenant}/github/publishes/{id}/redrive",
            post(admin::github_redrive::<S>),
        )
        .route(
            "/v1/admin/github/installations",
            get(admin::github_installations::<S>),
        )
        .route(
            "/v1/admin/github/installations/{installation_id}",
            axum::routing::put(admin::github_map_installation::<S>),
        )
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(middleware::from_fn(track))
        .with_state(state)
}

/// The router of a worker or publisher process's `--metrics-listen`: `/metrics`,
/// `/healthz` and `/readyz`, without the API.
pub fn metrics_app<S: Store + Clone + 'static>(state: AppState<S>) -> Router {
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz::<S>))
        .route("/metrics", get(system::metrics::<S>))
        .fallback(no_route)
        .with_state(state)
}

async fn no_route() -> Problem {
    Problem::new(
        axum::http::StatusCode::NOT_FOUND,
        "no-such-route",
        "No such route",
        "no route matches this path; see /openapi.json",
    )
}

async fn no_method() -> Problem {
    Problem::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "the route does not take this method; see /openapi.json",
    )
}

/// Request id (`X-Request-Id`, kept if the caller sent a sane one), one log line and
/// a latency sample per request. Never logs bodies or credentials.
async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|s| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map_or_else(new_request_id, str::to_owned);
    let span =
        tracing::info_span!("request", request_id = %request_id, route = %route, method = %method);
    let mut resp = {
        use tracing::Instrument as _;
        next.run(req).instrument(span.clone()).await
    };
    let status = resp.status().as_u16();
    let secs = started.elapsed().as_secs_f64();
    metrics::histogram!(
        "diffver_http_request_duration_seconds",
        "route" => route.clone(),
        "method" => method.clone(),
        "status" => status.to_string()
    )
    .record(secs);
    span.in_scope(|| {
        tracing::info!(status, duration_ms = secs * 1000.0, "request");
    });
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

fn new_request_id() -> String {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return "unknown".into();
    }
    super::config::hex(&b)
}

/// Reads a body up to `limit` bytes within `deadline`: 413 beyond the limit (by
/// `Content-Length` or by count), 408 when the client sends too slowly (a slow-loris
/// body cannot hold a connection and its buffer for ever).
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    deadline: std::time::Duration,
) -> ApiResult<Vec<u8>> {
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(Problem::too_large(limit));
    }
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(b)) => Ok(b.to_vec()),
        Ok(Err(_)) => Err(Problem::too_large(limit)),
        Err(_) => {
            metrics::counter!("diffver_request_body_timeouts_total").increment(1);
            Err(Problem::new(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                "request-timeout",
                "Request body too slow",
                format!(
                    "the request body did not arrive within {} seconds",
                    deadline.as_secs()
                ),
            ))
        }
    }
}

/// The media type of a request, lower-cased, without parameters.
pub(crate) fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// A JSON body (`application/json` only; unknown fields rejected by the types).
pub(crate) async fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    deadline: std::time::Duration,
) -> ApiResult<T> {
    let mt = media_type(headers);
    if mt != "application/json" {
        return Err(Problem::unsupported_media_type(
            "send Content-Type: application/json",
        ));
    }
    let bytes = read_body(headers, body, limit, deadline).await?;
    parse_json(&bytes)
}

/// Parses JSON with a 400 that says where it failed.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Problem::bad_request(format!("malformed JSON body: {e}")))
}

/// Query parameters (unknown ones rejected by the types).
pub(crate) fn query<T: DeserializeOwned + Default>(uri: &Uri) -> ApiResult<T> {
    match uri.query() {
        None | Some("") => Ok(T::default()),
        Some(_) => axum::extract::Query::<T>::try_from_uri(uri)
            .map(|q| q.0)
            .map_err(|e| Problem::bad_request(format!("invalid query: {}", e.body_text()))),
    }
}

/// RFC 3339 of a time in milliseconds (second precision).
pub(crate) fn rfc3339(t: Millis) -> String {
    diffver_core::suppress::Timestamp::from_unix_seconds(t.0.div_euclid(1000))
        .map_or_else(|_| String::new(), |ts| ts.to_rfc3339())
}

/// Milliseconds of an RFC 3339 time, or 400.
pub(crate) fn parse_time(field: &str, s: &str) -> ApiResult<Millis> {
    diffver_core::suppress::Timestamp::parse_rfc3339(s)
        .map(|t| Millis(t.unix_seconds().saturating_mul(1000)))
        .map_err(|e| Problem::bad_request(format!("{field}: {e}")))
}

/// A JSON response with a status.
pub(crate) fn json_response<T: serde::Serialize>(
    status: axum::http::StatusCode,
    value: &T,
) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => Problem::internal("serialize", &e).into_response(),
    }
}
