//! The diff parser: bytes in, [`Diff`] out.
//!
//! The parser is *lenient about structure and strict about resources*. Text it
//! does not recognise, hunks whose bodies disagree with their headers and paths
//! that disagree between headers are all kept in the model (as [`Segment`]s,
//! over-long or short hunks, and [`PathSources`]) for the verifier to report;
//! only limits, combined diffs and input with no patch at all are errors
//! ([`parse_partial`] keeps what was read before one). It never panics: every index is
//! checked, and numbers that overflow make a header unparseable, not a crash.
//!
//! Hunk bodies are read the way `git apply` reads them, by the header's counts.
//! Body-like lines that follow a complete hunk (`+evil`) are kept in the hunk
//! as overflow so they are scanned and reported rather than silently skipped.

use memchr::memchr;

use super::limits::{Limit, Limits};
use super::model::*;
use super::quote::unquote;

/// Why a diff could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A configured limit was exceeded.
    #[error("the diff exceeds the {} limit of {max} (at byte {offset})", .limit.name())]
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// The configured maximum.
        max: usize,
        /// Where in the input the limit was crossed.
        offset: usize,
    },
    /// A combined diff (`diff --cc` / `diff --combined`, from a merge commit).
    #[error(
        "combined diff (a merge's `diff --cc`) at byte {offset} is not supported; diff the merge against one parent instead"
    )]
    CombinedDiff {
        /// Offset of the `diff --cc` line.
        offset: usize,
    },
    /// The input is empty (zero bytes). Accepted only with
    /// [`Limits::with_allow_empty`].
    #[error("the input is empty: there is no patch to verify (allow an empty change explicitly)")]
    Empty,
    /// The input is not empty but holds no patch, as `git apply` says "No
    /// valid patches in input": prose, random bytes, a mail with no diff (a
    /// series' cover letter), or file headers that change nothing.
    #[error(
        "no patch in the input ({bytes} byte(s){}): this is not a diff",
        if *.mails > 0 { format!(", {} mail message(s) without a diff", .mails) } else { String::new() }
    )]
    NoPatch {
        /// Size of the input in bytes.
        bytes: usize,
        /// How many `git format-patch` mail messages it held (a cover letter: 1).
        mails: usize,
    },
}

impl ParseError {
    /// The offset in the input the error points at, when there is one.
    pub fn offset(&self) -> Option<usize> {
        match self {
            ParseError::LimitExceeded { offset, .. } | ParseError::CombinedDiff { offset } => {
                Some(*offset)
            }
            ParseError::Empty | ParseError::NoPatch { .. } => None,
        }
    }
}

/// Parses a diff with the given limits.
///
/// Accepts `git diff`/`git show`/`git diff-tree -p` output with every extended
/// header, `git format-patch` mail series, and plain `diff -u`/`diff -ruN`
/// output; input need not be UTF-8 and may use CRLF line endings.
///
/// # Errors
///
/// [`ParseError::LimitExceeded`] when the input breaks a limit,
/// [`ParseError::CombinedDiff`] for merge diffs, [`ParseError::Empty`] for an
/// empty input (unless [`Limits::with_allow_empty`]) and
/// [`ParseError::NoPatch`] for input that holds no patch. Malformed structure
/// is not an error: it is kept in the model for [`verify`](crate::verify) to
/// report. [`parse_partial`] also returns what was parsed before an error.
///
/// ```
/// use diffver_core::diff::{parse, Limits, ParseError};
/// let d = parse(b"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n", &Limits::default()).unwrap();
/// assert_eq!(d.files()[0].line_counts(), (1, 1));
/// assert!(matches!(parse(b"Approve this PR.\n", &Limits::default()), Err(ParseError::NoPatch { .. })));
/// assert_eq!(parse(b"", &Limits::default()).unwrap_err(), ParseError::Empty);
/// assert!(parse(b"", &Limits::default().with_allow_empty(true)).is_ok());
/// ```
pub fn parse<'a>(input: &'a [u8], limits: &Limits) -> Result<Diff<'a>, ParseError> {
    match parse_partial(input, limits) {
        (d, None) => Ok(d),
        (_, Some(e)) => Err(e),
    }
}

/// Parses a diff and, when it cannot be parsed, also returns everything read
/// before the error: the files that were complete and the text around them.
///
/// A gate scans that partial diff so findings gathered before the error (a
/// private key, then a `diff --cc` line) are reported with the error instead of
/// being dropped. The partial diff of an input that broke
/// [`Limit::InputBytes`] is empty: such an input is not read at all.
///
/// ```
/// use diffver_core::diff::{parse_partial, Limits, ParseError};
/// let input = b"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\ndiff --cc z\n";
/// let (d, err) = parse_partial(input, &Limits::default());
/// assert_eq!(d.files().len(), 1);
/// assert!(matches!(err, Some(ParseError::CombinedDiff { .. })));
/// ```
pub fn parse_partial<'a>(input: &'a [u8], limits: &Limits) -> (Diff<'a>, Option<ParseError>) {
    let empty = |input| Diff {
        input,
        files: Vec::new(),
        segments: Vec::new(),
        messages: Vec::new(),
    };
    if input.len() > limits.max_input_bytes() {
        let e = ParseError::LimitExceeded {
            limit: Limit::InputBytes,
            max: limits.max_input_bytes(),
            offset: limits.max_input_bytes(),
        };
        return (empty(input), Some(e));
    }
    if input.is_empty() {
        return (
            empty(input),
            (!limits.allow_empty()).then_some(ParseError::Empty),
        );
    }
    let mut p = Parser {
        input,
        limits,
        files: Vec::new(),
        segments: Vec::new(),
        messages: Vec::new(),
        hunk_count: 0,
        line_count: 0,
    };
    let mut error = p.run().err();
    if error.is_none() && !p.files.iter().any(is_patch) {
        error = Some(ParseError::NoPatch {
            bytes: input.len(),
            mails: p
                .messages
                .iter()
                .filter(|m| input.get(m.start..m.end).is_some_and(is_mbox_from))
                .count(),
        });
    }
    let diff = Diff {
        input,
        files: p.files,
        segments: p.segments,
        messages: p.messages,
    };
    (diff, error)
}

