//! A full scan: diff + built-in rules + policy, every renderer, and signing;
//! and the fail-closed property of issue 11: whatever the input, the decision
//! is never `pass` unless the parser consumed the whole input as patches (or
//! it was empty and `allow_empty` was given), even under a fail-open policy.
#![no_main]

use std::sync::OnceLock;

use diffver_core::artifact::wire::VerdictV2;
use diffver_core::artifact::{self, HmacSigner, Keyring, SigningMode};
use diffver_core::diff::{FileOp, FilePatch, Limits, parse};
use diffver_core::policy::Policy;
use diffver_core::report;
use diffver_core::rules::Ruleset;
use diffver_core::suppress::Timestamp;
use diffver_core::verdict::{Decision, Inputs, ScanContext, evaluate};
use libfuzzer_sys::fuzz_target;

fn setup() -> &'static (Ruleset, Policy, Policy) {
    static S: OnceLock<(Ruleset, Policy, Policy)> = OnceLock::new();
    S.get_or_init(|| {
        (
            Ruleset::builtin(),
            Policy::builtin("strict").expect("builtin policy"),
            Policy::builtin("permissive").expect("builtin policy"),
        )
    })
}

/// Whether every byte of `data` was read as patches or as the text the model
/// keeps around them, with at least one patch git would count.
fn consumed_as_patches(data: &[u8], allow_empty: bool) -> bool {
    let Ok(d) = parse(data, &Limits::unbounded().with_allow_empty(allow_empty)) else {
        return false;
    };
    let is_patch = |f: &FilePatch| {
        !f.hunks().is_empty()
            || (f.is_git()
                && (f.is_binary()
                    || f.op() != FileOp::Modify
                    || f.old_mode().is_some()
                    || f.new_mode().is_some()))
    };
    if data.is_empty() {
        return allow_empty;
    }
    if !d.files().iter().any(is_patch) {
        return false;
    }
    let mut spans: Vec<(usize, usize)> = d
        .files()
        .iter()
        .map(|f| (f.span().start, f.span().end))
        .chain(d.segments().iter().map(|s| (s.span.start, s.span.end)))
        .collect();
    spans.sort_unstable();
    let mut covered = 0;
    for (s, e) in spans {
        if s > covered {
            return false;
        }
        covered = covered.max(e);
    }
    covered >= data.len()
}

fuzz_target!(|data: &[u8]| {
    let (rules, strict, permissive) = setup();
    let ctx = ScanContext::new("fuzz", Timestamp::from_unix_seconds(1_790_000_000).expect("time"))
        .expect("scan id");
    let v = evaluate(&Inputs::new(data, rules, strict, &ctx));
    let w = VerdictV2::from_verdict(&v);
    let _ = report::check_run(&w);
    let _ = report::text(&w, "fuzz");
    let _ = report::json(&w);
    let _ = report::sarif(&w);
    let _ = report::html(&w, data, &rules.secret_spans(data));
    let _ = report::github_annotations(&w);
    let signer = HmacSigner::deterministic(SigningMode::Development).expect("dev signer");
    let env = artifact::sign(&v, &signer).expect("signing never fails with an HMAC key");
    assert!(
        artifact::verify(&env, &Keyring::development(SigningMode::Development).expect("dev keyring")).is_ok(),
        "a fresh artifact verifies"
    );

    // The property, under the strict policy and the fail-open one;
    // `allow_empty` changes only what an empty input gives.
    let flags: &[bool] = if data.is_empty() {
        &[false, true]
    } else {
        &[false]
    };
    for &allow_empty in flags {
        for policy in [strict, permissive] {
            let mut inputs = Inputs::new(data, rules, policy, &ctx);
            inputs.allow_empty = allow_empty;
            if evaluate(&inputs).decision() == Decision::Pass {
                assert!(
                    consumed_as_patches(data, allow_empty),
                    "{} passed input that is not wholly patches",
                    policy.id()
                );
            }
        }
    }
});
