//! `/v1/scans`: submit a diff, read the scan, its findings, artifact and reports.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use diffver_core::artifact::wire::Statement;
use diffver_core::policy::Policy;
use diffver_store::{
    CreatedScan, Finding, Idempotency, Millis, NewScan, OnErrorMode, Scan, ScanId, ScanStatus,
    Store, StoreError, TenantId, TenantSettings, diff_key, sha256_hex,
};
use serde::{Deserialize, Serialize};

use super::{json_response, media_type, parse_json, query, read_body, rfc3339};
use crate::service::auth::Caller;
use crate::service::problem::{ApiResult, Problem};
use crate::service::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanRequest {
    diff: Option<String>,
    diff_base64: Option<String>,
    policy: Option<String>,
    baseline: Option<String>,
    source: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateQuery {
    wait: Option<u64>,
    policy: Option<String>,
    baseline: Option<String>,
}

/// A scan as the API shows it.
#[derive(Serialize)]
struct ScanView {
    id: String,
    status: &'static str,
    decision: Option<&'static str>,
    blocking: Option<bool>,
    policy: Option<String>,
    policy_hash: Option<String>,
    baseline: Option<String>,
    diff_sha256: String,
    diff_size: i64,
    source: String,
    source_metadata: serde_json::Value,
    created_at: String,
    started_at: Option<String>,
    completed_at: Option<String>,
    error: Option<&'static str>,
    links: Links,
}

#[derive(Serialize)]
struct Links {
    #[serde(rename = "self")]
    this: String,
    findings: String,
    artifact: String,
    report_html: String,
    report_sarif: String,
}

fn view(s: &Scan, settings: Option<TenantSettings>) -> ScanView {
    let base = format!("/v1/scans/{}", s.id);
    let terminal = matches!(s.status, ScanStatus::Completed | ScanStatus::Error);
    // A scan dead-lettered without a verdict (its worker died every time) blocks
    // unless the tenant is fail-open.
    let blocking = s.blocking.or_else(|| {
        (s.status == ScanStatus::Error)
            .then(|| settings.is_none_or(|t| t.on_error != OnErrorMode::FailOpen))
    });
    ScanView {
        id: s.id.to_string(),
        status: s.status.as_str(),
        decision: s
            .decision
            .map(|d| d.as_str())
            .or_else(|| (s.status == ScanStatus::Error).then_some("error")),
        blocking: if terminal { blocking } else { None },
        policy: s.policy_name.clone(),
        policy_hash: s.policy_hash.clone(),
        baseline: s.baseline_name.clone(),
        diff_sha256: s.diff_sha256.clone(),
        diff_size: s.diff_size,
        source: s.source.clone(),
        source_metadata: serde_json::from_str(&s.source_metadata)
            .unwrap_or(serde_json::Value::Null),
        created_at: rfc3339(s.created),
        started_at: s.started.map(rfc3339),
        completed_at: s.completed.map(rfc3339),
        error: (s.status == ScanStatus::Error && s.artifact_key.is_none()).then_some(
            "the scan could not be completed (an internal fault; its job is in the dead letters)",
        ),
        links: Links {
            this: base.clone(),
            findings: format!("{base}/findings"),
            artifact: format!("{base}/artifact"),
            report_html: format!("{base}/report.html"),
            report_sarif: format!("{base}/report.sarif"),
        },
    }
}

async fn settings_of<S: Store + Clone + 'static>(
    st: &AppState<S>,
    tenant: &TenantId,
) -> ApiResult<TenantSettings> {
    if let Some(s) = st.limiter.cached_settings(tenant, st.settings.settings_ttl) {
        return Ok(s);
    }
    let t = st
        .store
        .get_tenant(tenant)
        .await
        .map_err(|e| Problem::from_store(e, "tenant"))?;
    st.limiter.cache_settings(tenant, t.settings);
    Ok(t.settings)
}

