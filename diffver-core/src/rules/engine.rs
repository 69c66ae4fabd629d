//! The matching engine: runs a compiled [`Ruleset`] over a diff.
//!
//! Per hunk, one Aho-Corasick pass over the hunk's bytes finds every keyword
//! (ASCII case-insensitive); a rule's confirmation regex runs only on the
//! lines (or the window of lines, for multi-line rules) where one of its
//! keywords hit. Lines that are not plain printable ASCII take the slow path:
//! Unicode detectors, and a normalised view that phrase rules match too.
//! Lines with long encoded runs are decoded (recursively, bounded) and what is
//! revealed is scanned by the rules that ask for it.

use hmac::{Hmac, Mac};
use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input, PatternSet};
use sha2::Sha256;

use super::Ruleset;
use super::decode::{self, Decoder};
use super::deobfuscate;
use super::detectors::{self, Detector};
use super::normalize;
use super::rule::{Rule, Scope};
use super::shell;
use crate::diff::{Diff, FilePatch, Hunk, Line, LineKind, SegmentKind, Span};
use crate::finding::{Category, FindingBuilder, Severity};

/// Scan settings that come from the caller.
#[derive(Clone, Default)]
pub struct ScanOptions {
    fingerprint_key: Option<Vec<u8>>,
    threads: usize,
}

impl std::fmt::Debug for ScanOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanOptions")
            .field(
                "fingerprint_key",
                &self.fingerprint_key.as_ref().map(|_| "<set>"),
            )
            .finish()
    }
}

impl ScanOptions {
    /// Sets the key secret material is HMAC'd with before it enters a
    /// fingerprint. Without a key, secrets never enter fingerprints at all
    /// (an unkeyed hash of a secret can be brute-forced).
    pub fn with_fingerprint_key(mut self, key: impl Into<Vec<u8>>) -> ScanOptions {
        self.fingerprint_key = Some(key.into());
        self
    }

    /// Scans files on up to `n` threads (default 1). Results are identical
    /// whatever the number: findings are sealed in their total order.
    pub fn with_threads(mut self, n: usize) -> ScanOptions {
        self.threads = n;
        self
    }

    /// The threads a scan may use.
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }
}

/// Most matches reported per rule and window (a pathological line cannot
/// produce unbounded findings).
const MAX_MATCHES_PER_WINDOW: usize = 16;
/// Most bytes of a match shown in an excerpt.
const MAX_MATCH_SHOWN: usize = 120;
/// Depth of recursive decoding.
const MAX_DECODE_DEPTH: usize = 2;

/// A line as the engine sees it.
struct ULine<'d> {
    bytes: &'d [u8],
    /// Offset of `bytes` in the input.
    abs: usize,
    scope: Scope,
    hunk_line: Option<&'d Line>,
}

struct FileCtx<'d, 'a> {
    diff: &'d Diff<'a>,
    file: Option<&'d FilePatch>,
    active: Vec<bool>,
    requires_ok: Vec<Option<bool>>,
    agent_file: bool,
    /// Whether the file's lines take the shell view (`shell::applies_to`).
    shell: bool,
    /// Test code and fixtures: prompt-injection findings there are lowered
    /// one level (test data quotes attacks on purpose).
    test_file: bool,
}

/// Chunks of files per thread in a threaded scan: enough that threads finish
/// close together however the cost is spread over the diff.
const CHUNKS_PER_THREAD: usize = 8;

/// Runs the rules over `diff` into `out`; returns the most findings `out`
/// gained at any point (before duplicates on a line are removed).
pub(crate) fn scan(
    diff: &Diff<'_>,
    rs: &Ruleset,
    opts: &ScanOptions,
    out: &mut Vec<FindingBuilder>,
) -> usize {
    let start = out.len();
    let files = diff.files();
    let threads = opts.threads.clamp(1, files.len().max(1));
    if threads == 1 {
        scan_files(diff, rs, opts, files, out);
    } else {
        // Contiguous chunks of about equal bytes, several per thread, taken
        // in turn by scoped threads (so that a thread whose chunks are slow
        // to scan does not hold the others up), and joined in order.
        // Findings are sealed (sorted, fingerprinted) afterwards, so the
        // result is identical to a single-threaded scan.
        let total: usize = files.iter().map(|f| f.span().len()).sum();
        let wanted = threads * CHUNKS_PER_THREAD;
        let per = total / wanted + 1;
        let mut chunks: Vec<&[FilePatch]> = Vec::with_capacity(wanted);
        let (mut start, mut acc) = (0, 0);
        for (i, f) in files.iter().enumerate() {
            acc += f.span().len();
            if acc >= per && chunks.len() + 1 < wanted {
                chunks.push(&files[start..=i]);
                start = i + 1;
                acc = 0;
            }
        }
        chunks.push(&files[start..]);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut parts: Vec<(usize, Vec<FindingBuilder>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads.min(chunks.len()))
                .map(|_| {
                    let (next, chunks) = (&next, &chunks);
                    s.spawn(move || {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(chunk) = chunks.get(i) else { break };
                            let mut part = Vec::new();
                            scan_files(diff, rs, opts, chunk, &mut part);
                            done.push((i, part));
                        }
                        done
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| match h.join() {
                    Ok(done) => done,
                    Err(panic) => std::panic::resume_unwind(panic),
                })
                .collect()
        });
        parts.sort_unstable_by_key(|(i, _)| *i);
        for (_, part) in parts {
            out.extend(part);
        }
    }
    super::synthetic::scan_binaries(diff, rs, opts, out);
    scan_segments(diff, rs, opts, out);
    let peak = out.len() - start;
    crate::finding::one_per_rule_and_line(out, start);
    peak
}

