//! Replays every input saved under `fuzz/regressions/<target>/` through the
//! code its fuzz target exercises. A crash or hang a fuzzer finds is saved
//! there and stays a regression test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use diffver_core::artifact::wire::VerdictV2;
use diffver_core::artifact::{self, HmacSigner, Keyring, SigningMode};
use diffver_core::diff::{Limits, parse_partial, stat};
use diffver_core::policy::Policy;
use diffver_core::report;
use diffver_core::rules::Ruleset;
use diffver_core::suppress::{Baseline, Timestamp};
use diffver_core::verdict::{Inputs, ScanContext, evaluate};
use diffver_core::verify::{Options, verify};

fn inputs(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().is_some_and(|n| n != ".keep") {
            out.push(std::fs::read(p).unwrap());
        }
    }
    out
}

#[test]
fn parse_regressions() {
    for data in inputs("parse") {
        let limits = Limits::default().with_max_line_bytes(1 << 16);
        let (d, error) = parse_partial(&data, &limits);
        if error.is_none() {
            let _ = stat::numstat(&d);
            let _ = stat::summary(&d);
        }
        let _ = verify(&d, &Options::default());
    }
}

#[test]
fn scan_regressions() {
    let rules = Ruleset::builtin();
    let policy = Policy::builtin("strict").unwrap();
    let ctx =
        ScanContext::new("fuzz", Timestamp::from_unix_seconds(1_790_000_000).unwrap()).unwrap();
    for data in inputs("scan") {
        let v = evaluate(&Inputs::new(&data, &rules, &policy, &ctx));
        let w = VerdictV2::from_verdict(&v);
        let _ = (
            report::json(&w),
            report::sarif(&w),
            report::html(&w, &data, &rules.secret_spans(&data)),
            report::github_annotations(&w),
        );
        let env = artifact::sign(
            &v,
            &HmacSigner::deterministic(SigningMode::Development).unwrap(),
        )
        .unwrap();
        assert!(
            artifact::verify(
                &env,
                &Keyring::development(SigningMode::Development).expect("dev keyring")
            )
            .is_ok()
        );
    }
}

#[test]
fn loader_regressions() {
    for data in inputs("load_rules_policy") {
        let Ok(text) = std::str::from_utf8(&data) else {
            continue;
        };
        if let Ok(rs) = Ruleset::from_toml(text, "r") {
            let _ = rs.check_examples();
        }
        let _ = Policy::from_toml(text, "p");
        let _ = Policy::from_json(text, "p");
        let _ = Baseline::from_json(text);
    }
}

#[test]
fn verify_regressions() {
    for data in inputs("verify_artifact") {
        let _ = artifact::verify(
            &data,
            &Keyring::development(SigningMode::Development).unwrap(),
        );
    }
}
