//! Signing with AWS KMS (feature `aws-kms`) against a real `moto_server` on a free
//! port: the service in-process on SQLite with a real worker, and the `diffver`
//! binary. Artifacts are checked offline (`diffver verify --public-key-file`, with
//! no AWS environment) with the public key exported from KMS. Covered: ECDSA P-256
//! keys, HMAC keys (checked with KMS `VerifyMac`), rotation to a second key, a KMS
//! outage (retried, then completed; or dead-lettered with the error kept and
//! re-driven), and moto's `MessageType=DIGEST` (which it ignores) refused instead
//! of stored.
//!
//! moto is required: these tests run only with the feature, on purpose.

#![cfg(feature = "aws-kms")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod procs;

use std::net::TcpStream as StdTcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MacAlgorithmSpec};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use diffver_core::artifact::{self, Algorithm, EcdsaP256Verifier, KeyMode, Keyring};
use diffver_server::service::kms::{KmsError, KmsSigner};
use diffver_server::service::signer::ServiceSigner;
use diffver_server::service::worker::{self, WorkerSettings};
use diffver_server::service::{ApiSettings, AppState, app};
use diffver_store::{
    Backoff, JobStatus, Millis, Objects, Pepper, Role, ScanId, SqliteStore, Store, TenantId,
};
use serde_json::Value;
use tokio::sync::watch;
use tower::ServiceExt as _;

const SUSPICIOUS: &[u8] = include_bytes!("../../examples/diffs/suspicious-pr.diff");
const CLEAN: &[u8] = include_bytes!("../../examples/diffs/clean.diff");

// ---------------------------------------------------------------------------
// moto, and a proxy in front of it that can be switched off (a KMS outage that
// keeps moto's in-memory keys).

struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto() -> Moto {
    let mut candidates = Vec::new();
    if let Ok(p) = std::env::var("DIFFVER_MOTO_PYTHON") {
        candidates.push(vec![p, "-m".into(), "moto.server".into()]);
    }
    if let Ok(home) = std::env::var("HOME") {
        candidates.push(vec![
            format!("{home}/.cache/diffver/pyvenv/bin/python"),
            "-m".into(),
            "moto.server".into(),
        ]);
    }
    candidates.push(vec!["moto_server".into()]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for argv in candidates {
        let Ok(child) = Command::new(&argv[0])
            .args(&argv[1..])
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            continue;
        };
        let mut m = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if StdTcpStream::connect(("127.0.0.1", port)).is_ok() {
                return m;
            }
            if m.child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!(
        "moto is required for the aws-kms tests: set DIFFVER_MOTO_PYTHON to a python with \
         moto[server], or put moto_server on PATH"
    );
}

/// A TCP proxy to `target` that refuses connections and cuts open ones while down.
struct Proxy {
    port: u16,
    up: watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, rx) = watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let mut rx = rx.clone();
                if !*rx.borrow() {
                    drop(client);
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = rx.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Proxy { port, up }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

async fn sdk_config(port: u16) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

/// A KMS client straight to moto, for setting up keys and checking MACs.
async fn kms_admin(moto: &Moto) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(&sdk_config(moto.port).await)
}

/// Creates a key; returns its ARN.
async fn create_key(kms: &aws_sdk_kms::Client, spec: KeySpec, usage: KeyUsageType) -> String {
    let out = kms
        .create_key()
        .key_spec(spec)
        .key_usage(usage)
        .send()
        .await
        .unwrap();
    out.key_metadata().unwrap().arn().unwrap().to_owned()
}

/// The key's public key as PEM, exported the way an operator would (GetPublicKey,
/// DER SubjectPublicKeyInfo, PEM armour), independently of the signer's code.
async fn export_public_key(kms: &aws_sdk_kms::Client, key: &str) -> String {
    let out = kms.get_public_key().key_id(key).send().await.unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(out.public_key().unwrap().as_ref());
    let body: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        body.join("\n")
    )
}

// ---------------------------------------------------------------------------
// The service in-process.

struct Env {
    dir: tempfile::TempDir,
    store: SqliteStore,
    objects: Objects,
    tenant: TenantId,
    key: String,
}

async fn storage() -> Env {
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
    let t = store.create_tenant("t", 30, now).await.unwrap();
    let key = store
        .create_api_key(&t.id, None, "ci", Role::Tenant, "test", now)
        .await
        .unwrap()
        .secret;
    Env {
        dir,
        store,
        objects,
        tenant: t.id,
        key,
    }
}