/// Runs the rules over the hunks of `files`.
pub(crate) fn scan_files(
    diff: &Diff<'_>,
    rs: &Ruleset,
    opts: &ScanOptions,
    files: &[FilePatch],
    out: &mut Vec<FindingBuilder>,
) {
    // One line buffer reused for every hunk.
    let mut lines: Vec<ULine<'_>> = Vec::new();
    // The lines that hold a keyword, found once for all these files.
    let mut hits = Vec::new();
    let gated = match &rs.gate {
        Some(gate) if rs.ac.is_some() => {
            let first = files
                .iter()
                .flat_map(FilePatch::hunks)
                .find_map(|h| h.lines().first());
            let last = files
                .iter()
                .rev()
                .flat_map(|f| f.hunks().iter().rev())
                .find_map(|h| h.lines().last());
            if let (Some(first), Some(last)) = (first, last) {
                let (start, end) = (first.content_span().start, last.content_span().end);
                gate.hits(diff.input(), start.saturating_sub(1)..end, &mut hits);
            }
            true
        }
        _ => false,
    };
    for f in files {
        // Rules match the path the file is written to (`a//b` is `a/b`).
        let path = f
            .path()
            .map(crate::diff::PatchPath::normalized_lossy)
            .unwrap_or_default();
        let active: Vec<bool> = rs.rules.iter().map(|r| r.applies_to(&path)).collect();
        let agent_file = rs.agent_rules.iter().any(|&r| active[r as usize]);
        let mut ctx = FileCtx {
            diff,
            file: Some(f),
            active,
            requires_ok: vec![None; rs.rules.len()],
            agent_file,
            shell: shell::applies_to(&path),
            test_file: is_test_path(&path),
        };
        path_rules(rs, &mut ctx, f, &path, out);
        for h in f.hunks() {
            lines.clear();
            lines.extend(h.lines().iter().map(|l| ULine {
                bytes: diff.line_bytes(l),
                abs: l.content_span().start,
                scope: match l.kind() {
                    LineKind::Added => Scope::ADDED,
                    LineKind::Removed => Scope::REMOVED,
                    LineKind::Context => Scope::CONTEXT,
                },
                hunk_line: Some(l),
            }));
            let hits = gated.then_some(hits.as_slice());
            scan_unit(rs, &mut ctx, Some(h), &lines, hits, opts, out);
        }
    }
}

/// Text outside hunks: commit messages and preambles, mail trailers, text on
/// header lines, `diff -r` lines between files and hunk headings (scope
/// "message"), and garbage, which
/// readers see like added text.
fn scan_segments(diff: &Diff<'_>, rs: &Ruleset, opts: &ScanOptions, out: &mut Vec<FindingBuilder>) {
    for seg in diff.segments() {
        let (scope, note) = match seg.kind {
            SegmentKind::Preamble => (Scope::MESSAGE, " (in the commit message or preamble)"),
            SegmentKind::Trailer => (Scope::MESSAGE, " (after the mail signature)"),
            SegmentKind::HeaderText => (Scope::MESSAGE, " (on a header line)"),
            SegmentKind::Interstitial => (Scope::MESSAGE, " (between file patches)"),
            SegmentKind::Garbage => (Scope::ADDED, ""),
        };
        if !rs.scopes.has(scope) {
            continue;
        }
        let mut ctx = text_ctx(diff, rs, seg.file);
        scan_text(rs, &mut ctx, seg.span, scope, note, opts, out);
        if seg.kind == SegmentKind::Preamble {
            scan_encoded_headers(rs, &mut ctx, seg.span, opts, out);
        }
    }
    // Hunk headings (`@@ -1 +1 @@ heading`): git ignores them; a reader sees them.
    if !rs.scopes.has(Scope::MESSAGE) {
        return;
    }
    for (i, f) in diff.files().iter().enumerate() {
        let mut ctx = None;
        for h in f.hunks() {
            if h.heading().is_empty() {
                continue;
            }
            let ctx = ctx.get_or_insert_with(|| text_ctx(diff, rs, Some(i)));
            let note = " (in a hunk heading)";
            scan_text(rs, ctx, h.heading(), Scope::MESSAGE, note, opts, out);
        }
    }
}

/// Mail headers with RFC 2047 encoded words (a non-ASCII subject), decoded
/// and unfolded as `git am` reads them; findings point at the header.
fn scan_encoded_headers(
    rs: &Ruleset,
    ctx: &mut FileCtx<'_, '_>,
    span: Span,
    opts: &ScanOptions,
    out: &mut Vec<FindingBuilder>,
) {
    for (s, e, decoded) in super::mail::encoded_headers(ctx.diff.bytes(span)) {
        let header = Span::new(span.start + s, span.start + e);
        let line = [ULine {
            bytes: &decoded,
            abs: header.start,
            scope: Scope::MESSAGE,
            hunk_line: None,
        }];
        let first = out.len();
        scan_unit(rs, ctx, None, &line, None, opts, out);
        let found: Vec<FindingBuilder> = out.drain(first..).collect();
        for mut b in found {
            b.append_message(" (in a decoded mail header)");
            out.push(b.at_diff_line(header));
        }
    }
}

/// The context for text outside hunks, of file `file` or of none.
fn text_ctx<'d, 'a>(diff: &'d Diff<'a>, rs: &Ruleset, file: Option<usize>) -> FileCtx<'d, 'a> {
    let file = file.and_then(|i| diff.files().get(i));
    let path = file
        .and_then(FilePatch::path)
        .map(crate::diff::PatchPath::normalized_lossy)
        .unwrap_or_default();
    FileCtx {
        diff,
        file,
        active: rs
            .rules
            .iter()
            .map(|r| {
                if file.is_some() {
                    r.applies_to(&path)
                } else {
                    r.paths.is_none()
                }
            })
            .collect(),
        requires_ok: vec![None; rs.rules.len()],
        agent_file: false,
        shell: file.is_none() || shell::applies_to(&path),
        test_file: false,
    }
}

/// Runs the rules over the lines of `span`, outside any hunk, and notes where
/// the text was in each finding's message.
fn scan_text(
    rs: &Ruleset,
    ctx: &mut FileCtx<'_, '_>,
    span: Span,
    scope: Scope,
    note: &str,
    opts: &ScanOptions,
    out: &mut Vec<FindingBuilder>,
) {
    let text = ctx.diff.bytes(span);
    let mut lines = Vec::new();
    let mut at = span.start;
    for l in text.split_inclusive(|&b| b == b'\n') {
        let body = l.strip_suffix(b"\n").unwrap_or(l);
        lines.push(ULine {
            bytes: body,
            abs: at,
            scope,
            hunk_line: None,
        });
        at += l.len();
    }
    let first = out.len();
    scan_unit(rs, ctx, None, &lines, None, opts, out);
    for b in &mut out[first..] {
        b.append_message(note);
    }
}

fn path_rules(
    rs: &Ruleset,
    ctx: &mut FileCtx<'_, '_>,
    f: &FilePatch,
    path: &str,
    out: &mut Vec<FindingBuilder>,
) {
    for &r in &rs.path_rules {
        let rule = &rs.rules[r as usize];
        if !ctx.active[r as usize] {
            continue;
        }
        let hit = match &rule.regex {
            Some(re) => re.is_match(path.as_bytes()),
            None => true,
        };
        if hit {
            let span = f.header_span();
            let first = ctx.diff.bytes(span);
            let first = first.split(|&b| b == b'\n').next().unwrap_or(first);
            out.push(
                FindingBuilder::new(
                    rule.info.clone(),
                    span,
                    format!(
                        "{}: {}",
                        rule.info.title,
                        crate::text::escape_for_display(path.as_bytes())
                    ),
                )
                .at_diff_line(span)
                .path(f.path())
                .evidence(first)
                .key(path.as_bytes()),
            );
        }
    }
}

