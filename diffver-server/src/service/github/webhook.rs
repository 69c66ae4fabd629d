//! `POST /v1/github/webhook`: verify, deduplicate, persist, answer.
//!
//! The signature is checked over the exact body bytes before anything is parsed. A
//! delivery that asks for a check is recorded with its outbox row in one transaction
//! keyed by `X-GitHub-Delivery`, so a redelivery is acknowledged and adds nothing.
//! Nothing is fetched or scanned here: the publisher does that, so the answer comes
//! well within GitHub's 10-second window.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use diffver_store::{Accepted, Millis, NewCheck, Store, StoreError, TenantId};
use serde_json::{Value, json};

use super::verify_signature;
use crate::service::api::{json_response, read_body};
use crate::service::problem::{ApiResult, Problem};
use crate::service::state::AppState;

/// GitHub caps webhook payloads at 25 MB.
const MAX_PAYLOAD: usize = 25 << 20;

fn counted(event: &str, result: &'static str) {
    let event = match event {
        "pull_request" | "check_suite" | "check_run" | "ping" | "installation" => event,
        _ => "other",
    };
    metrics::counter!("diffver_github_webhooks_total", "event" => event.to_owned(), "result" => result)
        .increment(1);
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The handler.
pub(crate) async fn receive<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let Some(gh) = st.github() else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "github-not-configured",
            "GitHub integration not configured",
            "this server has no DIFFVER_GITHUB_WEBHOOK_SECRET",
        ));
    };
    let body = read_body(&headers, body, MAX_PAYLOAD, st.settings.body_timeout).await?;
    if let Err(e) = verify_signature(
        &gh.webhook_secret,
        &body,
        headers
            .get("x-hub-signature-256")
            .map(axum::http::HeaderValue::as_bytes),
        headers
            .get("x-hub-signature")
            .map(axum::http::HeaderValue::as_bytes),
    ) {
        metrics::counter!("diffver_auth_failures_total", "reason" => "github_signature")
            .increment(1);
        tracing::warn!(reason = e.as_str(), "webhook refused: bad signature");
        return Err(Problem::unauthenticated(match e {
            super::SignatureError::Sha1Only => {
                "X-Hub-Signature (SHA-1) is not accepted: send X-Hub-Signature-256"
            }
            _ => "X-Hub-Signature-256 is missing or does not match the body",
        }));
    }
    let event = header(&headers, "x-github-event").unwrap_or("").to_owned();
    let delivery = header(&headers, "x-github-delivery")
        .unwrap_or("")
        .to_owned();
    if event.is_empty() || delivery.is_empty() || delivery.len() > 100 {
        return Err(Problem::bad_request(
            "X-GitHub-Event and X-GitHub-Delivery (at most 100 bytes) are required",
        ));
    }
    let payload: Value = serde_json::from_slice(&body)
        .map_err(|e| Problem::bad_request(format!("the payload is not JSON: {e}")))?;
    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let now = Millis::from_system_clock();
    let installation = payload.pointer("/installation/id").and_then(Value::as_i64);
    match event.as_str() {
        "ping" => {
            counted(&event, "pong");
            Ok(json_response(StatusCode::OK, &json!({"result": "pong"})))
        }
        "installation" if matches!(action.as_str(), "created" | "deleted") => {
            let id = installation
                .ok_or_else(|| Problem::bad_request("the installation event has no id"))?;
            let account = payload
                .pointer("/installation/account/login")
                .and_then(Value::as_str)
                .unwrap_or("");
            if action == "created" {
                let i = st
                    .store
                    .upsert_installation(id, account, gh.tenant.as_ref(), now)
                    .await
                    .map_err(|e| Problem::from_store(e, "installation"))?;
                counted(&event, "recorded");
                tracing::info!(
                    installation = id,
                    mapped = i.tenant_id.is_some(),
                    "GitHub App installed"
                );
                Ok(json_response(
                    StatusCode::OK,
                    &json!({"result": "installation recorded", "tenant_id": i.tenant_id.as_ref().map(TenantId::as_str)}),
                ))
            } else {
                st.store
                    .delete_installation(id, now)
                    .await
                    .map_err(|e| Problem::from_store(e, "installation"))?;
                counted(&event, "recorded");
                Ok(json_response(
                    StatusCode::OK,
                    &json!({"result": "installation removed"}),
                ))
            }
        }
        "pull_request" | "check_suite" | "check_run" => {
            let Some(check) = check_of(&event, &action, &payload, installation) else {
                counted(&event, "ignored");
                return Ok(StatusCode::NO_CONTENT.into_response());
            };
            let Some(tenant) = tenant_of(&st, &payload, check.installation_id, now).await? else {
                counted(&event, "unmapped");
                tracing::warn!(
                    installation = check.installation_id,
                    "webhook for an installation that maps to no tenant; set DIFFVER_GITHUB_TENANT or run `diffver admin map-installation`"
                );
                return Ok(json_response(
                    StatusCode::ACCEPTED,
                    &json!({"result": "ignored: the installation is not mapped to a tenant"}),
                ));
            };
            match st
                .store
                .accept_github_event(&tenant, &delivery, &event, check, now)
                .await
            {
                Ok(Accepted::Queued(c)) => {
                    counted(&event, "queued");
                    st.publisher_wake.notify_one();
                    tracing::info!(check = %c.id, event = %event, "check queued");
                    Ok(json_response(
                        StatusCode::ACCEPTED,
                        &json!({"result": "queued", "check_id": c.id}),
                    ))
                }
                Ok(Accepted::Redelivery) => {
                    counted(&event, "duplicate");
                    Ok(json_response(
                        StatusCode::OK,
                        &json!({"result": "duplicate delivery: nothing done"}),
                    ))
                }
                Ok(Accepted::AlreadyChecked) => {
                    counted(&event, "already_checked");
                    Ok(json_response(
                        StatusCode::OK,
                        &json!({"result": "this commit already has a check: nothing done"}),
                    ))
                }
                Err(e @ StoreError::Invalid { .. }) => {
                    counted(&event, "invalid");
                    Err(Problem::bad_request(format!("unusable payload: {e}")))
                }
                Err(e) => Err(Problem::from_store(e, "delivery")),
            }
        }
        _ => {
            counted(&event, "ignored");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}

/// The installation's tenant: its mapping, else the configured default (which maps
/// it from then on), else none.
async fn tenant_of<S: Store + Clone + 'static>(
    st: &AppState<S>,
    payload: &Value,
    installation: i64,
    now: Millis,
) -> ApiResult<Option<TenantId>> {
    match st.store.get_installation(installation).await {
        Ok(i) if i.deleted.is_none() && i.tenant_id.is_some() => return Ok(i.tenant_id),
        Ok(_) | Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(Problem::from_store(e, "installation")),
    }
    let Some(default) = st.github().and_then(|g| g.tenant.clone()) else {
        return Ok(None);
    };
    let account = payload
        .pointer("/repository/owner/login")
        .and_then(Value::as_str)
        .unwrap_or("");
    let i = st
        .store
        .upsert_installation(installation, account, Some(&default), now)
        .await
        .map_err(|e| Problem::from_store(e, "installation"))?;
    Ok(i.tenant_id)
}