/// A worker task and the switch that stops it.
struct Worker {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Worker {
    /// Stops claiming and waits for the jobs in hand.
    async fn stop(self) {
        self.stop.send_replace(true);
        self.task.await.unwrap().unwrap();
    }
}

/// A service (router + one worker task) over `env`'s storage, signing with `signer`.
fn service(
    env: &Env,
    signer: impl Into<ServiceSigner>,
    max_attempts: i32,
    backoff_ms: i64,
) -> (Router, Worker) {
    let settings = ApiSettings {
        max_attempts,
        ..ApiSettings::default()
    };
    let state = AppState::new(env.store.clone(), env.objects.clone(), signer, settings);
    let (stop, rx) = watch::channel(false);
    let ws = WorkerSettings {
        concurrency: 2,
        idle_poll: Duration::from_millis(50),
        backoff: Backoff {
            base_ms: backoff_ms,
            cap_ms: backoff_ms * 2,
            jitter: 0.0,
        },
        ..WorkerSettings::default()
    };
    let task = tokio::spawn(worker::run(state.clone(), ws, rx));
    (app(state), Worker { stop, task })
}

async fn call(
    router: &Router,
    method: &str,
    uri: &str,
    key: &str,
    body: &[u8],
) -> (StatusCode, Vec<u8>) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "text/x-diff")
        .body(Body::from(body.to_vec()))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    (status, body)
}

/// Submits a diff; returns the scan id (without waiting for it).
async fn submit(router: &Router, env: &Env, diff: &[u8]) -> String {
    let (status, body) = call(router, "POST", "/v1/scans", &env.key, diff).await;
    assert!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    v["id"].as_str().unwrap().to_owned()
}

