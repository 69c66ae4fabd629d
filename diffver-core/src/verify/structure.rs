//! Structural checks: does the diff say what its headers say?

use crate::diff::{Binary, Diff, FileOp, FilePatch, PatchPath, SegmentKind, Span};
use crate::finding::{Category, FindingBuilder, RuleMeta, Severity};

pub(super) const HUNK_COUNT_MISMATCH: RuleMeta = RuleMeta {
    id: "verify.hunk-count-mismatch",
    title: "Hunk body disagrees with its header's line counts",
    severity: Severity::High,
    category: Category::Integrity,
    description: "git applies a hunk by the counts in its @@ header; lines beyond them are ignored and a short body is rejected. A reviewer reading the diff sees lines that will not be applied, or the reverse.",
};

pub(super) const HUNK_ORDER: RuleMeta = RuleMeta {
    id: "verify.hunk-order",
    title: "Hunks out of order or overlapping",
    severity: Severity::High,
    category: Category::Integrity,
    description: "Hunks of one file must move forward through it without overlapping; otherwise what is shown and what is applied can differ.",
};

pub(super) const GARBAGE: RuleMeta = RuleMeta {
    id: "verify.garbage",
    title: "Unrecognised text inside the diff",
    severity: Severity::Medium,
    category: Category::Integrity,
    description: "Text between hunks or file patches that is neither header nor hunk. Tools skip it, but people and AI agents reading the diff see it: a place to hide instructions.",
};

pub(super) const MISSING_HUNKS: RuleMeta = RuleMeta {
    id: "verify.missing-hunks",
    title: "File content changes but the diff shows none of it",
    severity: Severity::High,
    category: Category::Integrity,
    description: "A file header whose index line or markers say the content changes, with no hunks and no binary data.",
};

pub(super) const INCONSISTENT_PATHS: RuleMeta = RuleMeta {
    id: "verify.inconsistent-paths",
    title: "Headers name different files",
    severity: Severity::High,
    category: Category::Integrity,
    description: "The diff --git line, the ---/+++ markers and the rename/copy headers disagree on the file's name, or no name can be found: a reviewer sees one file while another is written.",
};

pub(super) const HEADER_TEXT: RuleMeta = RuleMeta {
    id: "verify.header-text",
    title: "Unexpected text on a header line",
    severity: Severity::Medium,
    category: Category::Integrity,
    description: "Text after the value of an index, mode or similarity header, or a \\ marker line that is not \\ No newline at end of file. Git reads the value and ignores the rest; people and AI agents reading the diff see it.",
};

pub(super) fn check(diff: &Diff<'_>, out: &mut Vec<FindingBuilder>) {
    for seg in diff.segments() {
        if seg.kind != SegmentKind::HeaderText {
            continue;
        }
        let text = diff.bytes(seg.span);
        let path = seg
            .file
            .and_then(|i| diff.files().get(i))
            .and_then(FilePatch::path);
        let what = if text.starts_with(b"\\") {
            "a \\ marker line carries text other than \"No newline at end of file\""
        } else {
            "text after a header's value"
        };
        out.push(
            FindingBuilder::new(
                HEADER_TEXT,
                seg.span,
                format!("{what}; git ignores it, readers do not"),
            )
            .at_diff_line(seg.span)
            .path(path)
            .evidence(text)
            .key(text),
        );
    }
    for f in diff.files() {
        hunks(diff, f, out);
        missing_hunks(diff, f, out);
        inconsistent_paths(diff, f, out);
    }
    for seg in diff.segments() {
        if seg.kind != SegmentKind::Garbage {
            continue;
        }
        let text = diff.bytes(seg.span);
        let path = seg
            .file
            .and_then(|i| diff.files().get(i))
            .and_then(FilePatch::path);
        let blank = text.iter().all(u8::is_ascii_whitespace);
        let lines = memchr::memchr_iter(b'\n', text).count().max(1);
        let msg = if blank {
            format!("{lines} blank line(s) where a hunk or header was expected")
        } else {
            format!(
                "{lines} line(s) of text where a hunk or header was expected; git ignores them, readers do not"
            )
        };
        let sev = if blank {
            Severity::Info
        } else {
            GARBAGE.severity
        };
        out.push(
            FindingBuilder::new(GARBAGE, seg.span, msg)
                .at_diff_line(seg.span)
                .path(path)
                .severity(sev)
                .evidence(text)
                .key(text),
        );
    }
}

