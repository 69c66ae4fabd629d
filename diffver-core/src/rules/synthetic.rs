//! Content that reaches a file without being in the diff's text: a `GIT
//! binary patch` literal that decodes to text, and (with a base tree) the
//! post-image of a rename or copy. The rules read it as if the diff added
//! the whole file at its destination path, so path-scoped rules (workflows,
//! agent instruction files) apply; findings point at the file patch in the
//! real diff, with the line and column in the decoded content.

use super::Ruleset;
use super::engine::{self, ScanOptions};
use crate::diff::{self, Diff, FileOp, FilePatch, Limits, Span};
use crate::finding::{FindingBuilder, Side};
use crate::path_class::PathClasses;
use crate::verify::BaseTree;

/// Writes `path` as an always-quoted `b/` name, so any byte survives.
fn quoted_b_path(path: &[u8]) -> Vec<u8> {
    let mut out = b"\"b/".to_vec();
    for &b in path {
        match b {
            b'"' | b'\\' => {
                out.push(b'\\');
                out.push(b);
            }
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\{b:03o}").as_bytes()),
        }
    }
    out.push(b'"');
    out
}

/// Scans `content` as the whole new content of `f`'s destination. Findings
/// point at `anchor` in the real diff and say where the content came from.
#[allow(clippy::too_many_arguments)]
fn scan_content(
    rs: &Ruleset,
    f: &FilePatch,
    content: &[u8],
    anchor: Span,
    origin: &str,
    chain: &'static str,
    opts: &ScanOptions,
    out: &mut Vec<FindingBuilder>,
) {
    let Some(dest) = f.new_path() else { return };
    if content.is_empty() {
        return;
    }
    let n = content.split(|&b| b == b'\n').count() - usize::from(content.ends_with(b"\n"));
    let mut patch = Vec::with_capacity(content.len() + n + 128);
    patch.extend_from_slice(b"--- /dev/null\n+++ ");
    patch.extend_from_slice(&quoted_b_path(dest.as_bytes()));
    patch.extend_from_slice(format!("\n@@ -0,0 +1,{n} @@\n").as_bytes());
    for line in content.split_inclusive(|&b| b == b'\n') {
        patch.push(b'+');
        patch.extend_from_slice(line);
    }
    if !content.ends_with(b"\n") {
        patch.extend_from_slice(b"\n\\ No newline at end of file\n");
    }
    // The content is bounded already (the decoding limit, or a base file the
    // apply check has read), so no parser limit may make it unscannable: a
    // workflow written as one very long line is still read.
    let Ok(synth) = diff::parse(&patch, &Limits::unbounded()) else {
        return;
    };
    let mut found = Vec::new();
    engine::scan_files(&synth, rs, opts, synth.files(), &mut found);
    for b in found {
        // Path rules already ran on the real file patch.
        if b.side() == Side::Diff {
            continue;
        }
        let mut b = b.span(anchor).path(Some(dest)).decoding(&[chain]);
        b.append_message(&format!(" (in {origin})"));
        out.push(b);
    }
}

/// Scans every `GIT binary patch` literal that decodes to text.
pub(crate) fn scan_binaries(
    diff: &Diff<'_>,
    rs: &Ruleset,
    opts: &ScanOptions,
    out: &mut Vec<FindingBuilder>,
) {
    let mut budget = crate::verify::MAX_TOTAL_DECODED;
    for f in diff.files().iter().filter(|f| f.is_binary()) {
        if crate::finding::full(out) {
            return;
        }
        let Some(Ok(content)) = crate::verify::decode_binary(diff, f, &mut budget) else {
            continue;
        };
        if !diff::binary::is_text(&content) {
            continue;
        }
        let anchor = match f.binary() {
            diff::Binary::Patch { forward, .. } if !forward.data.is_empty() => forward.data,
            _ => f.header_span(),
        };
        scan_content(
            rs,
            f,
            &content,
            anchor,
            "the decoded GIT binary patch",
            "git-binary",
            opts,
            out,
        );
    }
}

/// With a base tree: scans the post-image of every rename or copy whose
/// destination is a sensitive path, or is read by path-scoped rules that do
/// not read its source, with the destination's rules.
pub(crate) fn scan_moves(
    diff: &Diff<'_>,
    rs: &Ruleset,
    base: &dyn BaseTree,
    opts: &ScanOptions,
    out: &mut Vec<FindingBuilder>,
) {
    let mut classes: Option<PathClasses> = None;
    for f in diff.files() {
        if !matches!(f.op(), FileOp::Rename { .. } | FileOp::Copy { .. }) || f.is_binary() {
            continue;
        }
        let (Some(from), Some(to)) = (f.old_path(), f.new_path()) else {
            continue;
        };
        let (src, dst) = (from.normalized_lossy(), to.normalized_lossy());
        let classes = classes.get_or_insert_with(PathClasses::new);
        let newly_read = rs
            .rules
            .iter()
            .any(|r| r.applies_to(&dst) && !r.applies_to(&src));
        if !newly_read && classes.classify(to.as_bytes()).is_none() {
            continue;
        }
        let Some(pre) = base.file(from.as_bytes()) else {
            continue;
        };
        let Ok(post) = crate::verify::apply_to(diff, f, pre) else {
            continue;
        };
        scan_content(
            rs,
            f,
            &post,
            f.header_span(),
            "the post-image of the moved file",
            "post-image",
            opts,
            out,
        );
    }
}
