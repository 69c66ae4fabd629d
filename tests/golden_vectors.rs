//! Golden test vectors of the signed artifact (issue 10): for each signer
//! mode, the key, the diff, the expected envelope bytes and the expected
//! verdict are committed under `tests/vectors/`. Today's code must reproduce
//! them byte for byte and they must keep verifying; a change of the wire
//! format is deliberate: bump the version, then regenerate with
//! `DIFFVER_BLESS=1 cargo test --test golden_vectors` and review the diff.
//!
//! The forged artifacts in `tests/vectors/forged/` are signed with the right
//! keys but must be rejected (they are also fed to the independent verifier,
//! `tests/verify_artifact.py`, by `.ci/test`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use diffver::artifact::wire::{Algorithm, VerdictV2};
use diffver::artifact::{
    self, ArtifactError, EcdsaP256Verifier, HmacSigner, KeyMode, Keyring, Signer, SignerIdentity,
    SigningMode,
};
use diffver::policy::Policy;
use diffver::rules::Ruleset;
use diffver::suppress::Timestamp;
use diffver::verdict::{self, Inputs, ScanContext, Verdict};

const HMAC_KEY_ID: &str = "vectors-hmac-1";
const P256_KEY_ID: &str = "vectors-p256-1";
/// The private key of RFC 6979 appendix A.2.5 (a published test key).
const P256_SECRET: &str = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("tests/vectors/{name}: {e}"))
}

fn bless() -> bool {
    std::env::var_os("DIFFVER_BLESS").is_some()
}

/// Compares with the committed file, or writes it when blessing.
fn golden(name: &str, bytes: &[u8]) {
    let path = dir().join(name);
    if bless() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        want == bytes,
        "tests/vectors/{name} differs from what the code produces: a wire change must be deliberate (see this file's doc)"
    );
}

fn the_verdict() -> Verdict {
    let rules = Ruleset::from_toml(
        std::str::from_utf8(&read("rules.toml")).unwrap(),
        "rules.toml",
    )
    .unwrap();
    let policy = Policy::from_toml(
        std::str::from_utf8(&read("policy.toml")).unwrap(),
        "policy.toml",
    )
    .unwrap();
    let now = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
    let ctx = ScanContext::new("vector-1", now).unwrap();
    let diff = read("pr.diff");
    verdict::evaluate(&Inputs::new(&diff, &rules, &policy, &ctx))
}

fn hmac_key() -> Vec<u8> {
    let mut k = read("operator-hmac.key");
    while k.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        k.pop();
    }
    k
}

struct P256(p256::ecdsa::SigningKey);

impl Signer for P256 {
    fn identity(&self) -> SignerIdentity {
        SignerIdentity {
            key_id: P256_KEY_ID.into(),
            mode: KeyMode::Operator,
            algorithm: Algorithm::EcdsaP256Sha256,
        }
    }

    fn sign(&self, pae: &[u8]) -> Result<Vec<u8>, ArtifactError> {
        use p256::ecdsa::signature::Signer as _;
        // RFC 6979 deterministic nonces: the same bytes every time.
        let s: p256::ecdsa::Signature = self.0.sign(pae);
        Ok(s.to_der().as_bytes().to_vec())
    }
}

fn p256_signer() -> P256 {
    let bytes: Vec<u8> = (0..P256_SECRET.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&P256_SECRET[i..i + 2], 16).unwrap())
        .collect();
    P256(p256::ecdsa::SigningKey::from_slice(&bytes).unwrap())
}

fn p256_pem() -> String {
    use p256::pkcs8::EncodePublicKey as _;
    p256_signer()
        .0
        .verifying_key()
        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .unwrap()
}

