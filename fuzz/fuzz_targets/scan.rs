//! A full scan: diff + built-in rules + policy, every renderer, and signing.
#![no_main]

use std::sync::OnceLock;

use diffver_core::artifact::wire::VerdictV2;
use diffver_core::artifact::{self, HmacSigner, Keyring, SigningMode};
use diffver_core::policy::Policy;
use diffver_core::report;
use diffver_core::rules::Ruleset;
use diffver_core::suppress::Timestamp;
use diffver_core::verdict::{Inputs, ScanContext, evaluate};
use libfuzzer_sys::fuzz_target;

fn setup() -> &'static (Ruleset, Policy) {
    static S: OnceLock<(Ruleset, Policy)> = OnceLock::new();
    S.get_or_init(|| (Ruleset::builtin(), Policy::builtin("strict").expect("builtin policy")))
}

fuzz_target!(|data: &[u8]| {
    let (rules, policy) = setup();
    let ctx = ScanContext::new("fuzz", Timestamp::from_unix_seconds(1_790_000_000).unwrap()).unwrap();
    let v = evaluate(&Inputs::new(data, rules, policy, &ctx));
    let w = VerdictV2::from_verdict(&v);
    let _ = report::check_run(&w);
    let _ = report::text(&w, "fuzz");
    let _ = report::json(&w);
    let _ = report::sarif(&w);
    let _ = report::html(&w, data, &rules.secret_spans(data));
    let _ = report::github_annotations(&w);
    let signer = HmacSigner::deterministic(SigningMode::Development).expect("dev signer");
    let env = artifact::sign(&v, &signer).expect("signing never fails with an HMAC key");
    assert!(artifact::verify(&env, &Keyring::development(SigningMode::Development).expect("dev keyring")).is_ok(), "a fresh artifact verifies");
});