/// What one table lookup per byte tells about a line, so that the per-line
/// steps that would each scan it (plainness, the triggers of the prose view,
/// of the decoders and of the detectors' needles) look at a bit instead.
mod class {
    /// A byte outside printable ASCII and tab (a trailing CR excepted).
    pub(super) const NON_PLAIN: u16 = 1;
    /// A byte of the prose view's noise (`normalize::has_noise`): `& \ < * ~` and backtick.
    pub(super) const NOISE: u16 = 1 << 1;
    /// A decoder trigger (`decode::worth_decoding`): `% & \`.
    pub(super) const ESCAPES: u16 = 1 << 2;
    /// A non-ASCII byte.
    pub(super) const NON_ASCII: u16 = 1 << 3;
    /// `$` (the template-injection detector's needle `${{`).
    pub(super) const DOLLAR: u16 = 1 << 4;
    /// `G` (the environment-write detector's needle `GITHUB_`).
    pub(super) const UPPER_G: u16 = 1 << 5;

    static TABLE: [u16; 256] = table();

    const fn table() -> [u16; 256] {
        let mut t = [0u16; 256];
        let mut i = 0;
        while i < 256 {
            let b = i as u8;
            let mut f = 0;
            if !((b >= 0x20 && b < 0x7f) || b == b'\t') {
                f |= NON_PLAIN;
            }
            if b >= 0x80 {
                f |= NON_ASCII;
            }
            if matches!(b, b'&' | b'\\' | b'<' | b'*' | b'~' | b'`') {
                f |= NOISE;
            }
            if matches!(b, b'%' | b'&' | b'\\') {
                f |= ESCAPES;
            }
            if b == b'$' {
                f |= DOLLAR;
            }
            if b == b'G' {
                f |= UPPER_G;
            }
            t[i] = f;
            i += 1;
        }
        t
    }

    /// The classes of a line's bytes; a trailing CR does not make it non-plain.
    pub(super) fn of(bytes: &[u8]) -> u16 {
        let (body, cr) = match bytes.strip_suffix(b"\r") {
            Some(body) => (body, true),
            None => (bytes, false),
        };
        // Four independent accumulators: the lookups do not wait on each other.
        let mut acc = [0u16; 4];
        let mut chunks = body.chunks_exact(4);
        for c in &mut chunks {
            acc[0] |= TABLE[c[0] as usize];
            acc[1] |= TABLE[c[1] as usize];
            acc[2] |= TABLE[c[2] as usize];
            acc[3] |= TABLE[c[3] as usize];
        }
        let mut f = acc[0] | acc[1] | acc[2] | acc[3];
        for &b in chunks.remainder() {
            f |= TABLE[b as usize];
        }
        if cr {
            // CR is not plain, but as the line's end it is not the line's content.
            f |= TABLE[b'\r' as usize] & !NON_PLAIN;
        }
        f
    }

