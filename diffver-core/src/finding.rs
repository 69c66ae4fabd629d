//! Findings: what every check and rule reports.
//!
//! A finding is built through [`FindingBuilder`] and sealed by [`finish`], the
//! one place that enforces a finding's invariants: it has a rule id, a
//! severity, a primary location, a safe (escaped) evidence snippet, and a
//! content-based fingerprint; and the list is in a total, deterministic order.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use sha2::{Digest, Sha256};

use crate::diff::{Diff, Line, PatchPath, Span};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; never blocking by itself.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Lower-case name: `info`, `low`, `medium`, `high`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What kind of problem a finding describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Category {
    /// The diff's structure is malformed or self-contradictory.
    Integrity,
    /// A path is unsafe to write or deceptive to read.
    PathSafety,
    /// A file mode creates a hazard (symlink, submodule, executable).
    ModeHazard,
    /// Content that cannot be scanned as text.
    OpaqueContent,
    /// Terminal control sequences that can hide or rewrite what a reviewer sees.
    TerminalEscape,
    /// The diff does not apply to, or does not match, the base it claims.
    Apply,
    /// Text that tries to steer an AI agent or reviewer.
    PromptInjection,
    /// Invisible or deceptive Unicode (bidi controls, zero-width and tag
    /// characters, homoglyphs).
    HiddenUnicode,
    /// Credentials and keys.
    Secret,
    /// Injection into CI workflows (GitHub Actions).
    CiInjection,
    /// Code execution and supply-chain payloads.
    CodeExec,
}

impl Category {
    /// Kebab-case name: `integrity`, `path-safety`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Integrity => "integrity",
            Category::PathSafety => "path-safety",
            Category::ModeHazard => "mode-hazard",
            Category::OpaqueContent => "opaque-content",
            Category::TerminalEscape => "terminal-escape",
            Category::Apply => "apply",
            Category::PromptInjection => "prompt-injection",
            Category::HiddenUnicode => "hidden-unicode",
            Category::Secret => "secret",
            Category::CiInjection => "ci-injection",
            Category::CodeExec => "code-exec",
        }
    }

    /// Every category, in order.
    pub const ALL: [Category; 11] = [
        Category::Integrity,
        Category::PathSafety,
        Category::ModeHazard,
        Category::OpaqueContent,
        Category::TerminalEscape,
        Category::Apply,
        Category::PromptInjection,
        Category::HiddenUnicode,
        Category::Secret,
        Category::CiInjection,
        Category::CodeExec,
    ];

    /// Parses a kebab-case name.
    pub fn from_name(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// How sure a rule is that a match is a real problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Confidence {
    /// Often a false positive; worth a look.
    Low,
    /// Usually right.
    Medium,
    /// Almost always right.
    High,
}

impl Confidence {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// Which side of the diff a location refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// The pre-image (a removed or context line, by its old line number).
    Old,
    /// The post-image (an added or context line, by its new line number).
    New,
    /// The diff text itself (headers, hunk headers, text between hunks).
    Diff,
}

/// Where a finding is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// Display form of the file's path (escaped), if the finding belongs to a file.
    pub path: Option<String>,
    /// The exact path when it is UTF-8 (not escaped: escape before display),
    /// for consumers that address the file (Check Run annotations).
    pub raw_path: Option<String>,
    /// Which side `line` counts on.
    pub side: Side,
    /// 1-based line number in the old or new file (for `Side::Diff`, in the diff input).
    pub line: Option<u32>,
    /// 1-based column in characters (Unicode scalar values) within the line's content.
    pub column: Option<u32>,
    /// 1-based column in bytes within the line's content.
    pub byte_column: Option<u32>,
    /// The span in the diff input that the finding covers.
    pub span: Span,
}

/// The metadata of a check or rule: its stable id, title and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleMeta {
    /// Stable, namespaced id (`verify.hunk-count-mismatch`).
    pub id: &'static str,
    /// One-line title.
    pub title: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// Category.
    pub category: Category,
    /// What it detects and why it matters.
    pub description: &'static str,
}

/// The identity of the rule a finding comes from: a built-in check's
/// [`RuleMeta`], or a loaded rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    /// Stable id.
    pub id: Cow<'static, str>,
    /// One-line title.
    pub title: Cow<'static, str>,
    /// Category.
    pub category: Category,
    /// Default severity.
    pub severity: Severity,
    /// Confidence.
    pub confidence: Confidence,
}

