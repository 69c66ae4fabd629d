//! Tenant governance: policies (versioned, one active per name), exceptions (with
//! expiry) and the audit trail. Every change is audited by the store under the
//! caller's user (or key).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse as _, Response};
use diffver_core::policy::Policy as CorePolicy;
use diffver_store::{
    AuditQuery, Millis, NewException, OnErrorMode, Policy, PolicyException, Store,
};
use serde::{Deserialize, Serialize};

use super::{json_body, json_response, parse_time, query, rfc3339};
use crate::service::auth::Caller;
use crate::service::evaluate::{PolicySource, resolve_policy};
use crate::service::problem::{ApiResult, Problem};
use crate::service::state::AppState;

#[derive(Serialize)]
struct PolicyView<'a> {
    name: &'a str,
    version: i32,
    hash: &'a str,
    active: bool,
    author: &'a str,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a str>,
}

fn policy_view(p: &Policy, with_body: bool) -> PolicyView<'_> {
    PolicyView {
        name: &p.name,
        version: p.version,
        hash: &p.hash,
        active: p.active,
        author: &p.author,
        created_at: rfc3339(p.created),
        body: with_body.then_some(p.body.as_str()),
    }
}

/// `GET /v1/policies`.
pub(crate) async fn list_policies<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
) -> ApiResult<Response> {
    let list = st
        .store
        .list_policies(&caller.0.tenant_id)
        .await
        .map_err(|e| Problem::from_store(e, "policy"))?;
    let items: Vec<_> = list.iter().map(|p| policy_view(p, false)).collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "items": items }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPolicy {
    name: String,
    body: String,
    #[serde(default)]
    activate: bool,
}

/// `POST /v1/policies`: a new version of a named policy (TOML body), validated by
/// the core before it is stored.
pub(crate) async fn create_policy<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let req: NewPolicy = json_body(&headers, body, 1 << 20, st.settings.body_timeout).await?;
    if CorePolicy::BUILTIN.contains(&req.name.as_str()) {
        return Err(Problem::bad_request(format!(
            "{:?} is a built-in profile; name the policy something else (it may `extends` it)",
            req.name
        )));
    }
    let parsed = CorePolicy::from_toml(&req.body, &req.name)
        .map_err(|e| Problem::bad_request(format!("the policy does not load: {e}")))?;
    // The body must also load the way workers load it (as data, with exceptions).
    let source = PolicySource::Stored {
        name: req.name.clone(),
        version: 0,
        body: req.body.clone(),
    };
    resolve_policy(&source, &[], OnErrorMode::Policy)
        .map_err(|e| Problem::bad_request(format!("the policy does not load: {e:#}")))?;
    let tenant = &caller.0.tenant_id;
    let now = Millis::from_system_clock();
    let actor = caller.actor();
    let mut p = st
        .store
        .create_policy_version(tenant, &req.name, &req.body, parsed.hash(), &actor, now)
        .await
        .map_err(|e| Problem::from_store(e, "policy"))?;
    if req.activate {
        p = st
            .store
            .activate_policy(tenant, &req.name, p.version, &actor, now)
            .await
            .map_err(|e| Problem::from_store(e, "policy"))?;
    }
    st.forget_policies(&caller.0.tenant_id);
    Ok(json_response(StatusCode::CREATED, &policy_view(&p, true)))
}

/// `GET /v1/policies/{name}`: the active version.
pub(crate) async fn active_policy<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let p = st
        .store
        .active_policy(&caller.0.tenant_id, &name)
        .await
        .map_err(|e| Problem::from_store(e, "policy"))?;
    Ok(json_response(StatusCode::OK, &policy_view(&p, true)))
}

/// `GET /v1/policies/{name}/versions/{version}`.
pub(crate) async fn get_policy<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    let v = version
        .parse::<i32>()
        .map_err(|_| Problem::not_found("policy version"))?;
    let p = st
        .store
        .get_policy(&caller.0.tenant_id, &name, v)
        .await
        .map_err(|e| Problem::from_store(e, "policy"))?;
    Ok(json_response(StatusCode::OK, &policy_view(&p, true)))
}

/// `POST /v1/policies/{name}/versions/{version}/activate`.
pub(crate) async fn activate_policy<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    let v = version
        .parse::<i32>()
        .map_err(|_| Problem::not_found("policy version"))?;
    let p = st
        .store
        .activate_policy(
            &caller.0.tenant_id,
            &name,
            v,
            &caller.actor(),
            Millis::from_system_clock(),
        )
        .await
        .map_err(|e| Problem::from_store(e, "policy"))?;
    st.forget_policies(&caller.0.tenant_id);
    Ok(json_response(StatusCode::OK, &policy_view(&p, false)))
}

