//! The typed diff model produced by [`parse`](super::parse).
//!
//! The model borrows nothing from the input: every piece of text is a [`Span`] of
//! byte offsets into the input, resolved through [`Diff::bytes`]. That keeps the
//! model compact (a line costs 24 bytes whatever its length) and lets every
//! finding point at the exact bytes a reviewer would see.

use std::fmt;

/// A half-open byte range `start..end` into the parsed input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    /// Offset of the first byte.
    pub start: usize,
    /// Offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// Builds a span; `end` is clamped so the span is never inverted.
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start,
            end: end.max(start),
        }
    }

    /// Number of bytes covered.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the span covers no bytes.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// A parsed diff: the file patches it contains plus the text around them.
///
/// Produced by [`parse`](super::parse); holds the input it was parsed from so
/// spans can be resolved.
#[derive(Debug, Clone)]
pub struct Diff<'a> {
    pub(crate) input: &'a [u8],
    pub(crate) files: Vec<FilePatch>,
    pub(crate) segments: Vec<Segment>,
    pub(crate) messages: Vec<Span>,
}

impl<'a> Diff<'a> {
    /// The input this diff was parsed from.
    pub fn input(&self) -> &'a [u8] {
        self.input
    }

    /// The file patches, in input order.
    pub fn files(&self) -> &[FilePatch] {
        &self.files
    }

    /// Text that is not part of any hunk or file header: mail headers and commit
    /// messages, trailers, and unrecognised ("garbage") text, in input order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The mail messages of a `git format-patch` series (one span per message,
    /// covering its headers and commit message). Empty for a plain diff.
    pub fn messages(&self) -> &[Span] {
        &self.messages
    }

    /// The input bytes a span covers (empty if the span is out of range).
    pub fn bytes(&self, span: Span) -> &'a [u8] {
        self.input.get(span.start..span.end).unwrap_or(&[])
    }

    /// The content of a diff line: the bytes after its `+`/`-`/` ` marker, without
    /// the line feed. A carriage return before the line feed is kept, because in a
    /// diff of a CRLF file it is part of the file's content.
    pub fn line_bytes(&self, line: &Line) -> &'a [u8] {
        self.bytes(line.content_span())
    }
}

/// What a file patch does to its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileOp {
    /// A new file (`new file mode`, or `--- /dev/null`).
    Add,
    /// A deleted file (`deleted file mode`, or `+++ /dev/null`).
    Delete,
    /// An in-place change of content and/or mode.
    Modify,
    /// A rename, possibly with edits; the similarity index if the header gave one.
    Rename {
        /// `similarity index N%`.
        similarity: Option<u8>,
    },
    /// A copy, possibly with edits; the similarity index if the header gave one.
    Copy {
        /// `similarity index N%`.
        similarity: Option<u8>,
    },
}

/// A git file mode such as `100644`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mode(pub u32);

impl Mode {
    /// A regular, non-executable file.
    pub const REGULAR: Mode = Mode(0o100644);
    /// A regular executable file.
    pub const EXECUTABLE: Mode = Mode(0o100755);
    /// A symbolic link; the "content" is the link target.
    pub const SYMLINK: Mode = Mode(0o120000);
    /// A gitlink: a submodule commit pointer.
    pub const GITLINK: Mode = Mode(0o160000);

    /// Whether this is a symbolic link.
    pub fn is_symlink(self) -> bool {
        self.0 & 0o170000 == 0o120000
    }

    /// Whether this is a gitlink (submodule).
    pub fn is_gitlink(self) -> bool {
        self.0 & 0o170000 == 0o160000
    }

    /// Whether this is a regular file with any execute bit set.
    pub fn is_executable(self) -> bool {
        self.0 & 0o170000 == 0o100000 && self.0 & 0o111 != 0
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06o}", self.0)
    }
}

/// A path named by a patch, after C-unquoting and stripping the `a/`/`b/` prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PatchPath {
    pub(crate) bytes: Vec<u8>,
}

impl PatchPath {
    /// Builds a path from raw bytes (already unquoted and prefix-stripped).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> PatchPath {
        PatchPath {
            bytes: bytes.into(),
        }
    }

    /// The raw bytes of the path. Paths are not assumed to be UTF-8.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// A display form safe to print anywhere: valid UTF-8 is kept, control
    /// characters and invalid bytes are written as escapes (`\x1b`, `\xff`),
    /// and bidi or invisible format characters as `\u{202e}`.
    pub fn display(&self) -> String {
        crate::text::escape_for_display(&self.bytes)
    }

    /// The path the way git quotes it in its output (`core.quotePath` on):
    /// unchanged when it needs no quoting, otherwise C-quoted in double quotes.
    pub fn git_quoted(&self) -> String {
        super::quote::git_quote(&self.bytes)
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

/// The `index <old>..<new> [mode]` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexLine {
    /// Abbreviated or full hex object id of the pre-image blob (all zeros: none).
    pub old: String,
    /// Abbreviated or full hex object id of the post-image blob (all zeros: none).
    pub new: String,
    /// The mode, when old and new modes are equal.
    pub mode: Option<Mode>,
}

