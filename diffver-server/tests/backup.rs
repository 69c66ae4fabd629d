//! The backup and restore drill of docs/operations.md, automated: scans through the
//! service on Postgres + S3 (moto), `pg_dump` and a copy of the bucket, both restored
//! into a fresh database and a fresh S3 server, the service started on them, and then:
//! every scan resolves with its decision, every artifact verifies against its diff,
//! every tenant's audit chain verifies, and the retention pass deletes exactly the raw
//! diffs past their tenant's retention and nothing else.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../diffver-store/tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use diffver_core::artifact::{self, Keyring, SigningMode};
use diffver_server::service::config::SignerSettings;
use diffver_server::service::worker::{self, WorkerSettings};
use diffver_server::service::{ApiSettings, AppState, app};
use diffver_store::{
    Millis, NewException, Objects, PgConfig, PgStore, Role, ScanId, Store, TenantId, run_retention,
};
use serde_json::Value;
use tower::ServiceExt as _;

const SUSPICIOUS: &[u8] = include_bytes!("../../examples/diffs/suspicious-pr.diff");
const CLEAN: &[u8] = include_bytes!("../../examples/diffs/clean.diff");

fn service(store: PgStore, objects: Objects) -> (Router, tokio::sync::watch::Sender<bool>) {
    let signer = SignerSettings::default().signer().unwrap();
    let state = AppState::new(store, objects, signer, ApiSettings::default());
    let (tx, rx) = tokio::sync::watch::channel(false);
    let ws = WorkerSettings {
        concurrency: 2,
        idle_poll: Duration::from_millis(50),
        ..WorkerSettings::default()
    };
    tokio::spawn(worker::run(state.clone(), ws, rx));
    (app(state), tx)
}

