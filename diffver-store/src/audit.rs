//! The audit log's hash chain.
//!
//! Each tenant's events form a chain: event `seq` stores `hash = SHA-256(tenant,
//! seq, at, actor, action, object kind, object id, detail, prev_hash)` over
//! length-prefixed fields, and `prev_hash` is the hash of event `seq - 1` (64 zeros
//! for the first). `audit_heads` keeps the tip. Editing a row changes its hash;
//! deleting one breaks the sequence or the links; deleting the newest rows leaves
//! the tip pointing past the end. A database trigger also refuses `UPDATE` and
//! `DELETE` on `audit_events`, so the chain is the second wall, for writes that
//! bypass the application (a superuser, a restored backup).

use sha2::{Digest, Sha256};

use crate::error::{Result, StoreError};
use crate::model::{AuditEvent, AuditHead, Millis, NewAuditEvent, TenantId, hex};

/// The `prev_hash` of a chain's first event.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of one event.
pub(crate) fn event_hash(
    tenant: &TenantId,
    seq: i64,
    at: Millis,
    e: &NewAuditEvent,
    prev_hash: &str,
) -> String {
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    };
    field(b"diffver.audit/v1");
    field(tenant.as_str().as_bytes());
    field(&seq.to_be_bytes());
    field(&at.0.to_be_bytes());
    field(e.actor.as_bytes());
    field(e.action.as_bytes());
    field(e.object_kind.as_bytes());
    field(e.object_id.as_bytes());
    field(e.detail.as_bytes());
    field(prev_hash.as_bytes());
    hex(&h.finalize())
}

/// Checks a tenant's whole chain (events in `seq` order) against its stored tip.
///
/// # Errors
///
/// [`StoreError::AuditChainBroken`] with the first `seq` that does not verify.
pub(crate) fn verify_chain(
    tenant: &TenantId,
    events: &[AuditEvent],
    head: Option<&AuditHead>,
) -> Result<AuditHead> {
    let mut prev = GENESIS.to_owned();
    let mut expected_seq = 1i64;
    for e in events {
        let broken = e.seq != expected_seq
            || e.prev_hash != prev
            || &e.tenant_id != tenant
            || event_hash(tenant, e.seq, e.at, &e.event, &e.prev_hash) != e.hash;
        if broken {
            return Err(StoreError::AuditChainBroken { seq: expected_seq });
        }
        prev.clone_from(&e.hash);
        expected_seq += 1;
    }
    let tip = AuditHead {
        seq: expected_seq - 1,
        hash: prev,
    };
    let stored = head.cloned().unwrap_or(AuditHead {
        seq: 0,
        hash: GENESIS.to_owned(),
    });
    if stored != tip {
        return Err(StoreError::AuditChainBroken {
            seq: tip.seq.min(stored.seq) + 1,
        });
    }
    Ok(tip)
}
