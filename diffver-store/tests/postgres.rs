//! Postgres-only behaviour: concurrency with many workers and processes' worth of
//! connections, row-level security, the audit chain against out-of-band edits,
//! LISTEN/NOTIFY wake-ups and the one-live-job index.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use diffver_store::{
    ClaimOptions, CreatedScan, Idempotency, NewAuditEvent, Notice, Role, ScanOutputs, Store,
    StoreError, WorkerId,
};
use sqlx::Connection;
use support::{T0, enqueue, new_scan};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_workers_complete_every_job_exactly_once() {
    let Some(db) = support::pg().await else {
        return;
    };
    let store = Arc::new(db.store.clone());
    let t1 = store.create_tenant("a", 30, T0).await.expect("tenant");
    let t2 = store.create_tenant("b", 30, T0).await.expect("tenant");
    let (a, b) = tokio::join!(
        enqueue(&*store, &t1.id, 1_000, T0),
        enqueue(&*store, &t2.id, 1_000, T0)
    );
    let all: HashSet<_> = a.into_iter().chain(b).collect();
    assert_eq!(all.len(), 2_000);

    let mut workers = Vec::new();
    for w in 0..8 {
        let store = Arc::clone(&store);
        workers.push(tokio::spawn(async move {
            let opts = ClaimOptions {
                worker: WorkerId::new(format!("w{w}")).expect("worker"),
                max_jobs: 16,
                lease_ms: 60_000,
            };
            let mut done = Vec::new();
            loop {
                let leases = store.claim(&opts, T0.plus_ms(1)).await.expect("claim");
                if leases.is_empty() {
                    break;
                }
                // Half the batches complete one by one, half in one statement.
                if done.len() % 2 == 0 {
                    for l in &leases {
                        store
                            .complete(l, ScanOutputs::default(), T0.plus_ms(2))
                            .await
                            .expect("complete");
                        done.push(l.scan_id.clone());
                    }
                } else {
                    let batch = leases
                        .iter()
                        .map(|l| (l.clone(), ScanOutputs::default()))
                        .collect();
                    let report = store
                        .complete_batch(batch, T0.plus_ms(2))
                        .await
                        .expect("batch");
                    assert!(report.fenced.is_empty());
                    done.extend(leases.into_iter().map(|l| l.scan_id));
                }
            }
            done
        }));
    }
    let mut completed = Vec::new();
    for w in workers {
        completed.extend(w.await.expect("worker"));
    }
    assert_eq!(completed.len(), 2_000, "a job was lost or completed twice");
    let unique: HashSet<_> = completed.into_iter().collect();
    assert_eq!(unique, all);
    let mut c = db.admin().await;
    let (n, max_attempt): (i64, i32) =
        sqlx::query_as("SELECT count(*), max(attempt) FROM scan_jobs WHERE status = 'completed'")
            .fetch_one(&mut c)
            .await
            .expect("count");
    assert_eq!((n, max_attempt), (2_000, 1));
    let (running,): (i64,) = sqlx::query_as("SELECT count(*) FROM scans WHERE status <> 'error'")
        .fetch_one(&mut c)
        .await
        .expect("count");
    assert_eq!(running, 0, "ScanOutputs::default() stores `error` scans");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_uses_of_one_key_create_one_scan() {
    let Some(db) = support::pg().await else {
        return;
    };
    let store = Arc::new(db.store.clone());
    let t = store.create_tenant("a", 30, T0).await.expect("tenant");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let store = Arc::clone(&store);
        let tenant = t.id.clone();
        tasks.push(tokio::spawn(async move {
            let mut ns = new_scan("same diff");
            ns.idempotency = Some(Idempotency::new("retry-me", b"the same request").expect("key"));
            store.create_scan(&tenant, ns, T0).await.expect("create")
        }));
    }
    let mut created = 0;
    let mut ids = HashSet::new();
    for task in tasks {
        let r = task.await.expect("task");
        if matches!(r, CreatedScan::Created(_)) {
            created += 1;
        }
        ids.insert(r.scan().id.clone());
    }
    assert_eq!((created, ids.len()), (1, 1));
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM scans")
        .fetch_one(&mut db.admin().await)
        .await
        .expect("count");
    assert_eq!(n, 1);
}