    /// The class bit that a detector needle's first byte sets, if any: a line
    /// without it cannot hold the needle.
    pub(super) fn needle_gate(needle: &[u8]) -> Option<u16> {
        match needle.first() {
            Some(b'$') => Some(DOLLAR),
            Some(b'G') => Some(UPPER_G),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mode {
    Raw,
    Normalized,
}

/// Runs the rules over `lines`. `gate_hits`, when given, are the keyword
/// gate's positions (`gate.rs`) over a range of the input that holds these
/// lines: only lines with one are searched for keywords.
#[allow(clippy::too_many_arguments)]
fn scan_unit(
    rs: &Ruleset,
    ctx: &mut FileCtx<'_, '_>,
    hunk: Option<&Hunk>,
    lines: &[ULine<'_>],
    gate_hits: Option<&[usize]>,
    opts: &ScanOptions,
    out: &mut Vec<FindingBuilder>,
) {
    if lines.is_empty() {
        return;
    }
    let input = ctx.diff.input();
    let mut cands: Vec<(u32, u32, Mode)> = Vec::new();
    // Lines whose keyword hits ask for a deobfuscation transform, and lines
    // with encoded runs that may be pieces of a wrapped encoding.
    let mut deob: Vec<(u32, decode::DecoderSet)> = Vec::new();
    let mut wrapped: Vec<usize> = Vec::new();
    let usable = |ctx: &FileCtx<'_, '_>, r: u32, scope: Scope| {
        ctx.active[r as usize] && rs.rules[r as usize].scope.has(scope)
    };
    // Keyword `pattern` found on line `li`: its rules become candidates there,
    // and its deobfuscation transforms are asked for.
    let mut keyword_hit = |ctx: &FileCtx<'_, '_>, pattern: usize, li: usize| {
        let scope = lines[li].scope;
        for &r in &rs.kw_rules[pattern] {
            if usable(ctx, r, scope) {
                cands.push((r, li as u32, Mode::Raw));
            }
        }
        let t = rs.kw_deob[pattern];
        if !t.is_empty() && (scope == Scope::ADDED || scope == Scope::MESSAGE) {
            deob.push((li as u32, t));
        }
    };
    if let (Some(ac), Some(hits)) = (&rs.ac, gate_hits) {
        // A line can hold a keyword only if the gate reported a position in
        // it or on the prefix byte before it; the automaton finds the
        // matches inside the line, as the pass below would.
        let mut h = hits.partition_point(|&p| p + 1 < lines[0].abs);
        for (li, l) in lines.iter().enumerate() {
            let (lo, hi) = (l.abs.saturating_sub(1), l.abs + l.bytes.len());
            while hits.get(h).is_some_and(|&p| p < lo) {
                h += 1;
            }
            if !rs.scopes.has(l.scope) || hits.get(h).is_none_or(|&p| p > hi) {
                continue;
            }
            let bytes = &input[l.abs.min(input.len())..hi.min(input.len())];
            for m in ac.find_overlapping_iter(bytes) {
                keyword_hit(ctx, m.pattern().as_usize(), li);
            }
        }
    } else if let Some(ac) = &rs.ac {
        // One keyword pass over each run of consecutive lines whose scope
        // some rule reads (context and removed lines are skipped when no
        // rule reads them). A run is contiguous in the input.
        let mut i = 0;
        while i < lines.len() {
            if !rs.scopes.has(lines[i].scope) {
                i += 1;
                continue;
            }
            let mut j = i;
            while j + 1 < lines.len() && rs.scopes.has(lines[j + 1].scope) {
                j += 1;
            }
            let (a, b) = (&lines[i], &lines[j]);
            let region = &input[a.abs..(b.abs + b.bytes.len()).min(input.len())];
            let run = &lines[i..=j];
            for m in ac.find_overlapping_iter(region) {
                let at = a.abs + m.start();
                let k = run.partition_point(|l| l.abs <= at).saturating_sub(1);
                let l = &run[k];
                if at + m.len() > l.abs + l.bytes.len() {
                    continue;
                }
                keyword_hit(ctx, m.pattern().as_usize(), i + k);
            }
            i = j + 1;
        }
    }
    let mut set = rs
        .keywordless
        .as_ref()
        .map(|re| PatternSet::new(re.pattern_len()));
    // Lines before this index are inside a logical shell line already viewed.
    let mut shell_done = 0;
    let shell_worth = if rs.shell_rules.is_empty() || !ctx.shell {
        Vec::new()
    } else {
        shell_prefilter(input, lines)
    };
    for (li, l) in lines.iter().enumerate() {
        if crate::finding::full(out) {
            return;
        }
        if !rs.scopes.has(l.scope) {
            continue;
        }
        if let (Some(re), Some(set)) = (&rs.keywordless, set.as_mut()) {
            set.clear();
            re.which_overlapping_matches(&Input::new(l.bytes), set);
            for p in set.iter() {
                let r = rs.keywordless_rules[p.as_usize()];
                if usable(ctx, r, l.scope) {
                    cands.push((r, li as u32, Mode::Raw));
                }
            }
        }
        let cls = class::of(l.bytes);
        for &r in &rs.ascii_detectors {
            let d = rs.rules[r as usize].detector;
            if let Some(d) = d
                && usable(ctx, r, l.scope)
                && d.needle().is_some_and(|n| {
                    class::needle_gate(n).is_none_or(|g| cls & g != 0)
                        && memchr::memmem::find(l.bytes, n).is_some()
                })
            {
                run_detector(rs, ctx, hunk, lines, li, r, d, out);
            }
        }
        let plain = cls & class::NON_PLAIN == 0;
        // Keywords in other scripts can only occur on lines that are not
        // plain ASCII: their automaton runs there alone.
        if let (false, Some(uac)) = (plain, &rs.uac) {
            for m in uac.find_overlapping_iter(l.bytes) {
                for &r in &rs.ukw_rules[m.pattern().as_usize()] {
                    if usable(ctx, r, l.scope) {
                        cands.push((r, li as u32, Mode::Raw));
                    }
                }
            }
        }
        if !plain {
            for &r in &rs.unicode_detectors {
                if let Some(d) = rs.rules[r as usize].detector
                    && usable(ctx, r, l.scope)
                {
                    run_detector(rs, ctx, hunk, lines, li, r, d, out);
                }
            }
        }
        // The prose view also removes noise inside words of plain lines
        // (`&#73;gnore`, `Ig**nore**`, `Ig<b></b>nore`).
        if let (Some(ac), false) = (&rs.ac, rs.normalize_rules.is_empty())
            && (!plain || (cls & class::NOISE != 0 && normalize::has_noise(l.bytes)))
        {
            let text = String::from_utf8_lossy(l.bytes);
            let view = normalize::prose(&text);
            for (ac, kw_rules) in rs.automata(ac) {
                for m in ac.find_overlapping_iter(view.text.as_bytes()) {
                    for &r in &kw_rules[m.pattern().as_usize()] {
                        if rs.rules[r as usize].normalize && usable(ctx, r, l.scope) {
                            cands.push((r, li as u32, Mode::Normalized));
                        }
                    }
                }
            }
        }
        // Encoded runs are decoded in added lines and in text outside hunks,
        // both written by the submitter.
        if (l.scope == Scope::ADDED || l.scope == Scope::MESSAGE) && !rs.decoders.is_empty() {
            let worth = decode::worth_decoding(
                l.bytes,
                rs.decoder_set,
                cls & class::ESCAPES != 0,
                cls & class::NON_ASCII != 0,
            );
            if !worth.is_empty() {
                decode_line(rs, ctx, lines, li, worth, opts, out);
                if worth.has(Decoder::Base64) {
                    wrapped.push(li);
                }
            }
        }
        // Command lines as the shell reads them: continuations joined,
        // quotes and escapes inside words removed (`rules/shell.rs`).
        if li >= shell_done && shell_worth.get(li).copied().unwrap_or(false) {
            shell_done = li + shell_line(rs, ctx, lines, li, opts, out);
        }
    }
    if !deob.is_empty() || !wrapped.is_empty() {
        deobfuscate_lines(rs, ctx, lines, &mut deob, &wrapped, opts, out);
    }
    cands.sort_unstable();
    cands.dedup();
    // A raw candidate makes the normalised one for the same rule and line redundant.
    let mut last: Option<(u32, u32)> = None;
    for (r, li, mode) in cands {
        if mode == Mode::Normalized && last == Some((r, li)) {
            continue;
        }
        last = Some((r, li));
        confirm(rs, ctx, lines, li as usize, r, mode, opts, out);
    }
}

#[allow(clippy::too_many_arguments)]
fn run_detector(
    rs: &Ruleset,
    ctx: &FileCtx<'_, '_>,
    hunk: Option<&Hunk>,
    lines: &[ULine<'_>],
    li: usize,
    r: u32,
    d: Detector,
    out: &mut Vec<FindingBuilder>,
) {
    let rule = &rs.rules[r as usize];
    let l = &lines[li];
    let lossy = Lossy::new(l.bytes);
    let text = &lossy.text;
    let hits = match (ctx.file, hunk) {
        (Some(_), Some(hunk)) => detectors::run(
            d,
            &detectors::Ctx {
                diff: ctx.diff,
                hunk,
                line: li,
                text,
            },
        ),
        // Outside hunks there is no file context; Unicode detectors need none.
        _ if d.unicode_only() => detectors::run_text(d, text),
        _ => Vec::new(),
    };
    for h in hits {
        // Offsets are in the text; map them back to the raw line.
        let start = lossy.raw(h.start).min(l.bytes.len());
        let end = lossy.raw(h.end).min(l.bytes.len()).max(start);
        let mut b = located(ctx, rule, l, start, end)
            .message(format!("{}: {}", rule.info.title, h.message))
            .safe_evidence(snippet(l.bytes, start, end, None))
            .key(h.key.as_bytes());
        if let Some(s) = h.severity {
            b = b.severity(s);
        }
        if h.in_literal {
            let lower = match b.current_severity() {
                Severity::Critical => Severity::High,
                Severity::High => Severity::Medium,
                Severity::Medium | Severity::Low => Severity::Low,
                Severity::Info => Severity::Info,
            };
            b = b.severity(lower);
        }
        out.push(b);
    }
}

/// A finding for `rule` at bytes `start..end` of line `l`.
fn located(
    ctx: &FileCtx<'_, '_>,
    rule: &Rule,
    l: &ULine<'_>,
    start: usize,
    end: usize,
) -> FindingBuilder {
    let span = Span::new(l.abs + start, l.abs + end);
    let mut b = FindingBuilder::new(rule.info.clone(), span, rule.info.title.to_string())
        .path(ctx.file.and_then(FilePatch::path));
    b = match l.hunk_line {
        Some(line) => b.at_line(ctx.diff, line, Some(start)).span(span),
        None => b.at_diff_line(span),
    };
    // Text that speaks to agents is what an agent-instruction file is for:
    // rules tagged `addresses-agents` keep their severity there.
    if ctx.agent_file
        && rule.info.category == Category::PromptInjection
        && !rule.tags.iter().any(|t| t == "addresses-agents")
    {
        let raised = match b.current_severity() {
            Severity::Info => Severity::Low,
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            Severity::High | Severity::Critical => Severity::Critical,
        };
        b = b.severity(raised);
    } else if ctx.test_file && rule.info.category == Category::PromptInjection {
        let lowered = match b.current_severity() {
            Severity::Critical => Severity::High,
            Severity::High => Severity::Medium,
            Severity::Medium | Severity::Low => Severity::Low,
            Severity::Info => Severity::Info,
        };
        b = b.severity(lowered);
    }
    b
}

/// Whether a path is test code or test data (`tests/`, `fixtures/`,
/// `test_x.py`, `x_test.go`, `x.test.ts`, `x.spec.js`, …).
fn is_test_path(path: &str) -> bool {
    let mut parts = path.split('/').peekable();
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            let stem = p.split('.').next().unwrap_or(p);
            return stem.starts_with("test_")
                || stem.ends_with("_test")
                || stem.ends_with("_tests")
                || p.contains(".test.")
                || p.contains(".spec.");
        }
        if matches!(
            p,
            "test"
                | "tests"
                | "__tests__"
                | "testdata"
                | "test-data"
                | "fixtures"
                | "test-fixtures"
                | "spec"
                | "specs"
                | "testing"
        ) {
            return true;
        }
    }
    false
}

/// An escaped excerpt of a line around `start..end`, with the secret range
/// (if any) masked.
fn snippet(bytes: &[u8], start: usize, end: usize, secret: Option<(usize, usize)>) -> String {
    // A long match (a rule spanning a minified line) is shown by its start:
    // the excerpt is bounded whatever the match's length.
    let end = end.min(start.saturating_add(MAX_MATCH_SHOWN));
    let lo = start.saturating_sub(40);
    let hi = (end + 40).min(bytes.len()).max(lo);
    let mut shown = Vec::with_capacity(hi - lo + 8);
    let mut i = lo;
    while i < hi {
        if let Some((s, e)) = secret
            && i == s
        {
            shown.extend_from_slice(&redact(&bytes[s..e]));
            i = e.max(i + 1);
            continue;
        }
        shown.push(bytes[i]);
        i += 1;
    }
    let mut s = crate::text::escape_for_display(&shown);
    if lo > 0 {
        s.insert(0, '…');
    }
    if hi < bytes.len() {
        s.push('…');
    }
    s
}

/// The shown form of a secret: its first four characters, then a mask.
pub(crate) fn redact(secret: &[u8]) -> Vec<u8> {
    let keep = if secret.len() >= 12 { 4 } else { 0 };
    let mut v = secret[..keep].to_vec();
    v.extend_from_slice(b"****");
    v
}

/// Shannon entropy in bits per byte.
fn entropy(b: &[u8]) -> f64 {
    if b.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &x in b {
        counts[x as usize] += 1;
    }
    let n = b.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

fn requires_ok(rs: &Ruleset, ctx: &mut FileCtx<'_, '_>, r: u32) -> bool {
    let Some(re) = &rs.rules[r as usize].requires else {
        return true;
    };
    if let Some(v) = ctx.requires_ok[r as usize] {
        return v;
    }
    let v = match ctx.file {
        Some(f) => f
            .hunks()
            .iter()
            .flat_map(|h| h.lines())
            .any(|l| l.kind() != LineKind::Removed && re.is_match(ctx.diff.line_bytes(l))),
        None => false,
    };
    ctx.requires_ok[r as usize] = Some(v);
    v
}

/// Checks the guards a match must pass: entropy, allow-patterns, stopwords.
fn passes_guards(rule: &Rule, matched: &[u8], secret: &[u8]) -> bool {
    if let Some(min) = rule.entropy
        && entropy(secret) < min
    {
        return false;
    }
    // Allow-patterns judge the secret when the rule captures one (placeholders
    // like `${TOKEN}`), else the whole match.
    let judged = if rule.secret_group.is_some() {
        secret
    } else {
        matched
    };
    if rule.allow.iter().any(|a| a.is_match(judged))
        || rule.allow_match.iter().any(|a| a.is_match(matched))
    {
        return false;
    }
    if !rule.stopwords.is_empty() {
        let lower = secret.to_ascii_lowercase();
        if rule
            .stopwords
            .iter()
            .any(|s| memchr::memmem::find(&lower, s.as_bytes()).is_some())
        {
            return false;
        }
    }
    true
}

/// Sets the fingerprint key for a match: the normalised matched text, or for
/// secrets an HMAC of the secret under the caller's key. Without a key only
/// the secret's length enters (secret material never enters a fingerprint
/// unkeyed), so the finding is marked as one whose fingerprint cannot tell two
/// secrets apart: baselines do not accept it.
fn match_key(
    b: FindingBuilder,
    rule: &Rule,
    matched: &[u8],
    secret: Option<&[u8]>,
    opts: &ScanOptions,
) -> FindingBuilder {
    if rule.info.category == Category::Secret {
        let material = secret.unwrap_or(matched);
        if let Some(key) = &opts.fingerprint_key
            && let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key)
        {
            mac.update(material);
            return b.key(mac.finalize().into_bytes());
        }
        return b
            .key(format!("secret:{}", material.len()))
            .blind_fingerprint();
    }
    let text = String::from_utf8_lossy(matched);
    b.key(normalize::prose(&text).text)
}

#[allow(clippy::too_many_arguments)]
fn confirm(
    rs: &Ruleset,
    ctx: &mut FileCtx<'_, '_>,
    lines: &[ULine<'_>],
    li: usize,
    r: u32,
    mode: Mode,
    opts: &ScanOptions,
    out: &mut Vec<FindingBuilder>,
) {
    let rule = &rs.rules[r as usize];
    let Some(re) = &rule.regex else { return };
    if !requires_ok(rs, ctx, r) {
        return;
    }
    // The window: up to `lines - 1` neighbours on each side with the same scope.
    let scope = lines[li].scope;
    let mut lo = li;
    while lo > 0 && li - lo < rule.lines - 1 && lines[lo - 1].scope == scope {
        lo -= 1;
    }
    let mut hi = li;
    while hi + 1 < lines.len() && hi - li < rule.lines - 1 && lines[hi + 1].scope == scope {
        hi += 1;
    }
    // The line alone first (no copy); then, for multi-line rules, the window.
    if mode == Mode::Raw {
        if confirm_window(ctx, lines, li, (li, li), rule, re, false, opts, out) > 0 {
            return;
        }
        if hi > lo && confirm_window(ctx, lines, li, (lo, hi), rule, re, false, opts, out) > 0 {
            return;
        }
        if !rule.normalize {
            return;
        }
    }
    confirm_window(ctx, lines, li, (lo, hi), rule, re, true, opts, out);
}

/// Runs `re` over lines `lo..=hi` (as written, or normalised) and reports the
/// matches; returns how many there were.
#[allow(clippy::too_many_arguments)]
fn confirm_window(
    ctx: &FileCtx<'_, '_>,
    lines: &[ULine<'_>],
    li: usize,
    (lo, hi): (usize, usize),
    rule: &Rule,
    re: &Regex,
    normalized: bool,
    opts: &ScanOptions,
    out: &mut Vec<FindingBuilder>,
) -> usize {
    let scope = lines[li].scope;
    let mut starts = Vec::with_capacity(hi - lo + 1);
    let text: std::borrow::Cow<'_, [u8]> = if lo == hi {
        starts.push(0);
        std::borrow::Cow::Borrowed(lines[li].bytes)
    } else {
        let mut joined: Vec<u8> = Vec::new();
        for l in &lines[lo..=hi] {
            starts.push(joined.len());
            joined.extend_from_slice(l.bytes);
            joined.push(b'\n');
        }
        joined.pop();
        std::borrow::Cow::Owned(joined)
    };
    let locate = |off: usize| {
        let k = starts.partition_point(|&s| s <= off).saturating_sub(1);
        (lo + k, off - starts[k])
    };
    let emit = |start: usize,
                end: usize,
                secret: Option<(usize, usize)>,
                out: &mut Vec<FindingBuilder>| {
        let (sl, sc) = locate(start);
        // Only report matches that start on the candidate line; neighbours
        // report their own.
        if sl != li && rule.lines > 1 && lines[sl].scope == scope && sl > li {
            return;
        }
        let l = &lines[sl];
        let line_end = (sc + (end - start)).min(l.bytes.len());
        let matched = &text[start..end];
        let secret_bytes = secret.map(|(s, e)| &text[s..e]);
        if !passes_guards(rule, matched, secret_bytes.unwrap_or(matched)) {
            return;
        }
        let secret_in_line = secret.and_then(|(s, e)| {
            let (ssl, ssc) = locate(s);
            (ssl == sl).then(|| (ssc, (ssc + (e - s)).min(l.bytes.len())))
        });
        let redacted = secret_in_line.or(if rule.info.category == Category::Secret {
            Some((sc, line_end))
        } else {
            None
        });
        let b = located(ctx, rule, l, sc, line_end)
            .safe_evidence(snippet(l.bytes, sc, line_end, redacted));
        let mut b = match_key(b, rule, matched, secret_bytes, opts);
        if normalized {
            let m = format!(
                "{} (after normalising hidden or look-alike characters)",
                rule.info.title
            );
            b = b.message(m);
        }
        out.push(b);
    };
    // Matches of the regex in `hay`, which has the same length and offsets as
    // `text` (it is `text` itself, or `text` with comment markers blanked).
    // Capture groups are resolved only for matches, and only when the rule
    // names a secret group.
    let search = |hay: &[u8], out: &mut Vec<FindingBuilder>| {
        let mut n = 0;
        let mut caps = None;
        for m in re.find_iter(hay) {
            if n >= MAX_MATCHES_PER_WINDOW {
                break;
            }
            let secret = rule.secret_group.and_then(|g| {
                let caps = caps.get_or_insert_with(|| re.create_captures());
                let input = Input::new(hay).range(m.range()).anchored(Anchored::Yes);
                re.search_captures(&input, caps);
                caps.get_group(g).map(|s| (s.start, s.end))
            });
            emit(m.start(), m.end(), secret, out);
            n += 1;
        }
        n
    };
    if !normalized {
        return search(&text, out);
    }
    if text.is_ascii() && !normalize::needs_prose(&text) {
        // Phrase rules read past comment markers between the lines of a split
        // phrase; blanking them in ASCII text keeps every offset.
        if hi > lo {
            let blanked = normalize::blank_comment_markers(&text);
            if blanked[..] != text[..] {
                return search(&blanked, out);
            }
        }
        return 0;
    }
    // Non-ASCII text: match the prose view (invisibles stripped, NFKC,
    // confusable skeleton) and map matches back to the source.
    let lossy = Lossy::new(&text);
    let src: &str = &lossy.text;
    let view = normalize::prose(src);
    let mut n = 0;
    for m in re.find_iter(view.text.as_bytes()) {
        if n >= MAX_MATCHES_PER_WINDOW {
            break;
        }
        let (s, e) = view.source_range(m.start(), m.end(), src);
        let (s, e) = (lossy.raw(s).min(text.len()), lossy.raw(e).min(text.len()));
        emit(s, e.max(s), None, out);
        n += 1;
    }
    n
}

/// Which lines (added, or text outside hunks) take the shell view: one
/// prefilter pass per run of lines that are contiguous in the input, else
/// line by line (a decoded mail header is not in the input).
fn shell_prefilter(input: &[u8], lines: &[ULine<'_>]) -> Vec<bool> {
    let mut worth = vec![false; lines.len()];
    let wanted = |l: &ULine<'_>| l.scope == Scope::ADDED || l.scope == Scope::MESSAGE;
    let in_input = |l: &ULine<'_>| {
        input
            .get(l.abs..l.abs + l.bytes.len())
            .is_some_and(|s| std::ptr::eq(s.as_ptr(), l.bytes.as_ptr()))
    };
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !wanted(&lines[i]) {
            i += 1;
            continue;
        }
        if !in_input(&lines[i]) {
            worth[i] = shell::worth(lines[i].bytes);
            i += 1;
            continue;
        }
        let mut j = i;
        while j + 1 < lines.len() && wanted(&lines[j + 1]) && in_input(&lines[j + 1]) {
            j += 1;
        }
        let base = lines[i].abs;
        let end = lines[j].abs + lines[j].bytes.len();
        ranges.clear();
        ranges.extend(
            lines[i..=j]
                .iter()
                .map(|l| (l.abs - base, l.abs - base + l.bytes.len())),
        );
        shell::worth_lines(&input[base..end], &ranges, &mut worth[i..=j]);
        i = j + 1;
    }
    worth
}

/// Matches the `shell = true` rules against the shell view of the logical
/// line starting at `li`; returns how many physical lines the view covered.
/// A finding is reported on the physical line where its match starts.
fn shell_line(
    rs: &Ruleset,
    ctx: &mut FileCtx<'_, '_>,
    lines: &[ULine<'_>],
    li: usize,
    opts: &ScanOptions,
    out: &mut Vec<FindingBuilder>,
) -> usize {
    let Some(ac) = &rs.ac else { return 1 };
    let scope = lines[li].scope;
    let physical: Vec<&[u8]> = lines[li..]
        .iter()
        .take(shell::MAX_LINES)
        .take_while(|l| l.scope == scope)
        .map(|l| l.bytes)
        .collect();
    let view = shell::view(&physical);
    let mut seen: Vec<u32> = Vec::new();
    for m in ac.find_overlapping_iter(&view.text) {
        for &r in &rs.kw_rules[m.pattern().as_usize()] {
            let rule = &rs.rules[r as usize];
            if !rule.shell || seen.contains(&r) || !ctx.active[r as usize] || !rule.scope.has(scope)
            {
                continue;
            }
            seen.push(r);
            let Some(re) = &rule.regex else { continue };
            if !requires_ok(rs, ctx, r) {
                continue;
            }
            let Some(found) = re.find(&view.text[..]) else {
                continue;
            };
            if found.is_empty() {
                continue;
            }
            let matched = &view.text[found.range()];
            if !passes_guards(rule, matched, matched) {
                continue;
            }
            let (k, s) = view.from[found.start()];
            let (ke, e) = view.from[found.end() - 1];
            let l = &lines[li + k as usize];
            let (s, end) = if ke == k {
                (s as usize, e as usize + 1)
            } else {
                (s as usize, l.bytes.len())
            };
            let shown: String = crate::text::escape_for_display(matched)
                .chars()
                .take(100)
                .collect();
            let b = located(ctx, rule, l, s, end)
                .message(format!(
                    "{} (as the shell reads the command: \"{shown}\")",
                    rule.info.title
                ))
                .safe_evidence(snippet(l.bytes, s, end, None));
            out.push(match_key(b, rule, matched, None, opts));
        }
    }
    view.lines.max(1)
}

#[allow(clippy::too_many_arguments)]
fn decode_line(
    rs: &Ruleset,
    ctx: &mut FileCtx<'_, '_>,
    lines: &[ULine<'_>],
    li: usize,
    first: decode::DecoderSet,
    opts: &ScanOptions,
    out: &mut Vec<FindingBuilder>,
) {
    let l = &lines[li];
    let lossy = Lossy::new(l.bytes);
    // (decoded text, chain, the encoded run's byte range in the line)
    let mut queue: Vec<Revealed> = Vec::new();
    for d in decode::decode_all(&lossy.text, first) {
        queue.push((
            d.text,
            vec![d.decoder.name()],
            (lossy.raw(d.start), lossy.raw(d.end)),
        ));
    }
    scan_revealed(rs, ctx, l, queue, opts, out);
}

/// Text revealed by decoding: the text, the chain of decodings, and the
/// byte range in the line it is reported at.
type Revealed = (String, Vec<&'static str>, (usize, usize));

/// Scans revealed texts, decoding them further (to [`MAX_DECODE_DEPTH`],
/// at most 64 texts).
fn scan_revealed(
    rs: &Ruleset,
    ctx: &mut FileCtx<'_, '_>,
    l: &ULine<'_>,
    mut queue: Vec<Revealed>,
    opts: &ScanOptions,
    out: &mut Vec<FindingBuilder>,
) {
    let mut i = 0;
    while i < queue.len() && i < 64 {
        let (decoded, chain, run) = queue[i].clone();
        i += 1;
        scan_decoded(rs, ctx, l, &decoded, &chain, run, opts, out);
        if chain.len() < MAX_DECODE_DEPTH {
            for d in decode::decode_all(&decoded, rs.decoder_set) {
                let mut c = chain.clone();
                c.push(d.decoder.name());
                queue.push((d.text, c, run));
            }
        }
    }
}

/// Deobfuscation (see `deobfuscate`): lines whose keyword hits are
/// disguised core words are transformed (ROT13, reversal, leetspeak) and
/// scanned; runs of lines holding pieces of an encoding are joined and
/// decoded, as are `\n`-wrapped pieces within one line.
#[allow(clippy::too_many_arguments)]
fn deobfuscate_lines(
    rs: &Ruleset,
    ctx: &mut FileCtx<'_, '_>,
    lines: &[ULine<'_>],
    deob: &mut [(u32, decode::DecoderSet)],
    wrapped: &[usize],
    opts: &ScanOptions,
    out: &mut Vec<FindingBuilder>,
) {
    deob.sort_unstable_by_key(|&(li, _)| li);
    let mut k = 0;
    while k < deob.len() {
        let li = deob[k].0;
        let mut set = decode::DecoderSet::default();
        while k < deob.len() && deob[k].0 == li {
            for t in deob[k].1.decoders() {
                set = set.with(t);
            }
            k += 1;
        }
        let l = &lines[li as usize];
        let lossy = Lossy::new(l.bytes);
        let revealed: Vec<Revealed> = set
            .decoders()
            .filter_map(|t| {
                deobfuscate::apply(t, &lossy.text).map(|s| (s, vec![t.name()], (0, l.bytes.len())))
            })
            .collect();
        for r in revealed {
            scan_revealed(rs, ctx, l, vec![r], opts, out);
        }
    }
    // Wrapped encodings: each group of neighbouring lines with encoded runs,
    // widened by a line on each side (a short first or last piece).
    let mut g = 0;
    while g < wrapped.len() {
        let start = wrapped[g];
        let mut end = start;
        while g + 1 < wrapped.len() && wrapped[g + 1] == end + 1 {
            g += 1;
            end += 1;
        }
        g += 1;
        let l = &lines[start];
        if let Some(joined) = deobfuscate::escaped_join(l.bytes) {
            let first = decode::DecoderSet::of(&[Decoder::Base64]);
            let queue: Vec<Revealed> = decode::decode_all(&joined, first)
                .into_iter()
                .map(|d| (d.text, vec!["base64"], (0, l.bytes.len())))
                .collect();
            scan_revealed(rs, ctx, l, queue, opts, out);
        }
        // A wrapped encoding has at least two lines with encoded runs.
        if end == start {
            continue;
        }
        let lo = start.saturating_sub(1);
        let hi = (end + 1).min(lines.len() - 1);
        let pieces: Vec<Option<Vec<u8>>> = (lo..=hi)
            .map(|i| {
                (lines[i].scope == l.scope)
                    .then(|| deobfuscate::wrapped_piece(lines[i].bytes))
                    .flatten()
            })
            .collect();
        for (a, _, joined) in deobfuscate::join_pieces(&pieces) {
            let at = &lines[lo + a];
            let first = decode::DecoderSet::of(&[Decoder::Base64]);
            let queue: Vec<Revealed> = decode::decode_all(&joined, first)
                .into_iter()
                .map(|d| (d.text, vec!["base64"], (0, at.bytes.len())))
                .collect();
            scan_revealed(rs, ctx, at, queue, opts, out);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn scan_decoded(
    rs: &Ruleset,
    ctx: &mut FileCtx<'_, '_>,
    l: &ULine<'_>,
    decoded: &str,
    chain: &[&'static str],
    (col, run_end): (usize, usize),
    opts: &ScanOptions,
    out: &mut Vec<FindingBuilder>,
) {
    let Some(ac) = &rs.ac else { return };
    let last = chain.last().copied().unwrap_or("");
    let view = normalize::prose(decoded);
    let mut seen: Vec<u32> = Vec::new();
    let hits = [decoded.as_bytes(), view.text.as_bytes()]
        .into_iter()
        .flat_map(|hay| {
            rs.automata(ac).flat_map(move |(ac, kw_rules)| {
                ac.find_overlapping_iter(hay)
                    .map(move |m| &kw_rules[m.pattern().as_usize()])
            })
        });
    {
        for rules in hits {
            for &r in rules {
                let rule = &rs.rules[r as usize];
                if !rule.decode.iter().any(|d| d.name() == last)
                    || !ctx.active[r as usize]
                    || !rule.scope.has(l.scope)
                    || seen.contains(&r)
                {
                    continue;
                }
                seen.push(r);
                let Some(re) = &rule.regex else { continue };
                if !requires_ok(rs, ctx, r) {
                    continue;
                }
                let found = re
                    .find(decoded.as_bytes())
                    .map(|m| (m.start(), m.end()))
                    .or_else(|| {
                        re.find(view.text.as_bytes())
                            .map(|m| view.source_range(m.start(), m.end(), decoded))
                    });
                let Some((s, e)) = found else { continue };
                let matched = &decoded.as_bytes()[s..e];
                if !passes_guards(rule, matched, matched) {
                    continue;
                }
                let shown = crate::text::escape_for_display(matched);
                let shown: String = if rule.info.category == Category::Secret {
                    crate::text::escape_for_display(&redact(matched))
                } else {
                    shown.chars().take(100).collect()
                };
                let msg = format!(
                    "{} (revealed by {} decoding: \"{shown}\")",
                    rule.info.title,
                    chain.join(" → ")
                );
                let end = run_end.min(l.bytes.len()).max(col);
                let b = located(ctx, rule, l, col.min(l.bytes.len()), end)
                    .message(msg)
                    .decoding(chain)
                    .safe_evidence(snippet(l.bytes, col.min(l.bytes.len()), end, None));
                out.push(match_key(b, rule, matched, None, opts));
            }
        }
    }
}

/// Checks a rule's examples: each positive must produce a finding of that
/// rule, each negative none.
pub(crate) fn example_findings(rs: &Ruleset, rule: &Rule, path: &str, text: &str) -> usize {
    let body: Vec<&str> = text.split('\n').collect();
    let n = body.len();
    // The example goes where the rule looks: added lines, else context or
    // removed lines, else a commit message before a one-line patch.
    let (marker, header) = if rule.scope.has(Scope::ADDED) || rule.scope.has(Scope::PATH) {
        (Some('+'), format!("@@ -1,0 +1,{n} @@\n"))
    } else if rule.scope.has(Scope::CONTEXT) {
        (Some(' '), format!("@@ -1,{n} +1,{n} @@\n"))
    } else if rule.scope.has(Scope::REMOVED) {
        (Some('-'), format!("@@ -1,{n} +1,0 @@\n"))
    } else {
        (None, "@@ -1 +1 @@\n-a\n+b\n".to_owned())
    };
    let mut patch = String::new();
    if marker.is_none() {
        patch.push_str("From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] example\n\n");
        patch.push_str(text);
        patch.push_str("\n---\n");
    }
    patch.push_str(&format!(
        "diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n{header}"
    ));
    if let Some(m) = marker {
        for l in &body {
            patch.push(m);
            patch.push_str(l);
            patch.push('\n');
        }
    }
    let Ok(diff) = crate::diff::parse(patch.as_bytes(), &crate::diff::Limits::default()) else {
        return 0;
    };
    let mut out = Vec::new();
    scan(&diff, rs, &ScanOptions::default(), &mut out);
    crate::finding::finish(&diff, out)
        .iter()
        .filter(|f| f.rule_id() == rule.info.id)
        .count()
}

/// Text of a line for code that needs `str`, and a map back to raw offsets
/// when the line is not valid UTF-8 (each invalid byte becomes a three-byte
/// U+FFFD in the text).
struct Lossy<'b> {
    text: std::borrow::Cow<'b, str>,
    map: Option<Vec<usize>>,
}

impl<'b> Lossy<'b> {
    fn new(bytes: &'b [u8]) -> Lossy<'b> {
        if let Ok(s) = std::str::from_utf8(bytes) {
            return Lossy {
                text: std::borrow::Cow::Borrowed(s),
                map: None,
            };
        }
        let mut text = String::with_capacity(bytes.len() + 16);
        let mut map = Vec::with_capacity(bytes.len() + 16);
        let mut raw = 0usize;
        for chunk in bytes.utf8_chunks() {
            let v = chunk.valid();
            text.push_str(v);
            map.extend(raw..raw + v.len());
            raw += v.len();
            for _ in chunk.invalid() {
                text.push('\u{FFFD}');
                map.extend([raw; 3]);
                raw += 1;
            }
        }
        map.push(raw);
        Lossy {
            text: std::borrow::Cow::Owned(text),
            map: Some(map),
        }
    }

    /// The raw offset of text offset `at`.
    fn raw(&self, at: usize) -> usize {
        match &self.map {
            None => at,
            Some(m) => m
                .get(at)
                .copied()
                .unwrap_or_else(|| m.last().copied().unwrap_or(0)),
        }
    }
}

#[cfg(test)]
mod lossy_tests {
    use super::Lossy;

    #[test]
    fn offsets_map_back_past_invalid_bytes() {
        let raw = b"\xff\xff\xff\xff x\xe2\x80\xae y";
        let l = Lossy::new(raw);
        let at = l.text.find('\u{202E}').unwrap();
        assert_eq!(l.raw(at), 6);
        assert_eq!(Lossy::new(b"plain").raw(3), 3);
    }
}