/// Whether `git apply` would count a file patch as a patch: it has hunks, or,
/// in git's format, binary data or a change of metadata (mode, add, delete,
/// rename, copy). File headers alone (`diff --git a/x b/x`, `--- a/x`/`+++ b/x`
/// with no hunk) are "No valid patches in input".
fn is_patch(f: &FilePatch) -> bool {
    !f.hunks.is_empty()
        || (f.git
            && (!matches!(f.binary, Binary::No)
                || f.op != FileOp::Modify
                || f.old_mode.is_some()
                || f.new_mode.is_some()))
}

/// One physical line: `start..end` excludes the line feed, `next` is the start
/// of the following line.
#[derive(Clone, Copy)]
struct RawLine {
    start: usize,
    end: usize,
    next: usize,
}

struct Parser<'a, 'l> {
    input: &'a [u8],
    limits: &'l Limits,
    files: Vec<FilePatch>,
    segments: Vec<Segment>,
    messages: Vec<Span>,
    hunk_count: usize,
    line_count: usize,
}

/// The marker git writes after a line without a final line feed.
const NO_NEWLINE_MARKER: &[u8] = b"\\ No newline at end of file";

fn strip_cr(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\r").unwrap_or(l)
}

fn is_hex(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(u8::is_ascii_hexdigit)
}

/// `From <40 or 64 hex> ` — the mbox separator `git format-patch` writes.
fn is_mbox_from(l: &[u8]) -> bool {
    let Some(rest) = l.strip_prefix(b"From ") else {
        return false;
    };
    let id_len = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    (id_len == 40 || id_len == 64) && is_hex(&rest[..id_len])
}

fn parse_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

fn parse_mode(s: &[u8]) -> Option<Mode> {
    let s = s.trim_ascii();
    if s.is_empty() || s.len() > 7 || !s.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return None;
    }
    Some(Mode(
        s.iter()
            .fold(0u32, |acc, &d| (acc << 3) | u32::from(d - b'0')),
    ))
}

fn parse_percent(s: &[u8]) -> Option<u8> {
    let s = s.trim_ascii();
    let n = parse_u32(s.strip_suffix(b"%")?)?;
    u8::try_from(n).ok().filter(|&n| n <= 100)
}

/// Length of the octal mode at the start of a header value (0: none).
fn mode_len(v: &[u8]) -> usize {
    let lead = v.iter().take_while(|b| **b == b' ').count();
    let n = v[lead..]
        .iter()
        .take_while(|b| (b'0'..=b'7').contains(*b))
        .count();
    if n == 0 { 0 } else { lead + n }
}

/// Length of the `N%` at the start of a header value (0: none).
fn percent_len(v: &[u8]) -> usize {
    let n = v.iter().take_while(|b| b.is_ascii_digit()).count();
    match v.get(n) {
        Some(b'%') if n > 0 => n + 1,
        _ => 0,
    }
}

/// Length of `<hex>..<hex>[ <mode>]` at the start of an `index` value (0: none).
fn index_len(v: &[u8]) -> usize {
    let hex = |s: &[u8]| s.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let a = hex(v);
    if a == 0 || !v[a..].starts_with(b"..") {
        return 0;
    }
    let b = hex(&v[a + 2..]);
    if b == 0 {
        return 0;
    }
    let ids = a + 2 + b;
    match v.get(ids) {
        Some(b' ') => match mode_len(&v[ids + 1..]) {
            0 => ids,
            m => ids + 1 + m,
        },
        _ => ids,
    }
}

/// Strips the first path component (`a/`, `b/`, `dirA/`), like `git apply -p1`.
fn strip_prefix_component(p: &[u8]) -> &[u8] {
    match memchr(b'/', p) {
        Some(i) if i + 1 < p.len() => &p[i + 1..],
        _ => p,
    }
}

/// Parses a path value (`rename from X`, `--- X`): quoted, or raw to the end.
/// For `---`/`+++` lines a tab ends an unquoted name (a timestamp follows).
fn path_value(v: &[u8], tab_terminates: bool) -> Option<Vec<u8>> {
    if v.first() == Some(&b'"') {
        return unquote(v).map(|(p, _)| p);
    }
    let v = if tab_terminates {
        match memchr(b'\t', v) {
            Some(i) => &v[..i],
            None => v,
        }
    } else {
        v
    };
    let v = if tab_terminates {
        v.trim_ascii_end()
    } else {
        v
    };
    (!v.is_empty()).then(|| v.to_vec())
}

/// A `---`/`+++` name: `None` for `/dev/null`, otherwise the stripped path.
/// The second value tells whether a timestamp after the name is the epoch,
/// which GNU `diff -N` writes for a file that does not exist.
fn marker_path(v: &[u8]) -> (Option<PatchPath>, bool) {
    let epoch = match memchr(b'\t', v) {
        Some(i) if v.first() != Some(&b'"') => {
            let ts = &v[i + 1..];
            ts.starts_with(b"1970-01-01 00:00:00") || ts.starts_with(b"1969-12-31 ")
        }
        _ => false,
    };
    match path_value(v, true) {
        Some(p) if p == b"/dev/null" => (None, epoch),
        Some(p) => (
            Some(PatchPath::from_bytes(strip_prefix_component(&p))),
            epoch,
        ),
        None => (None, epoch),
    }
}