#[tokio::test]
async fn row_level_security_hides_other_tenants_rows() {
    let Some(db) = support::pg().await else {
        return;
    };
    let s = &db.store;
    let a = s.create_tenant("a", 30, T0).await.expect("tenant");
    let b = s.create_tenant("b", 30, T0).await.expect("tenant");
    enqueue(s, &a.id, 3, T0).await;
    s.create_policy_version(&a.id, "p", "{}", "h", "x", T0)
        .await
        .expect("policy");

    // The store's role is neither superuser nor BYPASSRLS, so the policies bind it.
    let mut c = sqlx::PgConnection::connect(&db.url)
        .await
        .expect("app role");
    let (su, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut c)
            .await
            .expect("role");
    assert!(!su && !bypass);

    async fn count(c: &mut sqlx::PgConnection, setting: Option<(&str, &str)>, table: &str) -> i64 {
        let mut tx = c.begin().await.expect("begin");
        if let Some((k, v)) = setting {
            sqlx::query("SELECT set_config($1, $2, true)")
                .bind(k)
                .bind(v)
                .execute(&mut *tx)
                .await
                .expect("set");
        }
        // A raw query with no tenant filter: only RLS stands between it and the rows.
        let sql = format!("SELECT count(*) FROM {table}");
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *tx)
            .await
            .expect("count");
        tx.rollback().await.expect("rollback");
        n
    }
    for table in [
        "scans",
        "scan_jobs",
        "diff_blobs",
        "policies",
        "audit_events",
        "tenants",
    ] {
        let right = count(&mut c, Some(("diffver.tenant_id", a.id.as_str())), table).await;
        assert!(right > 0, "{table}: tenant A sees its rows");
        assert_eq!(
            count(&mut c, Some(("diffver.tenant_id", b.id.as_str())), table).await,
            i64::from(table == "tenants"),
            "{table}: wrong tenant"
        );
        assert_eq!(
            count(&mut c, None, table).await,
            0,
            "{table}: no tenant set"
        );
    }
    // Writing a row for another tenant is refused too.
    let mut tx = c.begin().await.expect("begin");
    sqlx::query("SELECT set_config('diffver.tenant_id', $1, true)")
        .bind(b.id.as_str())
        .execute(&mut *tx)
        .await
        .expect("set");
    let r = sqlx::query("INSERT INTO policies (tenant_id, name, version, body, hash, author, created_ms) VALUES ($1, 'x', 1, '', '', '', 0)")
        .bind(a.id.as_str())
        .execute(&mut *tx)
        .await;
    assert!(
        r.is_err(),
        "RLS WITH CHECK must refuse a row of another tenant"
    );
}

