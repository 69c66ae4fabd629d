//! One behavioural suite, run against every backend: real Postgres (a throw-away
//! database and role per test) and SQLite files. Nothing is mocked.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use bytes::Bytes;
use diffver_store::{
    Accepted, AuditQuery, Backoff, ClaimOptions, CreatedScan, Decision, DeliveryStatus,
    FailOutcome, Idempotency, JobStatus, Millis, NewAuditEvent, NewCheck, NewException, NewFinding,
    Objects, OnErrorMode, Published, Role, ScanOutputs, ScanStatus, Store, StoreError,
    TenantSettings, WorkerId, run_retention,
};
use support::{T0, enqueue, new_scan};

fn worker(name: &str) -> ClaimOptions {
    ClaimOptions {
        worker: WorkerId::new(name).expect("worker"),
        max_jobs: 1,
        lease_ms: 10_000,
    }
}

fn finding(i: usize) -> NewFinding {
    NewFinding {
        rule_id: format!("pi.rule-{i}"),
        severity: "high".into(),
        path: Some(format!("src/{i}.rs")),
        line: Some(i64::try_from(i).expect("line") + 1),
        fingerprint: format!("fp{i}"),
        blocking: i.is_multiple_of(2),
        suppressed: false,
        message: format!("finding {i}"),
    }
}

fn outputs(n: usize) -> ScanOutputs {
    ScanOutputs {
        decision: Some(Decision::Fail),
        policy_hash: Some("sha256:p".into()),
        blocking: Some(true),
        artifact_key: Some("artifacts/x.json".into()),
        html_key: None,
        error: None,
        findings: (0..n).map(finding).collect(),
    }
}

async fn scan_lifecycle<S: Store>(s: &S) {
    let t = s.create_tenant("acme", 30, T0).await.expect("tenant");
    let created = s
        .create_scan(&t.id, new_scan("d"), T0)
        .await
        .expect("create");
    let CreatedScan::Created(scan) = created else {
        panic!("expected a new scan")
    };
    assert_eq!(scan.status, ScanStatus::Queued);
    assert_eq!(s.get_scan(&t.id, &scan.id).await.expect("get"), scan);
    let blob = s.get_diff_blob(&t.id, &scan.id).await.expect("blob");
    assert_eq!(blob.object_key, format!("diffs/{}.patch", scan.id));
    assert_eq!(blob.deleted, None);

    let leases = s.claim(&worker("w1"), T0.plus_ms(1)).await.expect("claim");
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].attempt, 1);
    assert_eq!(leases[0].expires, T0.plus_ms(10_001));
    assert_eq!(
        s.get_scan(&t.id, &scan.id).await.expect("get").status,
        ScanStatus::Running
    );
    assert!(
        s.claim(&worker("w2"), T0.plus_ms(2))
            .await
            .expect("claim")
            .is_empty()
    );

    s.complete(&leases[0], outputs(5), T0.plus_ms(3))
        .await
        .expect("complete");
    let done = s.get_scan(&t.id, &scan.id).await.expect("get");
    assert_eq!(done.status, ScanStatus::Completed);
    assert_eq!(done.decision, Some(Decision::Fail));
    assert_eq!(done.blocking, Some(true));
    assert_eq!(done.started, Some(T0.plus_ms(1)));
    assert_eq!(done.completed, Some(T0.plus_ms(3)));
    assert_eq!(done.artifact_key.as_deref(), Some("artifacts/x.json"));

    // Pages with a stable cursor, in the stored order.
    let p1 = s
        .page_findings(&t.id, &scan.id, None, 2)
        .await
        .expect("page");
    assert_eq!(
        p1.items.iter().map(|f| f.ordinal).collect::<Vec<_>>(),
        [0, 1]
    );
    let p2 = s
        .page_findings(&t.id, &scan.id, p1.next.as_deref(), 2)
        .await
        .expect("page");
    assert_eq!(
        p2.items.iter().map(|f| f.ordinal).collect::<Vec<_>>(),
        [2, 3]
    );
    let p3 = s
        .page_findings(&t.id, &scan.id, p2.next.as_deref(), 2)
        .await
        .expect("page");
    assert_eq!(p3.items.len(), 1);
    assert_eq!(p3.next, None);
    assert_eq!(p3.items[0].finding, finding(4));
    assert!(matches!(
        s.page_findings(&t.id, &scan.id, Some("not-a-cursor"), 2)
            .await,
        Err(StoreError::Invalid { .. })
    ));
    let jobs = s.list_jobs(&t.id, &scan.id).await.expect("jobs");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, JobStatus::Completed);

    // Pruning finished jobs after the retention period.
    assert_eq!(s.prune_finished_jobs(T0).await.expect("prune"), 0);
    assert_eq!(
        s.prune_finished_jobs(T0.plus_ms(10)).await.expect("prune"),
        1
    );
    assert!(s.list_jobs(&t.id, &scan.id).await.expect("jobs").is_empty());
}