fn sha_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .filter(|s| s.bytes().any(|b| b != b'0'))
        .map(str::to_owned)
}

/// What to check for an event, or `None` for an action diffver ignores.
pub(crate) fn check_of(
    event: &str,
    action: &str,
    p: &Value,
    installation: Option<i64>,
) -> Option<NewCheck> {
    let repository = p
        .pointer("/repository/full_name")
        .and_then(Value::as_str)?
        .to_owned();
    let (head, pr_list, before) = match (event, action) {
        ("pull_request", "opened" | "synchronize" | "reopened") => {
            return Some(NewCheck {
                installation_id: installation?,
                repository,
                pull_number: p.pointer("/pull_request/number").and_then(Value::as_i64),
                head_sha: sha_of(p.pointer("/pull_request/head/sha"))?,
                base_sha: sha_of(p.pointer("/pull_request/base/sha")),
                rerun: false,
            });
        }
        ("check_suite", "requested" | "rerequested") => (
            p.pointer("/check_suite/head_sha"),
            p.pointer("/check_suite/pull_requests"),
            p.pointer("/check_suite/before"),
        ),
        ("check_run", "rerequested") => (
            p.pointer("/check_run/head_sha"),
            p.pointer("/check_run/pull_requests"),
            p.pointer("/check_run/check_suite/before"),
        ),
        _ => return None,
    };
    let first_pr = pr_list.and_then(Value::as_array).and_then(|a| a.first());
    Some(NewCheck {
        installation_id: installation?,
        repository,
        pull_number: first_pr
            .and_then(|pr| pr.get("number"))
            .and_then(Value::as_i64),
        head_sha: sha_of(head)?,
        base_sha: first_pr
            .and_then(|pr| sha_of(pr.pointer("/base/sha")))
            .or_else(|| sha_of(before)),
        rerun: action == "rerequested",
    })
    .filter(|c| c.pull_number.is_some() || c.base_sha.is_some())
}
