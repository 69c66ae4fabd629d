//! Administration (admin keys only): tenants and their settings, users, API keys
//! (created and rotated secrets are shown once), dead letters and re-drive.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use diffver_store::{
    ApiKey, CreatedApiKey, Job, Millis, OnErrorMode, Role, Store, Tenant, TenantId,
};
use serde::{Deserialize, Serialize};

use super::{json_body, json_response, rfc3339};
use crate::service::auth::AdminCaller;
use crate::service::problem::{ApiResult, Problem};
use crate::service::state::AppState;

#[derive(Serialize)]
struct TenantView<'a> {
    id: &'a str,
    name: &'a str,
    diff_retention_days: i32,
    on_error: &'static str,
    rate_per_sec: i32,
    max_in_flight: i32,
    signer: Option<&'a str>,
    created_at: String,
}

fn tenant_view(t: &Tenant) -> TenantView<'_> {
    TenantView {
        id: t.id.as_str(),
        name: &t.name,
        diff_retention_days: t.diff_retention_days,
        on_error: t.settings.on_error.as_str(),
        rate_per_sec: t.settings.rate_per_sec,
        max_in_flight: t.settings.max_in_flight,
        signer: t.signer.as_deref(),
        created_at: rfc3339(t.created),
    }
}

fn tenant_id(s: &str) -> ApiResult<TenantId> {
    TenantId::new(s).map_err(|_| Problem::not_found("tenant"))
}

/// `GET /v1/admin/tenants`.
pub(crate) async fn list_tenants<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    _admin: AdminCaller,
) -> ApiResult<Response> {
    let list = st
        .store
        .list_tenants()
        .await
        .map_err(|e| Problem::from_store(e, "tenant"))?;
    let items: Vec<_> = list.iter().map(tenant_view).collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "items": items }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
    diff_retention_days: Option<i32>,
}

/// `POST /v1/admin/tenants`.
pub(crate) async fn create_tenant<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    _admin: AdminCaller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let req: NewTenant = json_body(&headers, body, 64 << 10, st.settings.body_timeout).await?;
    let days = req.diff_retention_days.unwrap_or(30);
    if !(0..=3650).contains(&days) {
        return Err(Problem::bad_request(
            "diff_retention_days must be between 0 and 3650",
        ));
    }
    let t = st
        .store
        .create_tenant(&req.name, days, Millis::from_system_clock())
        .await
        .map_err(|e| Problem::from_store(e, "tenant"))?;
    Ok(json_response(StatusCode::CREATED, &tenant_view(&t)))
}

