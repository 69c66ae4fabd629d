//! SQLite-only behaviour: the file is in WAL mode, and the audit chain detects rows
//! edited or deleted behind the store's back.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use diffver_store::{NewAuditEvent, Store, StoreError};
use support::T0;

#[tokio::test]
async fn wal_mode_and_audit_tampering() {
    let db = support::sqlite().await;
    let s = &db.store;
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(s.pool())
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
    let t = s.create_tenant("a", 30, T0).await.expect("tenant");
    for i in 0..3 {
        let ev = NewAuditEvent {
            actor: "alice".into(),
            action: "a".into(),
            object_kind: "k".into(),
            object_id: format!("o{i}"),
            detail: "{}".into(),
        };
        s.append_audit(&t.id, ev, T0.plus_ms(i))
            .await
            .expect("append");
    }
    s.verify_audit_chain(&t.id).await.expect("intact");
    // The triggers refuse edits...
    assert!(
        sqlx::query("UPDATE audit_events SET actor = 'm'")
            .execute(s.pool())
            .await
            .is_err()
    );
    assert!(
        sqlx::query("DELETE FROM audit_events")
            .execute(s.pool())
            .await
            .is_err()
    );
    // ...and with them dropped, the chain catches it.
    sqlx::query("DROP TRIGGER audit_events_no_update")
        .execute(s.pool())
        .await
        .expect("drop");
    sqlx::query("DROP TRIGGER audit_events_no_delete")
        .execute(s.pool())
        .await
        .expect("drop");
    sqlx::query("UPDATE audit_events SET detail = '{\"x\":1}' WHERE seq = 1")
        .execute(s.pool())
        .await
        .expect("edit");
    assert!(matches!(
        s.verify_audit_chain(&t.id).await,
        Err(StoreError::AuditChainBroken { seq: 1 })
    ));
    sqlx::query("UPDATE audit_events SET detail = '{}' WHERE seq = 1")
        .execute(s.pool())
        .await
        .expect("undo");
    s.verify_audit_chain(&t.id).await.expect("restored");
    sqlx::query("DELETE FROM audit_events WHERE seq = 3")
        .execute(s.pool())
        .await
        .expect("delete");
    assert!(matches!(
        s.verify_audit_chain(&t.id).await,
        Err(StoreError::AuditChainBroken { .. })
    ));
}