/// What is known of a file's content when it cannot be shown as text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Binary {
    /// A text patch (or no content change).
    No,
    /// `Binary files a/x and b/x differ`: content changed, but the diff carries none of it.
    Marker {
        /// The marker line.
        span: Span,
    },
    /// `GIT binary patch`: encoded content that cannot be read as text.
    Patch {
        /// The forward hunk (old to new).
        forward: BinaryHunk,
        /// The reverse hunk (new to old), when present.
        reverse: Option<BinaryHunk>,
    },
}

/// How a binary hunk encodes its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryKind {
    /// The whole deflated content.
    Literal,
    /// A deflated delta against the other side.
    Delta,
}

/// One hunk of a `GIT binary patch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryHunk {
    /// Literal or delta.
    pub kind: BinaryKind,
    /// The inflated size the header declares.
    pub size: u64,
    /// The base85 data lines.
    pub data: Span,
    /// Whether every data line is well formed (length prefix agrees with the line).
    pub well_formed: bool,
}

/// One file's patch: headers, paths, modes and hunks.
#[derive(Debug, Clone)]
pub struct FilePatch {
    pub(crate) span: Span,
    pub(crate) header: Span,
    pub(crate) git: bool,
    pub(crate) message: Option<usize>,
    pub(crate) op: FileOp,
    pub(crate) old_path: Option<PatchPath>,
    pub(crate) new_path: Option<PatchPath>,
    pub(crate) sources: PathSources,
    pub(crate) old_mode: Option<Mode>,
    pub(crate) new_mode: Option<Mode>,
    pub(crate) index: Option<IndexLine>,
    pub(crate) dissimilarity: Option<u8>,
    pub(crate) binary: Binary,
    pub(crate) hunks: Vec<Hunk>,
}

/// Where a file patch's paths were read from. Git refuses a patch whose sources
/// disagree; the verifier reports it, because a reviewer sees one name and
/// `git apply` writes another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathSources {
    /// The two names on the `diff --git` line, when they could be split unambiguously.
    pub git_line: Option<(PatchPath, PatchPath)>,
    /// The `---` name (`None` inside: `/dev/null`).
    pub minus: Option<Option<PatchPath>>,
    /// The `+++` name (`None` inside: `/dev/null`).
    pub plus: Option<Option<PatchPath>>,
    /// `rename from` / `copy from`.
    pub from: Option<PatchPath>,
    /// `rename to` / `copy to`.
    pub to: Option<PatchPath>,
    /// Span of the line each source came from, for locations: git line, `---`, `+++`, from, to.
    pub spans: [Option<Span>; 5],
}

impl FilePatch {
    /// Bytes of the whole file patch, headers through last hunk.
    pub fn span(&self) -> Span {
        self.span
    }

    /// Bytes of the header lines (before the first hunk or binary data).
    pub fn header_span(&self) -> Span {
        self.header
    }

    /// Whether this patch came in git's format (`diff --git`).
    pub fn is_git(&self) -> bool {
        self.git
    }

    /// Index into [`Diff::messages`] of the mail this patch belongs to.
    pub fn message(&self) -> Option<usize> {
        self.message
    }

    /// What the patch does.
    pub fn op(&self) -> FileOp {
        self.op
    }

    /// The pre-image path (`None` for an added file).
    pub fn old_path(&self) -> Option<&PatchPath> {
        self.old_path.as_ref()
    }

    /// The post-image path (`None` for a deleted file).
    pub fn new_path(&self) -> Option<&PatchPath> {
        self.new_path.as_ref()
    }

    /// The path that best names this patch: the new path, else the old one.
    pub fn path(&self) -> Option<&PatchPath> {
        self.new_path.as_ref().or(self.old_path.as_ref())
    }

    /// Where the paths were read from, for consistency checks.
    pub fn path_sources(&self) -> &PathSources {
        &self.sources
    }

    /// The pre-image mode, if the headers gave one.
    pub fn old_mode(&self) -> Option<Mode> {
        self.old_mode
    }

    /// The post-image mode, if the headers gave one.
    pub fn new_mode(&self) -> Option<Mode> {
        self.new_mode
    }

    /// The `index` header.
    pub fn index(&self) -> Option<&IndexLine> {
        self.index.as_ref()
    }

    /// `dissimilarity index N%` (a complete rewrite).
    pub fn dissimilarity(&self) -> Option<u8> {
        self.dissimilarity
    }

    /// Binary status.
    pub fn binary(&self) -> &Binary {
        &self.binary
    }

    /// Whether the content cannot be read as text.
    pub fn is_binary(&self) -> bool {
        !matches!(self.binary, Binary::No)
    }

    /// The text hunks.
    pub fn hunks(&self) -> &[Hunk] {
        &self.hunks
    }

    /// Number of added and removed lines over all hunks.
    pub fn line_counts(&self) -> (usize, usize) {
        self.hunks.iter().fold((0, 0), |(a, r), h| {
            let (ha, hr) = h.line_counts();
            (a + ha, r + hr)
        })
    }
}

