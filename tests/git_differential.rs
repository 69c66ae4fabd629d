//! Differential tests against real git: for every commit of a scratch
//! repository, diffver's parse of `git diff-tree -p -M -C --binary` must agree
//! with `git diff-tree --numstat` and `--name-status` (paths, status, counts),
//! and `diffver stat` must equal `git apply --numstat --summary` byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/git_compare.rs"]
mod git_compare;
#[path = "support/scratch_repo.rs"]
mod scratch_repo;

use git_compare::{compare_commit, compare_stat, git};

#[test]
fn parse_agrees_with_git_on_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    scratch_repo::build(dir.path()).unwrap();
    let revs = git(dir.path(), &["rev-list", "--reverse", "HEAD"]).unwrap();
    let revs = String::from_utf8(revs).unwrap();
    let mut problems = Vec::new();
    let mut n = 0;
    for rev in revs.lines() {
        problems.extend(compare_commit(dir.path(), rev).unwrap());
        n += 1;
    }
    assert_eq!(n, 6);
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn format_patch_series_and_git_show_agree_with_git_apply() {
    let dir = tempfile::tempdir().unwrap();
    scratch_repo::build(dir.path()).unwrap();
    let series = git(
        dir.path(),
        &[
            "format-patch",
            "--stdout",
            "-M",
            "-C",
            "--binary",
            "--root",
            "HEAD",
        ],
    )
    .unwrap();
    let problems = compare_stat(dir.path(), "format-patch", &series).unwrap();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let parsed = diffver::diff::parse(&series, &diffver::diff::Limits::default()).unwrap();
    assert_eq!(parsed.messages().len(), 6, "one mail per commit");
    assert!(parsed.files().iter().all(|f| f.message().is_some()));
    assert!(
        parsed
            .segments()
            .iter()
            .all(|s| s.kind != diffver::diff::SegmentKind::Garbage),
        "a format-patch series has no garbage: {:?}",
        parsed.segments()
    );
    for rev in ["HEAD", "HEAD~1", "HEAD~2", "HEAD~3"] {
        let show = git(dir.path(), &["show", "--binary", "-M", "-C", rev]).unwrap();
        let problems = compare_stat(dir.path(), rev, &show).unwrap();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}

/// Issue 11, item 4: `git apply` collapses repeated slashes in the names it
/// reads from `---`/`+++` and rename/copy lines (not in `diff --git` names)
/// and keeps `.` components. `diffver stat` must print what git prints, and
/// the normalised path diffver matches rules against must be the file git
/// writes.
#[test]
fn doubled_slashes_and_dot_components_agree_with_git() {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "."]).unwrap();
    let add = |name: &str| format!("--- /dev/null\n+++ b/{name}\n@@ -0,0 +1 @@\n+x\n");
    let cases: Vec<String> = vec![
        add(".github//workflows/z.yml"),
        add(".cursor//rules/x.mdc"),
        add(".github///copilot-instructions.md"),
        add("x/./y.md"),
        add("./x/y.md"),
        format!(
            "diff --git a/.github/workflows/z.yml b/.github/workflows/z.yml\nnew file mode 100644\n{}",
            add(".github//workflows/z.yml")
        ),
        "diff --git a/.github//workflows/z.yml b/.github//workflows/z.yml\nnew file mode 100644\n"
            .to_owned(),
        "diff --git a/x b/.github//workflows/z.yml\nsimilarity index 100%\nrename from x\nrename to .github//workflows/z.yml\n"
            .to_owned(),
        "diff --git a/x b/.github//workflows/z.yml\nsimilarity index 100%\ncopy from x\ncopy to .github/workflows/z.yml\n"
            .to_owned(),
    ];
    let mut problems = Vec::new();
    for (i, patch) in cases.iter().enumerate() {
        problems.extend(compare_stat(dir.path(), &format!("case {i}"), patch.as_bytes()).unwrap());
        let parsed =
            diffver::diff::parse(patch.as_bytes(), &diffver::diff::Limits::default()).unwrap();
        let mine: Vec<Vec<u8>> = parsed
            .files()
            .iter()
            .filter_map(|f| f.new_path().map(|p| p.normalized().into_owned()))
            .collect();
        if let Some(written) = git_compare::applied_paths(dir.path(), patch.as_bytes()).unwrap()
            && written != mine
        {
            problems.push(format!(
                "case {i}: git wrote {:?}, diffver matches {:?}",
                written
                    .iter()
                    .map(|p| String::from_utf8_lossy(p))
                    .collect::<Vec<_>>(),
                mine.iter()
                    .map(|p| String::from_utf8_lossy(p))
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