async fn idempotency<S: Store>(s: &S) {
    let a = s.create_tenant("a", 30, T0).await.expect("tenant");
    let b = s.create_tenant("b", 30, T0).await.expect("tenant");
    let mut first = new_scan("d1");
    first.idempotency = Some(Idempotency::new("key-1", b"request one").expect("key"));
    let original = s.create_scan(&a.id, first, T0).await.expect("create");
    assert!(matches!(original, CreatedScan::Created(_)));

    let mut again = new_scan("d1");
    again.idempotency = Some(Idempotency::new("key-1", b"request one").expect("key"));
    match s
        .create_scan(&a.id, again, T0.plus_ms(5))
        .await
        .expect("replay")
    {
        CreatedScan::Existing(scan) => assert_eq!(scan.id, original.scan().id),
        other => panic!("expected the original scan, got {other:?}"),
    }

    let mut different = new_scan("d2");
    different.idempotency = Some(Idempotency::new("key-1", b"request two").expect("key"));
    assert!(matches!(
        s.create_scan(&a.id, different, T0).await,
        Err(StoreError::Conflict { .. })
    ));

    // Keys are per tenant.
    let mut other_tenant = new_scan("d1");
    other_tenant.idempotency = Some(Idempotency::new("key-1", b"request one").expect("key"));
    assert!(matches!(
        s.create_scan(&b.id, other_tenant, T0).await.expect("b"),
        CreatedScan::Created(_)
    ));
    assert!(Idempotency::new("", b"x").is_err());
    assert!(Idempotency::new("k".repeat(256), b"x").is_err());

    // Records are kept until pruned, then the key is free again.
    assert_eq!(s.prune_idempotency(T0).await.expect("prune"), 0);
    assert_eq!(
        s.prune_idempotency(T0.plus_ms(86_400_000))
            .await
            .expect("prune"),
        2
    );
    let mut later = new_scan("d1");
    later.idempotency = Some(Idempotency::new("key-1", b"request two").expect("key"));
    assert!(matches!(
        s.create_scan(&a.id, later, T0.plus_ms(86_400_001))
            .await
            .expect("after prune"),
        CreatedScan::Created(_)
    ));
}

async fn tenant_isolation<S: Store>(s: &S) {
    let a = s.create_tenant("a", 30, T0).await.expect("tenant");
    let b = s.create_tenant("b", 30, T0).await.expect("tenant");
    let scan = s
        .create_scan(&a.id, new_scan("d"), T0)
        .await
        .expect("scan")
        .scan()
        .clone();
    let dead = {
        let mut ns = new_scan("dead");
        ns.max_attempts = 1;
        s.create_scan(&a.id, ns, T0)
            .await
            .expect("scan")
            .scan()
            .clone()
    };
    // Complete the first; kill the second.
    let opts = ClaimOptions {
        max_jobs: 10,
        ..worker("w")
    };
    for lease in s.claim(&opts, T0).await.expect("claim") {
        if lease.scan_id == scan.id {
            s.complete(&lease, outputs(2), T0).await.expect("complete");
        } else {
            let r = s
                .fail(&lease, "boom", &Backoff::default(), T0)
                .await
                .expect("fail");
            assert_eq!(r, FailOutcome::DeadLetter);
        }
    }
    let dead_job = s.list_dead_letters(&a.id).await.expect("dead")[0].clone();
    assert_eq!(dead_job.scan_id, dead.id);
    let user = s
        .create_user(&a.id, "a@example.com", Role::Admin, T0)
        .await
        .expect("user");
    let key = s
        .create_api_key(&a.id, None, "ci", Role::Tenant, "admin", T0)
        .await
        .expect("key");
    let p = s
        .create_policy_version(&a.id, "std", "{}", "h1", "admin", T0)
        .await
        .expect("policy");
    s.activate_policy(&a.id, "std", p.version, "admin", T0)
        .await
        .expect("activate");
    s.create_policy_version(&a.id, "std", "{}", "h2", "admin", T0)
        .await
        .expect("v2");
    let ex = s
        .create_exception(
            &a.id,
            NewException {
                rule_id: "r".into(),
                path: None,
                fingerprint: None,
                reason: "because".into(),
                author: "admin".into(),
                expires: T0.plus_ms(1_000_000),
            },
            T0,
        )
        .await
        .expect("exception");
    s.record_delivery(&a.id, "github", "d-1", "pull_request", T0)
        .await
        .expect("delivery");

    let nf = |r: Result<(), StoreError>, what: &str| {
        assert!(
            matches!(r, Err(StoreError::NotFound { .. })),
            "{what}: {r:?}"
        );
    };
    let bt = &b.id;
    nf(s.get_scan(bt, &scan.id).await.map(drop), "get_scan");
    nf(
        s.get_diff_blob(bt, &scan.id).await.map(drop),
        "get_diff_blob",
    );
    nf(
        s.page_findings(bt, &scan.id, None, 10).await.map(drop),
        "page_findings",
    );
    nf(s.list_jobs(bt, &scan.id).await.map(drop), "list_jobs");
    nf(
        s.redrive(bt, dead_job.id, "x", T0).await.map(drop),
        "redrive",
    );
    nf(
        s.mark_diff_deleted(bt, &scan.id, T0).await,
        "mark_diff_deleted",
    );
    nf(s.get_user(bt, &user.id).await.map(drop), "get_user");
    nf(
        s.revoke_api_key(bt, &key.key.id, "x", T0).await,
        "revoke_api_key",
    );
    nf(s.get_policy(bt, "std", 1).await.map(drop), "get_policy");
    nf(s.active_policy(bt, "std").await.map(drop), "active_policy");
    nf(
        s.activate_policy(bt, "std", 2, "x", T0).await.map(drop),
        "activate_policy",
    );
    nf(
        s.delete_policy_version(bt, "std", 2, "x", T0).await,
        "delete_policy_version",
    );
    nf(s.get_exception(bt, &ex.id).await.map(drop), "get_exception");
    nf(
        s.update_exception(bt, &ex.id, "r", T0, "x", T0)
            .await
            .map(drop),
        "update_exception",
    );
    nf(
        s.delete_exception(bt, &ex.id, "x", T0).await,
        "delete_exception",
    );
    nf(
        s.set_delivery_status(bt, "github", "d-1", DeliveryStatus::Done, None, T0)
            .await
            .map(drop),
        "set_delivery_status",
    );
    assert!(s.list_api_keys(bt).await.expect("keys").is_empty());
    assert!(s.list_policies(bt).await.expect("policies").is_empty());
    assert!(
        s.list_exceptions(bt, None)
            .await
            .expect("exceptions")
            .is_empty()
    );
    assert!(s.list_dead_letters(bt).await.expect("dead").is_empty());
    let all = AuditQuery {
        from: Millis(0),
        to: Millis(i64::MAX),
        object: None,
        limit: 100,
    };
    assert!(s.query_audit(bt, &all).await.expect("audit").is_empty());
    // The same delivery id under B is B's own record, not A's.
    let (d, new) = s
        .record_delivery(bt, "github", "d-1", "push", T0)
        .await
        .expect("b delivery");
    assert!(new);
    assert_eq!(d.event, "push");
    // And A's objects are intact.
    assert_eq!(
        s.get_scan(&a.id, &scan.id).await.expect("a").status,
        ScanStatus::Completed
    );
    assert_eq!(
        s.get_exception(&a.id, &ex.id).await.expect("a ex").reason,
        "because"
    );
    assert_eq!(
        s.active_policy(&a.id, "std")
            .await
            .expect("a policy")
            .version,
        1
    );
}