fn scan_response(status: StatusCode, s: &Scan, settings: TenantSettings) -> Response {
    let v = view(s, Some(settings));
    let mut resp = json_response(status, &v);
    if let Ok(loc) = HeaderValue::from_str(&v.links.this) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    resp
}

fn parse_scan_id(id: &str) -> ApiResult<ScanId> {
    ScanId::new(id).map_err(|_| Problem::not_found("scan"))
}

/// `POST /v1/scans`.
pub(crate) async fn create<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let tenant = caller.0.tenant_id.clone();
    let q: CreateQuery = query(&uri)?;
    if let Some(w) = q.wait
        && w > st.settings.max_wait_secs
    {
        return Err(Problem::bad_request(format!(
            "wait must be at most {} seconds",
            st.settings.max_wait_secs
        )));
    }
    let limit = st.settings.max_body_bytes;
    let (diff, policy, baseline, source) = match media_type(&headers).as_str() {
        "application/json" => {
            let bytes = read_body(&headers, body, limit, st.settings.body_timeout).await?;
            let req: ScanRequest = parse_json(&bytes)?;
            let diff = match (req.diff, req.diff_base64) {
                (Some(d), None) => d.into_bytes(),
                (None, Some(b)) => base64::engine::general_purpose::STANDARD
                    .decode(b.as_bytes())
                    .map_err(|e| Problem::bad_request(format!("diff_base64 is not base64: {e}")))?,
                _ => {
                    return Err(Problem::bad_request(
                        "give exactly one of diff and diff_base64",
                    ));
                }
            };
            if (q.policy.is_some() && req.policy.is_some())
                || (q.baseline.is_some() && req.baseline.is_some())
            {
                return Err(Problem::bad_request(
                    "give the policy and the baseline in the body or the query, not both",
                ));
            }
            (
                diff,
                req.policy.or(q.policy),
                req.baseline.or(q.baseline),
                req.source.unwrap_or_default(),
            )
        }
        "text/x-diff" | "text/x-patch" => (
            read_body(&headers, body, limit, st.settings.body_timeout).await?,
            q.policy,
            q.baseline,
            serde_json::Map::new(),
        ),
        "" => {
            return Err(Problem::unsupported_media_type(
                "send Content-Type: application/json ({\"diff\": …}) or text/x-diff (the raw diff)",
            ));
        }
        other => {
            return Err(Problem::unsupported_media_type(format!(
                "{other} is not accepted: send application/json or text/x-diff"
            )));
        }
    };
    if let Some(p) = &policy
        && !Policy::BUILTIN.contains(&p.as_str())
    {
        match st.store.active_policy(&tenant, p).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => {
                return Err(Problem::bad_request(format!(
                    "no built-in or active stored policy is named {p:?}"
                )));
            }
            Err(e) => return Err(Problem::from_store(e, "policy")),
        }
    }
    if let Some(b) = &baseline {
        match st.store.get_baseline(&tenant, b).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. } | StoreError::Invalid { .. }) => {
                return Err(Problem::bad_request(format!("no baseline is named {b:?}")));
            }
            Err(e) => return Err(Problem::from_store(e, "baseline")),
        }
    }
    let source_metadata = serde_json::to_string(&source).unwrap_or_else(|_| "{}".into());
    if source_metadata.len() > 16 << 10 {
        return Err(Problem::bad_request(
            "source metadata is larger than 16 KiB",
        ));
    }
    let settings = settings_of(&st, &tenant).await?;
    let idempotency = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let key = v
                .to_str()
                .map_err(|_| Problem::bad_request("Idempotency-Key must be visible ASCII"))?;
            let canonical = format!(
                "{}\n{}\n{}\n{}",
                sha256_hex(&diff),
                policy.as_deref().unwrap_or(""),
                baseline.as_deref().unwrap_or(""),
                source_metadata
            );
            Some(
                Idempotency::new(key, canonical.as_bytes())
                    .map_err(|e| Problem::from_store(e, "idempotency key"))?,
            )
        }
    };
    let in_flight = st
        .store
        .scans_in_flight(&tenant)
        .await
        .map_err(|e| Problem::from_store(e, "scans"))?;
    if in_flight >= i64::from(settings.max_in_flight) {
        metrics::counter!("diffver_rate_limited_total", "limit" => "in_flight").increment(1);
        return Err(Problem::rate_limited(
            format!(
                "the tenant has {in_flight} scans queued or running (limit {})",
                settings.max_in_flight
            ),
            1,
        ));
    }
    let id = ScanId::generate().map_err(|e| Problem::from_store(e, "scan id"))?;
    let stored = st
        .objects
        .put_once(&diff_key(&id), diff.into())
        .await
        .map_err(|e| Problem::from_store(e, "diff"))?;
    let new = NewScan {
        id: id.clone(),
        diff_sha256: stored.sha256,
        diff_size: stored.size,
        diff_object_key: stored.key.clone(),
        policy_name: policy,
        source: "api".into(),
        source_metadata,
        priority: 0,
        max_attempts: st.settings.max_attempts,
        baseline_name: baseline,
        idempotency,
    };
    let created = match st
        .store
        .create_scan(&tenant, new, Millis::from_system_clock())
        .await
    {
        Ok(c) => c,
        Err(e) => {
            let _ = st.objects.delete(&stored.key).await;
            return Err(match e {
                StoreError::Conflict { .. } => {
                    Problem::conflict("this Idempotency-Key was used with a different request")
                }
                e => Problem::from_store(e, "scan"),
            });
        }
    };
    let (mut scan, replay) = match created {
        CreatedScan::Created(s) => (s, false),
        other => {
            // A replay: the original scan stands; this request's copy of the diff goes.
            let _ = st.objects.delete(&stored.key).await;
            (other.scan().clone(), true)
        }
    };
    if let Some(wait) = q.wait.filter(|w| *w > 0) {
        scan = wait_for(&st, &tenant, scan, Duration::from_secs(wait)).await?;
    }
    let done = matches!(scan.status, ScanStatus::Completed | ScanStatus::Error);
    let status = if done || replay {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok(scan_response(status, &scan, settings))
}

