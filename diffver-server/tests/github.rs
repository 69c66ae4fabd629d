//! The GitHub integration end to end: `diffver serve` (API, worker and publisher in
//! one process, the embedded default) against a local fake GitHub — a real HTTP server
//! speaking the documented endpoints (installation token, a pull request's diff,
//! check-run create and update) that verifies the App JWT with the App's public key
//! and records every call. Deliveries are GitHub's real payload examples, signed with
//! the test secret.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod procs;

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use procs::{Proc, diffver, spawn, url};
use serde_json::{Value, json};

const SUSPICIOUS: &[u8] = include_bytes!("../../examples/diffs/suspicious-pr.diff");
const CLEAN: &[u8] = include_bytes!("../../examples/diffs/clean.diff");
const SECRET: &str = "a webhook secret for the tests";
const APP_ID: &str = "4242";
const HOOKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/github-webhooks");

/// One recorded call to the fake GitHub.
#[derive(Debug, Clone)]
struct Call {
    method: &'static str,
    path: String,
    body: Value,
    status: u16,
}

/// What the fake answers instead of the real thing, for the next calls that update
/// a check run.
#[derive(Debug, Clone, Copy)]
enum Fault {
    ServerError,
    SecondaryRateLimit,
}

#[derive(Default)]
struct Fake {
    public_pem: Vec<u8>,
    calls: Mutex<Vec<Call>>,
    diffs: Mutex<HashMap<i64, Vec<u8>>>,
    faults: Mutex<VecDeque<Fault>>,
    next_id: Mutex<i64>,
    tokens: Mutex<Vec<String>>,
    /// Creates to answer 502 after creating the run (GitHub acted, the answer was lost).
    lost_creates: Mutex<usize>,
    /// Every check run created: (id, the create body).
    runs: Mutex<Vec<(i64, Value)>>,
}

type Shared = Arc<Fake>;

impl Fake {
    fn record(&self, method: &'static str, path: String, body: Value, status: u16) {
        self.calls.lock().unwrap().push(Call {
            method,
            path,
            body,
            status,
        });
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn token_ok(&self, h: &HeaderMap) -> bool {
        let Some(auth) = h.get("authorization").and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some(t) = auth.strip_prefix("Bearer ") else {
            return false;
        };
        self.tokens.lock().unwrap().iter().any(|k| k == t)
    }
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"message": message}))).into_response()
}

/// `POST /app/installations/{id}/access_tokens`: the App JWT must verify with the
/// App's public key, be issued by the App, and last at most 10 minutes.
async fn access_token(
    State(f): State<Shared>,
    UrlPath(id): UrlPath<i64>,
    h: HeaderMap,
) -> Response {
    let path = format!("/app/installations/{id}/access_tokens");
    let jwt = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(&f.public_pem).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_issuer(&[APP_ID]);
    v.set_required_spec_claims(&["exp", "iat", "iss"]);
    let ok = match jsonwebtoken::decode::<Value>(&jwt, &key, &v) {
        Ok(d) => {
            let iat = d.claims["iat"].as_i64().unwrap_or(0);
            let exp = d.claims["exp"].as_i64().unwrap_or(0);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            exp - iat <= 600 && iat <= now - 30 && h.get("x-github-api-version").is_some()
        }
        Err(_) => false,
    };
    if !ok {
        f.record("POST", path, Value::Null, 401);
        return problem(
            StatusCode::UNAUTHORIZED,
            "A JSON web token could not be decoded",
        );
    }
    let token = format!("ghs_fake{}", f.tokens.lock().unwrap().len());
    f.tokens.lock().unwrap().push(token.clone());
    f.record("POST", path, Value::Null, 201);
    (
        StatusCode::CREATED,
        axum::Json(json!({"token": token, "expires_at": "2099-01-01T00:00:00Z"})),
    )
        .into_response()
}

