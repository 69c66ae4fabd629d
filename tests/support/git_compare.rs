//! Differential comparison of diffver's parse against git's own reading of a
//! commit, shared by `tests/git_differential.rs` and
//! `examples/git_differential.rs`.

#![allow(dead_code, unreachable_pub)]

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use diffver::diff::{self, FileOp, FilePatch, Limits};

/// Runs git in `repo` and returns its standard output.
pub fn git(repo: &Path, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    git_stdin(repo, args, &[])
}

/// Runs git in `repo` with `stdin` and returns its standard output.
pub fn git_stdin(repo: &Path, args: &[&str], stdin: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut child = Command::new("git")
        .args(args)
        .current_dir(repo)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", repo)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run git")?;
    let mut input = child.stdin.take().context("no stdin")?;
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&data));
    let out = child.wait_with_output()?;
    let _ = writer.join();
    if !out.status.success() {
        bail!(
            "git {:?} failed: {}",
            args,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out.stdout)
}

/// One file as git's `--name-status -z` and `--numstat -z` describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub status: String,
    pub paths: Vec<Vec<u8>>,
    pub counts: Option<(usize, usize)>,
}

fn split_z(b: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = b.split(|&c| c == 0).collect();
    if v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

/// Parses `git diff-tree -r --name-status -z` and `--numstat -z` together.
fn git_entries(name_status: &[u8], numstat: &[u8]) -> anyhow::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut it = split_z(name_status).into_iter();
    while let Some(status) = it.next() {
        let status = String::from_utf8_lossy(status).into_owned();
        let n = if status.starts_with('R') || status.starts_with('C') {
            2
        } else {
            1
        };
        let paths = (0..n)
            .map(|_| it.next().map(<[u8]>::to_vec).context("short name-status"))
            .collect::<anyhow::Result<_>>()?;
        entries.push(Entry {
            status,
            paths,
            counts: None,
        });
    }
    let mut it = split_z(numstat).into_iter();
    let mut i = 0;
    while let Some(rec) = it.next() {
        // "added\tdeleted\tpath" or "added\tdeleted\t" followed by old and new.
        let mut parts = rec.splitn(3, |&c| c == b'\t');
        let a = parts.next().unwrap_or_default();
        let d = parts.next().unwrap_or_default();
        let rest = parts.next().unwrap_or_default();
        if rest.is_empty() {
            it.next();
            it.next();
        }
        let parse = |x: &[u8]| {
            std::str::from_utf8(x)
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
        };
        let counts = match (parse(a), parse(d)) {
            (Some(a), Some(d)) => Some((a, d)),
            _ => None,
        };
        if let Some(e) = entries.get_mut(i) {
            e.counts = counts;
        }
        i += 1;
    }
    Ok(entries)
}

fn status_of(f: &FilePatch) -> String {
    match f.op() {
        FileOp::Add => "A".into(),
        FileOp::Delete => "D".into(),
        FileOp::Rename { similarity } => format!("R{:03}", similarity.unwrap_or(0)),
        FileOp::Copy { similarity } => format!("C{:03}", similarity.unwrap_or(0)),
        _ => {
            let kind = |m: Option<diff::Mode>| m.map(|m| m.0 & 0o170000);
            if f.old_mode().is_some() && kind(f.old_mode()) != kind(f.new_mode()) {
                "T".into()
            } else {
                "M".into()
            }
        }
    }
}