impl From<RuleMeta> for RuleRef {
    fn from(m: RuleMeta) -> RuleRef {
        RuleRef {
            id: Cow::Borrowed(m.id),
            title: Cow::Borrowed(m.title),
            category: m.category,
            severity: m.severity,
            confidence: Confidence::High,
        }
    }
}

/// One reported problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    rule: RuleRef,
    severity: Severity,
    decoding: Vec<&'static str>,
    message: String,
    location: Location,
    evidence: Option<String>,
    fingerprint: String,
    blind: bool,
}

impl Finding {
    /// The rule's stable id.
    pub fn rule_id(&self) -> &str {
        &self.rule.id
    }

    /// The rule's identity (id, title, category, default severity, confidence).
    pub fn rule(&self) -> &RuleRef {
        &self.rule
    }

    /// How sure the rule is.
    pub fn confidence(&self) -> Confidence {
        self.rule.confidence
    }

    /// The decodings that revealed the match, outermost first (`["base64"]`);
    /// empty when it matched the text as written.
    pub fn decoding(&self) -> &[&'static str] {
        &self.decoding
    }

    /// Severity (the rule's default unless the check raised it).
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// Category.
    pub fn category(&self) -> Category {
        self.rule.category
    }

    /// A one-sentence explanation; any input text in it is escaped.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where the finding is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// A short, escaped excerpt of the offending input.
    pub fn evidence(&self) -> Option<&str> {
        self.evidence.as_deref()
    }

    /// A content-based fingerprint (64 hex digits), stable when unrelated lines
    /// move: it hashes the rule id, the path, the offending content and the
    /// occurrence index of that content, never line numbers.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether the fingerprint leaves out the offending value: a secret
    /// found without a fingerprint key is fingerprinted by its length only
    /// (an unkeyed hash of a secret can be guessed), so two secrets of the
    /// same length at the same path share it. Baselines neither record nor
    /// accept such findings.
    pub fn fingerprint_ignores_secret_value(&self) -> bool {
        self.blind
    }
}

/// A finding under construction.
#[derive(Debug, Clone)]
pub(crate) struct FindingBuilder {
    rule: RuleRef,
    severity: Severity,
    decoding: Vec<&'static str>,
    message: String,
    location: Location,
    evidence: Option<String>,
    key: Vec<u8>,
    blind: bool,
}

/// Longest display path kept in a finding.
const MAX_PATH_SHOWN: usize = 1024;

/// Most findings a scan lists. Past it, scanning stops and one
/// `meta.findings-truncated` finding (high) says so: a diff cannot exhaust
/// memory with findings, and a truncated result never passes silently.
pub const MAX_FINDINGS: usize = 100_000;

/// The id of the finding that reports truncation.
pub(crate) const TRUNCATED_ID: &str = "meta.findings-truncated";

/// The finding that reports truncation.
pub(crate) const TRUNCATED: RuleMeta = RuleMeta {
    id: TRUNCATED_ID,
    title: "Too many findings; the rest were not listed",
    severity: Severity::High,
    category: Category::Integrity,
    description: "The diff produced more findings than a scan lists; scanning stopped there.",
};

/// Whether the findings list is full.
pub(crate) fn full(out: &[FindingBuilder]) -> bool {
    out.len() >= MAX_FINDINGS
}

/// Truncates to the cap and adds the truncation finding when it was reached.
pub(crate) fn cap(out: &mut Vec<FindingBuilder>) {
    if out.len() >= MAX_FINDINGS {
        out.truncate(MAX_FINDINGS);
        out.push(
            FindingBuilder::new(
                TRUNCATED,
                Span::default(),
                format!("more than {MAX_FINDINGS} findings; scanning stopped and the rest are not listed"),
            )
            .key(b"truncated"),
        );
    }
}

/// Most bytes of input shown as evidence.
const EVIDENCE_BYTES: usize = 160;

/// Most characters of evidence any finding carries (escaping can make an
/// excerpt of [`EVIDENCE_BYTES`] bytes up to four times longer).
pub const MAX_EVIDENCE_CHARS: usize = 640;

