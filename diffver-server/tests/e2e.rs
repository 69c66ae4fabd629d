//! The service as processes over real sockets: the embedded default from an empty
//! directory; the production configuration (Postgres + S3 on moto) with two API
//! processes and two workers; production mode refusing the development signer.
//! Artifacts are checked with `diffver verify`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod procs;
#[path = "../../diffver-store/tests/support/mod.rs"]
mod support;

use procs::{Proc, diffver, spawn, url};

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

const SUSPICIOUS: &[u8] = include_bytes!("../../examples/diffs/suspicious-pr.diff");
const CLEAN: &[u8] = include_bytes!("../../examples/diffs/clean.diff");

async fn submit(client: &reqwest::Client, p: &Proc, key: &str, diff: &[u8]) -> Value {
    let r = client
        .post(url(p, "/v1/scans?wait=20"))
        .bearer_auth(key)
        .header("content-type", "text/x-diff")
        .body(diff.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);
    r.json().await.unwrap()
}

async fn fetch(client: &reqwest::Client, p: &Proc, key: &str, path: &str) -> (u16, Vec<u8>) {
    let r = client
        .get(url(p, path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

/// `diffver verify` on an artifact, for the diff it should be about.
fn verify(dir: &Path, artifact: &[u8], diff: &[u8], key_args: &[&str]) -> String {
    let a = dir.join("artifact.json");
    let d = dir.join("scanned.diff");
    std::fs::write(&a, artifact).unwrap();
    std::fs::write(&d, diff).unwrap();
    let out = diffver()
        .arg("verify")
        .args(key_args)
        .arg("--diff")
        .arg(&d)
        .arg(&a)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "verify failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn admin_json(dir: &Path, envs: &[(&str, String)], args: &[&str]) -> Value {
    let mut c = diffver();
    c.current_dir(dir).arg("admin").args(args).arg("--json");
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_default_from_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = diffver();
    cmd.current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let server = spawn(cmd, true);
    // The first start printed a tenant key and an admin key, once.
    let mut printed = Vec::new();
    while let Ok(l) = server.out.recv_timeout(Duration::from_secs(5)) {
        printed.push(l);
        if printed.iter().any(|l| l.contains("admin key:")) {
            break;
        }
    }
    let key_after = |label: &str| {
        printed
            .iter()
            .find_map(|l| l.trim().strip_prefix(label).map(|k| k.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {label} in {printed:?}"))
    };
    let tenant_key = key_after("tenant key:");
    let admin_key = key_after("admin key:");
    assert!(dir.path().join("diffver-data/diffver.db").exists());
    assert!(dir.path().join("diffver-data/api-key-pepper").exists());

    let client = reqwest::Client::new();
    let scan = submit(&client, &server, &tenant_key, SUSPICIOUS).await;
    assert_eq!(scan["decision"], "fail");
    let id = scan["id"].as_str().unwrap();
    let (status, artifact) = fetch(
        &client,
        &server,
        &tenant_key,
        &format!("/v1/scans/{id}/artifact"),
    )
    .await;
    assert_eq!(status, 200);
    let out = verify(
        dir.path(),
        &artifact,
        SUSPICIOUS,
        &["--allow-development-key"],
    );
    assert!(
        out.contains("DEVELOPMENT") && out.contains("decided fail"),
        "{out}"
    );
    // Without the opt-in, the development signature is refused.
    let a = dir.path().join("artifact.json");
    assert!(
        !diffver()
            .arg("verify")
            .arg(&a)
            .output()
            .unwrap()
            .status
            .success()
    );

    // The admin CLI works on the same data directory while the server runs.
    let tenants = fetch(&client, &server, &admin_key, "/v1/admin/tenants").await;
    let tenant_id = serde_json::from_slice::<Value>(&tenants.1).unwrap()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = admin_json(
        dir.path(),
        &[],
        &["create-key", "--tenant", &tenant_id, "--role", "tenant"],
    );
    let key = created["key"].as_str().unwrap().to_owned();
    assert_eq!(
        submit(&client, &server, &key, CLEAN).await["decision"],
        "pass"
    );
    let prefix = created["prefix"].as_str().unwrap();
    admin_json(dir.path(), &[], &["revoke-key", prefix]);
    let (status, body) = fetch(&client, &server, &key, "/v1/policies").await;
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));

    // A second start does not bootstrap again.
    drop(server);
    let mut cmd = diffver();
    cmd.current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let again = spawn(cmd, true);
    assert!(
        again.out.recv_timeout(Duration::from_millis(500)).is_err(),
        "keys printed twice"
    );
    let (status, _) = fetch(&client, &again, &tenant_key, "/v1/policies").await;
    assert_eq!(status, 200);
    // SIGTERM: a graceful stop.
    let pid = again.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let mut again = again;
    let mut stopped = None;
    for _ in 0..100 {
        if let Some(s) = again.child.try_wait().unwrap() {
            stopped = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        stopped.is_some_and(|s| s.success()),
        "no graceful exit on SIGTERM"
    );
}

#[test]
fn production_mode_refuses_the_development_signer_and_a_missing_pepper() {
    let dir = tempfile::tempdir().unwrap();
    let out = diffver()
        .current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DIFFVER_MODE", "production")
        .env("DIFFVER_API_KEY_PEPPER", "p".repeat(40))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refuses the development signer"), "{err}");
    assert!(
        !dir.path().join("diffver-data").exists(),
        "storage touched before refusing"
    );
    let key = dir.path().join("signing.key");
    std::fs::write(&key, "k".repeat(40)).unwrap();
    let out = diffver()
        .current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DIFFVER_MODE", "production")
        .env("DIFFVER_SIGNING_KEY_FILE", &key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DIFFVER_API_KEY_PEPPER"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_s3_with_two_apis_and_two_workers() {
    let Some(db) = support::pg().await else {
        return;
    };
    let Some(moto) = support::moto("diffver-e2e") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("signing.key");
    std::fs::write(&key_file, "an operator signing key of 32+ bytes\n").unwrap();
    let envs: Vec<(&str, String)> = vec![
        ("DIFFVER_MODE", "production".into()),
        ("DIFFVER_DATABASE_URL", db.url.clone()),
        ("DIFFVER_OBJECT_STORE", "s3://diffver-e2e/prod".into()),
        (
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", moto.port),
        ),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        (
            "DIFFVER_API_KEY_PEPPER",
            "a pepper of at least thirty-two bytes".into(),
        ),
        ("DIFFVER_SIGNING_KEY_FILE", key_file.display().to_string()),
        ("DIFFVER_SIGNING_KEY_ID", "e2e-key".into()),
        ("DIFFVER_DB_MAX_CONNECTIONS", "4".into()),
    ];
    let with_env = |args: &[&str]| {
        let mut c = diffver();
        c.current_dir(dir.path()).args(args);
        for (k, v) in &envs {
            c.env(k, v);
        }
        c
    };
    assert!(with_env(&["migrate"]).output().unwrap().status.success());
    let tenant = admin_json(dir.path(), &envs, &["create-tenant", "acme"]);
    let tenant_id = tenant["id"].as_str().unwrap();
    let key = admin_json(
        dir.path(),
        &envs,
        &["create-key", "--tenant", tenant_id, "--role", "tenant"],
    )["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let apis = [
        spawn(
            with_env(&["serve", "--listen", "127.0.0.1:0", "--no-worker"]),
            true,
        ),
        spawn(
            with_env(&["serve", "--listen", "127.0.0.1:0", "--no-worker"]),
            true,
        ),
    ];
    let _workers = [
        spawn(with_env(&["worker"]), false),
        spawn(with_env(&["worker"]), false),
    ];
    // Production mode prints no bootstrap keys.
    assert!(
        apis[0]
            .out
            .recv_timeout(Duration::from_millis(200))
            .is_err()
    );

    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..12 {
        let api = &apis[i % 2];
        let diff = if i % 3 == 0 { SUSPICIOUS } else { CLEAN };
        let scan = submit(&client, api, &key, diff).await;
        assert_eq!(scan["status"], "completed", "{scan}");
        assert_eq!(scan["decision"], if i % 3 == 0 { "fail" } else { "pass" });
        ids.push((scan["id"].as_str().unwrap().to_owned(), diff));
    }
    // Any API process serves any scan; artifacts verify with the operator key.
    for (i, (id, diff)) in ids.iter().enumerate().take(4) {
        let (status, artifact) = fetch(
            &client,
            &apis[(i + 1) % 2],
            &key,
            &format!("/v1/scans/{id}/artifact"),
        )
        .await;
        assert_eq!(status, 200);
        let out = verify(
            dir.path(),
            &artifact,
            diff,
            &[
                "--key-file",
                key_file.to_str().unwrap(),
                "--key-id",
                "e2e-key",
                "--production",
            ],
        );
        assert!(out.contains("e2e-key"), "{out}");
    }
    // Idempotency across API processes.
    let send = |api: usize| {
        client
            .post(url(&apis[api], "/v1/scans"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .header("idempotency-key", "deploy-42")
            .json(&json!({"diff": String::from_utf8_lossy(CLEAN)}))
            .send()
    };
    let (a, b) = tokio::join!(send(0), send(1));
    let (a, b): (Value, Value) = (
        a.unwrap().json().await.unwrap(),
        b.unwrap().json().await.unwrap(),
    );
    assert_eq!(a["id"], b["id"]);
    // Readiness checks both Postgres and S3.
    let r = client.get(url(&apis[1], "/readyz")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // Verified keys are cached per API process (Postgres announces key changes) ...
    let scan_path = format!("/v1/scans/{}", ids[0].0);
    let make_key = |role: &str| {
        admin_json(
            dir.path(),
            &envs,
            &["create-key", "--tenant", tenant_id, "--role", role],
        )
    };
    let hits = || async {
        let m = client
            .get(url(&apis[0], "/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        m.lines()
            .find_map(|l| l.strip_prefix("diffver_api_key_cache_hits_total "))
            .map_or(0.0, |v| v.trim().parse::<f64>().unwrap())
    };
    let short = make_key("tenant");
    let short_key = short["key"].as_str().unwrap();
    let before = hits().await;
    for _ in 0..3 {
        assert_eq!(fetch(&client, &apis[0], short_key, &scan_path).await.0, 200);
    }
    assert!(hits().await >= before + 2.0, "a verified key is reused");
    // ... yet a revocation from another process (the CLI) applies within the notice's
    // travel time, not the cache's lifetime (10 s).
    admin_json(
        dir.path(),
        &envs,
        &["revoke-key", short["prefix"].as_str().unwrap()],
    );
    let t = std::time::Instant::now();
    loop {
        let status = fetch(&client, &apis[0], short_key, &scan_path).await.0;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "a key revoked elsewhere still works on a caching API process"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A revocation through an API process applies there before it answers.
    let admin = make_key("admin");
    let admin_key = admin["key"].as_str().unwrap();
    let other = make_key("tenant");
    let other_key = other["key"].as_str().unwrap();
    assert_eq!(fetch(&client, &apis[1], other_key, &scan_path).await.0, 200);
    assert_eq!(fetch(&client, &apis[1], other_key, &scan_path).await.0, 200);
    let r = client
        .delete(url(
            &apis[1],
            &format!(
                "/v1/admin/tenants/{tenant_id}/api-keys/{}",
                other["prefix"].as_str().unwrap()
            ),
        ))
        .bearer_auth(admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(fetch(&client, &apis[1], other_key, &scan_path).await.0, 401);
}