/// `DELETE /v1/policies/{name}/versions/{version}` (inactive versions only).
pub(crate) async fn delete_policy<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    let v = version
        .parse::<i32>()
        .map_err(|_| Problem::not_found("policy version"))?;
    st.store
        .delete_policy_version(
            &caller.0.tenant_id,
            &name,
            v,
            &caller.actor(),
            Millis::from_system_clock(),
        )
        .await
        .map_err(|e| Problem::from_store(e, "policy"))?;
    st.forget_policies(&caller.0.tenant_id);
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"deleted": true}),
    ))
}

#[derive(Serialize)]
struct BaselineView<'a> {
    name: &'a str,
    sha256: &'a str,
    entries: i32,
    author: &'a str,
    updated_at: String,
}

fn baseline_view(b: &diffver_store::Baseline) -> BaselineView<'_> {
    BaselineView {
        name: &b.name,
        sha256: &b.sha256,
        entries: b.entries,
        author: &b.author,
        updated_at: rfc3339(b.updated),
    }
}

/// `GET /v1/baselines`.
pub(crate) async fn list_baselines<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
) -> ApiResult<Response> {
    let list = st
        .store
        .list_baselines(&caller.0.tenant_id)
        .await
        .map_err(|e| Problem::from_store(e, "baseline"))?;
    let items: Vec<_> = list.iter().map(baseline_view).collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "items": items }),
    ))
}

/// `PUT /v1/baselines/{name}`: the body is a baseline file as `diffver baseline
/// create` writes it; checked by the core, stored, audited.
pub(crate) async fn put_baseline<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    if super::media_type(&headers) != "application/json" {
        return Err(Problem::unsupported_media_type(
            "send the baseline file as application/json",
        ));
    }
    let bytes = super::read_body(&headers, body, 8 << 20, st.settings.body_timeout).await?;
    let text =
        String::from_utf8(bytes).map_err(|_| Problem::bad_request("the baseline is not UTF-8"))?;
    let parsed = diffver_core::suppress::Baseline::from_json(&text)
        .map_err(|e| Problem::bad_request(format!("not a diffver baseline: {}", e.message)))?;
    let entries =
        i32::try_from(parsed.len()).map_err(|_| Problem::bad_request("too many entries"))?;
    let b = st
        .store
        .put_baseline(
            &caller.0.tenant_id,
            &name,
            &text,
            entries,
            &caller.actor(),
            Millis::from_system_clock(),
        )
        .await
        .map_err(|e| Problem::from_store(e, "baseline"))?;
    Ok(json_response(StatusCode::OK, &baseline_view(&b)))
}

/// `GET /v1/baselines/{name}`: the baseline file.
pub(crate) async fn get_baseline<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let b = st
        .store
        .get_baseline(&caller.0.tenant_id, &name)
        .await
        .map_err(|e| match e {
            diffver_store::StoreError::Invalid { .. } => Problem::not_found("baseline"),
            e => Problem::from_store(e, "baseline"),
        })?;
    Ok((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        b.body,
    )
        .into_response())
}

/// `DELETE /v1/baselines/{name}`.
pub(crate) async fn delete_baseline<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    st.store
        .delete_baseline(
            &caller.0.tenant_id,
            &name,
            &caller.actor(),
            Millis::from_system_clock(),
        )
        .await
        .map_err(|e| Problem::from_store(e, "baseline"))?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"deleted": true}),
    ))
}

#[derive(Serialize)]
struct ExceptionView<'a> {
    id: &'a str,
    rule_id: &'a str,
    path: Option<&'a str>,
    fingerprint: Option<&'a str>,
    reason: &'a str,
    author: &'a str,
    created_at: String,
    expires_at: String,
}

fn exception_view(e: &PolicyException) -> ExceptionView<'_> {
    ExceptionView {
        id: &e.id,
        rule_id: &e.rule_id,
        path: e.path.as_deref(),
        fingerprint: e.fingerprint.as_deref(),
        reason: &e.reason,
        author: &e.author,
        created_at: rfc3339(e.created),
        expires_at: rfc3339(e.expires),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ExceptionQuery {
    active: Option<bool>,
}

/// `GET /v1/exceptions?active=true`.
pub(crate) async fn list_exceptions<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    uri: Uri,
) -> ApiResult<Response> {
    let q: ExceptionQuery = query(&uri)?;
    let at = q.active.unwrap_or(false).then(Millis::from_system_clock);
    let list = st
        .store
        .list_exceptions(&caller.0.tenant_id, at)
        .await
        .map_err(|e| Problem::from_store(e, "exception"))?;
    let items: Vec<_> = list.iter().map(exception_view).collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "items": items }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewExceptionBody {
    rule_id: String,
    path: Option<String>,
    fingerprint: Option<String>,
    reason: String,
    expires_at: String,
}