/// Waits until the scan is finished or `wait` passes: woken by this process's
/// workers, polling every 50 ms for workers elsewhere.
async fn wait_for<S: Store + Clone + 'static>(
    st: &AppState<S>,
    tenant: &TenantId,
    mut scan: Scan,
    wait: Duration,
) -> ApiResult<Scan> {
    let deadline = Instant::now() + wait;
    let id = scan.id.clone();
    let notify = st.finished.register(&id);
    let mut poll = Duration::from_millis(20);
    let result = loop {
        let finished = notify.notified();
        if matches!(scan.status, ScanStatus::Completed | ScanStatus::Error) {
            break Ok(scan);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Ok(scan);
        }
        tokio::select! {
            () = finished => {}
            () = tokio::time::sleep(left.min(poll)) => {
                // Polling finds scans finished by workers in other processes; it backs
                // off so that many waiting requests do not flood the database.
                poll = (poll * 2).min(Duration::from_millis(250));
            }
        }
        match st.store.get_scan(tenant, &id).await {
            Ok(s) => scan = s,
            Err(e) => break Err(Problem::from_store(e, "scan")),
        }
    };
    st.finished.forget(&id, &notify);
    result
}

/// `GET /v1/scans/{id}`.
pub(crate) async fn get_one<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let tenant = &caller.0.tenant_id;
    let scan = st
        .store
        .get_scan(tenant, &parse_scan_id(&id)?)
        .await
        .map_err(|e| Problem::from_store(e, "scan"))?;
    let settings = settings_of(&st, tenant).await?;
    Ok(scan_response(StatusCode::OK, &scan, settings))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    cursor: Option<String>,
    limit: Option<i64>,
}