#[tokio::test]
async fn audit_chain_detects_edits_and_deletions() {
    let Some(db) = support::pg().await else {
        return;
    };
    let s = &db.store;
    let t = s.create_tenant("a", 30, T0).await.expect("tenant");
    for i in 0..4 {
        let ev = NewAuditEvent {
            actor: "alice".into(),
            action: "policy.activate".into(),
            object_kind: "policy".into(),
            object_id: format!("p{i}"),
            detail: "{}".into(),
        };
        s.append_audit(&t.id, ev, T0.plus_ms(i))
            .await
            .expect("append");
    }
    s.verify_audit_chain(&t.id).await.expect("intact");

    // The application role cannot edit or delete: the trigger refuses.
    let mut app = sqlx::PgConnection::connect(&db.url).await.expect("app");
    let mut tx = app.begin().await.expect("begin");
    sqlx::query("SELECT set_config('diffver.tenant_id', $1, true)")
        .bind(t.id.as_str())
        .execute(&mut *tx)
        .await
        .expect("set");
    assert!(
        sqlx::query("UPDATE audit_events SET actor = 'mallory'")
            .execute(&mut *tx)
            .await
            .is_err()
    );
    drop(tx);

    // A superuser with triggers off can; the chain shows it.
    let mut admin = db.admin().await;
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut admin)
        .await
        .expect("replica");
    sqlx::query("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
        .execute(&mut admin)
        .await
        .expect("edit");
    assert!(matches!(
        s.verify_audit_chain(&t.id).await,
        Err(StoreError::AuditChainBroken { seq: 2 })
    ));
    sqlx::query("UPDATE audit_events SET actor = 'alice' WHERE seq = 2")
        .execute(&mut admin)
        .await
        .expect("undo");
    s.verify_audit_chain(&t.id).await.expect("restored");

    sqlx::query("DELETE FROM audit_events WHERE seq = 3")
        .execute(&mut admin)
        .await
        .expect("delete");
    assert!(matches!(
        s.verify_audit_chain(&t.id).await,
        Err(StoreError::AuditChainBroken { seq: 3 })
    ));

    // Deleting the newest row is caught by the stored tip.
    let t2 = s.create_tenant("b", 30, T0).await.expect("tenant");
    for i in 0..2 {
        let ev = NewAuditEvent {
            actor: "bob".into(),
            action: "x".into(),
            object_kind: "y".into(),
            object_id: "z".into(),
            detail: "{}".into(),
        };
        s.append_audit(&t2.id, ev, T0.plus_ms(i))
            .await
            .expect("append");
    }
    sqlx::query("DELETE FROM audit_events WHERE tenant_id = $1 AND seq = 2")
        .bind(t2.id.as_str())
        .execute(&mut admin)
        .await
        .expect("delete");
    assert!(matches!(
        s.verify_audit_chain(&t2.id).await,
        Err(StoreError::AuditChainBroken { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_notify_wakes_an_idle_worker() {
    let Some(db) = support::pg().await else {
        return;
    };
    let s = db.store.clone();
    let t = s.create_tenant("a", 30, T0).await.expect("tenant");
    let mut waiter = s.job_waiter().await.expect("listen");
    assert!(
        !waiter.wait(Duration::from_millis(50)).await.expect("wait"),
        "no job, no wake-up"
    );
    let producer = {
        let s = s.clone();
        let tenant = t.id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            s.create_scan(&tenant, new_scan("d"), T0)
                .await
                .expect("create");
        })
    };
    let started = Instant::now();
    assert!(
        waiter.wait(Duration::from_secs(10)).await.expect("wait"),
        "woken by NOTIFY"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken by NOTIFY, not the timeout"
    );
    producer.await.expect("producer");
    let opts = ClaimOptions {
        worker: WorkerId::new("w").expect("w"),
        max_jobs: 1,
        lease_ms: 1_000,
    };
    assert_eq!(s.claim(&opts, T0).await.expect("claim").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_scans_and_changed_keys_are_announced_to_other_processes() {
    let Some(db) = support::pg().await else {
        return;
    };
    let s = db.store.clone();
    let t = s.create_tenant("a", 30, T0).await.expect("tenant");
    let mut listener = s
        .notice_listener()
        .await
        .expect("listen")
        .expect("Postgres announces finished scans");
    let scan = s
        .create_scan(&t.id, new_scan("d"), T0)
        .await
        .expect("create")
        .scan()
        .clone();
    let opts = ClaimOptions {
        worker: WorkerId::new("w").expect("w"),
        max_jobs: 1,
        lease_ms: 10_000,
    };
    let lease = s.claim(&opts, T0).await.expect("claim").remove(0);
    s.complete(&lease, ScanOutputs::default(), T0)
        .await
        .expect("complete");
    // Claiming (running) is not announced; finishing is, with the scan's id.
    let id = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("announced")
        .expect("recv");
    assert_eq!(id, Notice::ScanDone(scan.id));
    // A key's use (its `last_used` bookkeeping) is not announced; its revocation is,
    // with the key's id.
    let key = s
        .create_api_key(&t.id, None, "k", Role::Tenant, "test", T0)
        .await
        .expect("key");
    s.verify_api_key(&key.secret, T0).await.expect("verifies");
    s.revoke_api_key(&t.id, &key.key.id, "test", T0)
        .await
        .expect("revoke");
    let notice = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("announced")
        .expect("recv");
    assert_eq!(notice, Notice::KeyChanged(key.key.id.clone()));
}

#[tokio::test]
async fn at_most_one_live_job_per_scan() {
    let Some(db) = support::pg().await else {
        return;
    };
    let s = &db.store;
    let t = s.create_tenant("a", 30, T0).await.expect("tenant");
    let scan = s
        .create_scan(&t.id, new_scan("d"), T0)
        .await
        .expect("scan")
        .scan()
        .clone();
    let mut admin = db.admin().await;
    let second = sqlx::query(
        "INSERT INTO scan_jobs (tenant_id, scan_id, status, run_at_ms, max_attempts, created_ms, updated_ms) \
         VALUES ($1, $2, 'queued', 0, 1, 0, 0)",
    )
    .bind(t.id.as_str())
    .bind(scan.id.as_str())
    .execute(&mut admin)
    .await;
    let err = second.expect_err("a second live job must be refused");
    assert!(
        err.as_database_error()
            .is_some_and(|e| e.is_unique_violation()),
        "{err}"
    );
}

/// Regression: concurrent claims over several tenants deadlocked on the round-robin
/// stamp (found by the 16-worker benchmark).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_workers_over_four_tenants_do_not_deadlock() {
    let Some(db) = support::pg().await else {
        return;
    };
    let store = Arc::new(db.store.clone());
    for i in 0..4 {
        let t = store
            .create_tenant(&format!("t{i}"), 30, T0)
            .await
            .expect("tenant");
        enqueue(&*store, &t.id, 150, T0).await;
    }
    let mut workers = Vec::new();
    for w in 0..16 {
        let store = Arc::clone(&store);
        workers.push(tokio::spawn(async move {
            let opts = ClaimOptions {
                worker: WorkerId::new(format!("w{w}")).expect("worker"),
                max_jobs: 8,
                lease_ms: 60_000,
            };
            let mut n = 0;
            loop {
                let leases = store.claim(&opts, T0.plus_ms(1)).await.expect("claim");
                if leases.is_empty() {
                    return n;
                }
                n += leases.len();
                let batch = leases
                    .into_iter()
                    .map(|l| (l, ScanOutputs::default()))
                    .collect();
                store
                    .complete_batch(batch, T0.plus_ms(2))
                    .await
                    .expect("complete");
            }
        }));
    }
    let mut total = 0;
    for w in workers {
        total += w.await.expect("worker");
    }
    assert_eq!(total, 600);
}
