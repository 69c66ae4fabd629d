//! Opaque and hostile content: binary data that cannot be scanned, control
//! bytes, invalid UTF-8, lone carriage returns, and terminal escape sequences.

use super::sensitive::Decoded;
use crate::diff::{Binary, Diff, FilePatch, Hunk, Line, LineKind, Span};
use crate::finding::{Category, FindingBuilder, RuleMeta, Severity};

pub(super) const BINARY: RuleMeta = RuleMeta {
    id: "verify.binary-content",
    title: "Binary content that cannot be scanned",
    severity: Severity::Medium,
    category: Category::OpaqueContent,
    description: "A GIT binary patch or a `Binary files … differ` marker: the change cannot be read or scanned as text.",
};

pub(super) const BINARY_MALFORMED: RuleMeta = RuleMeta {
    id: "verify.binary-malformed",
    title: "Malformed GIT binary patch",
    severity: Severity::High,
    category: Category::Integrity,
    description: "A binary patch whose data lines do not match their length prefixes, or with no data at all.",
};

pub(super) const CONTROL: RuleMeta = RuleMeta {
    id: "verify.control-char",
    title: "NUL or control character in an added line",
    severity: Severity::Medium,
    category: Category::OpaqueContent,
    description: "Control bytes in text are invisible to reviewers and confuse tools; NUL makes many tools treat the file as binary.",
};

pub(super) const INVALID_UTF8: RuleMeta = RuleMeta {
    id: "verify.invalid-utf8",
    title: "Invalid UTF-8 in an added line",
    severity: Severity::Low,
    category: Category::OpaqueContent,
    description: "Bytes that are not UTF-8 display differently in different tools and evade text rules.",
};

pub(super) const LONE_CR: RuleMeta = RuleMeta {
    id: "verify.lone-cr",
    title: "Carriage return inside an added line",
    severity: Severity::High,
    category: Category::OpaqueContent,
    description: "A CR that does not end the line returns the terminal cursor to the line start, so what follows overwrites what came before: the shown line hides the real one.",
};

pub(super) const TERMINAL_ESCAPE: RuleMeta = RuleMeta {
    id: "verify.terminal-escape",
    title: "Terminal escape sequence in the diff",
    severity: Severity::High,
    category: Category::TerminalEscape,
    description: "ESC, CSI, OSC or C1 control sequences can hide lines, rewrite text or set hyperlinks when a reviewer runs `git diff` in a terminal.",
};

pub(super) fn check(diff: &Diff<'_>, decoded: &[Decoded], out: &mut Vec<FindingBuilder>) {
    for (i, f) in diff.files().iter().enumerate() {
        // A literal that decodes to text is read by the rules like any added
        // file: it is not opaque (a malformed reverse hunk is still reported).
        binary(f, decoded.get(i) == Some(&Decoded::Text), out);
        for h in f.hunks() {
            if crate::finding::full(out) {
                return;
            }
            for line in h.lines() {
                if line.kind() == LineKind::Added {
                    added_line(diff, f, line, out);
                }
            }
        }
    }
    terminal_escapes(diff, out);
}

fn binary(f: &FilePatch, readable: bool, out: &mut Vec<FindingBuilder>) {
    let (span, malformed) = match f.binary() {
        Binary::No => return,
        Binary::Marker { span } => (*span, false),
        Binary::Patch { forward, reverse } => {
            let bad = !forward.well_formed
                || forward.data.is_empty()
                || reverse.as_ref().is_some_and(|r| !r.well_formed);
            (forward.data, bad)
        }
    };
    let span = if span.is_empty() {
        f.header_span()
    } else {
        span
    };
    if !readable {
        out.push(
            FindingBuilder::new(
                BINARY,
                span,
                "binary content: the change cannot be scanned as text",
            )
            .at_diff_line(span)
            .path(f.path())
            .key(b"binary"),
        );
    }
    if malformed {
        out.push(
            FindingBuilder::new(
                BINARY_MALFORMED,
                span,
                "the binary patch's data lines are malformed or missing",
            )
            .at_diff_line(span)
            .path(f.path())
            .key(b"binary-malformed"),
        );
    }
}

