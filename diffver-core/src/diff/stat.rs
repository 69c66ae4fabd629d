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
///
/// Git writes these names raw, unquoted, so the result is bytes: a path may
/// hold any byte but NUL and `/`. Escape it before showing it on a terminal.
pub fn summary(diff: &Diff<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    for f in diff.files() {
        summary_line(&mut out, f);
    }
    out
}

fn summary_line(out: &mut Vec<u8>, f: &FilePatch) {
    let raw = |p: Option<&super::PatchPath>| p.map(|p| p.as_bytes().to_vec()).unwrap_or_default();
    let mode_line = |out: &mut Vec<u8>, verb: &str, mode: Option<super::Mode>, name: Vec<u8>| {
        match mode {
            Some(m) => out.extend_from_slice(format!(" {verb} mode {m} ").as_bytes()),
            None => out.extend_from_slice(format!(" {verb} ").as_bytes()),
        }
        out.extend_from_slice(&name);
        out.push(b'\n');
    };
    match f.op() {
        FileOp::Add => mode_line(out, "create", f.new_mode(), raw(f.new_path())),
        FileOp::Delete => mode_line(out, "delete", f.old_mode(), raw(f.old_path())),
        FileOp::Rename { similarity } | FileOp::Copy { similarity } => {
            let verb = if matches!(f.op(), FileOp::Rename { .. }) {
                "rename"
            } else {
                "copy"
            };
            let old = raw(f.old_path());
            let new = raw(f.new_path());
            // Common prefix up to and including its last '/'.
            let mut common = 0;
            for (i, (a, b)) in old.iter().zip(&new).enumerate() {
                if a != b {
                    break;
                }
                if *a == b'/' {
                    common = i + 1;
                }
            }
            let score = similarity.unwrap_or(0);
            out.extend_from_slice(format!(" {verb} ").as_bytes());
            if common > 0 {
                out.extend_from_slice(&old[..common]);
                out.push(b'{');
                out.extend_from_slice(&old[common..]);
                out.extend_from_slice(b" => ");
                out.extend_from_slice(&new[common..]);
                out.push(b'}');
            } else {
                out.extend_from_slice(&old);
                out.extend_from_slice(b" => ");
                out.extend_from_slice(&new);
            }
            out.extend_from_slice(format!(" ({score}%)\n").as_bytes());
            mode_change(out, f, None);
        }
        FileOp::Modify => {
            // As git: a rewrite line only for a non-zero score, and then the
            // mode change without the name.
            match f.dissimilarity() {
                Some(score) if score > 0 => {
                    out.extend_from_slice(b" rewrite ");
                    out.extend_from_slice(&raw(f.new_path()));
                    out.extend_from_slice(format!(" ({score}%)\n").as_bytes());
                    mode_change(out, f, None);
                }
                _ => mode_change(out, f, Some(raw(f.new_path()))),
            }
        }
    }
}

fn mode_change(out: &mut Vec<u8>, f: &FilePatch, name: Option<Vec<u8>>) {
    if let (Some(o), Some(n)) = (f.old_mode(), f.new_mode())
        && o != n
    {
        out.extend_from_slice(format!(" mode change {o} => {n}").as_bytes());
        if let Some(name) = name {
            out.push(b' ');
            out.extend_from_slice(&name);
        }
        out.push(b'\n');
    }
}
