//! End-to-end tests of the `diffver` binary as a process: exit codes, output
//! that never carries raw control characters, clear errors, and the `stat`
//! contract on the sample diffs shipped in the repository.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/diffs")
        .join(name)
}

fn diffver() -> Command {
    Command::cargo_bin("diffver").unwrap()
}

#[test]
fn clean_diff_passes_with_exit_0() {
    let out = diffver()
        .arg("scan")
        .arg(sample("clean.diff"))
        .assert()
        .code(0);
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("PASS: 0 finding(s)"), "{stdout}");
}

#[test]
fn suspicious_diff_fails_with_exit_1_and_no_raw_escapes() {
    let out = diffver()
        .arg("scan")
        .arg(sample("suspicious-pr.diff"))
        .assert()
        .code(1);
    let stdout = out.get_output().stdout.clone();
    assert!(
        !stdout.contains(&0x1b),
        "raw ESC reached the terminal report"
    );
    let stdout = String::from_utf8(stdout).unwrap();
    for id in [
        "verify.hunk-count-mismatch",
        "verify.symlink-escape",
        "verify.terminal-escape",
    ] {
        assert!(stdout.contains(id), "{id} missing from:\n{stdout}");
    }
    assert!(stdout.contains("\\x1b[1A"), "the escape is shown visibly");
    assert!(stdout.contains("FAIL:"));
}

#[test]
fn reads_standard_input_and_threshold_is_configurable() {
    let diff = std::fs::read(sample("suspicious-pr.diff")).unwrap();
    diffver()
        .args(["scan", "-", "--policy", "permissive"])
        .write_stdin(diff.clone())
        .assert()
        .code(0);
    diffver().arg("scan").write_stdin(diff).assert().code(1);
}

#[test]
fn errors_exit_2_with_one_clear_sentence() {
    let out = diffver()
        .args(["scan", "/nonexistent/x.diff"])
        .assert()
        .code(2);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(
        err.starts_with("error: cannot open /nonexistent/x.diff: "),
        "{err}"
    );
    assert!(!err.contains("panicked") && !err.contains("backtrace"));

    let out = diffver()
        .arg("scan")
        .write_stdin("diff --cc f\n")
        .assert()
        .code(2);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains("combined diff"), "{err}");

    let out = diffver()
        .args(["scan", "--max-bytes", "10"])
        .write_stdin("x".repeat(11))
        .assert()
        .code(2);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains("larger than the limit of 10 bytes"), "{err}");

    diffver()
        .args(["scan", "--format", "sometimes"])
        .assert()
        .code(2);
    diffver().arg("frobnicate").assert().code(2);
}

#[test]
fn stat_prints_git_apply_formats() {
    let out = diffver()
        .arg("stat")
        .arg(sample("suspicious-pr.diff"))
        .assert()
        .code(0);
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert_eq!(
        stdout,
        "2\t0\tREADME.md\n1\t0\tdocs/shared\n5\t0\tinstall.sh\n create mode 120000 docs/shared\n create mode 100755 install.sh\n"
    );
    let out = diffver()
        .args(["stat", "--numstat"])
        .arg(sample("clean.diff"))
        .assert()
        .code(0);
    assert_eq!(out.get_output().stdout, b"2\t1\tsrc/lib.rs\n");
}

#[test]
fn base_dir_enables_apply_verification_without_reading_outside_it() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    std::fs::create_dir_all(base.join("src")).unwrap();
    std::fs::write(
        base.join("src/lib.rs"),
        "/// Adds two numbers.\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("secret"), "outside\n").unwrap();
    let out = diffver()
        .arg("scan")
        .arg(sample("clean.diff"))
        .arg("--base-dir")
        .arg(&base)
        .assert();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("verified src/lib.rs blob"), "{stdout}");
    // The sample's index ids are made up: the verifier must say so.
    assert!(stdout.contains("verify.index-mismatch"), "{stdout}");

    // A diff that names a file outside the base directory is not read.
    let escape = "--- a/../secret\n+++ b/../secret\n@@ -1 +1 @@\n-outside\n+changed\n";
    let out = diffver()
        .arg("scan")
        .arg("--base-dir")
        .arg(&base)
        .write_stdin(escape)
        .assert()
        .code(1);
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("verify.path-traversal"), "{stdout}");
    assert!(stdout.contains("verify.base-missing"), "{stdout}");
    assert!(!stdout.contains("verified"), "{stdout}");
}