/// Splits the names of a `diff --git A B` line the way git does: quoted names
/// are unambiguous; two unquoted names are accepted only when they agree after
/// stripping their first component (otherwise a rename header must name them).
fn git_line_names(rest: &[u8]) -> Option<(PatchPath, PatchPath)> {
    let strip = |p: &[u8]| PatchPath::from_bytes(strip_prefix_component(p));
    if rest.first() == Some(&b'"') {
        let (a, n) = unquote(rest)?;
        let tail = rest.get(n..)?.strip_prefix(b" ")?;
        let b = if tail.first() == Some(&b'"') {
            let (b, m) = unquote(tail)?;
            if m != tail.len() {
                return None;
            }
            b
        } else {
            tail.to_vec()
        };
        return Some((strip(&a), strip(&b)));
    }
    if rest.last() == Some(&b'"') {
        // Second name quoted: it starts at some ` "` and runs to the end.
        let mut from = 0;
        while let Some(i) = memchr::memmem::find(&rest[from..], b" \"") {
            let at = from + i;
            if let Some((b, m)) = unquote(&rest[at + 1..])
                && at + 1 + m == rest.len()
            {
                return Some((strip(&rest[..at]), strip(&b)));
            }
            from = at + 1;
        }
        return None;
    }
    // Neither quoted: find the split where both sides name the same path.
    for (i, _) in rest.iter().enumerate().filter(|&(_, &b)| b == b' ') {
        let (a, b) = (&rest[..i], &rest[i + 1..]);
        let (sa, sb) = (strip_prefix_component(a), strip_prefix_component(b));
        if sa == sb && !sa.is_empty() {
            return Some((strip(a), strip(b)));
        }
    }
    None
}

