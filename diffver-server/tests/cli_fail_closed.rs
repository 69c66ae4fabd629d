//! Issue 11 "Fail closed on every input an attacker controls", through the
//! `diffver` binary: each fixture in `tests/fixtures/fail-closed/` exits 1
//! under `standard` with the finding that closes the bypass.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/fail-closed")
        .join(name)
}

fn scan(name: &str, args: &[&str]) -> (i32, String) {
    let out = Command::cargo_bin("diffver")
        .unwrap()
        .arg("scan")
        .arg(fixture(name))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn each_bypass_fails_under_standard() {
    for (name, rule) in [
        ("binary-workflow-literal.diff", "ci.pr-target-checkout"),
        ("binary-workflow-delta.diff", "verify.binary-sensitive-path"),
        ("double-slash-workflow.diff", "ci.pr-target-checkout"),
        ("traversal-under-fixtures.diff", "verify.path-traversal"),
        (
            "rename-into-workflow.diff",
            "verify.rename-into-sensitive-path",
        ),
        (
            "copy-into-agent-file.diff",
            "verify.rename-into-sensitive-path",
        ),
    ] {
        let (code, out) = scan(name, &["--policy", "standard"]);
        assert_eq!(code, 1, "{name}:\n{out}");
        let line = out
            .lines()
            .find(|l| l.contains(rule))
            .unwrap_or_else(|| panic!("{name}: no {rule}:\n{out}"));
        assert!(line.contains("BLOCK"), "{name}: {line}");
    }
}

#[test]
fn stat_prints_the_path_git_writes() {
    let out = Command::cargo_bin("diffver")
        .unwrap()
        .args(["stat"])
        .arg(fixture("double-slash-workflow.diff"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "9\t0\t.github/workflows/z.yml\n create .github/workflows/z.yml\n"
    );
}

#[test]
fn rename_with_base_dir_scans_the_moved_content() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("docs")).unwrap();
    std::fs::write(
        dir.path().join("docs/ci.yml"),
        "on: pull_request_target\njobs:\n  t:\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n",
    )
    .unwrap();
    let base = dir.path().to_str().unwrap().to_owned();
    let (code, out) = scan("rename-into-workflow.diff", &["--base-dir", &base]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ci.pr-target-checkout"), "{out}");
}

#[test]
fn agent_config_files_block_like_claude_md() {
    for path in ["CLAUDE.md", "GEMINI.md", ".claude/settings.json"] {
        let patch = format!("--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+{{}}\n");
        let out = Command::cargo_bin("diffver")
            .unwrap()
            .args(["scan", "-", "--policy", "standard"])
            .write_stdin(patch)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(1), "{path}:\n{stdout}");
        assert!(stdout.contains("BLOCK"), "{stdout}");
    }
}