/// Polls the scan until it is completed or in error.
async fn wait_done(router: &Router, env: &Env, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = call(router, "GET", &format!("/v1/scans/{id}"), &env.key, b"").await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let v: Value = serde_json::from_slice(&body).unwrap();
        if v["status"] == "completed" || v["status"] == "error" {
            return v;
        }
        assert!(Instant::now() < deadline, "scan {id} not done: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn artifact_of(router: &Router, env: &Env, id: &str) -> Vec<u8> {
    let (status, body) = call(
        router,
        "GET",
        &format!("/v1/scans/{id}/artifact"),
        &env.key,
        b"",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    body
}

/// `diffver verify --public-key-file` with no AWS (or DIFFVER_) environment: the
/// offline check an auditor runs. Returns (success, stdout + stderr).
fn verify_offline(
    dir: &std::path::Path,
    artifact: &[u8],
    pem: &str,
    key_id: &str,
    diff: Option<&[u8]>,
) -> (bool, String) {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let a = dir.join(format!("artifact-{n}.json"));
    let k = dir.join(format!("key-{n}.pem"));
    std::fs::write(&a, artifact).unwrap();
    std::fs::write(&k, pem).unwrap();
    let mut cmd = procs::diffver();
    cmd.arg("verify")
        .arg("--public-key-file")
        .arg(&k)
        .args(["--key-id", key_id, "--production"]);
    if let Some(d) = diff {
        let p = dir.join(format!("diff-{n}.diff"));
        std::fs::write(&p, d).unwrap();
        cmd.arg("--diff").arg(p);
    }
    let out = cmd.arg(&a).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Small distinct diffs (each verdict's signing input is under 4096 bytes).
fn small_diff(i: usize) -> Vec<u8> {
    format!("--- a/notes{i}.txt\n+++ b/notes{i}.txt\n@@ -1 +1 @@\n-old {i}\n+new {i}\n")
        .into_bytes()
}

fn signed_payload(envelope: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let env: Value = serde_json::from_slice(envelope).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64.decode(env["payload"].as_str().unwrap()).unwrap();
    let sig = b64
        .decode(env["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    (payload, sig)
}

// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecdsa_key_signs_artifacts_that_verify_offline() {
    let moto = moto();
    let kms = kms_admin(&moto).await;
    let arn = create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let pem = export_public_key(&kms, &arn).await;

    // Configured by key id (not ARN): artifacts still record the ARN.
    let key_id = arn.rsplit('/').next().unwrap();
    let signer = KmsSigner::from_config(&sdk_config(moto.port).await, key_id)
        .await
        .unwrap();
    let identity = signer.identity();
    assert_eq!(identity.key_id, arn);
    assert_eq!(identity.mode, KeyMode::Operator);
    assert_eq!(identity.algorithm, Algorithm::EcdsaP256Sha256);
    assert_eq!(signer.public_key_pem(), Some(pem.as_str()));

    let env = storage().await;
    let (router, _worker) = service(&env, signer, 3, 50);
    let keyring = Keyring::new()
        .with_verifier(Arc::new(
            EcdsaP256Verifier::from_public_key_pem(arn.clone(), &pem).unwrap(),
        ))
        .unwrap();
    // Several scans: ECDSA signatures are randomised, so this also covers both
    // halves of the s range the verifier must accept.
    let mut ids = Vec::new();
    let mut diffs: Vec<Vec<u8>> = (0..8).map(small_diff).collect();
    diffs.push(CLEAN.to_vec());
    for d in &diffs {
        ids.push(submit(&router, &env, d).await);
    }
    for (id, d) in ids.iter().zip(&diffs) {
        let scan = wait_done(&router, &env, id, Duration::from_secs(30)).await;
        assert_eq!(scan["status"], "completed", "{scan}");
        assert_eq!(scan["decision"], "pass", "{scan}");
        let art = artifact_of(&router, &env, id).await;
        let v = artifact::verify(&art, &keyring).unwrap();
        v.check_diff(d).unwrap();
        assert_eq!(
            (v.key_id.as_str(), v.mode, v.algorithm),
            (arn.as_str(), KeyMode::Operator, Algorithm::EcdsaP256Sha256)
        );
        let (_, sig) = signed_payload(&art);
        assert_eq!(sig[0], 0x30, "a DER SEQUENCE");
    }
    // The CLI, offline, with the exported public key.
    let art = artifact_of(&router, &env, ids.last().unwrap()).await;
    let (ok, out) = verify_offline(env.dir.path(), &art, &pem, &arn, Some(CLEAN));
    assert!(ok, "{out}");
    assert!(out.contains(&arn), "{out}");
    // Another key's public key, or the right key under another id, does not verify.
    let other = create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let other_pem = export_public_key(&kms, &other).await;
    assert!(!verify_offline(env.dir.path(), &art, &other_pem, &arn, None).0);
    assert!(!verify_offline(env.dir.path(), &art, &pem, "operator", None).0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_new_key_signs_new_scans_and_old_artifacts_still_verify() {
    let moto = moto();
    let kms = kms_admin(&moto).await;
    let old = create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let new = create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let (old_pem, new_pem) = (
        export_public_key(&kms, &old).await,
        export_public_key(&kms, &new).await,
    );
    let config = sdk_config(moto.port).await;
    let env = storage().await;

    let (router, worker) = service(
        &env,
        KmsSigner::from_config(&config, &old).await.unwrap(),
        3,
        50,
    );
    let first = submit(&router, &env, &small_diff(1)).await;
    assert_eq!(
        wait_done(&router, &env, &first, Duration::from_secs(30)).await["status"],
        "completed"
    );
    worker.stop().await;

    // The deployment restarts on the new key: same storage.
    let (router, _worker) = service(
        &env,
        KmsSigner::from_config(&config, &new).await.unwrap(),
        3,
        50,
    );
    let second = submit(&router, &env, &small_diff(2)).await;
    assert_eq!(
        wait_done(&router, &env, &second, Duration::from_secs(30)).await["status"],
        "completed"
    );

    let a1 = artifact_of(&router, &env, &first).await;
    let a2 = artifact_of(&router, &env, &second).await;
    assert!(verify_offline(env.dir.path(), &a1, &old_pem, &old, Some(&small_diff(1))).0);
    assert!(verify_offline(env.dir.path(), &a2, &new_pem, &new, Some(&small_diff(2))).0);
    assert!(!verify_offline(env.dir.path(), &a1, &new_pem, &new, None).0);
    assert!(!verify_offline(env.dir.path(), &a2, &old_pem, &old, None).0);
    // A keyring with both (how a verifier holds keys across a rotation).
    let keyring = Keyring::new()
        .with_verifier(Arc::new(
            EcdsaP256Verifier::from_public_key_pem(old.clone(), &old_pem).unwrap(),
        ))
        .unwrap()
        .with_verifier(Arc::new(
            EcdsaP256Verifier::from_public_key_pem(new.clone(), &new_pem).unwrap(),
        ))
        .unwrap();
    assert_eq!(artifact::verify(&a1, &keyring).unwrap().key_id, old);
    assert_eq!(artifact::verify(&a2, &keyring).unwrap().key_id, new);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_scans_retry_and_complete_when_kms_is_back() {
    let moto = moto();
    let kms = kms_admin(&moto).await;
    let arn = create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let pem = export_public_key(&kms, &arn).await;
    let proxy = Proxy::start(moto.port).await;
    let signer = KmsSigner::from_config(&sdk_config(proxy.port).await, &arn)
        .await
        .unwrap();
    let env = storage().await;
    let (router, _worker) = service(&env, signer, 50, 100);

    proxy.set_up(false);
    let ids = [
        submit(&router, &env, &small_diff(1)).await,
        submit(&router, &env, &small_diff(2)).await,
    ];
    // Attempts fail while KMS is down, and the jobs go back to the queue.
    let scan = ScanId::new(&ids[0]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = env.store.list_jobs(&env.tenant, &scan).await.unwrap();
        let job = &jobs[0];
        if job.attempt >= 2 {
            let err = job.last_error.clone().unwrap_or_default();
            assert!(
                err.contains("cannot sign the artifact") && err.contains("KMS Sign failed"),
                "{err}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no retry seen: {job:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for id in &ids {
        let (_, body) = call(&router, "GET", &format!("/v1/scans/{id}"), &env.key, b"").await;
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(v["status"] == "queued" || v["status"] == "running", "{v}");
    }

    proxy.set_up(true);
    for (i, id) in ids.iter().enumerate() {
        let scan = wait_done(&router, &env, id, Duration::from_secs(30)).await;
        assert_eq!(scan["status"], "completed", "{scan}");
        assert_eq!(scan["decision"], "pass", "{scan}");
        let art = artifact_of(&router, &env, id).await;
        let (ok, out) = verify_offline(env.dir.path(), &art, &pem, &arn, Some(&small_diff(i + 1)));
        assert!(ok, "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_past_the_last_attempt_dead_letters_with_the_error_and_redrives() {
    let moto = moto();
    let kms = kms_admin(&moto).await;
    let arn = create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let pem = export_public_key(&kms, &arn).await;
    let proxy = Proxy::start(moto.port).await;
    let signer = KmsSigner::from_config(&sdk_config(proxy.port).await, &arn)
        .await
        .unwrap();
    let env = storage().await;
    let (router, _worker) = service(&env, signer, 2, 50);

    proxy.set_up(false);
    let id = submit(&router, &env, &small_diff(7)).await;
    // The error verdict needs KMS too: the job is dead-lettered with both errors,
    // and the scan is `error` with no artifact rather than lost or half-signed.
    let scan = wait_done(&router, &env, &id, Duration::from_secs(60)).await;
    assert_eq!(scan["status"], "error", "{scan}");
    let (status, _) = call(
        &router,
        "GET",
        &format!("/v1/scans/{id}/artifact"),
        &env.key,
        b"",
    )
    .await;
    assert_ne!(status, StatusCode::OK);
    let dead = env.store.list_dead_letters(&env.tenant).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].status, JobStatus::DeadLetter);
    let err = dead[0].last_error.clone().unwrap();
    assert!(err.contains("KMS Sign failed"), "{err}");
    assert!(
        err.contains("the error verdict could not be made either"),
        "{err}"
    );

    // KMS is back; an operator re-drives the job, and the scan completes signed.
    proxy.set_up(true);
    env.store
        .redrive(&env.tenant, dead[0].id, "test", Millis::from_system_clock())
        .await
        .unwrap();
    let scan = wait_done(&router, &env, &id, Duration::from_secs(30)).await;
    assert_eq!(scan["status"], "completed", "{scan}");
    assert_eq!(scan["decision"], "pass", "{scan}");
    let art = artifact_of(&router, &env, &id).await;
    let (ok, out) = verify_offline(env.dir.path(), &art, &pem, &arn, Some(&small_diff(7)));
    assert!(ok, "{out}");
}

/// moto 5.2 ignores `MessageType=DIGEST` and signs the SHA-256 of the digest, so a
/// verdict whose signing input is over 4096 bytes comes back with a signature
/// that does not verify. The signer checks every signature with the public key:
/// the attempt fails, nothing wrong is stored, and after the last attempt the scan
/// ends `error` with a (small, verifiable) error verdict naming the cause. Real
/// KMS signs the digest as given (the unit test `a_signature_over_the_digest_…`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_digest_signatures_are_refused_not_stored() {
    let moto = moto();
    let kms = kms_admin(&moto).await;
    let arn = create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let pem = export_public_key(&kms, &arn).await;
    let config = sdk_config(moto.port).await;
    let signer = KmsSigner::from_config(&config, &arn).await.unwrap();

    // Directly: a long signing input fails with the typed error.
    let long = artifact::signing_input(&vec![b'x'; 5000]);
    match signer.sign(&long).await {
        Err(KmsError::SignatureMismatch { message_type, .. }) => assert_eq!(message_type, "DIGEST"),
        other => panic!("expected SignatureMismatch, got {other:?}"),
    }
    // A short one (RAW) verifies.
    let short = artifact::signing_input(b"{}");
    let sig = signer.sign(&short).await.unwrap();
    assert!(diffver_core::artifact::Verifier::verify(
        &EcdsaP256Verifier::from_public_key_pem(arn.clone(), &pem).unwrap(),
        &short,
        &sig
    ));

    let env = storage().await;
    let (router, _worker) = service(&env, signer, 2, 50);
    let id = submit(&router, &env, SUSPICIOUS).await;
    let scan = wait_done(&router, &env, &id, Duration::from_secs(60)).await;
    assert_eq!(scan["status"], "completed", "{scan}");
    assert_eq!(scan["decision"], "error", "{scan}");
    let art = artifact_of(&router, &env, &id).await;
    let (ok, out) = verify_offline(env.dir.path(), &art, &pem, &arn, None);
    assert!(ok, "{out}");
    let (payload, _) = signed_payload(&art);
    let text = String::from_utf8(payload).unwrap();
    assert!(
        text.contains("does not verify with the key's public key"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hmac_key_signs_small_verdicts_and_refuses_large_ones() {
    let moto = moto();
    let kms = kms_admin(&moto).await;
    let arn = create_key(&kms, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    let signer = KmsSigner::from_config(&sdk_config(moto.port).await, &arn)
        .await
        .unwrap();
    assert_eq!(signer.identity().algorithm, Algorithm::HmacSha256);
    assert_eq!(signer.identity().key_id, arn);
    assert!(signer.public_key_pem().is_none());
    let long = artifact::signing_input(&vec![b'x'; 5000]);
    match signer.sign(&long).await {
        Err(KmsError::MessageTooLarge { len, max }) => assert_eq!((len, max), (long.len(), 4096)),
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }

    let env = storage().await;
    let (router, _worker) = service(&env, signer, 2, 50);
    let id = submit(&router, &env, CLEAN).await;
    let scan = wait_done(&router, &env, &id, Duration::from_secs(30)).await;
    assert_eq!(
        (&scan["status"], &scan["decision"]),
        (&"completed".into(), &"pass".into()),
        "{scan}"
    );
    let art = artifact_of(&router, &env, &id).await;
    let (payload, mac) = signed_payload(&art);
    assert_eq!(mac.len(), 32);
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    let signer_block = &statement["predicate"]["signer"];
    assert_eq!(signer_block["key_id"], arn.as_str(), "{signer_block}");
    assert_eq!(signer_block["mode"], "operator");
    assert_eq!(signer_block["algorithm"], "hmac-sha256");
    // The MAC is HMAC-SHA256 over the PAE bytes: KMS's VerifyMac agrees, and
    // refuses it over changed bytes.
    let pae = artifact::signing_input(&payload);
    let ok = kms
        .verify_mac()
        .key_id(&arn)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .message(Blob::new(pae.clone()))
        .mac(Blob::new(mac.clone()))
        .send()
        .await
        .unwrap();
    assert!(ok.mac_valid());
    let mut changed = pae;
    *changed.last_mut().unwrap() ^= 1;
    let bad = kms
        .verify_mac()
        .key_id(&arn)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .message(Blob::new(changed))
        .mac(Blob::new(mac))
        .send()
        .await;
    assert!(bad.is_err() || !bad.unwrap().mac_valid());

    // A verdict too long for a KMS MAC: refused (typed), then an error verdict.
    let id = submit(&router, &env, SUSPICIOUS).await;
    let scan = wait_done(&router, &env, &id, Duration::from_secs(60)).await;
    assert_eq!(scan["decision"], "error", "{scan}");
    let (payload, _) = signed_payload(&artifact_of(&router, &env, &id).await);
    let text = String::from_utf8(payload).unwrap();
    assert!(text.contains("a KMS HMAC key signs at most 4096"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_keys_are_refused_at_start() {
    let moto = moto();
    let kms = kms_admin(&moto).await;
    let config = sdk_config(moto.port).await;
    let symmetric = create_key(
        &kms,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
    )
    .await;
    let p384 = create_key(&kms, KeySpec::EccNistP384, KeyUsageType::SignVerify).await;
    for key in [&symmetric, &p384] {
        match KmsSigner::from_config(&config, key).await {
            Err(KmsError::UnsupportedKey { key_id, .. }) => assert_eq!(&key_id, key),
            other => panic!("expected UnsupportedKey, got {other:?}"),
        }
    }
    let p256 = create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    // moto's DisableKey takes the bare key id.
    let bare = p256.rsplit('/').next().unwrap();
    kms.disable_key().key_id(bare).send().await.unwrap();
    assert!(matches!(
        KmsSigner::from_config(&config, &p256).await,
        Err(KmsError::NotEnabled { .. })
    ));
    assert!(matches!(
        KmsSigner::from_config(&config, "no-such-key").await,
        Err(KmsError::Call {
            operation: "DescribeKey",
            ..
        })
    ));
}

// ---------------------------------------------------------------------------
// The binary: configuration from the environment.

fn aws_env(cmd: &mut Command, port: u16) {
    cmd.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_signs_with_the_kms_key_from_the_environment() {
    let moto = moto();
    let kms = kms_admin(&moto).await;
    let arn = create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let pem = export_public_key(&kms, &arn).await;
    let dir = tempfile::tempdir().unwrap();

    let mut cmd = procs::diffver();
    cmd.current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DIFFVER_SIGNING_KMS_KEY_ID", &arn);
    aws_env(&mut cmd, moto.port);
    let server = procs::spawn(cmd, true);
    let mut printed = Vec::new();
    while let Ok(l) = server.out.recv_timeout(Duration::from_secs(5)) {
        printed.push(l);
        if printed.iter().any(|l| l.contains("admin key:")) {
            break;
        }
    }
    let key = printed
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix("tenant key:")
                .map(|k| k.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no tenant key in {printed:?}"));
    let client = reqwest::Client::new();
    let r = client
        .post(procs::url(&server, "/v1/scans?wait=20"))
        .bearer_auth(&key)
        .header("content-type", "text/x-diff")
        .body(CLEAN.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let scan: Value = r.json().await.unwrap();
    assert_eq!(scan["decision"], "pass", "{scan}");
    let id = scan["id"].as_str().unwrap();
    let art = client
        .get(procs::url(&server, &format!("/v1/scans/{id}/artifact")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (ok, out) = verify_offline(dir.path(), &art, &pem, &arn, Some(CLEAN));
    assert!(ok, "{out}");
}

#[test]
fn production_mode_accepts_a_kms_key_and_refuses_a_key_file_with_it() {
    let moto = moto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let arn = rt.block_on(async {
        let kms = kms_admin(&moto).await;
        create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pepper"), [b'p'; 40]).unwrap();
    std::fs::write(dir.path().join("hmac.key"), [b'k'; 40]).unwrap();
    let base = |extra: &[(&str, &str)]| {
        let mut cmd = procs::diffver();
        cmd.current_dir(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("DIFFVER_MODE", "production")
            .env("DIFFVER_API_KEY_PEPPER", dir.path().join("pepper"));
        aws_env(&mut cmd, moto.port);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd
    };
    // Production with the KMS key starts (`spawn` waits for it to listen).
    let mut server = procs::spawn(base(&[("DIFFVER_SIGNING_KMS_KEY_ID", &arn)]), true);
    assert!(server.child.try_wait().unwrap().is_none());
    drop(server);

    // Both a key file and a KMS key: refused.
    let out = base(&[
        ("DIFFVER_SIGNING_KMS_KEY_ID", &arn),
        ("DIFFVER_SIGNING_KEY_FILE", "hmac.key"),
    ])
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be used with"), "{err}");

    // A KMS key that does not exist: refused at start, naming it.
    let out = base(&[("DIFFVER_SIGNING_KMS_KEY_ID", "alias/missing")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("alias/missing") && err.contains("DescribeKey"),
        "{err}"
    );
}
