//! Probes, metrics and the OpenAPI description.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use diffver_store::Store;

use super::json_response;
use crate::service::problem::Problem;
use crate::service::state::AppState;

/// The checked-in OpenAPI 3.1 description.
pub const OPENAPI: &str = include_str!("../../../openapi.json");

/// `GET /healthz`: the process is up.
pub(crate) async fn healthz() -> Response {
    json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: the database and the object store answer.
pub(crate) async fn readyz<S: Store + Clone + 'static>(State(st): State<AppState<S>>) -> Response {
    let db = st.store.ping().await;
    let obj = st.objects.ping().await;
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database");
    }
    if let Err(e) = &obj {
        tracing::warn!(error = %e, "readiness: object store");
    }
    if db.is_ok() && obj.is_ok() {
        json_response(
            StatusCode::OK,
            &serde_json::json!({"status": "ready", "database": "ok", "objects": "ok"}),
        )
    } else {
        let mut p = Problem::unavailable(format!(
            "database {}, object store {}",
            if db.is_ok() { "ok" } else { "unreachable" },
            if obj.is_ok() { "ok" } else { "unreachable" }
        ));
        p.kind = format!("{}not-ready", crate::service::problem::PROBLEM_BASE);
        p.into_response()
    }
}

/// `GET /metrics`: Prometheus text exposition (the queue gauges read fresh).
pub(crate) async fn metrics<S: Store + Clone + 'static>(State(st): State<AppState<S>>) -> Response {
    crate::service::telemetry::record_queue_stats(
        &st.store,
        diffver_store::Millis::from_system_clock(),
    )
    .await;
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(),
    )
        .into_response()
}

/// `GET /openapi.json`.
pub(crate) async fn openapi() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}