/// `GET /v1/admin/tenants/{tenant}`.
pub(crate) async fn get_tenant<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    _admin: AdminCaller,
    Path(tenant): Path<String>,
) -> ApiResult<Response> {
    let t = st
        .store
        .get_tenant(&tenant_id(&tenant)?)
        .await
        .map_err(|e| Problem::from_store(e, "tenant"))?;
    Ok(json_response(StatusCode::OK, &tenant_view(&t)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantPatch {
    on_error: Option<String>,
    rate_per_sec: Option<i32>,
    max_in_flight: Option<i32>,
    diff_retention_days: Option<i32>,
    /// A per-tenant signing key id, or `null` for the deployment's default signer.
    #[serde(default, deserialize_with = "present")]
    signer: Option<Option<String>>,
}

/// A field that may be absent (outer `None`), `null` (`Some(None)`) or a value.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::<String>::deserialize(d)?))
}

/// `PATCH /v1/admin/tenants/{tenant}`: settings (fail-open/closed, limits, retention,
/// signing key).
pub(crate) async fn update_tenant<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    admin: AdminCaller,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let req: TenantPatch = json_body(&headers, body, 64 << 10, st.settings.body_timeout).await?;
    let id = tenant_id(&tenant)?;
    let t = st
        .store
        .get_tenant(&id)
        .await
        .map_err(|e| Problem::from_store(e, "tenant"))?;
    let mut settings = t.settings;
    if let Some(m) = &req.on_error {
        settings.on_error = OnErrorMode::from_name(m).ok_or_else(|| {
            Problem::bad_request("on_error must be policy, fail_open or fail_closed")
        })?;
    }
    if let Some(r) = req.rate_per_sec {
        settings.rate_per_sec = r;
    }
    if let Some(m) = req.max_in_flight {
        settings.max_in_flight = m;
    }
    if settings.rate_per_sec < 1 || settings.max_in_flight < 1 {
        return Err(Problem::bad_request(
            "rate_per_sec and max_in_flight must be at least 1",
        ));
    }
    let now = Millis::from_system_clock();
    let actor = admin.actor();
    if let Some(Some(k)) = &req.signer
        && !st.has_tenant_signer(k)
    {
        return Err(Problem::bad_request(format!(
            "no per-tenant signing key is named {k:?} (DIFFVER_TENANT_SIGNING_KEYS)"
        )));
    }
    if let Some(signer) = &req.signer {
        st.store
            .set_tenant_signer(&id, signer.as_deref(), &actor, now)
            .await
            .map_err(|e| Problem::from_store(e, "tenant"))?;
    }
    if let Some(days) = req.diff_retention_days {
        if !(0..=3650).contains(&days) {
            return Err(Problem::bad_request(
                "diff_retention_days must be between 0 and 3650",
            ));
        }
        st.store
            .set_diff_retention(&id, days, &actor, now)
            .await
            .map_err(|e| Problem::from_store(e, "tenant"))?;
    }
    let t = st
        .store
        .set_tenant_settings(&id, settings, &actor, now)
        .await
        .map_err(|e| Problem::from_store(e, "tenant"))?;
    st.limiter.cache_settings(&id, t.settings);
    st.forget_policies(&id);
    Ok(json_response(StatusCode::OK, &tenant_view(&t)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    email: String,
    role: String,
}

/// `POST /v1/admin/tenants/{tenant}/users`.
pub(crate) async fn create_user<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    _admin: AdminCaller,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let req: NewUser = json_body(&headers, body, 64 << 10, st.settings.body_timeout).await?;
    let role = Role::from_name(&req.role)
        .ok_or_else(|| Problem::bad_request("role must be tenant or admin"))?;
    let u = st
        .store
        .create_user(
            &tenant_id(&tenant)?,
            &req.email,
            role,
            Millis::from_system_clock(),
        )
        .await
        .map_err(|e| Problem::from_store(e, "tenant"))?;
    Ok(json_response(
        StatusCode::CREATED,
        &serde_json::json!({"id": u.id, "email": u.email, "role": u.role.as_str(), "created_at": rfc3339(u.created)}),
    ))
}

/// `GET /v1/admin/tenants/{tenant}/users`.
pub(crate) async fn list_users<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    _admin: AdminCaller,
    Path(tenant): Path<String>,
) -> ApiResult<Response> {
    let tenant = tenant_id(&tenant)?;
    st.store
        .get_tenant(&tenant)
        .await
        .map_err(|e| Problem::from_store(e, "tenant"))?;
    let users = st
        .store
        .list_users(&tenant)
        .await
        .map_err(|e| Problem::from_store(e, "tenant"))?;
    let items: Vec<_> = users
        .iter()
        .map(|u| serde_json::json!({"id": u.id, "email": u.email, "role": u.role.as_str(), "created_at": rfc3339(u.created)}))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "items": items }),
    ))
}

#[derive(Serialize)]
struct KeyView<'a> {
    prefix: &'a str,
    name: &'a str,
    role: &'static str,
    user_id: Option<&'a str>,
    created_at: String,
    last_used_at: Option<String>,
    expires_at: Option<String>,
    revoked_at: Option<String>,
}

fn key_view(k: &ApiKey) -> KeyView<'_> {
    KeyView {
        prefix: &k.id,
        name: &k.name,
        role: k.role.as_str(),
        user_id: k.user_id.as_deref(),
        created_at: rfc3339(k.created),
        last_used_at: k.last_used.map(rfc3339),
        expires_at: k.expires.map(rfc3339),
        revoked_at: k.revoked.map(rfc3339),
    }
}

fn created_key_response(c: &CreatedApiKey) -> Response {
    let mut v = serde_json::to_value(key_view(&c.key)).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("key".into(), c.secret.clone().into());
    }
    json_response(StatusCode::CREATED, &v)
}