/// `GET /repos/{owner}/{repo}/pulls/{n}` with `Accept: application/vnd.github.diff`.
async fn pull(
    State(f): State<Shared>,
    UrlPath((owner, repo, n)): UrlPath<(String, String, i64)>,
    h: HeaderMap,
) -> Response {
    let path = format!("/repos/{owner}/{repo}/pulls/{n}");
    if !f.token_ok(&h) {
        f.record("GET", path, Value::Null, 401);
        return problem(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    if h.get("accept").and_then(|v| v.to_str().ok()) != Some("application/vnd.github.diff") {
        f.record("GET", path, Value::Null, 415);
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "this fake serves diffs only",
        );
    }
    let diff = f.diffs.lock().unwrap().get(&n).cloned();
    match diff {
        Some(d) => {
            f.record("GET", path, Value::Null, 200);
            (StatusCode::OK, d).into_response()
        }
        None => {
            f.record("GET", path, Value::Null, 406);
            problem(
                StatusCode::NOT_ACCEPTABLE,
                "Sorry, the diff exceeded the maximum number of lines (20000)",
            )
        }
    }
}

/// Checks the documented limits of a check-run body.
fn check_output(body: &Value) -> Result<(), String> {
    if let Some(o) = body.get("output") {
        let title = o["title"].as_str().ok_or("output.title is required")?;
        let summary = o["summary"].as_str().ok_or("output.summary is required")?;
        if title.chars().count() > 255 || summary.chars().count() > 65_535 {
            return Err("output over GitHub's limits".into());
        }
        if let Some(a) = o.get("annotations") {
            let a = a.as_array().ok_or("annotations must be an array")?;
            if a.len() > 50 {
                return Err(format!("{} annotations in one request (max 50)", a.len()));
            }
            for x in a {
                for k in [
                    "path",
                    "start_line",
                    "end_line",
                    "annotation_level",
                    "message",
                ] {
                    if x.get(k).is_none() {
                        return Err(format!("annotation without {k}"));
                    }
                }
            }
        }
    }
    Ok(())
}

async fn create_run(
    State(f): State<Shared>,
    UrlPath((owner, repo)): UrlPath<(String, String)>,
    h: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let path = format!("/repos/{owner}/{repo}/check-runs");
    if !f.token_ok(&h) {
        f.record("POST", path, body, 401);
        return problem(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    if let Err(e) = check_output(&body) {
        f.record("POST", path, body, 422);
        return problem(StatusCode::UNPROCESSABLE_ENTITY, &e);
    }
    let id = {
        let mut n = f.next_id.lock().unwrap();
        *n += 1;
        *n
    };
    f.record("POST", path, body.clone(), 201);
    f.runs.lock().unwrap().push((id, body.clone()));
    let lost = {
        let mut n = f.lost_creates.lock().unwrap();
        let lost = *n > 0;
        *n = n.saturating_sub(1);
        lost
    };
    if lost {
        return problem(StatusCode::BAD_GATEWAY, "Server Error");
    }
    (
        StatusCode::CREATED,
        axum::Json(json!({"id": id, "head_sha": body["head_sha"], "status": body["status"]})),
    )
        .into_response()
}

/// `GET /repos/{owner}/{repo}/commits/{ref}/check-runs?check_name=…`: the commit's
/// check runs with their `external_id`.
async fn list_runs(
    State(f): State<Shared>,
    UrlPath((owner, repo, sha)): UrlPath<(String, String, String)>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    let path = format!("/repos/{owner}/{repo}/commits/{sha}/check-runs");
    if !f.token_ok(&h) {
        f.record("GET", path, Value::Null, 401);
        return problem(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    let runs: Vec<Value> = f
        .runs
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, b)| b["head_sha"] == sha.as_str())
        .filter(|(_, b)| q.get("check_name").is_none_or(|n| b["name"] == n.as_str()))
        .map(|(id, b)| json!({"id": id, "head_sha": b["head_sha"], "name": b["name"], "external_id": b["external_id"]}))
        .collect();
    f.record("GET", path, Value::Null, 200);
    axum::Json(json!({"total_count": runs.len(), "check_runs": runs})).into_response()
}

async fn update_run(
    State(f): State<Shared>,
    UrlPath((owner, repo, id)): UrlPath<(String, String, i64)>,
    h: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let path = format!("/repos/{owner}/{repo}/check-runs/{id}");
    if !f.token_ok(&h) {
        f.record("PATCH", path, body, 401);
        return problem(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    let fault = f.faults.lock().unwrap().pop_front();
    match fault {
        Some(Fault::ServerError) => {
            f.record("PATCH", path, body, 500);
            return problem(StatusCode::INTERNAL_SERVER_ERROR, "Server Error");
        }
        Some(Fault::SecondaryRateLimit) => {
            f.record("PATCH", path, body, 403);
            let mut r = problem(
                StatusCode::FORBIDDEN,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            );
            r.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
            return r;
        }
        None => {}
    }
    if let Err(e) = check_output(&body) {
        f.record("PATCH", path, body, 422);
        return problem(StatusCode::UNPROCESSABLE_ENTITY, &e);
    }
    f.record("PATCH", path, body, 200);
    (StatusCode::OK, axum::Json(json!({"id": id}))).into_response()
}

async fn start_fake(public_pem: Vec<u8>) -> (Shared, String) {
    let fake = Arc::new(Fake {
        public_pem,
        ..Fake::default()
    });
    let app = Router::new()
        .route("/app/installations/{id}/access_tokens", post(access_token))
        .route("/repos/{owner}/{repo}/pulls/{n}", get(pull))
        .route("/repos/{owner}/{repo}/check-runs", post(create_run))
        .route("/repos/{owner}/{repo}/check-runs/{id}", patch(update_run))
        .route(
            "/repos/{owner}/{repo}/commits/{sha}/check-runs",
            get(list_runs),
        )
        .with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, format!("http://{addr}"))
}

/// An RSA key pair made by `openssl` for this run.
fn app_key(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let key = dir.join("app.pem");
    let public = dir.join("app.pub.pem");
    let ok = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .status()
        .expect("openssl is needed to make the test App key")
        .success();
    assert!(ok);
    let ok = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    (key, std::fs::read(public).unwrap())
}

fn admin_json(dir: &Path, args: &[&str]) -> Value {
    let out = diffver()
        .current_dir(dir)
        .arg("admin")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn payload(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(format!("{HOOKS}/{name}")).unwrap()).unwrap()
}

/// A pull_request event for PR `n` at `head` (the real payload, re-numbered).
fn pr_event(action: &str, n: i64, head: &str) -> Vec<u8> {
    let mut p = payload(&format!("pull_request/{action}.payload.json"));
    p["number"] = json!(n);
    p["pull_request"]["number"] = json!(n);
    p["pull_request"]["head"]["sha"] = json!(head);
    serde_json::to_vec(&p).unwrap()
}

fn sign(body: &[u8]) -> String {
    diffver_server::service::github::sign(SECRET.as_bytes(), body)
}

async fn deliver(
    client: &reqwest::Client,
    p: &Proc,
    event: &str,
    delivery: &str,
    body: &[u8],
    signature: Option<&str>,
) -> (u16, Value) {
    let mut r = client
        .post(url(p, "/v1/github/webhook"))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .body(body.to_vec());
    if let Some(s) = signature {
        r = r.header("x-hub-signature-256", s);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The calls on check run `id`, once it is completed (or a panic after `secs`).
async fn completed_run(fake: &Fake, id: i64, secs: u64) -> Vec<Call> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let calls: Vec<Call> = fake
            .calls()
            .into_iter()
            .filter(|c| c.path.ends_with(&format!("/check-runs/{id}")) && c.status == 200)
            .collect();
        if calls.iter().any(|c| c.body["status"] == "completed") {
            return calls;
        }
        assert!(
            Instant::now() < deadline,
            "check run {id} not completed in {secs} s: {:#?}",
            fake.calls()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The check run created for `head`, waiting for it.
async fn created_run(fake: &Fake, head: &str, secs: u64) -> (i64, usize) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let creates: Vec<Call> = fake
            .calls()
            .into_iter()
            .filter(|c| c.method == "POST" && c.path.ends_with("/check-runs") && c.status == 201)
            .collect();
        let mine: Vec<usize> = creates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.body["head_sha"] == head)
            .map(|(i, _)| i)
            .collect();
        if let Some(i) = mine.first() {
            assert_eq!(creates[*i].body["status"], "queued");
            return ((*i + 1) as i64, mine.len());
        }
        assert!(Instant::now() < deadline, "no check run for {head}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (path, line) of every annotation a CLI scan of `diff` should give.
fn expected_annotations(dir: &Path, diff: &[u8]) -> Vec<(String, u64)> {
    let d = dir.join("expect.diff");
    std::fs::write(&d, diff).unwrap();
    let out = diffver()
        .args(["scan", "--format", "json"])
        .arg(&d)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut e: Vec<(String, u64)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["side"] == "new"
                && f["suppression"].is_null()
                && f["action"] != "off"
                && f["raw_path"].is_string()
                && f["line"].is_u64()
        })
        .map(|f| {
            (
                f["raw_path"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    e.sort();
    e
}

fn annotations_of(calls: &[Call]) -> Vec<(String, u64)> {
    let mut a: Vec<(String, u64)> = calls
        .iter()
        .filter_map(|c| c.body["output"]["annotations"].as_array())
        .flatten()
        .map(|x| {
            (
                x["path"].as_str().unwrap().to_owned(),
                x["start_line"].as_u64().unwrap(),
            )
        })
        .collect();
    a.sort();
    a
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_requests_become_check_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (key_path, public_pem) = app_key(dir.path());
    let (fake, api) = start_fake(public_pem).await;
    // Many findings: one bidi override per line (Trojan Source) on 120 lines.
    let mut many = String::from(
        "diff --git a/src/many.py b/src/many.py\nnew file mode 100644\n--- /dev/null\n+++ b/src/many.py\n@@ -0,0 +1,120 @@\n",
    );
    for i in 0..120 {
        many.push_str(&format!("+x{i} = 1  # \u{202e} reviewed\n"));
    }
    {
        let mut d = fake.diffs.lock().unwrap();
        d.insert(2, SUSPICIOUS.to_vec());
        d.insert(3, CLEAN.to_vec());
        d.insert(4, CLEAN.to_vec());
        d.insert(5, many.clone().into_bytes());
    }

    let tenant = admin_json(dir.path(), &["create-tenant", "acme"]);
    let tenant = tenant["id"].as_str().unwrap().to_owned();
    let admin = admin_json(
        dir.path(),
        &["create-key", "--tenant", &tenant, "--role", "admin"],
    );
    let admin = admin["key"].as_str().unwrap().to_owned();

    let mut cmd = diffver();
    cmd.current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DIFFVER_GITHUB_WEBHOOK_SECRET", SECRET)
        .env("DIFFVER_GITHUB_APP_ID", APP_ID)
        .env("DIFFVER_GITHUB_PRIVATE_KEY", &key_path)
        .env("DIFFVER_GITHUB_API_URL", &api)
        .env("DIFFVER_GITHUB_TENANT", &tenant)
        .env("DIFFVER_GITHUB_RETRY_BASE_MS", "100");
    let p = spawn(cmd, true);
    let client = reqwest::Client::new();

    // ping is answered; a forged, a SHA-1-only and an unsigned delivery are 401 and
    // store nothing.
    let ping = std::fs::read(format!("{HOOKS}/ping/payload.json")).unwrap();
    let (s, _) = deliver(&client, &p, "ping", "p-1", &ping, Some(&sign(&ping))).await;
    assert_eq!(s, 200);
    let opened = pr_event("opened", 2, &"e".repeat(40));
    let forged = format!("sha256={}", "0".repeat(64));
    for sig in [Some(forged.as_str()), None] {
        let (s, _) = deliver(&client, &p, "pull_request", "f-1", &opened, sig).await;
        assert_eq!(s, 401);
    }
    let sha1 = client
        .post(url(&p, "/v1/github/webhook"))
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", "f-2")
        .header(
            "x-hub-signature",
            "sha1=0000000000000000000000000000000000000000",
        )
        .body(opened.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(sha1.status().as_u16(), 401);
    // Re-serialised with other whitespace, the body no longer matches its signature.
    let pretty =
        serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&opened).unwrap()).unwrap();
    let (s, _) = deliver(
        &client,
        &p,
        "pull_request",
        "f-3",
        &pretty,
        Some(&sign(&opened)),
    )
    .await;
    assert_eq!(s, 401);
    let publishes = |client: reqwest::Client, p_url: String, admin: String| async move {
        let r = client.get(p_url).bearer_auth(admin).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.json::<Value>().await.unwrap()["items"]
            .as_array()
            .unwrap()
            .clone()
    };
    let list_url = url(&p, &format!("/v1/admin/tenants/{tenant}/github/publishes"));
    assert!(
        publishes(client.clone(), list_url.clone(), admin.clone())
            .await
            .is_empty(),
        "a forged delivery stored something"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fake.calls().is_empty(), "a forged delivery reached GitHub");

    // The real pull_request.opened payload with a malicious diff: queued, in_progress,
    // completed with failure and annotations at the CLI's lines.
    let head = "e".repeat(40);
    let (s, v) = deliver(
        &client,
        &p,
        "pull_request",
        "d-1",
        &opened,
        Some(&sign(&opened)),
    )
    .await;
    assert_eq!((s, v["result"].as_str()), (202, Some("queued")), "{v}");
    let (run, _) = created_run(&fake, &head, 30).await;
    let calls = completed_run(&fake, run, 60).await;
    let statuses: Vec<&str> = calls
        .iter()
        .filter_map(|c| c.body["status"].as_str())
        .collect();
    assert_eq!(statuses, ["in_progress", "completed"]);
    let done = calls.last().unwrap();
    assert_eq!(done.body["conclusion"], "failure");
    assert!(
        done.body["output"]["title"]
            .as_str()
            .unwrap()
            .starts_with("diffver: fail")
    );
    let want = expected_annotations(dir.path(), SUSPICIOUS);
    assert!(!want.is_empty());
    assert_eq!(annotations_of(&calls), want);
    // The diff was fetched with the diff media type, once.
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| c.method == "GET" && c.path == "/repos/Codertocat/Hello-World/pulls/2")
            .count(),
        1
    );

    // The same delivery again: acknowledged, nothing new.
    let (s, v) = deliver(
        &client,
        &p,
        "pull_request",
        "d-1",
        &opened,
        Some(&sign(&opened)),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        created_run(&fake, &head, 5).await.1,
        1,
        "a replay created a second check run"
    );
    assert_eq!(
        publishes(client.clone(), list_url.clone(), admin.clone())
            .await
            .len(),
        1
    );

    // A clean change: success.
    let head3 = "c".repeat(40);
    let sync = pr_event("synchronize", 3, &head3);
    let (s, _) = deliver(
        &client,
        &p,
        "pull_request",
        "d-2",
        &sync,
        Some(&sign(&sync)),
    )
    .await;
    assert_eq!(s, 202);
    let (run3, _) = created_run(&fake, &head3, 30).await;
    let calls = completed_run(&fake, run3, 60).await;
    assert_eq!(calls.last().unwrap().body["conclusion"], "success");

    // GitHub fails (three 500s, then two secondary rate limits): the publish is
    // retried and lands once; the failures are counted.
    let before = metric(
        &client
            .get(url(&p, "/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "diffver_publish_failures_total",
    );
    fake.faults.lock().unwrap().extend([
        Fault::ServerError,
        Fault::ServerError,
        Fault::ServerError,
        Fault::SecondaryRateLimit,
        Fault::SecondaryRateLimit,
    ]);
    let head4 = "d".repeat(40);
    let reopened = pr_event("reopened", 4, &head4);
    let (s, _) = deliver(
        &client,
        &p,
        "pull_request",
        "d-3",
        &reopened,
        Some(&sign(&reopened)),
    )
    .await;
    assert_eq!(s, 202);
    let (run4, _) = created_run(&fake, &head4, 30).await;
    let calls = completed_run(&fake, run4, 90).await;
    assert_eq!(calls.last().unwrap().body["conclusion"], "success");
    let refused = fake
        .calls()
        .iter()
        .filter(|c| c.path.ends_with(&format!("/check-runs/{run4}")) && c.status != 200)
        .count();
    assert_eq!(refused, 5);
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.body["status"] == "completed")
            .count(),
        1,
        "completed twice"
    );
    let after = metric(
        &client
            .get(url(&p, "/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "diffver_publish_failures_total",
    );
    assert!(
        after - before >= 5.0,
        "failures not counted: {before} -> {after}"
    );

    // More than 50 findings: every annotation arrives, at most 50 per request.
    let head5 = "f".repeat(40);
    let many_event = pr_event("opened", 5, &head5);
    let (s, _) = deliver(
        &client,
        &p,
        "pull_request",
        "d-4",
        &many_event,
        Some(&sign(&many_event)),
    )
    .await;
    assert_eq!(s, 202);
    let (run5, _) = created_run(&fake, &head5, 30).await;
    let calls = completed_run(&fake, run5, 60).await;
    let want = expected_annotations(dir.path(), many.as_bytes());
    assert!(want.len() >= 120, "{}", want.len());
    assert_eq!(annotations_of(&calls), want, "annotations lost or repeated");
    assert_eq!(calls.last().unwrap().body["status"], "completed");

    // A diff GitHub will not produce (too large): a failure check with the reason.
    let head6 = "a".repeat(40);
    let big = pr_event("opened", 6, &head6);
    let (s, _) = deliver(&client, &p, "pull_request", "d-5", &big, Some(&sign(&big))).await;
    assert_eq!(s, 202);
    let (run6, _) = created_run(&fake, &head6, 30).await;
    let calls = completed_run(&fake, run6, 60).await;
    let last = &calls.last().unwrap().body;
    assert_eq!(last["conclusion"], "failure");
    assert!(
        last["output"]["summary"]
            .as_str()
            .unwrap()
            .contains("maximum number of lines"),
        "{last}"
    );

    // A create GitHub performed but whose answer was lost (502; or a publisher killed
    // before saving the id, chaos.py): the retry finds the run by its external id and
    // does not create a second one, which would stay `queued` on the commit forever.
    *fake.lost_creates.lock().unwrap() = 1;
    let head7 = "7".repeat(40);
    let lost = pr_event("opened", 3, &head7);
    let (s, answer) = deliver(
        &client,
        &p,
        "pull_request",
        "d-6",
        &lost,
        Some(&sign(&lost)),
    )
    .await;
    assert_eq!(s, 202);
    let (run7, creates) = created_run(&fake, &head7, 30).await;
    let calls = completed_run(&fake, run7, 60).await;
    assert_eq!(calls.last().unwrap().body["conclusion"], "success");
    assert_eq!(creates, 1, "a second check run was created");
    let runs = fake.runs.lock().unwrap().clone();
    let mine: Vec<&(i64, Value)> = runs
        .iter()
        .filter(|(_, b)| b["head_sha"] == head7.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0].1["external_id"], answer["check_id"]);
    assert!(
        fake.calls()
            .iter()
            .any(|c| c.path.ends_with(&format!("/commits/{head7}/check-runs"))),
        "the retry did not look the run up"
    );

    // One installation token served the whole run (cached, not fetched per call).
    let minted = fake
        .calls()
        .iter()
        .filter(|c| c.path.ends_with("/access_tokens"))
        .count();
    assert_eq!(minted, 1, "installation tokens are cached");

    // Every check run the fake saw was created once and completed once.
    let items = publishes(client.clone(), list_url.clone(), admin.clone()).await;
    assert_eq!(items.len(), 6);
    assert!(
        items
            .iter()
            .all(|i| i["done"] == true && i["dead"] == false),
        "{items:#?}"
    );
    drop(p);
}