fn added_line(diff: &Diff<'_>, f: &FilePatch, line: &Line, out: &mut Vec<FindingBuilder>) {
    let bytes = diff.line_bytes(line);
    // Fast path: printable ASCII and tabs need no further look.
    if crate::text::is_plain_line(bytes) {
        return;
    }
    let body = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    let at = |rule: RuleMeta, col: usize, msg: String, key: &[u8]| {
        FindingBuilder::new(rule, line.content_span(), msg)
            .at_line(diff, line, Some(col))
            .path(f.path())
            .evidence(bytes)
            .key(key)
    };
    if let Some(i) = body.iter().position(|&b| b == b'\r') {
        out.push(at(
            LONE_CR,
            i,
            "a carriage return inside the line lets the text after it overwrite the text before it in a terminal".to_owned(),
            bytes,
        ));
    }
    // ESC is reported by the terminal-escape check, CR by lone-cr; form feed
    // and vertical tab are page-layout conventions in old source files.
    let is_control =
        |b: u8| (b < 0x20 && !matches!(b, b'\t' | 0x1b | b'\r' | 0x0b | 0x0c)) || b == 0x7f;
    if let Some(i) = body.iter().position(|&b| is_control(b)) {
        let b = body[i];
        let name = if b == 0 {
            "NUL".to_owned()
        } else {
            format!("control character 0x{b:02x}")
        };
        out.push(at(CONTROL, i, format!("{name} in an added line"), &[b]));
    }
    if let Err(e) = std::str::from_utf8(body) {
        let i = e.valid_up_to();
        out.push(at(
            INVALID_UTF8,
            i,
            format!(
                "invalid UTF-8 byte 0x{:02x}",
                body.get(i).copied().unwrap_or(0)
            ),
            bytes,
        ));
    }
}

/// Finds terminal control sequences anywhere in the input (hunk lines of every
/// kind, hunk headings, headers, commit messages, garbage) and reports each
/// affected line once.
fn terminal_escapes(diff: &Diff<'_>, out: &mut Vec<FindingBuilder>) {
    let input = diff.input();
    // End of the line last reported: later hits on it are skipped without
    // searching for its start again (a line of ESC bytes stays linear).
    let mut reported_until = 0usize;
    for i in memchr::memchr3_iter(0x1b, 0xc2, 0x9b, input) {
        if i < reported_until {
            continue;
        }
        if crate::finding::full(out) {
            return;
        }
        let what = match input[i] {
            0x1b => match input.get(i + 1) {
                Some(b'[') => "a CSI sequence (ESC [)",
                Some(b']') => "an OSC sequence (ESC ])",
                Some(b'P') => "a DCS sequence (ESC P)",
                _ => "an ESC character",
            },
            0xc2 => match input.get(i + 1) {
                Some(0x80..=0x9f) => "a C1 control character",
                _ => continue,
            },
            // A raw 0x9b byte is an 8-bit CSI to terminals that accept it,
            // unless it continues a valid UTF-8 character (丛 is E4 B8 9B).
            _ if in_utf8_char(input, i) => continue,
            _ => "an 8-bit CSI byte (0x9b)",
        };
        let line_start = memchr::memrchr(b'\n', &input[..i]).map_or(0, |p| p + 1);
        let line_end = memchr::memchr(b'\n', &input[i..]).map_or(input.len(), |p| i + p);
        reported_until = line_end;
        let line_span = Span::new(line_start, line_end);
        let msg = format!("{what} can hide or rewrite what a reviewer sees in a terminal");
        let key = diff.bytes(line_span);
        let b = match locate(diff, i) {
            Some((f, line)) => FindingBuilder::new(TERMINAL_ESCAPE, line_span, msg)
                .at_line(diff, line, Some(i - line.content_span().start))
                .path(f.path()),
            None => {
                let file = diff
                    .files()
                    .iter()
                    .find(|f| f.span().start <= i && i < f.span().end);
                FindingBuilder::new(TERMINAL_ESCAPE, line_span, msg)
                    .at_diff_line(line_span)
                    .path(file.and_then(FilePatch::path))
            }
        };
        out.push(b.evidence(key).key(key));
    }
}

/// Whether the continuation byte at `i` belongs to a valid UTF-8 character.
fn in_utf8_char(input: &[u8], i: usize) -> bool {
    (1..=3).any(|back| {
        let Some(j) = i.checked_sub(back) else {
            return false;
        };
        let lead = input[j];
        let len = match lead {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => return false,
        };
        j + len > i
            && input
                .get(j..j + len)
                .is_some_and(|c| std::str::from_utf8(c).is_ok())
    })
}

/// The hunk line containing input offset `at`, if any.
fn locate<'d>(diff: &'d Diff<'_>, at: usize) -> Option<(&'d FilePatch, &'d Line)> {
    let files = diff.files();
    let fi = files
        .partition_point(|f| f.span().start <= at)
        .checked_sub(1)?;
    let f = &files[fi];
    let hunks: &[Hunk] = f.hunks();
    let hi = hunks
        .partition_point(|h| h.header_span().start <= at)
        .checked_sub(1)?;
    let lines = hunks[hi].lines();
    let li = lines.partition_point(|l| l.offset() <= at).checked_sub(1)?;
    let line = &lines[li];
    let content = line.content_span();
    (at >= content.start && at <= content.end).then_some((f, line))
}