/// `GET /v1/admin/tenants/{tenant}/api-keys`.
pub(crate) async fn list_keys<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    _admin: AdminCaller,
    Path(tenant): Path<String>,
) -> ApiResult<Response> {
    let list = st
        .store
        .list_api_keys(&tenant_id(&tenant)?)
        .await
        .map_err(|e| Problem::from_store(e, "tenant"))?;
    let items: Vec<_> = list.iter().map(key_view).collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "items": items }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: String,
    role: String,
    user_id: Option<String>,
}

/// `POST /v1/admin/tenants/{tenant}/api-keys`: the secret is in this response only.
pub(crate) async fn create_key<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    admin: AdminCaller,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let req: NewKey = json_body(&headers, body, 64 << 10, st.settings.body_timeout).await?;
    let role = Role::from_name(&req.role)
        .ok_or_else(|| Problem::bad_request("role must be tenant or admin"))?;
    let c = st
        .store
        .create_api_key(
            &tenant_id(&tenant)?,
            req.user_id.as_deref(),
            &req.name,
            role,
            &admin.actor(),
            Millis::from_system_clock(),
        )
        .await
        .map_err(|e| Problem::from_store(e, "tenant or user"))?;
    Ok(created_key_response(&c))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Rotate {
    overlap_seconds: Option<i64>,
}

/// `POST /v1/admin/tenants/{tenant}/api-keys/{key_id}/rotate`: a new key; the old
/// one keeps working for the overlap (default 24 h, at most 30 days).
pub(crate) async fn rotate_key<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    admin: AdminCaller,
    Path((tenant, key_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let req: Rotate = if headers.contains_key(axum::http::header::CONTENT_TYPE) {
        json_body(&headers, body, 64 << 10, st.settings.body_timeout).await?
    } else {
        Rotate::default()
    };
    let overlap = req.overlap_seconds.unwrap_or(86_400);
    if !(0..=30 * 86_400).contains(&overlap) {
        return Err(Problem::bad_request(
            "overlap_seconds must be between 0 and 2592000",
        ));
    }
    let c = st
        .store
        .rotate_api_key(
            &tenant_id(&tenant)?,
            &key_id,
            overlap * 1000,
            &admin.actor(),
            Millis::from_system_clock(),
        )
        .await
        .map_err(|e| Problem::from_store(e, "api key"))?;
    // The old key now expires: cached entries learn it from the store again.
    st.keys.forget(&key_id);
    Ok(created_key_response(&c))
}

/// `DELETE /v1/admin/tenants/{tenant}/api-keys/{key_id}`.
pub(crate) async fn revoke_key<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    admin: AdminCaller,
    Path((tenant, key_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    st.store
        .revoke_api_key(
            &tenant_id(&tenant)?,
            &key_id,
            &admin.actor(),
            Millis::from_system_clock(),
        )
        .await
        .map_err(|e| Problem::from_store(e, "api key"))?;
    // Before answering: this process serves no request with the key from here on
    // (others drop it when the change notice reaches them).
    st.keys.forget(&key_id);
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"revoked": true}),
    ))
}

fn job_view(j: &Job) -> serde_json::Value {
    serde_json::json!({
        "id": j.id,
        "scan_id": j.scan_id.as_str(),
        "status": j.status.as_str(),
        "attempt": j.attempt,
        "max_attempts": j.max_attempts,
        "run_at": rfc3339(j.run_at),
        "last_error": j.last_error,
    })
}

/// `GET /v1/admin/tenants/{tenant}/dead-letters`.
pub(crate) async fn dead_letters<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    _admin: AdminCaller,
    Path(tenant): Path<String>,
) -> ApiResult<Response> {
    let list = st
        .store
        .list_dead_letters(&tenant_id(&tenant)?)
        .await
        .map_err(|e| Problem::from_store(e, "tenant"))?;
    let items: Vec<_> = list.iter().map(job_view).collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "items": items }),
    ))
}

