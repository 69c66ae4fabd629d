//! A self-contained HTML view of a verdict and its diff, in which every
//! character of the input is inert: markup is escaped, control and
//! invisible characters are shown as `⟨U+202E⟩`, invalid bytes as
//! `⟨0xFF⟩`, and a Content-Security-Policy forbids scripts and fetches.

use std::fmt::Write as _;

use crate::artifact::wire::{ActionV2, Category, SuppressionKind, VerdictV2};
use crate::text::{is_bidi_control, is_display_hazard};

/// Escapes text for HTML element content and attribute values.
fn esc(out: &mut String, s: &str) {
    for c in s.chars() {
        push_char(out, c);
    }
}

fn push_char(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        '\t' => out.push('\t'),
        c if is_display_hazard(c) || is_bidi_control(c) => {
            let _ = write!(out, "<span class=\"hidden\">⟨U+{:04X}⟩</span>", c as u32);
        }
        c => out.push(c),
    }
}

/// Escapes raw bytes (the diff), showing invalid UTF-8 as `⟨0xNN⟩`.
fn esc_bytes(out: &mut String, b: &[u8]) {
    for chunk in b.utf8_chunks() {
        esc(out, chunk.valid());
        for x in chunk.invalid() {
            let _ = write!(out, "<span class=\"hidden\">⟨0x{x:02X}⟩</span>");
        }
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1b1b}\
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:.25rem .5rem;vertical-align:top;text-align:left}\
.block{color:#a00;font-weight:bold}.warn{color:#a60}.muted{color:#777}\
pre{margin:0;white-space:pre-wrap;word-break:break-all}\
.diff td{border:none;padding:0 .5rem;font-family:ui-monospace,monospace;font-size:12px}\
.add{background:#e6ffec}.del{background:#ffebe9}.hit{outline:2px solid #d00}\
.hidden{background:#ffd33d;color:#000;border-radius:2px;padding:0 1px}";

/// Renders the (wire) verdict and the diff it was computed over.
///
/// Secrets are masked in the diff view (every byte after a secret's first
/// four): those of the verdict's secret findings, and `secrets` — pass
/// [`Ruleset::secret_spans`](crate::rules::Ruleset::secret_spans) of the
/// diff, which also finds them on removed and context lines that the
/// findings do not cover.
pub fn html(v: &VerdictV2, diff: &[u8], secrets: &[std::ops::Range<usize>]) -> String {
    let mut o = String::with_capacity(diff.len() * 2 + 4096);
    let (pid, pver, phash) = (&v.policy.id, &v.policy.version, &v.policy.sha256);
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    o.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
    o.push_str("<title>diffver ");
    esc(&mut o, &v.scan_id);
    o.push_str("</title><style>");
    o.push_str(STYLE);
    o.push_str("</style></head><body>\n<h1>diffver: ");
    let _ = write!(o, "{}</h1>\n<p>", v.decision.as_str().to_uppercase());
    let _ = write!(
        o,
        "{} finding(s), {} blocking, {} suppressed. Policy <code>",
        v.summary.findings, v.summary.blocking, v.summary.suppressed
    );
    esc(&mut o, pid);
    o.push_str("</code> v");
    esc(&mut o, pver);
    o.push_str(" (<code>");
    esc(&mut o, &phash.chars().take(16).collect::<String>());
    o.push_str("</code>). Diff sha256 <code>");
    esc(&mut o, &v.diff.sha256);
    o.push_str("</code>. Scanned at ");
    esc(&mut o, &v.scanned_at);
    o.push_str(".</p>\n");
    if let Some(e) = &v.error {
        o.push_str("<p class=\"block\">Error: ");
        esc(&mut o, &e.message);
        o.push_str("</p>\n");
    }
    // Diff line (0-based) of each finding, for anchors.
    let line_of = |at: usize| memchr::memchr_iter(b'\n', &diff[..at.min(diff.len())]).count();
    let mut hits = std::collections::BTreeSet::new();
    o.push_str("<h2>Findings</h2>\n<table><tr><th>severity</th><th>action</th><th>rule</th><th>where</th><th>message</th><th>evidence</th></tr>\n");
    for f in &v.findings {
        let dl = line_of(usize::try_from(f.offset).unwrap_or(usize::MAX));
        hits.insert(dl);
        let class = match (&f.suppression, f.action) {
            (Some(_), _) => "muted",
            (None, ActionV2::Block) => "block",
            (None, ActionV2::Warn) => "warn",
            (None, ActionV2::Off) => "muted",
        };
        let action = match &f.suppression {
            Some(s) => format!(
                "suppressed ({})",
                match s.kind {
                    SuppressionKind::Exception => "exception",
                    SuppressionKind::Baseline => "baseline",
                    SuppressionKind::InlineComment => "inline-comment",
                }
            ),
            None => match f.action {
                ActionV2::Block => "block",
                ActionV2::Warn => "warn",
                ActionV2::Off => "off",
            }
            .to_owned(),
        };
        let _ = write!(
            o,
            "<tr class=\"{class}\"><td>{}</td><td>",
            f.severity.as_str()
        );
        esc(&mut o, &action);
        o.push_str("</td><td><code>");
        esc(&mut o, &f.rule_id);
        let _ = write!(o, "</code></td><td><a href=\"#L{dl}\">");
        esc(&mut o, f.path.as_deref().unwrap_or("(diff)"));
        if let Some(l) = f.line {
            let _ = write!(o, ":{l}");
        }
        o.push_str("</a></td><td>");
        esc(&mut o, &f.message);
        o.push_str("</td><td><pre>");
        esc(&mut o, f.evidence.as_deref().unwrap_or(""));
        o.push_str("</pre></td></tr>\n");
    }
    o.push_str("</table>\n<h2>Diff</h2>\n<table class=\"diff\">\n");
    // Secrets are redacted in the diff view too: every byte of a secret
    // finding's match after its first four is masked.
    let masked: Vec<(usize, usize)> = v
        .findings
        .iter()
        .filter(|f| f.category == Category::Secret)
        .map(|f| {
            let start = usize::try_from(f.offset).unwrap_or(usize::MAX);
            let len = usize::try_from(f.length).unwrap_or(usize::MAX);
            (start.saturating_add(4.min(len)), start.saturating_add(len))
        })
        .collect();
    let masked = masked.into_iter().chain(
        secrets
            .iter()
            .map(|r| (r.start.saturating_add(4.min(r.len())), r.end)),
    );
    let mut shown = diff.to_vec();
    for (a, b) in masked {
        // Line breaks and each line's first byte (the diff's `+`/`-`/` `
        // marker) stay, so a masked block keeps its lines and their colours.
        for i in a..b.min(diff.len()) {
            if diff[i] != b'\n' && (i == 0 || diff[i - 1] != b'\n') {
                shown[i] = b'*';
            }
        }
    }
    let total = memchr::memchr_iter(b'\n', &shown).count() + 1;
    for (i, line) in shown.split(|&b| b == b'\n').enumerate() {
        if i > 0 && line.is_empty() && i == total - 1 {
            break;
        }
        let class = match line.first() {
            Some(b'+') if !line.starts_with(b"+++") => "add",
            Some(b'-') if !line.starts_with(b"---") => "del",
            _ => "",
        };
        let hit = if hits.contains(&i) { " hit" } else { "" };
        let _ = write!(
            o,
            "<tr id=\"L{i}\" class=\"{class}{hit}\"><td class=\"muted\">{}</td><td><pre>",
            i + 1
        );
        esc_bytes(&mut o, line);
        o.push_str("</pre></td></tr>\n");
    }
    o.push_str("</table>\n</body></html>\n");
    o
}