#[derive(Serialize)]
struct FindingView<'a> {
    ordinal: i32,
    rule_id: &'a str,
    severity: &'a str,
    path: Option<&'a str>,
    line: Option<i64>,
    fingerprint: &'a str,
    blocking: bool,
    suppressed: bool,
    message: &'a str,
}

impl<'a> From<&'a Finding> for FindingView<'a> {
    fn from(f: &'a Finding) -> FindingView<'a> {
        FindingView {
            ordinal: f.ordinal,
            rule_id: &f.finding.rule_id,
            severity: &f.finding.severity,
            path: f.finding.path.as_deref(),
            line: f.finding.line,
            fingerprint: &f.finding.fingerprint,
            blocking: f.finding.blocking,
            suppressed: f.finding.suppressed,
            message: &f.finding.message,
        }
    }
}

/// `GET /v1/scans/{id}/findings?cursor=&limit=`.
pub(crate) async fn findings<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let q: PageQuery = query(&uri)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::bad_request("limit must be between 1 and 1000"));
    }
    let page = st
        .store
        .page_findings(
            &caller.0.tenant_id,
            &parse_scan_id(&id)?,
            q.cursor.as_deref(),
            limit,
        )
        .await
        .map_err(|e| match e {
            StoreError::Invalid { .. } => Problem::bad_request("invalid cursor"),
            e => Problem::from_store(e, "scan"),
        })?;
    let items: Vec<FindingView<'_>> = page.items.iter().map(FindingView::from).collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"items": items, "next_cursor": page.next}),
    ))
}

/// The scan's finished object under `key`, or a problem saying it is not ready.
async fn finished_object<S: Store + Clone + 'static>(
    st: &AppState<S>,
    caller: &Caller,
    id: &str,
    pick: fn(&Scan) -> Option<&String>,
) -> ApiResult<axum::body::Bytes> {
    let scan = st
        .store
        .get_scan(&caller.0.tenant_id, &parse_scan_id(id)?)
        .await
        .map_err(|e| Problem::from_store(e, "scan"))?;
    let Some(key) = pick(&scan) else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "scan-not-finished",
            "Scan not finished",
            format!(
                "the scan is {}; its artifact and reports exist once it is finished",
                scan.status.as_str()
            ),
        ));
    };
    st.objects
        .get(key)
        .await
        .map_err(|e| Problem::from_store(e, "artifact"))
}

/// `GET /v1/scans/{id}/artifact`: the DSSE envelope, byte for byte as stored.
pub(crate) async fn artifact<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let bytes = finished_object(&st, &caller, &id, |s| s.artifact_key.as_ref()).await?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/vnd.dsse.envelope.v1+json",
        )],
        bytes,
    )
        .into_response())
}

/// Headers of every HTML report: no script, no framing, no sniffing.
pub(crate) const REPORT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox";

/// `GET /v1/scans/{id}/report.html`.
pub(crate) async fn report_html<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let bytes = finished_object(&st, &caller, &id, |s| s.html_key.as_ref()).await?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, REPORT_CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /v1/scans/{id}/report.sarif`: rendered from the stored, signed verdict.
pub(crate) async fn report_sarif<S: Store + Clone + 'static>(
    State(st): State<AppState<S>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let bytes = finished_object(&st, &caller, &id, |s| s.artifact_key.as_ref()).await?;
    let statement = statement_of(&bytes).map_err(|e| Problem::internal("stored artifact", &e))?;
    let sarif = diffver_core::report::sarif(&statement.predicate);
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/sarif+json")],
        sarif,
    )
        .into_response())
}

/// The statement inside a DSSE envelope this service wrote.
pub(crate) fn statement_of(envelope: &[u8]) -> Result<Statement, String> {
    #[derive(Deserialize)]
    struct Envelope {
        payload: String,
    }
    let env: Envelope = serde_json::from_slice(envelope).map_err(|e| e.to_string())?;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(env.payload.as_bytes())
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&payload).map_err(|e| e.to_string())
}