/// `POST /v1/admin/tenants/{tenant}/dead-letters/{job_id}/redrive`.
pub(crate) async fn redrive<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    admin: AdminCaller,
    Path((tenant, job_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let job_id = job_id
        .parse::<i64>()
        .map_err(|_| Problem::not_found("dead-lettered job"))?;
    let j = st
        .store
        .redrive(
            &tenant_id(&tenant)?,
            job_id,
            &admin.actor(),
            Millis::from_system_clock(),
        )
        .await
        .map_err(|e| Problem::from_store(e, "dead-lettered job"))?;
    Ok(json_response(StatusCode::OK, &job_view(&j)))
}

fn publish_view(p: &diffver_store::CheckPublish) -> serde_json::Value {
    serde_json::json!({
        "id": p.id,
        "repository": p.check.repository,
        "pull_number": p.check.pull_number,
        "head_sha": p.check.head_sha,
        "installation_id": p.check.installation_id,
        "delivery_id": p.delivery_id,
        "event": p.event,
        "check_run_id": p.check_run_id,
        "scan_id": p.scan_id.as_ref().map(diffver_store::ScanId::as_str),
        "published": p.published.as_str(),
        "annotations_sent": p.annotations_sent,
        "done": p.done,
        "dead": p.dead,
        "attempts": p.attempts,
        "failures": p.failures,
        "last_error": p.last_error,
        "fetch_error": p.fetch_error,
        "next_attempt_at": rfc3339(p.next_attempt),
        "created_at": rfc3339(p.created),
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishQuery {
    dead: Option<bool>,
}

/// `GET /v1/admin/tenants/{tenant}/github/publishes[?dead=true]`: the check-run
/// outbox, newest first (the last 200).
pub(crate) async fn github_publishes<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    _admin: AdminCaller,
    Path(tenant): Path<String>,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    let q: PublishQuery = super::query(&uri)?;
    let list = st
        .store
        .list_publishes(&tenant_id(&tenant)?, q.dead.unwrap_or(false), 200)
        .await
        .map_err(|e| Problem::from_store(e, "tenant"))?;
    let items: Vec<_> = list.iter().map(publish_view).collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "items": items }),
    ))
}

/// `POST /v1/admin/tenants/{tenant}/github/publishes/{id}/redrive`.
pub(crate) async fn github_redrive<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    admin: AdminCaller,
    Path((tenant, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let p = st
        .store
        .redrive_publish(
            &tenant_id(&tenant)?,
            &id,
            &admin.actor(),
            Millis::from_system_clock(),
        )
        .await
        .map_err(|e| Problem::from_store(e, "dead publish"))?;
    st.publisher_wake.notify_one();
    Ok(json_response(StatusCode::OK, &publish_view(&p)))
}

fn installation_view(i: &diffver_store::Installation) -> serde_json::Value {
    serde_json::json!({
        "installation_id": i.installation_id,
        "tenant_id": i.tenant_id.as_ref().map(TenantId::as_str),
        "account": i.account,
        "created_at": rfc3339(i.created),
        "deleted_at": i.deleted.map(rfc3339),
    })
}

/// `GET /v1/admin/github/installations`.
pub(crate) async fn github_installations<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    _admin: AdminCaller,
) -> ApiResult<Response> {
    let list = st
        .store
        .list_installations()
        .await
        .map_err(|e| Problem::from_store(e, "installations"))?;
    let items: Vec<_> = list.iter().map(installation_view).collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "items": items }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MapInstallation {
    tenant_id: String,
}

/// `PUT /v1/admin/github/installations/{installation_id}`: maps a known installation
/// to a tenant.
pub(crate) async fn github_map_installation<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    admin: AdminCaller,
    Path(installation): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let installation = installation
        .parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| Problem::not_found("installation"))?;
    let req: MapInstallation = json_body(&headers, body, 4096, st.settings.body_timeout).await?;
    let tenant = TenantId::new(&req.tenant_id)
        .map_err(|_| Problem::bad_request("tenant_id is not a tenant id"))?;
    let i = st
        .store
        .map_installation(
            installation,
            &tenant,
            &admin.actor(),
            Millis::from_system_clock(),
        )
        .await
        .map_err(|e| match e {
            diffver_store::StoreError::NotFound { kind: "tenant" } => {
                Problem::bad_request("no such tenant")
            }
            e => Problem::from_store(e, "installation"),
        })?;
    Ok(json_response(StatusCode::OK, &installation_view(&i)))
}
