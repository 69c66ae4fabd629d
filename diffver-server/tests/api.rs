//! The HTTP API in-process (`tower::ServiceExt::oneshot`) on a real SQLite store and
//! local object storage, with a real worker task: submit, wait, fetch, verify;
//! idempotency; tenant isolation; roles; limits; problem+json; governance; the
//! OpenAPI description against the router.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use diffver_core::artifact::{self, Keyring, SigningMode};
use diffver_server::service::config::{SignerSettings, is_development};
use diffver_server::service::worker::{self, WorkerSettings};
use diffver_server::service::{ApiSettings, AppState, ROUTES, app};
use diffver_store::{Backoff, Millis, Objects, Pepper, Role, SqliteStore, Store, diff_key};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

const SUSPICIOUS: &[u8] = include_bytes!("../../examples/diffs/suspicious-pr.diff");
const CLEAN: &[u8] = include_bytes!("../../examples/diffs/clean.diff");

struct Env {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    state: AppState<SqliteStore>,
    router: Router,
    tenant_a: String,
    key_a: String,
    key_b: String,
    admin: String,
    _stop: tokio::sync::watch::Sender<bool>,
}

async fn env_with(settings: ApiSettings, worker_on: bool) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(
        &dir.path().join("db.sqlite"),
        Pepper::new([7u8; 32]).unwrap(),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let objects = Objects::from_url(
        &format!("file://{}", dir.path().display()),
        Vec::<(String, String)>::new(),
    )
    .unwrap();
    let now = Millis::from_system_clock();
    let a = store.create_tenant("a", 30, now).await.unwrap();
    let b = store.create_tenant("b", 30, now).await.unwrap();
    let key_a = store
        .create_api_key(&a.id, None, "ci", Role::Tenant, "test", now)
        .await
        .unwrap()
        .secret;
    let key_b = store
        .create_api_key(&b.id, None, "ci", Role::Tenant, "test", now)
        .await
        .unwrap()
        .secret;
    let root = store
        .create_user(&a.id, "root@example.com", Role::Admin, now)
        .await
        .unwrap();
    let admin = store
        .create_api_key(&a.id, Some(&root.id), "admin", Role::Admin, "test", now)
        .await
        .unwrap()
        .secret;
    let signer = SignerSettings {
        key_file: None,
        key_id: "x".into(),
        production: false,
    }
    .signer()
    .unwrap();
    assert!(is_development(&signer));
    let state = AppState::new(store.clone(), objects, signer, settings);
    let (tx, rx) = tokio::sync::watch::channel(false);
    if worker_on {
        let ws = WorkerSettings {
            concurrency: 2,
            idle_poll: Duration::from_millis(50),
            backoff: Backoff {
                base_ms: 10,
                cap_ms: 20,
                jitter: 0.0,
            },
            ..WorkerSettings::default()
        };
        tokio::spawn(worker::run(state.clone(), ws, rx));
    }
    Env {
        router: app(state.clone()),
        _dir: dir,
        store,
        state,
        tenant_a: a.id.to_string(),
        key_a,
        key_b,
        admin,
        _stop: tx,
    }
}

