//! `git apply --numstat` and `git apply --summary` views of a diff.
//!
//! These renderers reproduce git's formats byte for byte, so anyone can check
//! diffver's reading of a diff against git's on any repository's history.

use std::fmt::Write as _;

use super::model::{Diff, FileOp, FilePatch};

/// One line per file patch: `added<TAB>removed<TAB>path`, with `-` counts for
/// binary content, and the path C-quoted as git quotes it.
pub fn numstat(diff: &Diff<'_>) -> String {
    let mut out = String::new();
    for f in diff.files() {
        if f.is_binary() {
            out.push_str("-\t-\t");
        } else {
            let (a, r) = f.line_counts();
            let _ = write!(out, "{a}\t{r}\t");
        }
        if let Some(p) = f.path() {
            out.push_str(&p.git_quoted());
        }
        out.push('\n');
    }
    out
}

/// Creations, deletions, renames, copies, rewrites and mode changes, in the
/// format of `git apply --summary`.
pub fn summary(diff: &Diff<'_>) -> String {
    let mut out = String::new();
    for f in diff.files() {
        summary_line(&mut out, f);
    }
    out
}

fn summary_line(out: &mut String, f: &FilePatch) {
    let quoted = |p: Option<&super::PatchPath>| p.map(|p| p.git_quoted()).unwrap_or_default();
    match f.op() {
        FileOp::Add => {
            match f.new_mode() {
                Some(m) => {
                    let _ = write!(out, " create mode {m} ");
                }
                None => out.push_str(" create "),
            }
            out.push_str(&quoted(f.new_path()));
            out.push('\n');
        }
        FileOp::Delete => {
            match f.old_mode() {
                Some(m) => {
                    let _ = write!(out, " delete mode {m} ");
                }
                None => out.push_str(" delete "),
            }
            out.push_str(&quoted(f.old_path()));
            out.push('\n');
        }
        FileOp::Rename { similarity } | FileOp::Copy { similarity } => {
            let verb = if matches!(f.op(), FileOp::Rename { .. }) {
                "rename"
            } else {
                "copy"
            };
            let old = f.old_path().map(|p| p.as_bytes()).unwrap_or_default();
            let new = f.new_path().map(|p| p.as_bytes()).unwrap_or_default();
            // Common prefix up to and including its last '/'.
            let mut common = 0;
            for (i, (a, b)) in old.iter().zip(new).enumerate() {
                if a != b {
                    break;
                }
                if *a == b'/' {
                    common = i + 1;
                }
            }
            let score = similarity.unwrap_or(0);
            let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            if common > 0 {
                let _ = writeln!(
                    out,
                    " {verb} {}{{{} => {}}} ({score}%)",
                    lossy(&old[..common]),
                    lossy(&old[common..]),
                    lossy(&new[common..])
                );
            } else {
                let _ = writeln!(out, " {verb} {} => {} ({score}%)", lossy(old), lossy(new));
            }
            mode_change(out, f, None);
        }
        FileOp::Modify => {
            if let Some(score) = f.dissimilarity() {
                let _ = writeln!(out, " rewrite {} ({score}%)", quoted(f.new_path()));
            }
            mode_change(out, f, Some(quoted(f.new_path())));
        }
    }
}

fn mode_change(out: &mut String, f: &FilePatch, name: Option<String>) {
    if let (Some(o), Some(n)) = (f.old_mode(), f.new_mode())
        && o != n
    {
        match name {
            Some(name) => {
                let _ = writeln!(out, " mode change {o} => {n} {name}");
            }
            None => {
                let _ = writeln!(out, " mode change {o} => {n}");
            }
        }
    }
}