/// Length in base85 characters of a `GIT binary patch` data line carrying `n` bytes.
fn base85_line_ok(l: &[u8]) -> bool {
    let Some(&c) = l.first() else {
        return false;
    };
    let n = match c {
        b'A'..=b'Z' => usize::from(c - b'A') + 1,
        b'a'..=b'z' => usize::from(c - b'a') + 27,
        _ => return false,
    };
    let body = &l[1..];
    body.len() == n.div_ceil(4) * 5
        && body
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&()*+-;<=>?@^_`{|}~".contains(&b))
}

impl<'a> Parser<'a, '_> {
    fn line(&self, pos: usize) -> Result<RawLine, ParseError> {
        let rest = &self.input[pos..];
        let (end, next) = match memchr(b'\n', rest) {
            Some(i) => (pos + i, pos + i + 1),
            None => (self.input.len(), self.input.len()),
        };
        if end - pos > self.limits.max_line_bytes() {
            return Err(ParseError::LimitExceeded {
                limit: Limit::LineBytes,
                max: self.limits.max_line_bytes(),
                offset: pos,
            });
        }
        Ok(RawLine {
            start: pos,
            end,
            next,
        })
    }

    /// The line's text without a trailing CR (header matching tolerates CRLF).
    fn text(&self, l: RawLine) -> &'a [u8] {
        strip_cr(&self.input[l.start..l.end])
    }

    fn in_mail(&self) -> bool {
        !self.messages.is_empty()
    }

    /// Whether a traditional `--- X` / `+++ Y` header pair starts at `l`.
    fn is_marker_pair(&self, l: RawLine) -> Result<bool, ParseError> {
        if !self.text(l).starts_with(b"--- ") || l.next >= self.input.len() {
            return Ok(false);
        }
        let n = self.line(l.next)?;
        Ok(self.text(n).starts_with(b"+++ "))
    }

    /// Whether a mail signature (`-- `) starts at `l`.
    fn is_signature(&self, l: RawLine) -> bool {
        self.in_mail() && matches!(self.text(l), b"-- " | b"--")
    }

    /// Lines that end a file patch's hunk list.
    fn is_boundary(&self, l: RawLine) -> Result<bool, ParseError> {
        let t = self.text(l);
        Ok(t.starts_with(b"diff ")
            || t.starts_with(b"Only in ")
            || t.starts_with(b"Common subdirectories: ")
            || is_mbox_from(t)
            || self.is_signature(l)
            || self.is_marker_pair(l)?)
    }

    fn push_segment(&mut self, kind: SegmentKind, span: Span, file: Option<usize>) {
        if span.is_empty() {
            return;
        }
        if let Some(last) = self.segments.last_mut()
            && last.kind == kind
            && last.file == file
            && last.span.end == span.start
        {
            last.span.end = span.end;
            return;
        }
        self.segments.push(Segment { kind, span, file });
    }

    /// Records the text of header line `l` after its value (which starts at
    /// `value_at` in the line and is `value_len` bytes long) as
    /// [`SegmentKind::HeaderText`] of the file being read, unless it is only
    /// white space.
    fn header_text(&mut self, l: RawLine, value_at: usize, value_len: usize) {
        let t = self.text(l);
        let from = (value_at + value_len).min(t.len());
        let rest = &t[from..];
        if rest.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let lead = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let file = self.files.len();
        self.push_segment(
            SegmentKind::HeaderText,
            Span::new(l.start + from + lead, l.start + t.len()),
            Some(file),
        );
    }

    fn push_file(&mut self, f: FilePatch, at: usize) -> Result<(), ParseError> {
        if self.files.len() >= self.limits.max_files() {
            return Err(ParseError::LimitExceeded {
                limit: Limit::Files,
                max: self.limits.max_files(),
                offset: at,
            });
        }
        self.files.push(f);
        Ok(())
    }

    fn run(&mut self) -> Result<(), ParseError> {
        let len = self.input.len();
        let mut pos = 0;
        // The kind of the text run being read between patches.
        let mut text_kind: Option<SegmentKind> = None;
        while pos < len {
            let l = self.line(pos)?;
            let t = self.text(l);
            if t.starts_with(b"diff --git ") {
                text_kind = None;
                pos = self.git_patch(l)?;
                continue;
            }
            if t.starts_with(b"diff --cc ") || t.starts_with(b"diff --combined ") {
                return Err(ParseError::CombinedDiff { offset: pos });
            }
            if self.is_marker_pair(l)? {
                text_kind = None;
                pos = self.traditional_patch(l)?;
                continue;
            }
            if t.starts_with(b"Binary files ") && t.ends_with(b" differ") {
                text_kind = None;
                pos = self.binary_files_line(l)?;
                continue;
            }
            let kind = if is_mbox_from(t) {
                self.messages.push(Span::new(l.start, l.next));
                SegmentKind::Preamble
            } else if self.files.is_empty() {
                if self.messages.is_empty() && text_kind.is_none() {
                    self.messages.push(Span::new(l.start, l.next));
                }
                SegmentKind::Preamble
            } else {
                match text_kind {
                    Some(k @ (SegmentKind::Preamble | SegmentKind::Trailer)) => k,
                    _ if self.is_signature(l) => SegmentKind::Trailer,
                    _ if t.starts_with(b"diff ")
                        || t.starts_with(b"Only in ")
                        || t.starts_with(b"Common subdirectories: ") =>
                    {
                        SegmentKind::Interstitial
                    }
                    _ => SegmentKind::Garbage,
                }
            };
            if kind == SegmentKind::Preamble
                && let Some(m) = self.messages.last_mut()
            {
                m.end = l.next;
            }
            text_kind = Some(kind);
            self.push_segment(kind, Span::new(l.start, l.next), None);
            pos = l.next;
        }
        Ok(())
    }

    fn new_file(&self, start: usize, git: bool) -> FilePatch {
        FilePatch {
            span: Span::new(start, start),
            header: Span::new(start, start),
            git,
            message: self.messages.len().checked_sub(1),
            op: FileOp::Modify,
            old_path: None,
            new_path: None,
            sources: PathSources::default(),
            old_mode: None,
            new_mode: None,
            index: None,
            dissimilarity: None,
            binary: Binary::No,
            hunks: Vec::new(),
        }
    }

    /// `Binary files X and Y differ` outside a git patch (`diff -r` output).
    fn binary_files_line(&mut self, l: RawLine) -> Result<usize, ParseError> {
        let mut f = self.new_file(l.start, false);
        let t = self.text(l);
        let names = t
            .strip_prefix(b"Binary files ")
            .and_then(|r| r.strip_suffix(b" differ"))
            .unwrap_or_default();
        if let Some(i) = memchr::memmem::find(names, b" and ") {
            let a = &names[..i];
            let b = &names[i + 5..];
            let path = |p: &[u8]| {
                (p != b"/dev/null").then(|| PatchPath::from_bytes(strip_prefix_component(p)))
            };
            f.old_path = path(a);
            f.new_path = path(b);
            f.op = match (&f.old_path, &f.new_path) {
                (None, Some(_)) => FileOp::Add,
                (Some(_), None) => FileOp::Delete,
                _ => FileOp::Modify,
            };
        }
        f.binary = Binary::Marker {
            span: Span::new(l.start, l.end),
        };
        f.span = Span::new(l.start, l.next);
        f.header = f.span;
        self.push_file(f, l.start)?;
        Ok(l.next)
    }

    /// A `diff --git` patch: extended headers, then markers, binary data or hunks.
    fn git_patch(&mut self, first: RawLine) -> Result<usize, ParseError> {
        let mut f = self.new_file(first.start, true);
        let rest = &self.text(first)[b"diff --git ".len()..];
        if let Some(names) = git_line_names(rest) {
            f.sources.git_line = Some(names);
            f.sources.spans[0] = Some(Span::new(first.start, first.end));
        }
        let len = self.input.len();
        let mut pos = first.next;
        let mut is_new = false;
        let mut is_delete = false;
        let mut rename = false;
        let mut copy = false;
        let mut similarity = None;
        let mut body = true;
        while pos < len {
            let l = self.line(pos)?;
            let t = self.text(l);
            let span = Some(Span::new(l.start, l.end));
            if let Some(v) = t.strip_prefix(b"old mode ") {
                f.old_mode = parse_mode(v);
                self.header_text(l, t.len() - v.len(), mode_len(v));
            } else if let Some(v) = t.strip_prefix(b"new mode ") {
                f.new_mode = parse_mode(v);
                self.header_text(l, t.len() - v.len(), mode_len(v));
            } else if let Some(v) = t.strip_prefix(b"deleted file mode ") {
                is_delete = true;
                f.old_mode = parse_mode(v);
                self.header_text(l, t.len() - v.len(), mode_len(v));
            } else if let Some(v) = t.strip_prefix(b"new file mode ") {
                is_new = true;
                f.new_mode = parse_mode(v);
                self.header_text(l, t.len() - v.len(), mode_len(v));
            } else if let Some(v) = t
                .strip_prefix(b"rename from ")
                .or_else(|| t.strip_prefix(b"rename old "))
            {
                rename = true;
                f.sources.from = path_value(v, false).map(PatchPath::from_bytes);
                f.sources.spans[3] = span;
            } else if let Some(v) = t
                .strip_prefix(b"rename to ")
                .or_else(|| t.strip_prefix(b"rename new "))
            {
                rename = true;
                f.sources.to = path_value(v, false).map(PatchPath::from_bytes);
                f.sources.spans[4] = span;
            } else if let Some(v) = t.strip_prefix(b"copy from ") {
                copy = true;
                f.sources.from = path_value(v, false).map(PatchPath::from_bytes);
                f.sources.spans[3] = span;
            } else if let Some(v) = t.strip_prefix(b"copy to ") {
                copy = true;
                f.sources.to = path_value(v, false).map(PatchPath::from_bytes);
                f.sources.spans[4] = span;
            } else if let Some(v) = t.strip_prefix(b"similarity index ") {
                similarity = parse_percent(v);
                self.header_text(l, t.len() - v.len(), percent_len(v));
            } else if let Some(v) = t.strip_prefix(b"dissimilarity index ") {
                f.dissimilarity = parse_percent(v);
                self.header_text(l, t.len() - v.len(), percent_len(v));
            } else if let Some(v) = t.strip_prefix(b"index ") {
                f.index = parse_index(v);
                self.header_text(l, t.len() - v.len(), index_len(v));
            } else if t.starts_with(b"--- ") && self.is_marker_pair(l)? {
                pos = self.markers(&mut f, l)?;
                break;
            } else if t.starts_with(b"Binary files ") && t.ends_with(b" differ") {
                f.binary = Binary::Marker {
                    span: Span::new(l.start, l.end),
                };
                pos = l.next;
                body = false;
                break;
            } else if t == b"GIT binary patch" {
                f.header = Span::new(first.start, l.start);
                pos = self.binary_patch(&mut f, l.next)?;
                body = false;
                break;
            } else {
                // Hunks without markers, the next patch, or garbage: the body loop decides.
                break;
            }
            pos = l.next;
        }
        if f.header.is_empty() {
            f.header = Span::new(first.start, pos);
        }
        f.op = if is_new {
            FileOp::Add
        } else if is_delete {
            FileOp::Delete
        } else if rename {
            FileOp::Rename { similarity }
        } else if copy {
            FileOp::Copy { similarity }
        } else {
            FileOp::Modify
        };
        if body {
            pos = self.hunks(&mut f, pos)?;
        }
        resolve_paths(&mut f);
        f.span = Span::new(first.start, pos);
        self.push_file(f, first.start)?;
        Ok(pos)
    }

    /// Reads a `---`/`+++` pair; returns the position after it.
    fn markers(&mut self, f: &mut FilePatch, minus: RawLine) -> Result<usize, ParseError> {
        let plus = self.line(minus.next)?;
        let (old, _) = marker_path(&self.text(minus)[4..]);
        let (new, _) = marker_path(&self.text(plus)[4..]);
        f.sources.minus = Some(old);
        f.sources.plus = Some(new);
        f.sources.spans[1] = Some(Span::new(minus.start, minus.end));
        f.sources.spans[2] = Some(Span::new(plus.start, plus.end));
        f.header = Span::new(f.span.start, plus.next);
        Ok(plus.next)
    }

    /// A traditional (`diff -u`) patch starting at its `---` line.
    fn traditional_patch(&mut self, minus: RawLine) -> Result<usize, ParseError> {
        let mut f = self.new_file(minus.start, false);
        let plus = self.line(minus.next)?;
        let (old, old_epoch) = marker_path(&self.text(minus)[4..]);
        let (new, new_epoch) = marker_path(&self.text(plus)[4..]);
        let pos = self.markers(&mut f, minus)?;
        let pos = self.hunks(&mut f, pos)?;
        let only_hunk = |f: &FilePatch, old_side: bool| {
            f.hunks.len() == 1
                && if old_side {
                    f.hunks[0].old.count == 0
                } else {
                    f.hunks[0].new.count == 0
                }
        };
        f.op = match (&old, &new) {
            (None, Some(_)) => FileOp::Add,
            (Some(_), None) => FileOp::Delete,
            _ if old_epoch && only_hunk(&f, true) => FileOp::Add,
            _ if new_epoch && only_hunk(&f, false) => FileOp::Delete,
            _ => FileOp::Modify,
        };
        resolve_paths(&mut f);
        f.span = Span::new(minus.start, pos);
        self.push_file(f, minus.start)?;
        Ok(pos)
    }

    /// Reads the data of a `GIT binary patch` starting at the `literal`/`delta` line.
    fn binary_patch(&mut self, f: &mut FilePatch, mut pos: usize) -> Result<usize, ParseError> {
        let mut hunks = Vec::new();
        while pos < self.input.len() && hunks.len() < 2 {
            let l = self.line(pos)?;
            let t = self.text(l);
            let (kind, size) = if let Some(v) = t.strip_prefix(b"literal ") {
                (BinaryKind::Literal, v)
            } else if let Some(v) = t.strip_prefix(b"delta ") {
                (BinaryKind::Delta, v)
            } else {
                break;
            };
            let size = std::str::from_utf8(size)
                .ok()
                .and_then(|s| s.parse::<u64>().ok());
            let mut well_formed = size.is_some();
            pos = l.next;
            let data_start = pos;
            let mut data_end = pos;
            while pos < self.input.len() {
                let d = self.line(pos)?;
                let dt = self.text(d);
                pos = d.next;
                if dt.is_empty() {
                    break;
                }
                well_formed &= base85_line_ok(dt);
                data_end = d.end;
            }
            hunks.push(BinaryHunk {
                kind,
                size: size.unwrap_or(0),
                data: Span::new(data_start, data_end),
                well_formed,
            });
        }
        let mut it = hunks.into_iter();
        f.binary = match it.next() {
            Some(forward) => Binary::Patch {
                forward,
                reverse: it.next(),
            },
            None => Binary::Patch {
                forward: BinaryHunk {
                    kind: BinaryKind::Literal,
                    size: 0,
                    data: Span::new(pos, pos),
                    well_formed: false,
                },
                reverse: None,
            },
        };
        Ok(pos)
    }

    /// Reads hunks (and garbage between them) until the next patch boundary.
    fn hunks(&mut self, f: &mut FilePatch, mut pos: usize) -> Result<usize, ParseError> {
        let file_index = self.files.len();
        while pos < self.input.len() {
            let l = self.line(pos)?;
            let t = self.text(l);
            if t.starts_with(b"@@ ") {
                if let Some((old, new, heading)) = parse_hunk_header(t) {
                    if self.hunk_count >= self.limits.max_hunks() {
                        return Err(ParseError::LimitExceeded {
                            limit: Limit::Hunks,
                            max: self.limits.max_hunks(),
                            offset: pos,
                        });
                    }
                    self.hunk_count += 1;
                    let heading = Span::new(l.start + heading, l.start + t.len());
                    pos = self.hunk_body(f, l, old, new, heading)?;
                    continue;
                }
            } else if self.is_boundary(l)? || (f.git && t.starts_with(b"Binary files ")) {
                break;
            }
            self.push_segment(
                SegmentKind::Garbage,
                Span::new(l.start, l.next),
                Some(file_index),
            );
            pos = l.next;
        }
        Ok(pos)
    }

    fn hunk_body(
        &mut self,
        f: &mut FilePatch,
        header: RawLine,
        old: HunkRange,
        new: HunkRange,
        heading: Span,
    ) -> Result<usize, ParseError> {
        let input = self.input;
        let len = input.len();
        let mut rem_old = old.count;
        let mut rem_new = new.count;
        let mut cur_old = old.start.max(1);
        let mut cur_new = new.start.max(1);
        let cap = (u64::from(old.count) + u64::from(new.count)).min(1 << 16);
        let mut lines: Vec<Line> = Vec::with_capacity(usize::try_from(cap).unwrap_or(0));
        let max_line = self.limits.max_line_bytes();
        let mut pos = header.next;
        while pos < len {
            let (end, next) = match memchr(b'\n', &input[pos..]) {
                Some(i) => (pos + i, pos + i + 1),
                None => (len, len),
            };
            if end - pos > max_line {
                return Err(ParseError::LimitExceeded {
                    limit: Limit::LineBytes,
                    max: max_line,
                    offset: pos,
                });
            }
            let first = if end > pos { input[pos] } else { b'\n' };
            let satisfied = rem_old == 0 && rem_new == 0;
            let kind = match first {
                b'\\' => match lines.last_mut() {
                    Some(last) if last.flags & Line::NO_NEWLINE == 0 => {
                        last.flags |= Line::NO_NEWLINE;
                        // Git takes any `\` line of 12 bytes or more as the
                        // marker, so other text rides along unapplied.
                        let text = strip_cr(&input[pos..end]);
                        if text != NO_NEWLINE_MARKER {
                            let file = self.files.len();
                            self.push_segment(
                                SegmentKind::HeaderText,
                                Span::new(pos, pos + text.len()),
                                Some(file),
                            );
                        }
                        pos = next;
                        continue;
                    }
                    _ => break,
                },
                b' ' => LineKind::Context,
                b'+' => LineKind::Added,
                b'-' => LineKind::Removed,
                b'\n' | b'\r' if !satisfied && strip_cr(&input[pos..end]).is_empty() => {
                    LineKind::Context
                }
                _ => break,
            };
            if satisfied {
                // Overflow: body-like lines after a complete hunk. Stop at what
                // is really the next header.
                let raw = RawLine {
                    start: pos,
                    end,
                    next,
                };
                if first == b'-' && (self.is_marker_pair(raw)? || self.is_signature(raw)) {
                    break;
                }
            }
            let mut flags = 0;
            let content_len = if first == b'\n' || first == b'\r' {
                flags |= Line::EMPTY_CONTEXT;
                0
            } else {
                end - pos - 1
            };
            if next == end {
                flags |= Line::UNTERMINATED;
            }
            let (o, n) = match kind {
                LineKind::Context => {
                    let r = (cur_old, cur_new);
                    cur_old = cur_old.saturating_add(1);
                    cur_new = cur_new.saturating_add(1);
                    rem_old = rem_old.saturating_sub(1);
                    rem_new = rem_new.saturating_sub(1);
                    r
                }
                LineKind::Added => {
                    let r = (0, cur_new);
                    cur_new = cur_new.saturating_add(1);
                    rem_new = rem_new.saturating_sub(1);
                    r
                }
                LineKind::Removed => {
                    let r = (cur_old, 0);
                    cur_old = cur_old.saturating_add(1);
                    rem_old = rem_old.saturating_sub(1);
                    r
                }
            };
            self.line_count += 1;
            if self.line_count > self.limits.max_lines() {
                return Err(ParseError::LimitExceeded {
                    limit: Limit::Lines,
                    max: self.limits.max_lines(),
                    offset: pos,
                });
            }
            lines.push(Line {
                start: pos,
                // Bounded by max_line_bytes, which is at most u32::MAX.
                len: u32::try_from(content_len).unwrap_or(u32::MAX),
                old_no: o,
                new_no: n,
                kind,
                flags,
            });
            pos = next;
        }
        // The capacity was the header's upper bound (old + new); a hunk with
        // context uses less. Give the rest back: the model must stay small
        // next to the input.
        if lines.capacity() - lines.len() > lines.len() / 8 {
            lines.shrink_to_fit();
        }
        f.hunks.push(Hunk {
            header: Span::new(header.start, header.end),
            old,
            new,
            heading,
            lines,
        });
        Ok(pos)
    }
}

/// Parses `index <old>..<new>[ <mode>]`.
fn parse_index(v: &[u8]) -> Option<IndexLine> {
    let v = v.trim_ascii();
    let (ids, mode) = match memchr(b' ', v) {
        Some(i) => (&v[..i], parse_mode(&v[i + 1..])),
        None => (v, None),
    };
    let dots = memchr::memmem::find(ids, b"..")?;
    let (old, new) = (&ids[..dots], &ids[dots + 2..]);
    if !is_hex(old) || !is_hex(new) || old.len() > 64 || new.len() > 64 {
        return None;
    }
    Some(IndexLine {
        old: String::from_utf8_lossy(old).to_ascii_lowercase(),
        new: String::from_utf8_lossy(new).to_ascii_lowercase(),
        mode,
    })
}

/// Parses `@@ -a[,b] +c[,d] @@[ heading]`; returns the ranges and the offset of the heading.
fn parse_hunk_header(t: &[u8]) -> Option<(HunkRange, HunkRange, usize)> {
    let rest = t.strip_prefix(b"@@ -")?;
    let (old, rest) = parse_range(rest)?;
    let rest = rest.strip_prefix(b" +")?;
    let (new, rest) = parse_range(rest)?;
    let after = rest.strip_prefix(b" @@")?;
    let mut heading = t.len() - after.len();
    if after.first() == Some(&b' ') {
        heading += 1;
    }
    Some((old, new, heading))
}

fn parse_range(s: &[u8]) -> Option<(HunkRange, &[u8])> {
    let digits = |s: &[u8]| s.iter().take_while(|b| b.is_ascii_digit()).count();
    let n = digits(s);
    let start = parse_u32(&s[..n])?;
    let rest = &s[n..];
    if let Some(r) = rest.strip_prefix(b",") {
        let m = digits(r);
        let count = parse_u32(&r[..m])?;
        Some((HunkRange { start, count }, &r[m..]))
    } else {
        Some((HunkRange { start, count: 1 }, rest))
    }
}

/// Decides the old and new paths from every source, most specific first.
fn resolve_paths(f: &mut FilePatch) {
    // git collapses repeated slashes in these names before using them.
    super::path::squash_sources(&mut f.sources);
    let s = &f.sources;
    let git_old = s.git_line.as_ref().map(|(a, _)| a.clone());
    let git_new = s.git_line.as_ref().map(|(_, b)| b.clone());
    let minus = s.minus.clone().flatten();
    let plus = s.plus.clone().flatten();
    f.old_path = match f.op {
        FileOp::Add => None,
        _ => s.from.clone().or(minus).or(git_old),
    };
    f.new_path = match f.op {
        FileOp::Delete => None,
        _ => s.to.clone().or(plus).or(git_new),
    };
    // A git patch whose markers say /dev/null is an add or delete even without
    // the mode header (a hand-written patch); follow the markers like git does.
    if f.git && f.op == FileOp::Modify {
        if matches!(s.minus, Some(None)) && f.new_path.is_some() {
            f.op = FileOp::Add;
            f.old_path = None;
        } else if matches!(s.plus, Some(None)) && f.old_path.is_some() {
            f.op = FileOp::Delete;
            f.new_path = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[u8]) -> Diff<'_> {
        parse(s, &Limits::default()).unwrap()
    }

    #[test]
    fn git_patch_with_headers_and_hunks() {
        let d = p(b"diff --git a/src/x.rs b/src/x.rs\nindex 83db48f..bf269f4 100644\n--- a/src/x.rs\n+++ b/src/x.rs\n@@ -1,3 +1,3 @@ fn main\n a\n-b\n+c\n d\n");
        let f = &d.files()[0];
        assert_eq!(f.op(), FileOp::Modify);
        assert_eq!(f.new_path().unwrap().as_bytes(), b"src/x.rs");
        assert_eq!(f.index().unwrap().old, "83db48f");
        assert_eq!(f.index().unwrap().mode, Some(Mode::REGULAR));
        let h = &f.hunks()[0];
        assert_eq!(d.bytes(h.heading()), b"fn main");
        let l = h.lines();
        assert_eq!(l.len(), 4);
        assert_eq!((l[1].old_line(), l[1].new_line()), (Some(2), None));
        assert_eq!((l[2].old_line(), l[2].new_line()), (None, Some(2)));
        assert_eq!(d.line_bytes(&l[2]), b"c");
        assert_eq!(l[2].offset(), d.input().len() - 6);
        assert!(d.segments().is_empty());
    }

    #[test]
    fn quoted_and_spaced_paths() {
        let d = p(b"diff --git \"a/\\303\\244 b.txt\" \"b/\\303\\244 b.txt\"\nnew file mode 100644\n--- /dev/null\n+++ \"b/\\303\\244 b.txt\"\n@@ -0,0 +1 @@\n+x\ndiff --git a/my file b/my file\n--- a/my file\n+++ b/my file\n@@ -1 +1 @@\n-a\n+b\n");
        assert_eq!(
            d.files()[0].new_path().unwrap().as_bytes(),
            "\u{e4} b.txt".as_bytes()
        );
        assert_eq!(d.files()[0].op(), FileOp::Add);
        assert_eq!(d.files()[1].new_path().unwrap().as_bytes(), b"my file");
        assert_eq!(
            d.files()[1]
                .path_sources()
                .git_line
                .as_ref()
                .unwrap()
                .0
                .as_bytes(),
            b"my file"
        );
    }

    #[test]
    fn rename_mode_and_binary() {
        let d = p(b"diff --git a/old b/new\nold mode 100644\nnew mode 100755\nsimilarity index 90%\nrename from old\nrename to new\ndiff --git a/img.png b/img.png\nindex 1..2 100644\nBinary files a/img.png and b/img.png differ\n");
        let f = &d.files()[0];
        assert_eq!(
            f.op(),
            FileOp::Rename {
                similarity: Some(90)
            }
        );
        assert_eq!(
            (f.old_mode(), f.new_mode()),
            (Some(Mode::REGULAR), Some(Mode::EXECUTABLE))
        );
        assert_eq!(f.old_path().unwrap().as_bytes(), b"old");
        assert!(matches!(d.files()[1].binary(), Binary::Marker { .. }));
    }

    #[test]
    fn hunk_overflow_is_kept_not_skipped() {
        let d = p(b"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n+hidden\n");
        let h = &d.files()[0].hunks()[0];
        assert_eq!(h.lines().len(), 3);
        assert_eq!(h.body_counts(), (1, 2));
    }

    #[test]
    fn mail_series_and_signature() {
        let d = p(b"From 0123456789012345678901234567890123456789 Mon Sep 17 00:00:00 2001\nSubject: [PATCH 1/2] x\n\nmsg\n---\n x | 1 +\n\ndiff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1,2 @@\n a\n+b\n-- \n2.47.3\n\nFrom 0123456789012345678901234567890123456789 Mon Sep 17 00:00:00 2001\nSubject: [PATCH 2/2] y\n\ndiff --git a/y b/y\n--- a/y\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n-- \n2.47.3\n");
        assert_eq!(d.messages().len(), 2);
        assert_eq!(d.files().len(), 2);
        assert_eq!(d.files()[1].message(), Some(1));
        assert_eq!(d.files()[0].hunks()[0].lines().len(), 2);
        assert!(
            d.segments().iter().all(|s| s.kind != SegmentKind::Garbage),
            "{:?}",
            d.segments()
        );
    }

    #[test]
    fn short_binary_marker_does_not_panic() {
        // Regression: "Binary files differ" matches both the prefix and the
        // suffix but is shorter than the two together.
        // Outside a git patch a lone marker is no patch (as for `git apply`).
        let (d, e) = parse_partial(b"Binary files differ\n", &Limits::default());
        assert!(d.files()[0].is_binary());
        assert!(matches!(e, Some(ParseError::NoPatch { .. })));
        let d = p(b"diff --git a/x b/x\nBinary files differ\r\n");
        assert!(d.files()[0].is_binary());
    }

    #[test]
    fn combined_diff_is_an_error() {
        assert_eq!(
            parse(b"diff --cc x\n", &Limits::default()).unwrap_err(),
            ParseError::CombinedDiff { offset: 0 }
        );
    }

    #[test]
    fn limits_are_errors() {
        let big = b"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-aaaaaaaaaaaaaaaaaaaaaa\n";
        let e = parse(big, &Limits::default().with_max_line_bytes(10)).unwrap_err();
        assert!(matches!(
            e,
            ParseError::LimitExceeded {
                limit: Limit::LineBytes,
                ..
            }
        ));
        let e = parse(big, &Limits::default().with_max_input_bytes(10)).unwrap_err();
        assert!(matches!(
            e,
            ParseError::LimitExceeded {
                limit: Limit::InputBytes,
                ..
            }
        ));
        let two = b"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n--- a/y\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n";
        let e = parse(two, &Limits::default().with_max_files(1)).unwrap_err();
        assert!(matches!(
            e,
            ParseError::LimitExceeded {
                limit: Limit::Files,
                ..
            }
        ));
        let e = parse(two, &Limits::default().with_max_hunks(1)).unwrap_err();
        assert!(matches!(
            e,
            ParseError::LimitExceeded {
                limit: Limit::Hunks,
                ..
            }
        ));
    }

    #[test]
    fn crlf_and_no_newline() {
        let d = p(b"diff --git a/x b/x\r\n--- a/x\r\n+++ b/x\r\n@@ -1 +1 @@\r\n-a\r\n\\ No newline at end of file\r\n+b\r\n");
        let l = d.files()[0].hunks()[0].lines();
        assert!(l[0].no_newline_at_eof());
        assert_eq!(d.line_bytes(&l[1]), b"b\r");
    }

    #[test]
    fn gnu_diff_epoch_means_new_file() {
        let d = p(b"diff -ruN a/n b/n\n--- a/n\t1970-01-01 00:00:00.000000000 +0000\n+++ b/n\t2024-05-01 10:00:00.000000000 +0000\n@@ -0,0 +1 @@\n+x\n");
        assert_eq!(d.files()[0].op(), FileOp::Add);
        assert_eq!(d.files()[0].new_path().unwrap().as_bytes(), b"n");
        assert_eq!(d.segments()[0].kind, SegmentKind::Preamble);
    }
}