/// diffver's view of a patch in git's terms. Git's patch output splits a type
/// change into a deletion and an addition of the same path; they are merged
/// back into one `T` entry as `--name-status` shows it.
fn diffver_entries(patch: &[u8]) -> anyhow::Result<Vec<Entry>> {
    // An empty commit's patch is empty, which git and diffver agree on.
    let parsed = diff::parse(patch, &Limits::unbounded().with_allow_empty(true))?;
    let mut out: Vec<Entry> = Vec::new();
    let files = parsed.files();
    let mut i = 0;
    while i < files.len() {
        let f = &files[i];
        let counts = (!f.is_binary()).then(|| f.line_counts());
        if let Some(g) = files.get(i + 1) {
            let pair = matches!(
                (f.op(), g.op()),
                (FileOp::Delete, FileOp::Add) | (FileOp::Add, FileOp::Delete)
            );
            if pair && f.path() == g.path() {
                let c2 = (!g.is_binary()).then(|| g.line_counts());
                let counts = match (counts, c2) {
                    (Some((a, b)), Some((c, d))) => Some((a + c, b + d)),
                    _ => None,
                };
                out.push(Entry {
                    status: "T".into(),
                    paths: vec![f.path().map(|p| p.as_bytes().to_vec()).unwrap_or_default()],
                    counts,
                });
                i += 2;
                continue;
            }
        }
        let paths = match f.op() {
            FileOp::Rename { .. } | FileOp::Copy { .. } => vec![
                f.old_path()
                    .map(|p| p.as_bytes().to_vec())
                    .unwrap_or_default(),
                f.new_path()
                    .map(|p| p.as_bytes().to_vec())
                    .unwrap_or_default(),
            ],
            _ => vec![f.path().map(|p| p.as_bytes().to_vec()).unwrap_or_default()],
        };
        out.push(Entry {
            status: status_of(f),
            paths,
            counts,
        });
        i += 1;
    }
    Ok(out)
}

/// Compares one commit; returns a description of each disagreement.
pub fn compare_commit(repo: &Path, commit: &str) -> anyhow::Result<Vec<String>> {
    let common = ["-r", "-M", "-C", "--root", "--no-commit-id"];
    let with = |extra: &[&str]| {
        let mut v = vec!["diff-tree"];
        v.extend_from_slice(&common);
        v.extend_from_slice(extra);
        v.push(commit);
        git(repo, &v)
    };
    let patch = with(&["-p", "--binary"])?;
    let ours = diffver_entries(&patch)?;
    let theirs = git_entries(
        &with(&["--name-status", "-z"])?,
        &with(&["--numstat", "-z"])?,
    )?;
    let mut problems = Vec::new();
    if ours.len() != theirs.len() {
        problems.push(format!(
            "{commit}: {} files parsed, git lists {}",
            ours.len(),
            theirs.len()
        ));
    }
    for (o, t) in ours.iter().zip(&theirs) {
        // A binary file renamed or re-moded without content change carries no
        // content in the patch, so nothing in it says it is binary; git's
        // numstat reads the blob and says "-". `git apply --numstat` on the
        // same patch says 0/0, as diffver does.
        let content_free = o.counts == Some((0, 0)) && t.counts.is_none();
        if o != t && !(content_free && o.status == t.status && o.paths == t.paths) {
            problems.push(format!("{commit}: diffver {o:?} != git {t:?}"));
        }
    }
    // The `diffver stat` contract: byte-identical to `git apply --numstat --summary`,
    // also with break detection (`-B`: rewrites with a dissimilarity index).
    if !ours.is_empty() {
        problems.extend(compare_stat(repo, commit, &patch)?);
        problems.extend(compare_stat(
            repo,
            commit,
            &with(&["-p", "--binary", "-B"])?,
        )?);
    }
    Ok(problems)
}

/// Compares `diffver stat` with `git apply --numstat --summary` on one patch.
pub fn compare_stat(repo: &Path, label: &str, patch: &[u8]) -> anyhow::Result<Vec<String>> {
    let git_stat = git_stdin(repo, &["apply", "--numstat", "--summary", "-"], patch)?;
    let parsed = diff::parse(patch, &Limits::unbounded())?;
    let mut mine = diff::stat::numstat(&parsed).into_bytes();
    mine.extend(diff::stat::summary(&parsed));
    if mine == git_stat {
        return Ok(Vec::new());
    }
    Ok(vec![format!(
        "{label}: stat differs from git apply:\n--- git\n{}\n--- diffver\n{}",
        String::from_utf8_lossy(&git_stat),
        String::from_utf8_lossy(&mine)
    )])
}

/// The files `git apply` creates from `patch` in `repo` (a clean repository),
/// as `git ls-files --others` lists them; the working tree is cleaned after.
/// `None` when git refuses the patch.
pub fn applied_paths(repo: &Path, patch: &[u8]) -> anyhow::Result<Option<Vec<Vec<u8>>>> {
    let applied = git_stdin(repo, &["apply", "-"], patch).is_ok();
    let listed = git(repo, &["ls-files", "-z", "--others", "--exclude-standard"])?;
    git(repo, &["clean", "-fdxq"])?;
    if !applied {
        return Ok(None);
    }
    Ok(Some(
        split_z(&listed).into_iter().map(<[u8]>::to_vec).collect(),
    ))
}