/// A line range from a hunk header: `-start,count` or `+start,count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HunkRange {
    /// First line (1-based; for an empty range, the line after which it sits).
    pub start: u32,
    /// Number of lines.
    pub count: u32,
}

/// One `@@ -a,b +c,d @@ heading` hunk and its lines.
#[derive(Debug, Clone)]
pub struct Hunk {
    pub(crate) header: Span,
    pub(crate) old: HunkRange,
    pub(crate) new: HunkRange,
    pub(crate) heading: Span,
    pub(crate) lines: Vec<Line>,
}

impl Hunk {
    /// The header line.
    pub fn header_span(&self) -> Span {
        self.header
    }

    /// The old range the header declares.
    pub fn old_range(&self) -> HunkRange {
        self.old
    }

    /// The new range the header declares.
    pub fn new_range(&self) -> HunkRange {
        self.new
    }

    /// The section heading after the second `@@` (without the separating space).
    pub fn heading(&self) -> Span {
        self.heading
    }

    /// The body lines, in order.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// Added and removed line counts in the body.
    pub fn line_counts(&self) -> (usize, usize) {
        let mut added = 0;
        let mut removed = 0;
        for l in &self.lines {
            match l.kind {
                LineKind::Added => added += 1,
                LineKind::Removed => removed += 1,
                LineKind::Context => {}
            }
        }
        (added, removed)
    }

    /// Old-side and new-side line counts of the body (context counts on both sides).
    pub fn body_counts(&self) -> (u32, u32) {
        let mut old = 0u32;
        let mut new = 0u32;
        for l in &self.lines {
            match l.kind {
                LineKind::Added => new = new.saturating_add(1),
                LineKind::Removed => old = old.saturating_add(1),
                LineKind::Context => {
                    old = old.saturating_add(1);
                    new = new.saturating_add(1);
                }
            }
        }
        (old, new)
    }
}

/// The kind of a hunk body line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LineKind {
    /// ` ` (or an empty line): present on both sides.
    Context,
    /// `+`: present only in the new file.
    Added,
    /// `-`: present only in the old file.
    Removed,
}

/// One hunk body line. 24 bytes, whatever the line's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    pub(crate) start: usize,
    pub(crate) len: u32,
    pub(crate) old_no: u32,
    pub(crate) new_no: u32,
    pub(crate) kind: LineKind,
    pub(crate) flags: u8,
}

// Architecture invariant: a `Line` is 24 bytes whatever its content (it
// points into the input); a field added here must not grow every line.
const _: () = assert!(std::mem::size_of::<Line>() == 24);

impl Line {
    pub(crate) const NO_NEWLINE: u8 = 1;
    pub(crate) const EMPTY_CONTEXT: u8 = 2;
    pub(crate) const UNTERMINATED: u8 = 4;

    /// Context, added or removed.
    pub fn kind(&self) -> LineKind {
        self.kind
    }

    /// Line number in the old file (removed and context lines).
    pub fn old_line(&self) -> Option<u32> {
        (self.old_no != 0).then_some(self.old_no)
    }

    /// Line number in the new file (added and context lines).
    pub fn new_line(&self) -> Option<u32> {
        (self.new_no != 0).then_some(self.new_no)
    }

    /// Offset in the input of the line's first byte (its marker).
    pub fn offset(&self) -> usize {
        self.start
    }

    /// The content bytes: after the marker, without the line feed.
    pub fn content_span(&self) -> Span {
        if self.flags & Self::EMPTY_CONTEXT != 0 {
            return Span::new(self.start, self.start);
        }
        let start = self.start + 1;
        Span::new(start, start + self.len as usize)
    }

    /// Whether a `\ No newline at end of file` marker follows this line: the
    /// file's last line has no line feed.
    pub fn no_newline_at_eof(&self) -> bool {
        self.flags & Self::NO_NEWLINE != 0
    }

    /// Whether the line was an empty line standing for an empty context line
    /// (mailers strip the trailing space; git accepts it).
    pub fn is_bare_empty(&self) -> bool {
        self.flags & Self::EMPTY_CONTEXT != 0
    }
}

/// A stretch of text outside hunks and file headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// What the text is.
    pub kind: SegmentKind,
    /// Where it is.
    pub span: Span,
    /// The file patch it sits inside (for [`SegmentKind::Garbage`] between hunks).
    pub file: Option<usize>,
}

/// The kinds of text outside hunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SegmentKind {
    /// Mail headers and commit message before a patch (`git format-patch`, `git show`),
    /// or any text before the first patch.
    Preamble,
    /// A mail signature (`-- ` and the git version) after a patch.
    Trailer,
    /// Lines `diff -r` writes between files (`diff -ruN a b`, `Only in …`).
    Interstitial,
    /// Text where a hunk or header was expected. Git ignores or rejects it; a
    /// reviewer may still see it.
    Garbage,
    /// Text on a header line beyond what git reads from it: after the value of
    /// an `index`, `old mode`/`new mode`, `new file mode`/`deleted file mode`
    /// or `similarity index` line (or the whole value when it is not one), and
    /// a `\` marker line other than `\ No newline at end of file`. Git
    /// ignores it; readers do not.
    HeaderText,
}