async fn call(
    router: &Router,
    method: &str,
    uri: &str,
    key: &str,
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "text/x-diff")
        .body(Body::from(body))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    (status, bytes)
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_drill() {
    let Some(db) = support::pg().await else {
        return;
    };
    let Some(live_s3) = support::moto("live") else {
        return;
    };
    let live = support::s3_objects(&live_s3, "live", "prod");
    let store = db.store.clone();
    let now = Millis::from_system_clock();

    // Two tenants: one keeps raw diffs 30 days, one a single day.
    let keep = store.create_tenant("keep", 30, now).await.unwrap();
    let short = store.create_tenant("short", 1, now).await.unwrap();
    let mut keys = Vec::new();
    for t in [&keep, &short] {
        let k = store
            .create_api_key(&t.id, None, "ci", Role::Tenant, "drill", now)
            .await
            .unwrap();
        keys.push((t.id.clone(), k.secret));
    }
    // Governance history for the audit chains.
    let body = "schema = \"diffver.policy/v1\"\nid = \"team\"\n[rules]\n\"verify.executable-added\" = \"off\"\n";
    let p = store
        .create_policy_version(
            &keep.id,
            "team",
            body,
            &diffver_store::sha256_hex(body.as_bytes()),
            "drill",
            now,
        )
        .await
        .unwrap();
    store
        .activate_policy(&keep.id, "team", p.version, "drill", now)
        .await
        .unwrap();
    store
        .create_exception(
            &keep.id,
            NewException {
                rule_id: "exec.download-pipe-shell".into(),
                path: Some("scripts/install.sh".into()),
                fingerprint: None,
                reason: "vendored installer, reviewed".into(),
                author: "drill".into(),
                expires: now.plus_ms(86_400_000),
            },
            now,
        )
        .await
        .unwrap();

    // Scans through the service.
    let (router, stop) = service(store.clone(), live.clone());
    let mut scans: Vec<(TenantId, String, String, &[u8])> = Vec::new();
    for (tenant, key) in &keys {
        for diff in [SUSPICIOUS, CLEAN, SUSPICIOUS] {
            let (status, body) =
                call(&router, "POST", "/v1/scans?wait=20", key, diff.to_vec()).await;
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            let v: Value = serde_json::from_slice(&body).unwrap();
            scans.push((
                tenant.clone(),
                v["id"].as_str().unwrap().to_owned(),
                v["decision"].as_str().unwrap().to_owned(),
                diff,
            ));
        }
    }
    assert!(scans.iter().any(|s| s.2 == "fail") && scans.iter().any(|s| s.2 == "pass"));
    let _ = stop.send(true);

    // Backup: pg_dump (custom format) and a copy of every object in the bucket.
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("diffver.dump");
    run(Command::new("pg_dump")
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg("--dbname")
        .arg(db.admin_url()));
    let Some(new_s3) = support::moto("restored") else {
        return;
    };
    let restored_objects = support::s3_objects(&new_s3, "restored", "prod");
    let live_keys = live.list_keys().await.unwrap();
    assert_eq!(
        live_keys.len(),
        scans.len() * 3,
        "a diff, an artifact and a report per scan"
    );
    for k in &live_keys {
        restored_objects
            .put_once(k, live.get(k).await.unwrap())
            .await
            .unwrap();
    }

    // Restore into a fresh database owned by the application role.
    let restored_name = format!("{}_restored", db.name);
    let admin_base = db
        .admin_url()
        .trim_end_matches(&format!("/{}", db.name))
        .to_owned();
    run(Command::new("psql")
        .arg(format!("{admin_base}/postgres"))
        .args(["-v", "ON_ERROR_STOP=1", "-qc"])
        .arg(format!("CREATE DATABASE {restored_name} OWNER {}", db.name)));
    run(Command::new("pg_restore")
        .args(["--no-owner", "--exit-on-error", "--role"])
        .arg(&db.name)
        .arg("--dbname")
        .arg(format!("{admin_base}/{restored_name}"))
        .arg(&dump));
    let restored_url = format!("{}/{restored_name}", db.url.rsplit_once('/').unwrap().0);
    let restored = PgStore::connect(PgConfig::new(restored_url, support::pepper()))
        .await
        .unwrap();
    restored
        .migrate()
        .await
        .expect("migrations are already applied");

    // The service on the restored copies.
    let (router2, stop2) = service(restored.clone(), restored_objects.clone());
    let dev = Keyring::development(SigningMode::Development).unwrap();
    for (tenant, id, decision, diff) in &scans {
        let key = &keys.iter().find(|(t, _)| t == tenant).unwrap().1;
        let (status, body) =
            call(&router2, "GET", &format!("/v1/scans/{id}"), key, Vec::new()).await;
        assert_eq!(status, 200);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (v["status"].as_str(), v["decision"].as_str()),
            (Some("completed"), Some(decision.as_str()))
        );
        let (status, art) = call(
            &router2,
            "GET",
            &format!("/v1/scans/{id}/artifact"),
            key,
            Vec::new(),
        )
        .await;
        assert_eq!(status, 200);
        let verified = artifact::verify(&art, &dev).expect("the restored artifact verifies");
        verified.check_diff(diff).expect("and is about its diff");
        // The raw diff came back byte for byte (its digest is checked on read).
        let blob = restored
            .get_diff_blob(tenant, &ScanId::new(id.clone()).unwrap())
            .await
            .unwrap();
        assert_eq!(
            restored_objects
                .get_verified(&blob.object_key, &blob.sha256)
                .await
                .unwrap()
                .as_ref(),
            *diff
        );
    }
    for t in [&keep.id, &short.id] {
        let head = restored
            .verify_audit_chain(t)
            .await
            .expect("the audit chain verifies");
        assert_eq!(
            head,
            db.store.verify_audit_chain(t).await.unwrap(),
            "same tip as before the backup"
        );
    }
    // Scans keep working on the restored service.
    let (status, _) = call(
        &router2,
        "POST",
        "/v1/scans?wait=20",
        &keys[0].1,
        CLEAN.to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    let _ = stop2.send(true);

    // Retention after the restore: nothing is due today; two days on, exactly the
    // one-day tenant's raw diffs go, and every artifact stays.
    let r = run_retention(
        &restored,
        &restored_objects,
        Millis::from_system_clock(),
        1000,
    )
    .await
    .unwrap();
    assert_eq!((r.deleted, r.failed), (0, 0));
    let later = Millis::from_system_clock().plus_ms(2 * 86_400_000);
    let r = run_retention(&restored, &restored_objects, later, 1000)
        .await
        .unwrap();
    let short_scans = scans.iter().filter(|s| s.0 == short.id).count() as u64;
    assert_eq!((r.deleted, r.failed), (short_scans, 0));
    let left = restored_objects.list_keys().await.unwrap();
    for (tenant, id, _, _) in &scans {
        let diff_kept = left.contains(&format!("diffs/{id}.patch"));
        assert_eq!(diff_kept, *tenant == keep.id, "{id}");
        assert!(
            left.contains(&format!("artifacts/{id}.json")),
            "artifact of {id} deleted"
        );
    }

    drop(restored);
    let _ = Command::new("psql")
        .arg(format!("{admin_base}/postgres"))
        .args(["-qc"])
        .arg(format!(
            "DROP DATABASE IF EXISTS {restored_name} WITH (FORCE)"
        ))
        .output();
}