/// `POST /v1/exceptions`: validated by the core (printable text, valid glob) first.
pub(crate) async fn create_exception<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let req: NewExceptionBody =
        json_body(&headers, body, 64 << 10, st.settings.body_timeout).await?;
    let expires = parse_time("expires_at", &req.expires_at)?;
    let now = Millis::from_system_clock();
    if expires.0 <= now.0 {
        return Err(Problem::bad_request("expires_at must be in the future"));
    }
    let new = NewException {
        rule_id: req.rule_id,
        path: req.path,
        fingerprint: req.fingerprint,
        reason: req.reason,
        author: caller.actor(),
        expires,
    };
    check_exception(&caller, &new)?;
    let e = st
        .store
        .create_exception(&caller.0.tenant_id, new, now)
        .await
        .map_err(|e| Problem::from_store(e, "exception"))?;
    st.forget_policies(&caller.0.tenant_id);
    Ok(json_response(StatusCode::CREATED, &exception_view(&e)))
}

/// The core must accept the exception as part of a policy.
fn check_exception(caller: &Caller, e: &NewException) -> ApiResult<()> {
    let probe = PolicyException {
        tenant_id: caller.0.tenant_id.clone(),
        id: "probe".into(),
        rule_id: e.rule_id.clone(),
        path: e.path.clone(),
        fingerprint: e.fingerprint.clone(),
        reason: e.reason.clone(),
        author: e.author.clone(),
        created: e.expires,
        expires: e.expires,
    };
    resolve_policy(
        &PolicySource::Builtin("standard".into()),
        &[probe],
        OnErrorMode::Policy,
    )
    .map(|_| ())
    .map_err(|err| Problem::bad_request(format!("the exception is not valid: {err:#}")))
}

/// `GET /v1/exceptions/{id}`.
pub(crate) async fn get_exception<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let e = st
        .store
        .get_exception(&caller.0.tenant_id, &id)
        .await
        .map_err(|e| Problem::from_store(e, "exception"))?;
    Ok(json_response(StatusCode::OK, &exception_view(&e)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateExceptionBody {
    reason: String,
    expires_at: String,
}

/// `PATCH /v1/exceptions/{id}`: a new reason and expiry.
pub(crate) async fn update_exception<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let req: UpdateExceptionBody =
        json_body(&headers, body, 64 << 10, st.settings.body_timeout).await?;
    let expires = parse_time("expires_at", &req.expires_at)?;
    if req.reason.trim().is_empty() || !diffver_core::text::is_printable_text(&req.reason) {
        return Err(Problem::bad_request(
            "reason must be non-empty printable text",
        ));
    }
    let e = st
        .store
        .update_exception(
            &caller.0.tenant_id,
            &id,
            &req.reason,
            expires,
            &caller.actor(),
            Millis::from_system_clock(),
        )
        .await
        .map_err(|e| Problem::from_store(e, "exception"))?;
    st.forget_policies(&caller.0.tenant_id);
    Ok(json_response(StatusCode::OK, &exception_view(&e)))
}

/// `DELETE /v1/exceptions/{id}`.
pub(crate) async fn delete_exception<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    st.store
        .delete_exception(
            &caller.0.tenant_id,
            &id,
            &caller.actor(),
            Millis::from_system_clock(),
        )
        .await
        .map_err(|e| Problem::from_store(e, "exception"))?;
    st.forget_policies(&caller.0.tenant_id);
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"deleted": true}),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    from: Option<String>,
    to: Option<String>,
    limit: Option<i64>,
}

/// `GET /v1/audit-events?from=&to=&limit=` (RFC 3339 times; oldest first).
pub(crate) async fn audit_events<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    uri: Uri,
) -> ApiResult<Response> {
    let q: AuditParams = query(&uri)?;
    let from = q
        .from
        .as_deref()
        .map(|s| parse_time("from", s))
        .transpose()?
        .unwrap_or(Millis(0));
    let to = match q.to.as_deref() {
        Some(s) => parse_time("to", s)?,
        None => Millis::from_system_clock().plus_ms(1000),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::bad_request("limit must be between 1 and 1000"));
    }
    let events = st
        .store
        .query_audit(
            &caller.0.tenant_id,
            &AuditQuery {
                from,
                to,
                object: None,
                limit,
            },
        )
        .await
        .map_err(|e| Problem::from_store(e, "audit events"))?;
    let items: Vec<_> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "seq": e.seq,
                "at": rfc3339(e.at),
                "actor": e.event.actor,
                "action": e.event.action,
                "object_kind": e.event.object_kind,
                "object_id": e.event.object_id,
                "detail": e.event.detail,
                "hash": e.hash,
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "items": items }),
    ))
}