async fn fenced_completion<S: Store>(s: &S) {
    let t = s.create_tenant("t", 30, T0).await.expect("tenant");
    let scan = s
        .create_scan(&t.id, new_scan("d"), T0)
        .await
        .expect("scan")
        .scan()
        .clone();
    let old = s.claim(&worker("w1"), T0).await.expect("claim").remove(0);
    // The lease ran out: its holder can no longer complete, heartbeat or fail.
    let late = T0.plus_ms(10_001);
    assert!(matches!(
        s.complete(&old, outputs(1), late).await,
        Err(StoreError::Fenced { attempt: 1, .. })
    ));
    assert!(matches!(
        s.heartbeat(&old, 10_000, late).await,
        Err(StoreError::Fenced { .. })
    ));
    let backoff = Backoff {
        base_ms: 100,
        cap_ms: 1_000,
        jitter: 0.0,
    };
    let report = s.reap_expired(&backoff, 100, late).await.expect("reap");
    assert_eq!((report.requeued, report.dead_lettered), (1, 0));
    let new = s
        .claim(&worker("w2"), late.plus_ms(100))
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(new.attempt, 2);
    // Even before the new lease expires, the old holder is fenced out...
    assert!(matches!(
        s.complete(&old, outputs(1), late.plus_ms(200)).await,
        Err(StoreError::Fenced { .. })
    ));
    let report = s
        .complete_batch(
            vec![(old.clone(), outputs(1)), (new.clone(), outputs(3))],
            late.plus_ms(300),
        )
        .await
        .expect("batch");
    assert_eq!(report.completed, [new.job_id]);
    assert_eq!(report.fenced, [old.job_id]);
    // ...and the result is the new holder's.
    let page = s
        .page_findings(&t.id, &scan.id, None, 100)
        .await
        .expect("page");
    assert_eq!(page.items.len(), 3);
    assert!(matches!(
        s.complete(&new, outputs(1), late.plus_ms(400)).await,
        Err(StoreError::Fenced { .. })
    ));
}

async fn heartbeat_extends<S: Store>(s: &S) {
    let t = s.create_tenant("t", 30, T0).await.expect("tenant");
    s.create_scan(&t.id, new_scan("d"), T0).await.expect("scan");
    let lease = s.claim(&worker("w1"), T0).await.expect("claim").remove(0);
    let lease = s
        .heartbeat(&lease, 10_000, T0.plus_ms(9_000))
        .await
        .expect("heartbeat");
    assert_eq!(lease.expires, T0.plus_ms(19_000));
    // Not expired at the old expiry: the reaper leaves it, and completion works.
    let r = s
        .reap_expired(&Backoff::default(), 10, T0.plus_ms(15_000))
        .await
        .expect("reap");
    assert_eq!((r.requeued, r.dead_lettered), (0, 0));
    s.complete(&lease, outputs(0), T0.plus_ms(18_000))
        .await
        .expect("complete");
}

async fn dead_letter_and_redrive<S: Store>(s: &S) {
    let t = s.create_tenant("t", 30, T0).await.expect("tenant");
    let scan = s
        .create_scan(&t.id, new_scan("d"), T0)
        .await
        .expect("scan")
        .scan()
        .clone();
    let backoff = Backoff {
        base_ms: 1_000,
        cap_ms: 4_000,
        jitter: 0.0,
    };
    let mut now = T0;
    for attempt in 1..=3 {
        let lease = s.claim(&worker("w"), now).await.expect("claim").remove(0);
        assert_eq!(lease.attempt, attempt);
        let outcome = s
            .fail(&lease, &format!("boom {attempt}"), &backoff, now)
            .await
            .expect("fail");
        if attempt < 3 {
            let FailOutcome::Retry { run_at } = outcome else {
                panic!("expected a retry")
            };
            // Capped exponential: 1 s, then 2 s.
            assert_eq!(run_at, now.plus_ms(1_000 << (attempt - 1)));
            assert!(
                s.claim(&worker("w"), now).await.expect("claim").is_empty(),
                "not before run_at"
            );
            now = run_at;
        } else {
            assert_eq!(outcome, FailOutcome::DeadLetter);
        }
    }
    let dead = s.list_dead_letters(&t.id).await.expect("dead");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].status, JobStatus::DeadLetter);
    assert_eq!(dead[0].last_error.as_deref(), Some("boom 3"));
    assert_eq!(dead[0].attempt, 3);
    let failed = s.get_scan(&t.id, &scan.id).await.expect("scan");
    assert_eq!(failed.status, ScanStatus::Error);
    assert_eq!(failed.error.as_deref(), Some("boom 3"));
    assert!(
        s.claim(&worker("w"), now.plus_ms(1_000_000))
            .await
            .expect("claim")
            .is_empty()
    );

    let job = s
        .redrive(&t.id, dead[0].id, "admin", now)
        .await
        .expect("redrive");
    assert_eq!((job.status, job.attempt), (JobStatus::Queued, 0));
    assert!(matches!(
        s.redrive(&t.id, dead[0].id, "admin", now).await,
        Err(StoreError::NotFound { .. })
    ));
    let lease = s.claim(&worker("w"), now).await.expect("claim").remove(0);
    s.complete(&lease, outputs(0), now).await.expect("complete");
    let audit = s
        .query_audit(
            &t.id,
            &AuditQuery {
                from: Millis(0),
                to: Millis(i64::MAX),
                object: Some(("scan".into(), scan.id.to_string())),
                limit: 10,
            },
        )
        .await
        .expect("audit");
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].event.action, "job.redrive");
}