fn keyrings() -> [(&'static str, Keyring); 3] {
    [
        (
            "development",
            Keyring::development(SigningMode::Development).unwrap(),
        ),
        (
            "operator-hmac",
            Keyring::new().with_key(HMAC_KEY_ID, hmac_key()).unwrap(),
        ),
        (
            "ecdsa-p256",
            Keyring::new()
                .with_verifier(Arc::new(
                    EcdsaP256Verifier::from_public_key_pem(
                        P256_KEY_ID,
                        std::str::from_utf8(&read("ecdsa-p256.pub.pem")).unwrap(),
                    )
                    .unwrap(),
                ))
                .unwrap(),
        ),
    ]
}

#[test]
fn vectors_are_reproduced_byte_for_byte_and_verify() {
    let v = the_verdict();
    assert_eq!(v.decision(), verdict::Decision::Fail);
    golden("ecdsa-p256.pub.pem", p256_pem().as_bytes());
    let mut verdict_json = serde_json::to_string_pretty(&VerdictV2::from_verdict(&v)).unwrap();
    verdict_json.push('\n');
    golden("verdict.json", verdict_json.as_bytes());
    let signers: [(&str, Box<dyn Signer>); 3] = [
        (
            "development",
            Box::new(HmacSigner::deterministic(SigningMode::Development).unwrap()),
        ),
        (
            "operator-hmac",
            Box::new(HmacSigner::new(HMAC_KEY_ID, hmac_key()).unwrap()),
        ),
        ("ecdsa-p256", Box::new(p256_signer())),
    ];
    for ((mode, signer), (ring_mode, ring)) in signers.iter().zip(keyrings()) {
        assert_eq!(*mode, ring_mode);
        let env = artifact::sign(&v, signer.as_ref()).unwrap();
        golden(&format!("{mode}.dsse.json"), &env);
        let committed = read(&format!("{mode}.dsse.json"));
        let checked = artifact::verify(&committed, &ring).unwrap();
        checked.check_diff(&read("pr.diff")).unwrap();
        let mut want = VerdictV2::from_verdict(&v);
        want.signer = Some(signer.identity());
        assert_eq!(checked.verdict, want, "{mode}: the signed verdict");
        // Each vector verifies with its own keyring only.
        for (other, ring) in keyrings() {
            if other != *mode {
                assert!(
                    artifact::verify(&committed, &ring).is_err(),
                    "{mode} verified with {other}"
                );
            }
        }
    }
}

fn envelope(payload: &[u8], keyid: &str, sig: &[u8]) -> Vec<u8> {
    serde_jcs::to_vec(&serde_json::json!({
        "payload": STANDARD.encode(payload),
        "payloadType": artifact::PAYLOAD_TYPE,
        "signatures": [{"keyid": keyid, "sig": STANDARD.encode(sig)}],
    }))
    .unwrap()
}

fn statement(env: &[u8]) -> serde_json::Value {
    let outer: serde_json::Value = serde_json::from_slice(env).unwrap();
    serde_json::from_slice(&STANDARD.decode(outer["payload"].as_str().unwrap()).unwrap()).unwrap()
}

/// Forgeries signed with the operator HMAC key over payloads that do not
/// mean anything consistent, and a development signature relabelled as the
/// operator's. Committed so that any verifier can be tested against them.
#[test]
fn forged_vectors_are_rejected() {
    let signer = HmacSigner::new(HMAC_KEY_ID, hmac_key()).unwrap();
    let op_env = read("operator-hmac.dsse.json");
    let base = statement(&op_env);
    let sign_with_operator = |payload: &[u8]| {
        let sig = signer.sign(&artifact::signing_input(payload)).unwrap();
        envelope(payload, HMAC_KEY_ID, &sig)
    };
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut st = base.clone();
        f(&mut st);
        serde_jcs::to_vec(&st).unwrap()
    };
    let mut forged: Vec<(&str, Vec<u8>)> = vec![
        (
            "pass-with-blocking-findings",
            sign_with_operator(&edit(&|st| {
                st["predicate"]["decision"] = "pass".into();
                st["predicate"]["blocks"] = false.into();
            })),
        ),
        (
            "summary-disagrees",
            sign_with_operator(&edit(&|st| {
                st["predicate"]["summary"]["blocking"] = 0.into()
            })),
        ),
        (
            "unknown-decision",
            sign_with_operator(&edit(&|st| st["predicate"]["decision"] = "approve".into())),
        ),
        (
            "non-canonical-payload",
            sign_with_operator(&serde_json::to_vec_pretty(&base).unwrap()),
        ),
        (
            "signer-relabelled",
            sign_with_operator(&edit(&|st| {
                st["predicate"]["signer"]["key_id"] = "someone-else".into();
            })),
        ),
    ];
    // The published development key used to sign a payload claiming the
    // operator's key.
    let dev_payload = edit(&|st| {
        st["predicate"]["signer"]["mode"] = "operator".into();
    });
    let dev = HmacSigner::deterministic(SigningMode::Development).unwrap();
    let dev_sig = dev.sign(&artifact::signing_input(&dev_payload)).unwrap();
    forged.push((
        "development-key-as-operator",
        envelope(&dev_payload, HMAC_KEY_ID, &dev_sig),
    ));
    // An empty key (an unset secret) cannot be used to sign or verify.
    let empty_sig = {
        use hmac::Mac as _;
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"").unwrap();
        m.update(&artifact::signing_input(&edit(&|_| {})));
        m.finalize().into_bytes().to_vec()
    };
    forged.push((
        "empty-key",
        envelope(&edit(&|_| {}), HMAC_KEY_ID, &empty_sig),
    ));
    let ring = Keyring::new().with_key(HMAC_KEY_ID, hmac_key()).unwrap();
    for (name, env) in &forged {
        golden(&format!("forged/{name}.dsse.json"), env);
        let committed = read(&format!("forged/{name}.dsse.json"));
        assert!(
            artifact::verify(&committed, &ring).is_err(),
            "forged/{name} verified"
        );
    }
}
