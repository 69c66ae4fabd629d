//! Apply verification against real git: for every commit of the scratch
//! repository (SHA-1 and SHA-256 object formats), applying the commit's diff to
//! its parent's tree must succeed exactly, and every post-image digest must
//! equal git's blob id of the real file. A tampered hunk and a wrong `index`
//! line must be reported.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/git_compare.rs"]
mod git_compare;
#[path = "support/scratch_repo.rs"]
mod scratch_repo;

use std::collections::BTreeMap;
use std::path::Path;

use diffver::diff::{Limits, parse};
use diffver::verify::{Options, verify};
use git_compare::git;
use sha2::{Digest, Sha256};

/// The tree of `rev` as a path -> content map (blobs and symlinks).
fn tree(repo: &Path, rev: &str) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let listing = git(repo, &["ls-tree", "-r", "-z", rev]).unwrap();
    let mut files = BTreeMap::new();
    for rec in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let tab = rec.iter().position(|&b| b == b'\t').unwrap();
        let meta = String::from_utf8_lossy(&rec[..tab]).into_owned();
        let mut parts = meta.split(' ');
        let (_mode, kind, id) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        if kind == "blob" {
            files.insert(
                rec[tab + 1..].to_vec(),
                git(repo, &["cat-file", "blob", id]).unwrap(),
            );
        }
    }
    files
}

fn check_history(repo: &Path, full_index: bool) -> usize {
    let revs = String::from_utf8(git(repo, &["rev-list", "--reverse", "HEAD"]).unwrap()).unwrap();
    let revs: Vec<&str> = revs.lines().collect();
    let mut verified = 0;
    for pair in revs.windows(2) {
        let (parent, commit) = (pair[0], pair[1]);
        let mut args = vec!["diff-tree", "-p", "-M", "-C", "--binary", "-r"];
        if full_index {
            args.push("--full-index");
        }
        args.extend([parent, commit]);
        let patch = git(repo, &args).unwrap();
        let base = tree(repo, parent);
        let after = tree(repo, commit);
        let parsed = parse(&patch, &Limits::default()).unwrap();
        let report = verify(&parsed, &Options::default().with_base(&base));
        let apply_findings: Vec<_> = report
            .findings()
            .iter()
            .filter(|f| {
                f.category() == diffver::finding::Category::Apply
                    && f.rule_id() != "verify.apply-unverifiable"
            })
            .map(|f| format!("{} {:?} {}", f.rule_id(), f.location().path, f.message()))
            .collect();
        assert!(apply_findings.is_empty(), "{commit}: {apply_findings:?}");
        for img in report.post_images() {
            let real = after
                .get(img.path.as_bytes())
                .unwrap_or_else(|| panic!("{} not in {commit}", img.path));
            let spec = format!("{commit}:{}", String::from_utf8_lossy(img.path.as_bytes()));
            let id = String::from_utf8(git(repo, &["rev-parse", &spec]).unwrap()).unwrap();
            assert_eq!(img.blob_id, id.trim(), "{spec}");
            assert_eq!(img.sha256, diffver_hex(&Sha256::digest(real)), "{spec}");
            assert_eq!(img.size, real.len());
            verified += 1;
        }
    }
    verified
}

fn diffver_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn post_images_equal_git_blob_ids_sha1() {
    let dir = tempfile::tempdir().unwrap();
    scratch_repo::build(dir.path()).unwrap();
    assert!(check_history(dir.path(), false) >= 15);
    assert!(check_history(dir.path(), true) >= 15);
}

#[test]
fn post_images_equal_git_blob_ids_sha256() {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "--object-format=sha256"]).unwrap();
    std::fs::write(dir.path().join("a.txt"), "one\ntwo\nthree\n").unwrap();
    git(dir.path(), &["add", "-A"]).unwrap();
    git(
        dir.path(),
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@e",
            "commit",
            "-qm",
            "a",
        ],
    )
    .unwrap();
    std::fs::write(dir.path().join("a.txt"), "one\n2\nthree\nfour\n").unwrap();
    std::fs::write(dir.path().join("b.txt"), "new\n").unwrap();
    git(dir.path(), &["add", "-A"]).unwrap();
    git(
        dir.path(),
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@e",
            "commit",
            "-qm",
            "b",
        ],
    )
    .unwrap();
    assert_eq!(check_history(dir.path(), true), 2);
    assert_eq!(check_history(dir.path(), false), 2);
}

/// A repository with one modified file; returns (patch, base tree).
fn one_change() -> (tempfile::TempDir, Vec<u8>, BTreeMap<Vec<u8>, Vec<u8>>) {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    git(r, &["init", "-q"]).unwrap();
    let text: String = (1..=20).map(|i| format!("line {i}\n")).collect();
    std::fs::write(r.join("f.txt"), &text).unwrap();
    git(r, &["add", "-A"]).unwrap();
    git(
        r,
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@e",
            "commit",
            "-qm",
            "a",
        ],
    )
    .unwrap();
    std::fs::write(r.join("f.txt"), text.replace("line 10\n", "line ten\n")).unwrap();
    let patch = git(r, &["diff"]).unwrap();
    let base = tree(r, "HEAD");
    (dir, patch, base)
}

fn rule_ids(patch: &[u8], base: &BTreeMap<Vec<u8>, Vec<u8>>) -> Vec<String> {
    let parsed = parse(patch, &Limits::default()).unwrap();
    verify(&parsed, &Options::default().with_base(base))
        .findings()
        .iter()
        .map(|f| f.rule_id().to_owned())
        .collect()
}

#[test]
fn tampered_hunk_is_reported() {
    let (_dir, patch, base) = one_change();
    assert!(rule_ids(&patch, &base).is_empty());
    // A context line that is not in the base: the diff was not made against it.
    let tampered = String::from_utf8(patch)
        .unwrap()
        .replace(" line 8\n", " line 8 (edited)\n");
    assert_eq!(
        rule_ids(tampered.as_bytes(), &base),
        ["verify.apply-failed"]
    );
}

#[test]
fn wrong_index_line_is_reported() {
    let (_dir, patch, base) = one_change();
    let text = String::from_utf8(patch).unwrap();
    let index = text
        .lines()
        .find(|l| l.starts_with("index "))
        .unwrap()
        .to_owned();
    let (old, rest) = index["index ".len()..].split_once("..").unwrap();
    // Claim a different post-image: the added line changes but the id does not.
    let lying = text.replace("+line ten\n", "+line 10 and then some\n");
    assert_eq!(rule_ids(lying.as_bytes(), &base), ["verify.index-mismatch"]);
    // Claim a different pre-image.
    let wrong_old = text.replace(&index, &format!("index {}..{rest}", "0".repeat(6) + "1"));
    assert!(old.len() >= 7);
    assert_eq!(
        rule_ids(wrong_old.as_bytes(), &base),
        ["verify.index-mismatch"]
    );
}

#[test]
fn missing_base_file_is_noted() {
    let (_dir, patch, _) = one_change();
    assert_eq!(rule_ids(&patch, &BTreeMap::new()), ["verify.base-missing"]);
}