async fn reaper_dead_letters<S: Store>(s: &S) {
    let t = s.create_tenant("t", 30, T0).await.expect("tenant");
    let mut ns = new_scan("d");
    ns.max_attempts = 2;
    let scan = s
        .create_scan(&t.id, ns, T0)
        .await
        .expect("scan")
        .scan()
        .clone();
    let backoff = Backoff {
        base_ms: 10,
        cap_ms: 10,
        jitter: 0.5,
    };
    let mut now = T0;
    let l1 = s.claim(&worker("w"), now).await.expect("claim").remove(0);
    now = l1.expires;
    assert_eq!(
        s.reap_expired(&backoff, 10, now)
            .await
            .expect("reap")
            .requeued,
        1
    );
    now = now.plus_ms(20);
    let l2 = s.claim(&worker("w"), now).await.expect("claim").remove(0);
    assert_eq!(l2.attempt, 2);
    let r = s
        .reap_expired(&backoff, 10, l2.expires)
        .await
        .expect("reap");
    assert_eq!((r.requeued, r.dead_lettered), (0, 1));
    let failed = s.get_scan(&t.id, &scan.id).await.expect("scan");
    assert_eq!(failed.status, ScanStatus::Error);
    assert_eq!(
        s.list_dead_letters(&t.id).await.expect("dead")[0]
            .last_error
            .as_deref(),
        Some("lease expired")
    );
}

async fn fair_across_tenants<S: Store>(s: &S) {
    let a = s.create_tenant("a", 30, T0).await.expect("tenant");
    let b = s.create_tenant("b", 30, T0).await.expect("tenant");
    enqueue(s, &a.id, 2_000, T0).await;
    let b_scan = enqueue(s, &b.id, 1, T0.plus_ms(1)).await.remove(0);
    let now = T0.plus_ms(2);
    // One job per claim: B's job is among the first claims, not after A's 2,000.
    let mut position = None;
    for i in 0..5 {
        let lease = s.claim(&worker("w"), now).await.expect("claim").remove(0);
        if lease.scan_id == b_scan {
            position = Some(i);
            break;
        }
    }
    let position = position.expect("B's job was not among the first 5 claims");
    assert!(position <= 1, "B started at claim {position}");
    // In a batch, B's job is in the first batch too.
    let b_scan2 = enqueue(s, &b.id, 1, now).await.remove(0);
    let batch = s
        .claim(
            &ClaimOptions {
                max_jobs: 8,
                ..worker("w")
            },
            now.plus_ms(1),
        )
        .await
        .expect("claim");
    assert_eq!(batch.len(), 8);
    assert!(
        batch.iter().any(|l| l.scan_id == b_scan2),
        "B's second job not in the batch"
    );
}

async fn policies<S: Store>(s: &S) {
    let t = s.create_tenant("t", 30, T0).await.expect("tenant");
    let v1 = s
        .create_policy_version(&t.id, "std", "body1", "h1", "alice", T0)
        .await
        .expect("v1");
    let v2 = s
        .create_policy_version(&t.id, "std", "body2", "h2", "alice", T0)
        .await
        .expect("v2");
    assert_eq!((v1.version, v2.version), (1, 2));
    assert!(matches!(
        s.active_policy(&t.id, "std").await,
        Err(StoreError::NotFound { .. })
    ));
    s.activate_policy(&t.id, "std", 1, "alice", T0)
        .await
        .expect("activate");
    assert_eq!(
        s.active_policy(&t.id, "std").await.expect("active").hash,
        "h1"
    );
    let active = s
        .activate_policy(&t.id, "std", 2, "alice", T0)
        .await
        .expect("activate");
    assert!(active.active);
    assert!(!s.get_policy(&t.id, "std", 1).await.expect("v1").active);
    assert!(matches!(
        s.delete_policy_version(&t.id, "std", 2, "alice", T0).await,
        Err(StoreError::Conflict { .. })
    ));
    s.delete_policy_version(&t.id, "std", 1, "alice", T0)
        .await
        .expect("delete");
    assert!(matches!(
        s.activate_policy(&t.id, "std", 7, "a", T0).await,
        Err(StoreError::NotFound { .. })
    ));
    // A failed activation leaves the active version alone.
    assert_eq!(
        s.active_policy(&t.id, "std").await.expect("active").version,
        2
    );
    let list = s.list_policies(&t.id).await.expect("list");
    assert_eq!(list.iter().map(|p| p.version).collect::<Vec<_>>(), [2]);
}