fn hunks(diff: &Diff<'_>, f: &FilePatch, out: &mut Vec<FindingBuilder>) {
    let mut prev: Option<(u64, u64, u64, u64)> = None;
    for h in f.hunks() {
        let (o, n) = (h.old_range(), h.new_range());
        let (bo, bn) = h.body_counts();
        let header = diff.bytes(h.header_span());
        if (bo, bn) != (o.count, n.count) {
            let msg = format!(
                "hunk header declares {} old and {} new lines but its body has {bo} old and {bn} new lines",
                o.count, n.count
            );
            out.push(
                FindingBuilder::new(HUNK_COUNT_MISMATCH, h.header_span(), msg)
                    .at_diff_line(h.header_span())
                    .path(f.path())
                    .evidence(header)
                    .key(format!("{}:{}:{}:{}", o.count, n.count, bo, bn)),
            );
        }
        // Effective half-open intervals; an empty range sits after its start line.
        let interval = |start: u32, count: u32| {
            let s = u64::from(start) + u64::from(count == 0);
            (s, s + u64::from(count))
        };
        let (os, oe) = interval(o.start, o.count);
        let (ns, ne) = interval(n.start, n.count);
        if let Some((_, poe, _, pne)) = prev
            && (os < poe || ns < pne)
        {
            let msg =
                "hunk starts before the end of the previous hunk (out of order or overlapping)";
            out.push(
                FindingBuilder::new(HUNK_ORDER, h.header_span(), msg)
                    .at_diff_line(h.header_span())
                    .path(f.path())
                    .evidence(header)
                    .key(header),
            );
        }
        prev = Some((os, oe, ns, ne));
    }
}

/// The blob ids of empty content, in both object formats.
const EMPTY_BLOBS: [&str; 2] = [
    "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
    "473a0f4c3be8a93681a267e3b1e9a7dcda1185436fe141f7749120a303721813",
];

fn is_empty_blob(id: &str) -> bool {
    id.len() >= 4 && EMPTY_BLOBS.iter().any(|e| e.starts_with(id))
}

fn is_zero(id: &str) -> bool {
    id.bytes().all(|b| b == b'0')
}

fn missing_hunks(diff: &Diff<'_>, f: &FilePatch, out: &mut Vec<FindingBuilder>) {
    if !f.hunks().is_empty() || !matches!(f.binary(), Binary::No) {
        return;
    }
    let gitlink = f
        .new_mode()
        .or(f.old_mode())
        .or(f.index().and_then(|i| i.mode));
    if gitlink.is_some_and(|m| m.is_gitlink()) {
        return;
    }
    let changed = match f.index() {
        Some(ix) => {
            ix.old != ix.new
                && !(is_zero(&ix.old) && is_empty_blob(&ix.new))
                && !(is_empty_blob(&ix.old) && is_zero(&ix.new))
        }
        // Markers announce content; a plain diff's markers always come with hunks.
        None => f.path_sources().minus.is_some() && !(f.is_git() && f.op() != FileOp::Modify),
    };
    if changed {
        out.push(
            FindingBuilder::new(
                MISSING_HUNKS,
                f.header_span(),
                "the headers say the content changes, but the diff carries no hunks",
            )
            .at_diff_line(f.header_span())
            .path(f.path())
            .evidence(first_line(diff.bytes(f.header_span())))
            .key(diff.bytes(f.header_span())),
        );
    }
}

fn first_line(b: &[u8]) -> &[u8] {
    match memchr::memchr(b'\n', b) {
        Some(i) => &b[..i],
        None => b,
    }
}

fn inconsistent_paths(diff: &Diff<'_>, f: &FilePatch, out: &mut Vec<FindingBuilder>) {
    let s = f.path_sources();
    let mut report = |span: Option<Span>, msg: String| {
        let span = span.unwrap_or(f.header_span());
        out.push(
            FindingBuilder::new(INCONSISTENT_PATHS, span, msg)
                .at_diff_line(span)
                .path(f.path())
                .evidence(first_line(diff.bytes(span)))
                .key(diff.bytes(span)),
        );
    };
    if f.old_path().is_none() && f.new_path().is_none() {
        report(
            None,
            "no file name could be determined from the headers".to_owned(),
        );
        return;
    }
    let differs = |a: Option<&PatchPath>, b: Option<&PatchPath>| matches!((a, b), (Some(a), Some(b)) if a != b);
    let (git_old, git_new) = match &s.git_line {
        Some((a, b)) => (Some(a), Some(b)),
        None => (None, None),
    };
    let minus = s.minus.as_ref().and_then(Option::as_ref);
    let plus = s.plus.as_ref().and_then(Option::as_ref);
    let checks = [
        (s.spans[1], minus, git_old.or(s.from.as_ref()), "---"),
        (s.spans[2], plus, git_new.or(s.to.as_ref()), "+++"),
        (s.spans[3], s.from.as_ref(), git_old, "rename/copy from"),
        (s.spans[4], s.to.as_ref(), git_new, "rename/copy to"),
    ];
    for (span, a, b, what) in checks {
        if differs(a, b) {
            let (a, b) = (a.map(PatchPath::display), b.map(PatchPath::display));
            report(
                span,
                format!(
                    "the {what} header names \"{}\" but the file is \"{}\"",
                    a.unwrap_or_default(),
                    b.unwrap_or_default()
                ),
            );
        }
    }
    if f.is_git() {
        match f.op() {
            FileOp::Add if minus.is_some() => report(
                s.spans[1],
                "a new file's --- header names an existing file instead of /dev/null".to_owned(),
            ),
            FileOp::Delete if plus.is_some() => report(
                s.spans[2],
                "a deleted file's +++ header names a file instead of /dev/null".to_owned(),
            ),
            _ => {}
        }
    }
}