/// Most characters of a finding's message: messages quote input (an
/// identifier, an expression), and a minified line must not make a report
/// print kilobytes of it.
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// `text` cut at `max` characters, with `…` when cut.
fn bounded(mut text: String, max: usize) -> String {
    if let Some((cut, _)) = text.char_indices().nth(max) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// Keeps one finding per rule and hunk line: the first by position (a rule
/// matching twice on one line is one problem). Secrets are exempt: two
/// different keys on one line are two findings, so that baselining one does
/// not hide the other. Applies to `drafts[from..]`.
pub(crate) fn one_per_rule_and_line(drafts: &mut Vec<FindingBuilder>, from: usize) {
    let from = from.min(drafts.len());
    let mut tail = drafts.split_off(from);
    tail.sort_by(|a, b| {
        (
            &a.location.path,
            a.location.side,
            a.location.line,
            &a.rule.id,
            a.location.span,
        )
            .cmp(&(
                &b.location.path,
                b.location.side,
                b.location.line,
                &b.rule.id,
                b.location.span,
            ))
    });
    tail.dedup_by(|later, first| {
        later.location.side != Side::Diff
            && later.location.line.is_some()
            && later.rule.category != Category::Secret
            && later.rule.id == first.rule.id
            && later.location.path == first.location.path
            && later.location.side == first.location.side
            && later.location.line == first.location.line
    });
    drafts.extend(tail);
}

impl FindingBuilder {
    /// Starts a finding for `rule` at a span of the diff with no file or line.
    pub(crate) fn new(
        rule: impl Into<RuleRef>,
        span: Span,
        message: impl Into<String>,
    ) -> FindingBuilder {
        let rule = rule.into();
        FindingBuilder {
            severity: rule.severity,
            rule,
            decoding: Vec::new(),
            message: bounded(message.into(), MAX_MESSAGE_CHARS),
            location: Location {
                path: None,
                raw_path: None,
                side: Side::Diff,
                line: None,
                column: None,
                byte_column: None,
                span,
            },
            evidence: None,
            key: Vec::new(),
            blind: false,
        }
    }

    /// Sets the file the finding belongs to.
    ///
    /// Display paths longer than 1 KiB are shortened (with a hash of the
    /// whole path, so distinct paths stay distinct): a diff cannot make
    /// every finding carry a megabyte of name.
    pub(crate) fn path(mut self, path: Option<&PatchPath>) -> FindingBuilder {
        self.location.raw_path =
            path.and_then(|p| std::str::from_utf8(p.as_bytes()).ok().map(str::to_owned));
        self.location.path = path.map(|p| {
            let full = p.display();
            if full.len() <= MAX_PATH_SHOWN {
                return full;
            }
            let mut cut = MAX_PATH_SHOWN;
            while !full.is_char_boundary(cut) {
                cut -= 1;
            }
            let h = Sha256::digest(p.as_bytes());
            format!("{}…#{}", &full[..cut], crate::hex(&h[..8]))
        });
        self
    }

    /// Points the finding at a hunk line (by its new line number when it has one),
    /// and at `col_byte` bytes into the line's content when given.
    pub(crate) fn at_line(
        mut self,
        diff: &Diff<'_>,
        line: &Line,
        col_byte: Option<usize>,
    ) -> FindingBuilder {
        let (side, no) = match (line.new_line(), line.old_line()) {
            (Some(n), _) => (Side::New, Some(n)),
            (None, o) => (Side::Old, o),
        };
        self.location.side = side;
        self.location.line = no;
        let content = line.content_span();
        if let Some(b) = col_byte {
            let bytes = diff.line_bytes(line);
            let b = b.min(bytes.len());
            let chars = bytes[..b]
                .utf8_chunks()
                .map(|c| c.valid().chars().count() + c.invalid().len())
                .sum::<usize>();
            self.location.column = u32::try_from(chars + 1).ok();
            self.location.byte_column = u32::try_from(b + 1).ok();
            self.location.span = Span::new(content.start + b, content.end);
        } else {
            self.location.span = content;
        }
        self
    }

    /// Points the finding at a line of the diff text itself (headers etc.).
    ///
    /// The line number is resolved when the findings are sealed by [`finish`],
    /// in one pass over the input for all findings.
    pub(crate) fn at_diff_line(mut self, span: Span) -> FindingBuilder {
        self.location.side = Side::Diff;
        self.location.line = None;
        self.location.span = span;
        self
    }

    /// Replaces the message (cut at [`MAX_MESSAGE_CHARS`] characters).
    pub(crate) fn message(mut self, message: impl Into<String>) -> FindingBuilder {
        self.message = bounded(message.into(), MAX_MESSAGE_CHARS);
        self
    }

    /// Adds a note to the message (`… (in the commit message)`), keeping it
    /// within [`MAX_MESSAGE_CHARS`].
    pub(crate) fn append_message(&mut self, note: &str) {
        self.message.push_str(note);
        self.message = bounded(std::mem::take(&mut self.message), MAX_MESSAGE_CHARS);
    }

    /// Records the decodings that revealed the match, outermost first.
    pub(crate) fn decoding(mut self, chain: &[&'static str]) -> FindingBuilder {
        self.decoding = chain.to_vec();
        self
    }

    /// Overrides where the finding points in the input (keeps line and column).
    pub(crate) fn span(mut self, span: Span) -> FindingBuilder {
        self.location.span = span;
        self
    }

    /// Attaches evidence that is already safe to show (escaped and redacted).
    /// It is cut at [`MAX_EVIDENCE_CHARS`] characters, whatever the caller
    /// passes: no report prints an unbounded excerpt.
    pub(crate) fn safe_evidence(mut self, text: String) -> FindingBuilder {
        self.evidence = Some(bounded(text, MAX_EVIDENCE_CHARS));
        self
    }

    /// Which side the location counts on.
    pub(crate) fn side(&self) -> Side {
        self.location.side
    }

    /// The severity currently set.
    pub(crate) fn current_severity(&self) -> Severity {
        self.severity
    }

    /// Raises or lowers the severity from the rule's default.
    pub(crate) fn severity(mut self, s: Severity) -> FindingBuilder {
        self.severity = s;
        self
    }

    /// Attaches an excerpt of the input; it is escaped and truncated here.
    pub(crate) fn evidence(mut self, raw: &[u8]) -> FindingBuilder {
        let cut = &raw[..raw.len().min(EVIDENCE_BYTES)];
        let mut s = crate::text::escape_for_display(cut);
        if cut.len() < raw.len() {
            s.push('…');
        }
        self.evidence = Some(s);
        self
    }

    /// Marks the fingerprint as leaving out the offending value (see
    /// [`Finding::fingerprint_ignores_secret_value`]).
    pub(crate) fn blind_fingerprint(mut self) -> FindingBuilder {
        self.blind = true;
        self
    }

    /// Sets the content that identifies this finding for its fingerprint
    /// (what is wrong, never where it is).
    pub(crate) fn key(mut self, key: impl AsRef<[u8]>) -> FindingBuilder {
        self.key = key.as_ref().to_vec();
        self
    }
}

/// Gives every `Side::Diff` finding the 1-based line number of its span's
/// start, counting newlines once for all of them.
fn resolve_diff_lines(input: &[u8], drafts: &mut [FindingBuilder]) {
    let mut order: Vec<usize> = (0..drafts.len())
        .filter(|&i| drafts[i].location.side == Side::Diff)
        .collect();
    order.sort_by_key(|&i| drafts[i].location.span.start);
    let (mut pos, mut line) = (0usize, 1u64);
    for i in order {
        let at = drafts[i].location.span.start.min(input.len());
        line += memchr::memchr_iter(b'\n', &input[pos..at]).count() as u64;
        pos = at;
        drafts[i].location.line = u32::try_from(line).ok();
    }
}

/// Seals findings: resolves diff line numbers, sorts the findings into their
/// total order and computes fingerprints.
pub(crate) fn finish(diff: &Diff<'_>, mut drafts: Vec<FindingBuilder>) -> Vec<Finding> {
    resolve_diff_lines(diff.input(), &mut drafts);
    drafts.sort_by(|a, b| {
        (&a.location.path, a.location.span, &a.rule.id, &a.message).cmp(&(
            &b.location.path,
            b.location.span,
            &b.rule.id,
            &b.message,
        ))
    });
    drafts.dedup_by(|a, b| {
        a.rule.id == b.rule.id && a.location == b.location && a.message == b.message
    });
    // (rule id, path, content key) -> occurrences so far.
    type Key = (Cow<'static, str>, Option<String>, Vec<u8>);
    let mut seen: BTreeMap<Key, u32> = BTreeMap::new();
    drafts
        .into_iter()
        .map(|d| {
            let slot = seen
                .entry((d.rule.id.clone(), d.location.path.clone(), d.key.clone()))
                .or_insert(0);
            let occurrence = *slot;
            *slot += 1;
            let mut h = Sha256::new();
            h.update(d.rule.id.as_bytes());
            h.update([0]);
            h.update(d.location.path.as_deref().unwrap_or("").as_bytes());
            h.update([0]);
            h.update((d.key.len() as u64).to_le_bytes());
            h.update(&d.key);
            h.update(occurrence.to_le_bytes());
            Finding {
                rule: d.rule,
                severity: d.severity,
                decoding: d.decoding,
                message: d.message,
                location: d.location,
                evidence: d.evidence,
                fingerprint: crate::hex(&h.finalize()),
                blind: d.blind,
            }
        })
        .collect()
}