async fn baselines<S: Store>(s: &S) {
    let a = s.create_tenant("a", 30, T0).await.expect("tenant");
    let b = s.create_tenant("b", 30, T0).await.expect("tenant");
    let body = r#"{"fingerprints":[]}"#;
    let v1 = s
        .put_baseline(&a.id, "main", body, 0, "alice", T0)
        .await
        .expect("put");
    assert_eq!(v1.sha256, diffver_store::sha256_hex(body.as_bytes()));
    let v2 = s
        .put_baseline(&a.id, "main", "{\"x\":1}", 3, "bob", T0.plus_ms(1))
        .await
        .expect("replace");
    assert_eq!(s.get_baseline(&a.id, "main").await.expect("get"), v2);
    assert_eq!(s.list_baselines(&a.id).await.expect("list").len(), 1);
    // Another tenant sees nothing of it.
    assert!(matches!(
        s.get_baseline(&b.id, "main").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(s.list_baselines(&b.id).await.expect("list").is_empty());
    assert!(matches!(
        s.delete_baseline(&b.id, "main", "eve", T0).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.put_baseline(&a.id, "../x", body, 0, "bob", T0).await,
        Err(StoreError::Invalid { .. })
    ));
    s.delete_baseline(&a.id, "main", "bob", T0.plus_ms(2))
        .await
        .expect("delete");
    assert!(matches!(
        s.get_baseline(&a.id, "main").await,
        Err(StoreError::NotFound { .. })
    ));
    // A scan records the baseline it names.
    let mut ns = new_scan("b");
    ns.baseline_name = Some("main".into());
    let created = s.create_scan(&a.id, ns, T0).await.expect("scan");
    assert_eq!(created.scan().baseline_name.as_deref(), Some("main"));
    let got = s.get_scan(&a.id, &created.scan().id).await.expect("get");
    assert_eq!(got.baseline_name.as_deref(), Some("main"));
    let actions: Vec<String> = s
        .query_audit(
            &a.id,
            &AuditQuery {
                from: T0,
                to: T0.plus_ms(10),
                object: None,
                limit: 100,
            },
        )
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.event.action)
        .collect();
    assert!(
        actions.contains(&"baseline.put".to_owned())
            && actions.contains(&"baseline.delete".to_owned()),
        "{actions:?}"
    );
}

async fn exceptions<S: Store>(s: &S) {
    let t = s.create_tenant("t", 30, T0).await.expect("tenant");
    let mk = |expires| NewException {
        rule_id: "pi.x".into(),
        path: Some("a.rs".into()),
        fingerprint: Some("fp".into()),
        reason: "accepted".into(),
        author: "bob".into(),
        expires,
    };
    let e1 = s
        .create_exception(&t.id, mk(T0.plus_ms(100)), T0)
        .await
        .expect("e1");
    let e2 = s
        .create_exception(&t.id, mk(T0.plus_ms(1_000)), T0)
        .await
        .expect("e2");
    assert_eq!(s.get_exception(&t.id, &e1.id).await.expect("get"), e1);
    assert_eq!(s.list_exceptions(&t.id, None).await.expect("all").len(), 2);
    let active = s
        .list_exceptions(&t.id, Some(T0.plus_ms(500)))
        .await
        .expect("active");
    assert_eq!(
        active.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        [e2.id.as_str()]
    );
    let u = s
        .update_exception(&t.id, &e1.id, "extended", T0.plus_ms(5_000), "bob", T0)
        .await
        .expect("update");
    assert_eq!(
        (u.reason.as_str(), u.expires),
        ("extended", T0.plus_ms(5_000))
    );
    s.delete_exception(&t.id, &e2.id, "bob", T0)
        .await
        .expect("delete");
    assert!(matches!(
        s.get_exception(&t.id, &e2.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.delete_exception(&t.id, &e2.id, "bob", T0).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn api_keys<S: Store>(s: &S) {
    let t = s.create_tenant("t", 30, T0).await.expect("tenant");
    let admin = s
        .create_user(&t.id, "root@example.com", Role::Admin, T0)
        .await
        .expect("user");
    let k = s
        .create_api_key(&t.id, Some(&admin.id), "ci", Role::Admin, "root", T0)
        .await
        .expect("key");
    assert!(k.secret.starts_with("dv_"));
    assert!(diffver_store::looks_like_key(&k.secret));
    let p = s
        .verify_api_key(&k.secret, T0.plus_ms(5))
        .await
        .expect("verify");
    assert_eq!(
        (
            p.tenant_id.clone(),
            p.key_id.clone(),
            p.role,
            p.user_id.clone()
        ),
        (
            t.id.clone(),
            k.key.id.clone(),
            Role::Admin,
            Some(admin.id.clone())
        )
    );
    let listed = s.list_api_keys(&t.id).await.expect("list");
    assert_eq!(listed[0].last_used, Some(T0.plus_ms(5)));
    // last_used is kept to the minute: a second use within it writes nothing.
    s.verify_api_key(&k.secret, T0.plus_ms(30_000))
        .await
        .expect("verify");
    assert_eq!(
        s.list_api_keys(&t.id).await.expect("list")[0].last_used,
        Some(T0.plus_ms(5))
    );
    s.verify_api_key(&k.secret, T0.plus_ms(70_000))
        .await
        .expect("verify");
    assert_eq!(
        s.list_api_keys(&t.id).await.expect("list")[0].last_used,
        Some(T0.plus_ms(70_000))
    );
    assert_eq!(
        s.find_api_key(&k.key.id).await.expect("find").tenant_id,
        t.id
    );
    // One changed secret digit, a malformed key, an unknown id: all the same error.
    let mut wrong = k.secret.clone();
    let last = wrong.pop().expect("char");
    wrong.push(if last == '0' { '1' } else { '0' });
    for bad in [
        wrong.as_str(),
        "dv_nope",
        "",
        "dv_0000000000000000_000000000000000000000000000000000000000000000000000000000000000000000000",
    ] {
        assert!(
            matches!(
                s.verify_api_key(bad, T0).await,
                Err(StoreError::Unauthenticated)
            ),
            "{bad}"
        );
    }
    // An admin key needs an admin user; a user of another tenant is not found.
    let plain = s
        .create_user(&t.id, "dev@example.com", Role::Tenant, T0)
        .await
        .expect("user");
    assert!(matches!(
        s.create_api_key(&t.id, Some(&plain.id), "x", Role::Admin, "root", T0)
            .await,
        Err(StoreError::Invalid { .. })
    ));
    // ... and so does an admin key with no user at all; a key needs a name.
    assert!(matches!(
        s.create_api_key(&t.id, None, "x", Role::Admin, "root", T0)
            .await,
        Err(StoreError::Invalid { .. })
    ));
    assert!(matches!(
        s.create_api_key(&t.id, None, "  ", Role::Tenant, "root", T0)
            .await,
        Err(StoreError::Invalid { .. })
    ));
    let other = s.create_tenant("o", 30, T0).await.expect("tenant");
    assert!(matches!(
        s.create_api_key(&other.id, Some(&admin.id), "x", Role::Tenant, "root", T0)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    // Rotation: the old key works during the overlap, then stops; the new one goes on.
    let r = s
        .rotate_api_key(&t.id, &k.key.id, 1_000, "root", T0.plus_ms(100))
        .await
        .expect("rotate");
    assert_eq!(r.key.user_id.as_deref(), Some(admin.id.as_str()));
    assert_eq!(r.key.role, Role::Admin);
    assert!(s.verify_api_key(&k.secret, T0.plus_ms(500)).await.is_ok());
    assert!(matches!(
        s.verify_api_key(&k.secret, T0.plus_ms(1_100)).await,
        Err(StoreError::Unauthenticated)
    ));
    assert!(s.verify_api_key(&r.secret, T0.plus_ms(1_100)).await.is_ok());
    assert!(matches!(
        s.rotate_api_key(&other.id, &r.key.id, 0, "root", T0).await,
        Err(StoreError::NotFound { .. })
    ));
    s.revoke_api_key(&t.id, &r.key.id, "root", T0)
        .await
        .expect("revoke");
    assert!(matches!(
        s.verify_api_key(&r.secret, T0).await,
        Err(StoreError::Unauthenticated)
    ));
    assert!(
        s.list_api_keys(&t.id).await.expect("list")[1]
            .revoked
            .is_some()
    );
}

async fn tenant_settings<S: Store>(s: &S) {
    let t = s.create_tenant("t", 30, T0).await.expect("tenant");
    assert_eq!(t.settings, TenantSettings::default());
    let set = TenantSettings {
        on_error: OnErrorMode::FailClosed,
        rate_per_sec: 3,
        max_in_flight: 2,
    };
    let changed = s
        .set_tenant_settings(&t.id, set, "root", T0)
        .await
        .expect("set");
    assert_eq!(changed.settings, set);
    assert_eq!(s.get_tenant(&t.id).await.expect("get").settings, set);
    assert!(matches!(
        s.set_tenant_settings(
            &t.id,
            TenantSettings {
                rate_per_sec: 0,
                ..set
            },
            "root",
            T0
        )
        .await,
        Err(StoreError::Invalid { .. })
    ));
    let listed = s.list_tenants().await.expect("list");
    assert!(listed.iter().any(|x| x.id == t.id && x.settings == set));
    assert_eq!(s.scans_in_flight(&t.id).await.expect("count"), 0);
    s.create_scan(&t.id, new_scan("in-flight"), T0)
        .await
        .expect("scan");
    assert_eq!(s.scans_in_flight(&t.id).await.expect("count"), 1);
    let events = s
        .query_audit(
            &t.id,
            &AuditQuery {
                from: T0,
                to: T0.plus_ms(1),
                object: None,
                limit: 10,
            },
        )
        .await
        .expect("audit");
    assert!(
        events
            .iter()
            .any(|e| e.event.action == "tenant.set_settings")
    );
    // The tenant's signing key: set, read back, cleared, audited; a bad id refused.
    let t2 = s.create_tenant("signer-t", 30, T0).await.expect("tenant");
    assert_eq!(t2.signer, None);
    let t2s = s
        .set_tenant_signer(&t2.id, Some("acme-2026"), "admin", T0)
        .await
        .expect("set");
    assert_eq!(t2s.signer.as_deref(), Some("acme-2026"));
    assert_eq!(
        s.get_tenant(&t2.id).await.expect("get").signer.as_deref(),
        Some("acme-2026")
    );
    assert!(matches!(
        s.set_tenant_signer(&t2.id, Some("bad id"), "admin", T0)
            .await,
        Err(StoreError::Invalid { .. })
    ));
    assert_eq!(
        s.set_tenant_signer(&t2.id, None, "admin", T0)
            .await
            .expect("clear")
            .signer,
        None
    );
    let events = s
        .query_audit(
            &t2.id,
            &AuditQuery {
                from: T0,
                to: T0.plus_ms(1),
                object: None,
                limit: 100,
            },
        )
        .await
        .expect("audit");
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event.action == "tenant.set_signer")
            .count(),
        2
    );
}

async fn audit_chain<S: Store>(s: &S) {
    let t = s.create_tenant("t", 30, T0).await.expect("tenant");
    assert_eq!(s.verify_audit_chain(&t.id).await.expect("empty").seq, 0);
    for i in 0..5 {
        s.append_audit(
            &t.id,
            NewAuditEvent {
                actor: "alice".into(),
                action: "thing.do".into(),
                object_kind: "thing".into(),
                object_id: format!("o{}", i % 2),
                detail: "{}".into(),
            },
            T0.plus_ms(i * 10),
        )
        .await
        .expect("append");
    }
    let head = s.verify_audit_chain(&t.id).await.expect("verify");
    assert_eq!(head.seq, 5);
    let range = s
        .query_audit(
            &t.id,
            &AuditQuery {
                from: T0.plus_ms(10),
                to: T0.plus_ms(40),
                object: None,
                limit: 100,
            },
        )
        .await
        .expect("range");
    assert_eq!(range.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3, 4]);
    let obj = s
        .query_audit(
            &t.id,
            &AuditQuery {
                from: Millis(0),
                to: Millis(i64::MAX),
                object: Some(("thing".into(), "o0".into())),
                limit: 100,
            },
        )
        .await
        .expect("object");
    assert_eq!(obj.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 3, 5]);
    assert_eq!(obj[1].prev_hash, range[0].hash);
}

async fn retention<S: Store>(s: &S) {
    let short = s.create_tenant("short", 7, T0).await.expect("tenant");
    let long = s.create_tenant("long", 30, T0).await.expect("tenant");
    let objects = Objects::in_memory();
    let mut keys = Vec::new();
    for t in [&short, &long] {
        let ns = new_scan("diff body");
        let stored = objects
            .put_once(&ns.diff_object_key, Bytes::from_static(b"diff body"))
            .await
            .expect("put");
        keys.push(stored.key);
        let scan = s
            .create_scan(&t.id, ns, T0)
            .await
            .expect("scan")
            .scan()
            .clone();
        let lease = s
            .claim(
                &ClaimOptions {
                    max_jobs: 10,
                    ..worker("w")
                },
                T0,
            )
            .await
            .expect("claim")
            .remove(0);
        assert_eq!(lease.scan_id, scan.id);
        s.complete(&lease, outputs(2), T0).await.expect("complete");
    }
    let day = 86_400_000;
    let early = run_retention(s, &objects, T0.plus_ms(6 * day), 100)
        .await
        .expect("run");
    assert_eq!((early.deleted, early.already_gone), (0, 0));
    let now = T0.plus_ms(8 * day);
    let report = run_retention(s, &objects, now, 100).await.expect("run");
    assert_eq!(
        (report.deleted, report.already_gone, report.failed),
        (1, 0, 0)
    );
    assert!(matches!(
        objects
            .get_verified(&keys[0], &diffver_store::sha256_hex(b"diff body"))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    objects
        .get_verified(&keys[1], &diffver_store::sha256_hex(b"diff body"))
        .await
        .expect("long kept");
    let scans = s
        .query_audit(
            &short.id,
            &AuditQuery {
                from: Millis(0),
                to: Millis(i64::MAX),
                object: None,
                limit: 10,
            },
        )
        .await
        .expect("audit");
    assert_eq!(scans.len(), 1);
    assert_eq!(scans[0].event.action, "diff.delete");
    let scan_id = diffver_store::ScanId::new(scans[0].event.object_id.clone()).expect("id");
    assert_eq!(
        s.get_diff_blob(&short.id, &scan_id)
            .await
            .expect("blob")
            .deleted,
        Some(now)
    );
    // Findings and the scan stay.
    assert_eq!(
        s.page_findings(&short.id, &scan_id, None, 10)
            .await
            .expect("page")
            .items
            .len(),
        2
    );
    assert_eq!(
        s.get_scan(&short.id, &scan_id).await.expect("scan").status,
        ScanStatus::Completed
    );
    assert_eq!(
        run_retention(s, &objects, now, 100)
            .await
            .expect("again")
            .deleted,
        0
    );
    // The per-tenant setting counts: shortening it expires the other diff too.
    s.set_diff_retention(&long.id, 1, "admin", now)
        .await
        .expect("set");
    assert_eq!(
        run_retention(s, &objects, now, 100)
            .await
            .expect("run")
            .deleted,
        1
    );
}

async fn deliveries_and_users<S: Store>(s: &S) {
    let t = s.create_tenant("t", 30, T0).await.expect("tenant");
    let (d, new) = s
        .record_delivery(&t.id, "github", "abc", "pull_request", T0)
        .await
        .expect("d");
    assert!(new);
    assert_eq!(d.status, DeliveryStatus::Received);
    let (again, new) = s
        .record_delivery(&t.id, "github", "abc", "pull_request", T0.plus_ms(1))
        .await
        .expect("d");
    assert!(!new);
    assert_eq!(again.received, T0);
    let scan = s
        .create_scan(&t.id, new_scan("d"), T0)
        .await
        .expect("scan")
        .scan()
        .clone();
    let d = s
        .set_delivery_status(
            &t.id,
            "github",
            "abc",
            DeliveryStatus::Enqueued,
            Some(&scan.id),
            T0.plus_ms(2),
        )
        .await
        .expect("status");
    assert_eq!(
        (d.status, d.scan_id.as_ref()),
        (DeliveryStatus::Enqueued, Some(&scan.id))
    );
    let u = s
        .create_user(&t.id, "x@example.com", Role::Tenant, T0)
        .await
        .expect("user");
    assert_eq!(s.get_user(&t.id, &u.id).await.expect("get"), u);
    assert_eq!(s.list_users(&t.id).await.expect("list"), vec![u.clone()]);
    let other = s.create_tenant("other", 30, T0).await.expect("other");
    assert!(s.list_users(&other.id).await.expect("other's").is_empty());
    assert!(matches!(
        s.create_user(&t.id, "x@example.com", Role::Admin, T0).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(s.get_tenant(&t.id).await.expect("tenant").name, "t");
}

async fn github_outbox<S: Store>(s: &S) {
    let a = s.create_tenant("a", 30, T0).await.expect("tenant");
    let b = s.create_tenant("b", 30, T0).await.expect("tenant");
    // Installations: unmapped until mapped; a later event without a tenant keeps it.
    let i = s
        .upsert_installation(42, "octo", None, T0)
        .await
        .expect("install");
    assert_eq!(i.tenant_id, None);
    let i = s
        .map_installation(42, &a.id, "admin", T0)
        .await
        .expect("map");
    assert_eq!(i.tenant_id.as_ref(), Some(&a.id));
    let i = s
        .upsert_installation(42, "octo-renamed", None, T0.plus_ms(1))
        .await
        .expect("again");
    assert_eq!(
        (i.tenant_id.as_ref(), i.account.as_str()),
        (Some(&a.id), "octo-renamed")
    );
    s.delete_installation(42, T0.plus_ms(2))
        .await
        .expect("delete");
    assert!(s.get_installation(42).await.expect("get").deleted.is_some());
    assert!(matches!(
        s.get_installation(7).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.map_installation(7, &a.id, "admin", T0).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(s.list_installations().await.expect("list").len(), 1);

    let check = NewCheck {
        installation_id: 42,
        repository: "octo/repo".into(),
        pull_number: Some(7),
        head_sha: "a".repeat(40),
        base_sha: Some("b".repeat(40)),
        rerun: false,
    };
    let Accepted::Queued(first) = s
        .accept_github_event(&a.id, "d-1", "pull_request", check.clone(), T0)
        .await
        .expect("accept")
    else {
        panic!("not queued")
    };
    assert_eq!(
        (first.published, first.done, first.lease_seq),
        (Published::None, false, 0)
    );
    // A redelivery adds nothing; nor does another event for the same commit, unless it
    // asks for a re-run.
    assert_eq!(
        s.accept_github_event(&a.id, "d-1", "pull_request", check.clone(), T0)
            .await
            .expect("replay"),
        Accepted::Redelivery
    );
    assert_eq!(
        s.accept_github_event(&a.id, "d-1b", "check_suite", check.clone(), T0)
            .await
            .expect("same commit"),
        Accepted::AlreadyChecked
    );
    let mut bad = check.clone();
    bad.head_sha = "not-a-sha".into();
    assert!(matches!(
        s.accept_github_event(&a.id, "d-2", "pull_request", bad, T0)
            .await,
        Err(StoreError::Invalid { .. })
    ));
    let mut bad = check.clone();
    bad.repository = "../etc".into();
    assert!(matches!(
        s.accept_github_event(&a.id, "d-3", "pull_request", bad, T0)
            .await,
        Err(StoreError::Invalid { .. })
    ));

    // Claims are leased: a second claim inside the lease gets nothing.
    let claimed = s.claim_publishes(10, 30_000, T0).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    assert!(
        s.claim_publishes(10, 30_000, T0.plus_ms(1))
            .await
            .expect("claim")
            .is_empty()
    );
    let mut p = claimed[0].clone();
    p.check_run_id = Some(1001);
    p.published = Published::Queued;
    let saved = s
        .save_publish(&p, false, T0, T0.plus_ms(2))
        .await
        .expect("save");
    assert_eq!(
        (saved.check_run_id, saved.published),
        (Some(1001), Published::Queued)
    );
    // The lease runs out; another publisher takes over; the first is fenced.
    let taken = s
        .claim_publishes(10, 30_000, T0.plus_ms(40_000))
        .await
        .expect("reclaim");
    assert_eq!(taken.len(), 1);
    assert_eq!(
        taken[0].check_run_id,
        Some(1001),
        "progress survives the takeover"
    );
    assert!(matches!(
        s.save_publish(&p, true, T0, T0.plus_ms(40_001)).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        s.fail_publish(&p, "late", T0, 3, T0.plus_ms(40_001)).await,
        Err(StoreError::Conflict { .. })
    ));
    // Failures back off, count, and go dead after the budget; progress resets the streak.
    let mut cur = taken[0].clone();
    let mut now = T0.plus_ms(40_002);
    for n in 1..=3 {
        let f = s
            .fail_publish(&cur, "github answered 502", now.plus_ms(1000), 3, now)
            .await
            .expect("fail");
        assert_eq!((f.attempts, f.failures, f.dead), (n, n, n == 3));
        assert_eq!(f.last_error.as_deref(), Some("github answered 502"));
        assert!(
            s.claim_publishes(10, 30_000, now)
                .await
                .expect("early")
                .is_empty(),
            "backoff"
        );
        now = now.plus_ms(1000);
        if n < 3 {
            cur = s
                .claim_publishes(10, 30_000, now)
                .await
                .expect("due")
                .remove(0);
        }
    }
    assert!(
        s.claim_publishes(10, 30_000, now.plus_ms(100_000))
            .await
            .expect("dead")
            .is_empty()
    );
    let dead = s.list_publishes(&a.id, true, 10).await.expect("dead list");
    assert_eq!(dead.len(), 1);
    // Another tenant sees none of it and cannot redrive it.
    assert!(
        s.list_publishes(&b.id, false, 10)
            .await
            .expect("b")
            .is_empty()
    );
    assert!(matches!(
        s.redrive_publish(&b.id, &dead[0].id, "admin", now).await,
        Err(StoreError::NotFound { .. })
    ));
    let r = s
        .redrive_publish(&a.id, &dead[0].id, "admin", now)
        .await
        .expect("redrive");
    assert_eq!((r.dead, r.attempts, r.failures), (false, 0, 3));
    let mut again = s
        .claim_publishes(10, 30_000, now)
        .await
        .expect("redriven")
        .remove(0);
    again.published = Published::Completed;
    again.done = true;
    let fin = s
        .save_publish(&again, true, now, now)
        .await
        .expect("finish");
    assert!(fin.done);
    assert!(
        s.claim_publishes(10, 30_000, now.plus_ms(1_000_000))
            .await
            .expect("none")
            .is_empty()
    );
    assert!(
        s.list_publishes(&a.id, true, 10)
            .await
            .expect("no dead")
            .is_empty()
    );
    // A re-run of the checked commit is a new check.
    let rerun = NewCheck {
        rerun: true,
        ..check.clone()
    };
    let Accepted::Queued(second) = s
        .accept_github_event(&a.id, "d-1c", "check_run", rerun, now)
        .await
        .expect("rerun")
    else {
        panic!("a re-run is a new check")
    };
    assert!(second.check.rerun && second.id != first.id);
    assert_eq!(
        s.list_publishes(&a.id, false, 10).await.expect("all").len(),
        2
    );
}

macro_rules! backends {
    ($($case:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = crate::support::pg().await else { return };
                    crate::$case(&db.store).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = crate::support::sqlite().await;
                    crate::$case(&db.store).await;
                }
            )*
        }
    };
}

backends!(
    baselines,
    scan_lifecycle,
    idempotency,
    tenant_isolation,
    fenced_completion,
    heartbeat_extends,
    dead_letter_and_redrive,
    reaper_dead_letters,
    fair_across_tenants,
    policies,
    exceptions,
    api_keys,
    tenant_settings,
    audit_chain,
    retention,
    deliveries_and_users,
    github_outbox,
);