async fn env() -> Env {
    env_with(ApiSettings::default(), true).await
}

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, h: &str) -> &str {
        self.headers.get(h).map_or("", |v| v.to_str().unwrap())
    }
    /// A problem+json response with this status and type slug.
    fn problem(&self, status: u16, slug: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), "application/problem+json");
        let p = self.json();
        assert_eq!(
            p["type"],
            format!("https://diffver.dev/problems/{slug}"),
            "{p}"
        );
        assert_eq!(p["status"], status);
        assert!(p["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
}

async fn call(
    router: &Router,
    method: &str,
    uri: &str,
    key: Option<&str>,
    ctype: Option<&str>,
    body: Vec<u8>,
) -> Resp {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(k) = key {
        b = b.header("authorization", format!("Bearer {k}"));
    }
    if let Some(c) = ctype {
        b = b.header("content-type", c);
    }
    let resp = router
        .clone()
        .oneshot(b.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

async fn get(e: &Env, uri: &str, key: &str) -> Resp {
    call(&e.router, "GET", uri, Some(key), None, Vec::new()).await
}

async fn post_json(e: &Env, uri: &str, key: &str, v: &Value) -> Resp {
    call(
        &e.router,
        "POST",
        uri,
        Some(key),
        Some("application/json"),
        serde_json::to_vec(v).unwrap(),
    )
    .await
}

async fn submit(e: &Env, key: &str, diff: &[u8], wait: u64) -> Resp {
    call(
        &e.router,
        "POST",
        &format!("/v1/scans?wait={wait}"),
        Some(key),
        Some("text/x-diff"),
        diff.to_vec(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_wait_fetch_and_verify() {
    let e = env().await;
    let r = submit(&e, &e.key_a, SUSPICIOUS, 10).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let scan = r.json();
    assert_eq!(scan["status"], "completed");
    assert_eq!(scan["decision"], "fail");
    assert_eq!(scan["blocking"], true);
    let id = scan["id"].as_str().unwrap().to_owned();
    assert_eq!(r.header("location"), format!("/v1/scans/{id}"));

    // The artifact verifies with the development keyring, for this diff.
    let art = get(&e, &format!("/v1/scans/{id}/artifact"), &e.key_a).await;
    assert_eq!(art.status, StatusCode::OK);
    assert_eq!(
        art.header("content-type"),
        "application/vnd.dsse.envelope.v1+json"
    );
    let keyring = Keyring::development(SigningMode::Development).unwrap();
    let verified = artifact::verify(&art.body, &keyring).unwrap();
    verified.check_diff(SUSPICIOUS).unwrap();
    assert!(verified.check_diff(CLEAN).is_err());

    // Findings, paged with a cursor, add up to the artifact's.
    let mut all = Vec::new();
    let mut uri = format!("/v1/scans/{id}/findings?limit=2");
    loop {
        let p = get(&e, &uri, &e.key_a).await.json();
        all.extend(p["items"].as_array().unwrap().iter().cloned());
        match p["next_cursor"].as_str() {
            Some(c) => uri = format!("/v1/scans/{id}/findings?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert!(all.len() >= 3, "{all:?}");
    assert!(all.iter().any(|f| f["blocking"] == true));
    let ordinals: Vec<i64> = all.iter().map(|f| f["ordinal"].as_i64().unwrap()).collect();
    assert_eq!(ordinals, (0..all.len() as i64).collect::<Vec<_>>());

    // Reports.
    let html = get(&e, &format!("/v1/scans/{id}/report.html"), &e.key_a).await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(
        html.header("content-security-policy")
            .contains("default-src 'none'")
    );
    assert!(
        !html
            .header("content-security-policy")
            .contains("script-src")
    );
    assert_eq!(html.header("x-content-type-options"), "nosniff");
    let sarif = get(&e, &format!("/v1/scans/{id}/report.sarif"), &e.key_a)
        .await
        .json();
    assert_eq!(sarif["version"], "2.1.0");

    // A clean diff passes, in one call.
    let r = submit(&e, &e.key_a, CLEAN, 10).await.json();
    assert_eq!(r["decision"], "pass");
    assert_eq!(r["blocking"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_and_base64() {
    let e = env().await;
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(CLEAN);
    let r = post_json(
        &e,
        "/v1/scans?wait=10",
        &e.key_a,
        &json!({"diff_base64": b64, "policy": "strict", "source": {"repo": "acme/x", "pr": 7}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let s = r.json();
    assert_eq!(s["policy"], "strict");
    assert_eq!(s["source_metadata"]["repo"], "acme/x");
    let r = post_json(
        &e,
        "/v1/scans",
        &e.key_a,
        &json!({"diff": String::from_utf8_lossy(CLEAN)}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.json()["status"], "queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_same_different_and_concurrent() {
    let e = env_with(ApiSettings::default(), false).await;
    let send = |key: &'static str, diff: &'static [u8]| {
        let router = e.router.clone();
        let auth = e.key_a.clone();
        async move {
            let req = Request::builder()
                .method("POST")
                .uri("/v1/scans")
                .header("authorization", format!("Bearer {auth}"))
                .header("content-type", "text/x-diff")
                .header("idempotency-key", key)
                .body(Body::from(diff))
                .unwrap();
            let resp = router.oneshot(req).await.unwrap();
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, serde_json::from_slice::<Value>(&body).unwrap())
        }
    };
    let (s1, first) = send("k-1", CLEAN).await;
    assert_eq!(s1, StatusCode::ACCEPTED);
    let (s2, again) = send("k-1", CLEAN).await;
    assert_eq!(s2, StatusCode::OK);
    assert_eq!(first["id"], again["id"]);
    let (s3, p) = send("k-1", SUSPICIOUS).await;
    assert_eq!(s3, StatusCode::CONFLICT, "{p}");
    assert_eq!(p["type"], "https://diffver.dev/problems/conflict");

    let mut tasks = Vec::new();
    for _ in 0..8 {
        tasks.push(tokio::spawn(send("k-2", SUSPICIOUS)));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (s, v) = t.await.unwrap();
        assert!(s == StatusCode::OK || s == StatusCode::ACCEPTED, "{s} {v}");
        ids.insert(v["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        ids.len(),
        1,
        "concurrent requests with one key made {ids:?}"
    );
    // Only the one scan's diff is kept.
    let in_flight = e
        .store
        .scans_in_flight(&diffver_store::TenantId::new(e.tenant_a.clone()).unwrap())
        .await
        .unwrap();
    assert_eq!(in_flight, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenant_gets_404_everywhere() {
    let e = env().await;
    let id = submit(&e, &e.key_a, SUSPICIOUS, 10).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let exc = post_json(&e, "/v1/exceptions", &e.key_a, &json!({"rule_id": "pi.agent-addressed", "reason": "docs about agents", "expires_at": "2099-01-01T00:00:00Z"})).await;
    assert_eq!(exc.status, StatusCode::CREATED);
    let exc_id = exc.json()["id"].as_str().unwrap().to_owned();
    let pol = post_json(&e, "/v1/policies", &e.key_a, &json!({"name": "team", "body": "schema = \"diffver.policy/v1\"\nid = \"team\"\nextends = \"strict\"\n", "activate": true})).await;
    assert_eq!(
        pol.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&pol.body)
    );
    for uri in [
        format!("/v1/scans/{id}"),
        format!("/v1/scans/{id}/findings"),
        format!("/v1/scans/{id}/artifact"),
        format!("/v1/scans/{id}/report.html"),
        format!("/v1/scans/{id}/report.sarif"),
        format!("/v1/exceptions/{exc_id}"),
        "/v1/policies/team".to_owned(),
        "/v1/policies/team/versions/1".to_owned(),
    ] {
        get(&e, &uri, &e.key_b).await.problem(404, "not-found");
        assert_eq!(
            get(&e, &uri, &e.key_a).await.status,
            StatusCode::OK,
            "{uri}"
        );
    }
    for (m, uri) in [
        ("DELETE", format!("/v1/exceptions/{exc_id}")),
        ("POST", "/v1/policies/team/versions/1/activate".to_owned()),
        ("DELETE", "/v1/policies/team/versions/1".to_owned()),
    ] {
        call(&e.router, m, &uri, Some(&e.key_b), None, Vec::new())
            .await
            .problem(404, "not-found");
    }
    let r = call(
        &e.router,
        "PATCH",
        &format!("/v1/exceptions/{exc_id}"),
        Some(&e.key_b),
        Some("application/json"),
        serde_json::to_vec(&json!({"reason": "x", "expires_at": "2099-01-01T00:00:00Z"})).unwrap(),
    )
    .await;
    r.problem(404, "not-found");
    // Tenant B's own lists do not show A's objects.
    let list = get(&e, "/v1/exceptions", &e.key_b).await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    // A scan submitted by B under A's stored policy name is refused.
    let r = call(
        &e.router,
        "POST",
        "/v1/scans?policy=team",
        Some(&e.key_b),
        Some("text/x-diff"),
        CLEAN.to_vec(),
    )
    .await;
    r.problem(400, "invalid-request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_revocation_and_malformed_keys() {
    let e = env().await;
    // A tenant key on an admin route.
    get(&e, "/v1/admin/tenants", &e.key_a)
        .await
        .problem(403, "forbidden");
    assert_eq!(
        get(&e, "/v1/admin/tenants", &e.admin).await.status,
        StatusCode::OK
    );
    // Missing, malformed and mistyped keys.
    call(&e.router, "GET", "/v1/policies", None, None, Vec::new())
        .await
        .problem(401, "unauthenticated");
    get(&e, "/v1/policies", "not-a-key")
        .await
        .problem(401, "unauthenticated");
    let mut typo = e.key_a.clone().into_bytes();
    let i = typo.len() - 20;
    typo[i] = if typo[i] == b'0' { b'1' } else { b'0' };
    get(&e, "/v1/policies", &String::from_utf8(typo).unwrap())
        .await
        .problem(401, "unauthenticated");
    // Create, use, revoke a key through the admin API.
    let tenant = &e.tenant_a;
    let created = post_json(
        &e,
        &format!("/v1/admin/tenants/{tenant}/api-keys"),
        &e.admin,
        &json!({"name": "bot", "role": "tenant"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let c = created.json();
    let key = c["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("dv_"));
    assert_eq!(get(&e, "/v1/policies", &key).await.status, StatusCode::OK);
    // The secret is never listed.
    let listed = get(
        &e,
        &format!("/v1/admin/tenants/{tenant}/api-keys"),
        &e.admin,
    )
    .await;
    assert!(!String::from_utf8_lossy(&listed.body).contains(&key));
    let prefix = c["prefix"].as_str().unwrap();
    let r = call(
        &e.router,
        "DELETE",
        &format!("/v1/admin/tenants/{tenant}/api-keys/{prefix}"),
        Some(&e.admin),
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    get(&e, "/v1/policies", &key)
        .await
        .problem(401, "unauthenticated");
    // Rotation: the old key works during the overlap, the new one at once.
    let k2 = post_json(
        &e,
        &format!("/v1/admin/tenants/{tenant}/api-keys"),
        &e.admin,
        &json!({"name": "bot2", "role": "tenant"}),
    )
    .await
    .json();
    let p2 = k2["prefix"].as_str().unwrap();
    let rotated = post_json(
        &e,
        &format!("/v1/admin/tenants/{tenant}/api-keys/{p2}/rotate"),
        &e.admin,
        &json!({"overlap_seconds": 0}),
    )
    .await;
    assert_eq!(rotated.status, StatusCode::CREATED);
    let new_key = rotated.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(
        get(&e, "/v1/policies", &new_key).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    get(&e, "/v1/policies", k2["key"].as_str().unwrap())
        .await
        .problem(401, "unauthenticated");
    // Every change is audited under the admin's user.
    let audit = get(&e, "/v1/audit-events?limit=1000", &e.key_a)
        .await
        .json();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["action"].as_str())
        .collect();
    assert!(actions.iter().any(|a| a.contains("revoke")), "{actions:?}");
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["actor"].as_str().unwrap_or("").starts_with("user:"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_problems() {
    let settings = ApiSettings {
        max_body_bytes: 4096,
        ..ApiSettings::default()
    };
    let e = env_with(settings, false).await;
    let k = e.key_a.clone();
    call(
        &e.router,
        "POST",
        "/v1/scans",
        Some(&k),
        Some("text/x-diff"),
        vec![b'+'; 5000],
    )
    .await
    .problem(413, "payload-too-large");
    call(
        &e.router,
        "POST",
        "/v1/scans",
        Some(&k),
        Some("application/json"),
        b"{\"diff\": ".to_vec(),
    )
    .await
    .problem(400, "invalid-request");
    call(
        &e.router,
        "POST",
        "/v1/scans",
        Some(&k),
        Some("application/json"),
        b"{\"diff\": \"x\", \"evil\": 1}".to_vec(),
    )
    .await
    .problem(400, "invalid-request");
    call(
        &e.router,
        "POST",
        "/v1/scans",
        Some(&k),
        Some("application/json"),
        b"{\"diff\": \"x\", \"diff_base64\": \"eA==\"}".to_vec(),
    )
    .await
    .problem(400, "invalid-request");
    call(
        &e.router,
        "POST",
        "/v1/scans",
        Some(&k),
        Some("application/xml"),
        b"<x/>".to_vec(),
    )
    .await
    .problem(415, "unsupported-media-type");
    call(
        &e.router,
        "POST",
        "/v1/scans",
        Some(&k),
        None,
        CLEAN.to_vec(),
    )
    .await
    .problem(415, "unsupported-media-type");
    call(
        &e.router,
        "POST",
        "/v1/scans?wait=31",
        Some(&k),
        Some("text/x-diff"),
        CLEAN.to_vec(),
    )
    .await
    .problem(400, "invalid-request");
    call(
        &e.router,
        "POST",
        "/v1/scans?bogus=1",
        Some(&k),
        Some("text/x-diff"),
        CLEAN.to_vec(),
    )
    .await
    .problem(400, "invalid-request");
    call(
        &e.router,
        "POST",
        "/v1/scans?policy=nope",
        Some(&k),
        Some("text/x-diff"),
        CLEAN.to_vec(),
    )
    .await
    .problem(400, "invalid-request");
    get(&e, "/v1/scans/scn-0000/findings?limit=0", &k)
        .await
        .problem(400, "invalid-request");
    get(&e, "/v1/nothing", &k)
        .await
        .problem(404, "no-such-route");
    call(&e.router, "PUT", "/v1/scans", Some(&k), None, Vec::new())
        .await
        .problem(405, "method-not-allowed");
    let bad_policy = post_json(&e, "/v1/policies", &k, &json!({"name": "p", "body": "schema = \"diffver.policy/v1\"\nid = \"p\"\nblock_at = \"sometimes\"\n"})).await;
    bad_policy.problem(400, "invalid-request");
    let builtin = post_json(
        &e,
        "/v1/policies",
        &k,
        &json!({"name": "standard", "body": "schema = \"diffver.policy/v1\"\nid = \"standard\"\n"}),
    )
    .await;
    builtin.problem(400, "invalid-request");
    let past = post_json(
        &e,
        "/v1/exceptions",
        &k,
        &json!({"rule_id": "x", "reason": "r", "expires_at": "2001-01-01T00:00:00Z"}),
    )
    .await;
    past.problem(400, "invalid-request");
    let bidi = post_json(
        &e,
        "/v1/exceptions",
        &k,
        &json!({"rule_id": "x", "reason": "ok\u{202e}", "expires_at": "2099-01-01T00:00:00Z"}),
    )
    .await;
    bidi.problem(400, "invalid-request");
    // Nothing internal leaks into a problem.
    assert!(!String::from_utf8_lossy(&bad_policy.body).contains("diffver_"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_tenant_rate_and_in_flight_limits() {
    let e = env_with(
        ApiSettings {
            settings_ttl: Duration::from_millis(1),
            ..ApiSettings::default()
        },
        false,
    )
    .await;
    let tenant = e.tenant_a.clone();
    let r = call(
        &e.router,
        "PATCH",
        &format!("/v1/admin/tenants/{tenant}"),
        Some(&e.admin),
        Some("application/json"),
        serde_json::to_vec(&json!({"rate_per_sec": 3, "max_in_flight": 1})).unwrap(),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // In flight: no worker runs, so the first scan stays queued.
    assert_eq!(
        submit(&e, &e.key_a, CLEAN, 0).await.status,
        StatusCode::ACCEPTED
    );
    let r = submit(&e, &e.key_a, CLEAN, 0).await;
    r.problem(429, "rate-limited");
    assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
    // Rate: a burst beyond 3 per second is refused with Retry-After.
    let mut limited = 0;
    for _ in 0..6 {
        let r = get(&e, "/v1/policies", &e.key_a).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            r.problem(429, "rate-limited");
            limited += 1;
        }
    }
    assert!(limited >= 2, "only {limited} of 6 refused");
    // Tenant B is not affected.
    assert_eq!(
        get(&e, "/v1/policies", &e.key_b).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_policies_and_exceptions_apply() {
    let e = env().await;
    let k = e.key_a.clone();
    let first = submit(&e, &k, SUSPICIOUS, 10).await.json();
    let id = first["id"].as_str().unwrap();
    let findings = get(&e, &format!("/v1/scans/{id}/findings?limit=1000"), &k)
        .await
        .json();
    let blocking: Vec<Value> = findings["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["blocking"] == true)
        .cloned()
        .collect();
    assert!(!blocking.is_empty());
    // Accept every blocking finding by rule; the same diff then passes, and the
    // findings are marked suppressed.
    for f in &blocking {
        let r = post_json(&e, "/v1/exceptions", &k, &json!({"rule_id": f["rule_id"], "reason": "accepted for the test", "expires_at": "2099-01-01T00:00:00Z"})).await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let second = submit(&e, &k, SUSPICIOUS, 10).await.json();
    assert_eq!(second["decision"], "pass", "{second}");
    assert_ne!(second["policy_hash"], first["policy_hash"]);
    let id2 = second["id"].as_str().unwrap();
    let f2 = get(&e, &format!("/v1/scans/{id2}/findings?limit=1000"), &k)
        .await
        .json();
    assert!(
        f2["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["suppressed"] == true)
    );
    // A stored policy, activated as "default", is what scans without a policy use.
    let body =
        "schema = \"diffver.policy/v1\"\nid = \"acme\"\nversion = \"1\"\nextends = \"strict\"\n";
    let p = post_json(
        &e,
        "/v1/policies",
        &k,
        &json!({"name": "default", "body": body, "activate": true}),
    )
    .await;
    assert_eq!(p.status, StatusCode::CREATED);
    let third = submit(&e, &k, CLEAN, 10).await.json();
    let art = get(
        &e,
        &format!("/v1/scans/{}/artifact", third["id"].as_str().unwrap()),
        &k,
    )
    .await;
    let keyring = Keyring::development(SigningMode::Development).unwrap();
    let v = artifact::verify(&art.body, &keyring).unwrap();
    let text = String::from_utf8_lossy(&art.body).to_string();
    drop(v);
    assert!(!text.is_empty());
    assert_eq!(third["policy_hash"].as_str().unwrap().len(), 64);
    assert_ne!(third["policy_hash"], second["policy_hash"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_that_cannot_run_ends_in_error_per_the_tenant_setting() {
    let settings = ApiSettings {
        max_attempts: 2,
        ..ApiSettings::default()
    };
    let e = env_with(settings, false).await;
    let tenant = diffver_store::TenantId::new(e.tenant_a.clone()).unwrap();
    for (mode, blocking) in [("fail_open", false), ("fail_closed", true)] {
        let r = call(
            &e.router,
            "PATCH",
            &format!("/v1/admin/tenants/{}", e.tenant_a),
            Some(&e.admin),
            Some("application/json"),
            serde_json::to_vec(&json!({"on_error": mode})).unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        let s = submit(&e, &e.key_a, SUSPICIOUS, 0).await.json();
        let id = diffver_store::ScanId::new(s["id"].as_str().unwrap()).unwrap();
        // The diff vanishes behind the scan's back: every attempt fails.
        assert!(e.state.objects.delete(&diff_key(&id)).await.unwrap());
        let (tx, rx) = tokio::sync::watch::channel(false);
        let ws = WorkerSettings {
            idle_poll: Duration::from_millis(20),
            backoff: Backoff {
                base_ms: 1,
                cap_ms: 2,
                jitter: 0.0,
            },
            ..WorkerSettings::default()
        };
        let w = tokio::spawn(worker::run(e.state.clone(), ws, rx));
        let mut done = Value::Null;
        for _ in 0..200 {
            done = get(&e, &format!("/v1/scans/{id}"), &e.key_a).await.json();
            if done["status"] != "queued" && done["status"] != "running" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        tx.send(true).unwrap();
        w.await.unwrap().unwrap();
        assert_eq!(done["decision"], "error", "{done}");
        assert_eq!(done["blocking"], blocking, "{mode}: {done}");
        // The error verdict is signed like any other, and says nothing internal.
        let art = get(&e, &format!("/v1/scans/{id}/artifact"), &e.key_a).await;
        let keyring = Keyring::development(SigningMode::Development).unwrap();
        let verified = artifact::verify(&art.body, &keyring).unwrap();
        // It names the diff that was submitted (by its recorded digest), though the
        // bytes were gone when it was made.
        verified
            .check_diff(SUSPICIOUS)
            .expect("the error verdict is about the submitted diff");
        let jobs = e.store.list_jobs(&tenant, &id).await.unwrap();
        assert_eq!(jobs.last().unwrap().attempt, 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_description_matches_the_router() {
    let e = env_with(ApiSettings::default(), false).await;
    let spec: Value = serde_json::from_str(diffver_server::service::api::OPENAPI).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let mut in_spec = std::collections::BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                assert!(
                    op["operationId"].is_string(),
                    "{method} {path} has no operationId"
                );
                assert!(
                    op["responses"].is_object(),
                    "{method} {path} has no responses"
                );
                in_spec.insert((method.clone(), path.clone()));
            }
        }
    }
    let served: std::collections::BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(in_spec, served, "the spec and the router disagree");
    // Every listed operation is routed (an unrouted one answers `no-such-route`).
    for (m, p) in ROUTES {
        let uri = p
            .replace("{id}", "scn-x")
            .replace("{name}", "n")
            .replace("{version}", "1")
            .replace("{tenant}", "t-x")
            .replace("{key_id}", "k")
            .replace("{job_id}", "1");
        let r = call(
            &e.router,
            &m.to_uppercase(),
            &uri,
            Some(&e.admin),
            None,
            Vec::new(),
        )
        .await;
        if r.headers
            .get("content-type")
            .is_some_and(|c| c == "application/problem+json")
        {
            let p = r.json();
            assert_ne!(
                p["type"], "https://diffver.dev/problems/no-such-route",
                "{m} {uri}"
            );
            assert_ne!(
                p["type"], "https://diffver.dev/problems/method-not-allowed",
                "{m} {uri}"
            );
        }
    }
    let r = call(&e.router, "GET", "/openapi.json", None, None, Vec::new()).await;
    assert_eq!(r.body, diffver_server::service::api::OPENAPI.as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_metrics() {
    let e = env().await;
    assert_eq!(
        call(&e.router, "GET", "/healthz", None, None, Vec::new())
            .await
            .status,
        StatusCode::OK
    );
    let r = call(&e.router, "GET", "/readyz", None, None, Vec::new()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["database"], "ok");
    submit(&e, &e.key_a, SUSPICIOUS, 10).await;
    get(&e, "/v1/admin/tenants", &e.key_a).await;
    let m = call(&e.router, "GET", "/metrics", None, None, Vec::new()).await;
    let text = String::from_utf8(m.body).unwrap();
    for needle in [
        "diffver_http_request_duration_seconds_bucket{route=\"/v1/scans\",method=\"POST\",status=\"200\"",
        "diffver_scans_total{decision=\"fail\"}",
        "diffver_scan_duration_seconds_bucket",
        "diffver_auth_failures_total{reason=\"forbidden\"}",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
    // No key material in the exposition.
    assert!(!text.contains("dv_"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaked_diffver_key_is_caught_and_not_echoed() {
    let e = env().await;
    let tenant = &e.tenant_a;
    let leaked = post_json(
        &e,
        &format!("/v1/admin/tenants/{tenant}/api-keys"),
        &e.admin,
        &json!({"name": "leak", "role": "tenant"}),
    )
    .await
    .json()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let diff = format!(
        "diff --git a/ci.env b/ci.env\nnew file mode 100644\n--- /dev/null\n+++ b/ci.env\n@@ -0,0 +1 @@\n+DIFFVER_API_KEY={leaked}\n"
    );
    let scan = submit(&e, &e.key_a, diff.as_bytes(), 10).await.json();
    assert_eq!(scan["decision"], "fail", "{scan}");
    let id = scan["id"].as_str().unwrap();
    let f = get(&e, &format!("/v1/scans/{id}/findings"), &e.key_a)
        .await
        .json();
    assert!(
        f["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule_id"] == "secret.diffver-api-key" && f["blocking"] == true),
        "{f}"
    );
    for path in ["findings", "artifact", "report.sarif", "report.html"] {
        let body = get(&e, &format!("/v1/scans/{id}/{path}"), &e.key_a)
            .await
            .body;
        assert!(
            !String::from_utf8_lossy(&body).contains(&leaked[20..]),
            "{path} echoes the secret"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baselines_suppress_what_they_list() {
    let e = env().await;
    let k = e.key_a.clone();
    let first = submit(&e, &k, SUSPICIOUS, 10).await.json();
    let id = first["id"].as_str().unwrap();
    let f = get(&e, &format!("/v1/scans/{id}/findings?limit=1000"), &k)
        .await
        .json();
    let items = f["items"].as_array().unwrap();
    assert!(items.iter().all(|f| f["suppressed"] == false));
    let entries: Vec<Value> = items
        .iter()
        .map(|f| json!({"fingerprint": f["fingerprint"], "rule": f["rule_id"]}))
        .collect();
    let file = json!({"schema": "diffver.baseline/v1", "findings": entries});
    let r = call(
        &e.router,
        "PUT",
        "/v1/baselines/main",
        Some(&k),
        Some("application/json"),
        serde_json::to_vec(&file).unwrap(),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["entries"].as_i64().unwrap() as usize, items.len());
    // Not a baseline: refused.
    call(
        &e.router,
        "PUT",
        "/v1/baselines/bad",
        Some(&k),
        Some("application/json"),
        b"{\"x\": 1}".to_vec(),
    )
    .await
    .problem(400, "invalid-request");
    // A scan naming an unknown baseline is refused; naming this one suppresses.
    call(
        &e.router,
        "POST",
        "/v1/scans?baseline=nope",
        Some(&k),
        Some("text/x-diff"),
        SUSPICIOUS.to_vec(),
    )
    .await
    .problem(400, "invalid-request");
    let r = call(
        &e.router,
        "POST",
        "/v1/scans?wait=10&baseline=main",
        Some(&k),
        Some("text/x-diff"),
        SUSPICIOUS.to_vec(),
    )
    .await;
    let second = r.json();
    assert_eq!(second["baseline"], "main");
    let id2 = second["id"].as_str().unwrap();
    let f2 = get(&e, &format!("/v1/scans/{id2}/findings?limit=1000"), &k)
        .await
        .json();
    let suppressed = f2["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["suppressed"] == true)
        .count();
    assert!(suppressed > 0, "{f2}");
    assert_ne!(second["decision"], first["decision"], "{second}");
    // Tenant B cannot see or use it.
    get(&e, "/v1/baselines/main", &e.key_b)
        .await
        .problem(404, "not-found");
    call(
        &e.router,
        "POST",
        "/v1/scans?baseline=main",
        Some(&e.key_b),
        Some("text/x-diff"),
        CLEAN.to_vec(),
    )
    .await
    .problem(400, "invalid-request");
    assert_eq!(
        get(&e, "/v1/baselines", &k).await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let d = call(
        &e.router,
        "DELETE",
        "/v1/baselines/main",
        Some(&k),
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(d.status, StatusCode::OK);
}

const HOOKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/github-webhooks");
const HOOK_SECRET: &[u8] = b"It's a Secret to Everybody";

async fn hook(e: &Env, event: &str, delivery: &str, body: &[u8], sig: Option<String>) -> Resp {
    let mut b = Request::builder()
        .method("POST")
        .uri("/v1/github/webhook")
        .header("content-type", "application/json")
        .header("x-github-event", event);
    if !delivery.is_empty() {
        b = b.header("x-github-delivery", delivery);
    }
    if let Some(s) = sig {
        b = b.header("x-hub-signature-256", s);
    }
    let resp = e
        .router
        .clone()
        .oneshot(b.body(Body::from(body.to_vec())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

async fn signed(e: &Env, event: &str, delivery: &str, file: &str) -> Resp {
    let body = std::fs::read(format!("{HOOKS}/{file}")).unwrap();
    let sig = diffver_server::service::github::sign(HOOK_SECRET, &body);
    hook(e, event, delivery, &body, Some(sig)).await
}

async fn deliveries(e: &Env) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries")
        .fetch_one(e.store.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_webhooks_are_verified_routed_and_deduplicated() {
    use diffver_server::service::github::GithubSettings;
    let e = env_with(ApiSettings::default(), false).await;
    let tenant = diffver_store::TenantId::new(e.tenant_a.clone()).unwrap();
    // Not configured: no such integration.
    signed(&e, "ping", "p-0", "ping/payload.json")
        .await
        .problem(404, "github-not-configured");
    let _ = e
        .state
        .clone()
        .with_github(GithubSettings::new(HOOK_SECRET.to_vec()));

    // Refused before parsing: forged, truncated, SHA-1 only, missing; nothing stored.
    let body = std::fs::read(format!("{HOOKS}/pull_request/opened.payload.json")).unwrap();
    let sig = diffver_server::service::github::sign(HOOK_SECRET, &body);
    hook(
        &e,
        "pull_request",
        "x-1",
        &body[..body.len() - 1],
        Some(sig.clone()),
    )
    .await
    .problem(401, "unauthenticated");
    hook(
        &e,
        "pull_request",
        "x-2",
        &body,
        Some(sig.replace('a', "b")),
    )
    .await
    .problem(401, "unauthenticated");
    hook(&e, "pull_request", "x-3", &body, None)
        .await
        .problem(401, "unauthenticated");
    assert_eq!(deliveries(&e).await, 0);
    assert!(e.store.list_installations().await.unwrap().is_empty());
    // Signed but unusable.
    let junk = b"not json";
    hook(
        &e,
        "pull_request",
        "x-4",
        junk,
        Some(diffver_server::service::github::sign(HOOK_SECRET, junk)),
    )
    .await
    .problem(400, "invalid-request");
    hook(&e, "pull_request", "", &body, Some(sig.clone()))
        .await
        .problem(400, "invalid-request");

    assert_eq!(
        signed(&e, "ping", "p-1", "ping/payload.json").await.status,
        200
    );
    // An installation without DIFFVER_GITHUB_TENANT stays unmapped, and its events
    // are acknowledged without a check.
    assert_eq!(
        signed(
            &e,
            "installation",
            "i-1",
            "installation/created.payload.json"
        )
        .await
        .status,
        200
    );
    let inst = e.store.get_installation(957_387).await.unwrap();
    assert_eq!(
        (inst.tenant_id, inst.account.as_str()),
        (None, "Codertocat")
    );
    let r = signed(
        &e,
        "check_suite",
        "c-1",
        "check_suite/rerequested.payload.json",
    )
    .await;
    assert_eq!(r.status, 202);
    assert!(r.json()["result"].as_str().unwrap().starts_with("ignored"));
    assert_eq!(deliveries(&e).await, 0);

    // An admin maps it; now events queue checks, once per delivery.
    let r = call(
        &e.router,
        "PUT",
        "/v1/admin/github/installations/957387",
        Some(&e.admin),
        Some("application/json"),
        serde_json::to_vec(&json!({"tenant_id": e.tenant_a})).unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = call(
        &e.router,
        "PUT",
        "/v1/admin/github/installations/957387",
        Some(&e.key_a),
        Some("application/json"),
        serde_json::to_vec(&json!({"tenant_id": e.tenant_a})).unwrap(),
    )
    .await;
    assert_eq!(r.status, 403, "a tenant key maps installations");
    let r = signed(
        &e,
        "check_suite",
        "c-1",
        "check_suite/rerequested.payload.json",
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["result"].as_str()),
        (202, Some("queued"))
    );
    let r = signed(
        &e,
        "check_suite",
        "c-1",
        "check_suite/rerequested.payload.json",
    )
    .await;
    assert_eq!(r.status, 200, "a redelivery");
    let r = signed(
        &e,
        "check_suite",
        "c-2",
        "check_suite/requested.payload.json",
    )
    .await;
    assert_eq!(r.status, 202, "no pull request: compare before...head");
    // The same commit asked for again (as a push sends pull_request.synchronize and
    // check_suite.requested): one check. A re-run request: a new one.
    let r = signed(
        &e,
        "check_suite",
        "c-3",
        "check_suite/requested.payload.json",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.json()["result"].as_str().unwrap().contains("already"));
    let r = signed(
        &e,
        "check_suite",
        "c-4",
        "check_suite/rerequested.payload.json",
    )
    .await;
    assert_eq!(r.status, 202, "a re-run");
    let list = e.store.list_publishes(&tenant, false, 10).await.unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list.iter().filter(|p| p.check.rerun).count(), 2);
    let by_pr = list
        .iter()
        .find(|p| p.check.pull_number == Some(2))
        .unwrap();
    assert_eq!(by_pr.check.repository, "Codertocat/Hello-World");
    assert_eq!(
        by_pr.check.head_sha,
        "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    );
    assert_eq!(by_pr.event, "check_suite");
    let compare = list.iter().find(|p| p.check.pull_number.is_none()).unwrap();
    assert_eq!(
        compare.check.base_sha.as_deref(),
        Some("6113728f27ae82c7b1a177c8d03f9e96e0adf246")
    );
    assert_eq!(deliveries(&e).await, 4);

    // Ignored actions and events: 204, nothing stored.
    for (event, file) in [
        ("pull_request", "pull_request/closed.payload.json"),
        ("pull_request", "pull_request/labeled.payload.json"),
        ("check_run", "check_run/requested_action.payload.json"),
    ] {
        assert_eq!(signed(&e, event, file, file).await.status, 204, "{file}");
    }
    let star = b"{\"action\":\"created\"}";
    let r = hook(
        &e,
        "star",
        "s-1",
        star,
        Some(diffver_server::service::github::sign(HOOK_SECRET, star)),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(deliveries(&e).await, 4);
    // Uninstalled: recorded.
    assert_eq!(
        signed(
            &e,
            "installation",
            "i-2",
            "installation/deleted.payload.json"
        )
        .await
        .status,
        200
    );
    // Admin views of the outbox and the installations.
    let r = get(
        &e,
        &format!("/v1/admin/tenants/{}/github/publishes", e.tenant_a),
        &e.admin,
    )
    .await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 3);
    // (The deleted payload's installation was never seen: nothing to mark.)
    let r = get(&e, "/v1/admin/github/installations", &e.admin).await;
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["tenant_id"], json!(e.tenant_a));
    let r = get(&e, "/v1/admin/github/installations", &e.key_b).await;
    assert_eq!(r.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_list_a_tenants_users() {
    let e = env_with(ApiSettings::default(), false).await;
    let uri = format!("/v1/admin/tenants/{}/users", e.tenant_a);
    let r = get(&e, &uri, &e.admin).await;
    assert_eq!(r.status, 200);
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["email"], "root@example.com");
    assert_eq!(items[0]["role"], "admin");
    get(&e, &uri, &e.key_a).await.problem(403, "forbidden");
    get(&e, "/v1/admin/tenants/t-nope/users", &e.admin)
        .await
        .problem(404, "not-found");
}

/// Every route of the router × {no key, a revoked key, a tenant key on an admin route}:
/// 401/401/403 with a problem body that carries neither key nor internal detail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_missing_revoked_and_underprivileged_keys() {
    let e = env_with(ApiSettings::default(), false).await;
    let now = Millis::from_system_clock();
    let tenant = diffver_store::TenantId::new(e.tenant_a.clone()).unwrap();
    let revoked = e
        .store
        .create_api_key(&tenant, None, "gone", Role::Tenant, "test", now)
        .await
        .unwrap();
    e.store
        .revoke_api_key(&tenant, &revoked.key.id, "test", now)
        .await
        .unwrap();
    let public = [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/v1/github/webhook",
    ];
    let mut probed = 0;
    for (method, template) in ROUTES {
        if public.contains(template) {
            continue;
        }
        let path = template
            .replace("{tenant}", &e.tenant_a)
            .replace("{id}", "scan_0123456789abcdef0123456789abcdef")
            .replace("{name}", "team")
            .replace("{version}", "1")
            .replace("{key_id}", "0123456789abcdef")
            .replace("{job_id}", "1")
            .replace("{installation_id}", "1");
        let m = method.to_uppercase();
        for (key, want, slug) in [
            (None, 401, "unauthenticated"),
            (Some(revoked.secret.as_str()), 401, "unauthenticated"),
        ] {
            let r = call(
                &e.router,
                &m,
                &path,
                key,
                Some("application/json"),
                b"{}".to_vec(),
            )
            .await;
            r.problem(want, slug);
            let body = String::from_utf8_lossy(&r.body).to_lowercase();
            assert!(
                !body.contains(&revoked.secret.to_lowercase()),
                "{m} {path} echoes the key"
            );
            for leak in ["sqlx", "database error", "sqlite", "postgres", "panicked"] {
                assert!(!body.contains(leak), "{m} {path} leaks {leak:?}: {body}");
            }
        }
        if template.starts_with("/v1/admin/") {
            let r = call(
                &e.router,
                &m,
                &path,
                Some(&e.key_a),
                Some("application/json"),
                b"{}".to_vec(),
            )
            .await;
            r.problem(403, "forbidden");
        }
        probed += 1;
    }
    assert!(probed >= 30, "{probed} routes probed");
}

/// Hostile bodies and ids: deeply nested JSON, invalid UTF-8 in a JSON string, path
/// traversal in ids, a body that stalls (slow loris) — each a clear 4xx, never a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_and_ids_are_refused() {
    let e = env_with(
        ApiSettings {
            body_timeout: Duration::from_millis(300),
            ..ApiSettings::default()
        },
        false,
    )
    .await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let r = call(
        &e.router,
        "POST",
        "/v1/scans",
        Some(&e.key_a),
        Some("application/json"),
        deep.into_bytes(),
    )
    .await;
    r.problem(400, "invalid-request");
    let mut bad_utf8 = b"{\"diff\": \"diff --git a/x b/x\n+".to_vec();
    bad_utf8.extend_from_slice(&[0xff, 0xfe]);
    bad_utf8.extend_from_slice(b"\"}");
    let r = call(
        &e.router,
        "POST",
        "/v1/scans",
        Some(&e.key_a),
        Some("application/json"),
        bad_utf8,
    )
    .await;
    r.problem(400, "invalid-request");
    for id in [
        "..%2F..%2Fetc%2Fpasswd",
        "scan_%2e%2e",
        "%00",
        "scan_0123%0a456",
        "..",
    ] {
        let r = get(&e, &format!("/v1/scans/{id}"), &e.key_a).await;
        assert!(matches!(r.status.as_u16(), 400 | 404), "{id}: {}", r.status);
        assert!(!String::from_utf8_lossy(&r.body).contains("passwd"));
    }
    // A body that sends a little and then stalls gets 408 after the deadline.
    let stalled = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"diff --git a/x b/x\n"))
    })
    .chain(futures_util::stream::pending());
    let req = Request::builder()
        .method("POST")
        .uri("/v1/scans")
        .header("authorization", format!("Bearer {}", e.key_a))
        .header("content-type", "text/x-diff")
        .body(Body::from_stream(stalled))
        .unwrap();
    let started = std::time::Instant::now();
    let resp = tokio::time::timeout(Duration::from_secs(10), e.router.clone().oneshot(req))
        .await
        .expect("a stalled body must not hold the request")
        .unwrap();
    assert_eq!(resp.status().as_u16(), 408);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A tenant signed with its own key: set by an admin to a key the deployment has,
/// refused for one it does not, cleared back to the default signer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_can_have_its_own_signing_key() {
    let e = env().await;
    let dir = tempfile::tempdir().unwrap();
    let key = b"acme's own signing key, 32 bytes or more".to_vec();
    std::fs::write(dir.path().join("acme-1.key"), &key).unwrap();
    std::fs::write(dir.path().join("README"), "not a key").unwrap();
    let keys = diffver_server::service::signer::load_tenant_keys(dir.path()).unwrap();
    assert_eq!(keys.len(), 1);
    let _ = e.state.clone().with_tenant_signers(keys);
    let tenant_uri = format!("/v1/admin/tenants/{}", e.tenant_a);
    let patch = |v: Value| {
        call(
            &e.router,
            "PATCH",
            &tenant_uri,
            Some(&e.admin),
            Some("application/json"),
            serde_json::to_vec(&v).unwrap(),
        )
    };
    patch(json!({"signer": "no-such-key"}))
        .await
        .problem(400, "invalid-request");
    let r = patch(json!({"signer": "acme-1"})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["signer"], "acme-1");
    let own = Keyring::new().with_key("acme-1", key.clone()).unwrap();
    let dev = Keyring::development(SigningMode::Development).unwrap();
    let s = submit(&e, &e.key_a, CLEAN, 20).await.json();
    let art = get(
        &e,
        &format!("/v1/scans/{}/artifact", s["id"].as_str().unwrap()),
        &e.key_a,
    )
    .await;
    let v = artifact::verify(&art.body, &own).expect("signed with the tenant's key");
    assert_eq!(v.key_id, "acme-1");
    assert!(artifact::verify(&art.body, &dev).is_err());
    // Another tenant keeps the default signer.
    let s = submit(&e, &e.key_b, CLEAN, 20).await.json();
    let art = get(
        &e,
        &format!("/v1/scans/{}/artifact", s["id"].as_str().unwrap()),
        &e.key_b,
    )
    .await;
    artifact::verify(&art.body, &dev).expect("the default signer");
    // Cleared: back to the default.
    let r = patch(json!({"signer": null})).await;
    assert_eq!(r.json()["signer"], Value::Null);
    let s = submit(&e, &e.key_a, SUSPICIOUS, 20).await.json();
    let art = get(
        &e,
        &format!("/v1/scans/{}/artifact", s["id"].as_str().unwrap()),
        &e.key_a,
    )
    .await;
    artifact::verify(&art.body, &dev).expect("the default signer again");
}
