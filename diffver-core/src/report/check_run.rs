//! The output of a GitHub Check Run: conclusion, title, summary and line
//! annotations, within the Checks API's limits (summary and text at most
//! 65,535 characters, titles 255, messages 64 KiB; at most 50 annotations per
//! request, so a publisher sends [`CheckRunOutput::annotations`] in chunks of
//! [`MAX_ANNOTATIONS_PER_REQUEST`]).
//!
//! Annotations address files by their real path (`raw_path`): a finding
//! without one (not UTF-8, or about the diff itself) and findings on removed
//! lines are listed in the summary instead, since GitHub can only annotate
//! lines of the head commit.

use std::fmt::Write as _;

use serde::Serialize;

use crate::artifact::wire::{ActionV2, Decision, FindingV2, SideV2, VerdictV2};

/// At most this many annotations per Checks API request.
pub const MAX_ANNOTATIONS_PER_REQUEST: usize = 50;
/// The longest `output.summary` / `output.text`, in characters.
pub const MAX_SUMMARY_CHARS: usize = 65_535;
/// The longest annotation title, in characters.
pub const MAX_TITLE_CHARS: usize = 255;
/// The longest annotation message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// One annotation, as the Checks API takes it (`output.annotations[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckAnnotation {
    /// The file's path in the repository.
    pub path: String,
    /// First line (1-based).
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
    /// First column, only when the annotation is on one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_column: Option<u32>,
    /// Last column, only with `start_column`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_column: Option<u32>,
    /// `failure` (blocking), `warning` or `notice`.
    pub annotation_level: &'static str,
    /// Rule id and severity.
    pub title: String,
    /// The finding's message.
    pub message: String,
    /// Evidence (escaped, redacted) and the fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_details: Option<String>,
}

/// A completed check run's conclusion and output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckRunOutput {
    /// `success` (pass), `failure` (fail, or an error that blocks) or
    /// `neutral` (an error under a fail-open policy).
    pub conclusion: &'static str,
    /// `output.title`.
    pub title: String,
    /// `output.summary` (Markdown, at most [`MAX_SUMMARY_CHARS`]).
    pub summary: String,
    /// All annotations, blocking ones first, each group in the verdict's order.
    pub annotations: Vec<CheckAnnotation>,
}

/// `s` cut to at most `max` characters, ending in `…` when cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn truncate_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut cut = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

/// Markdown-inert text: every character Markdown or HTML could act on is
/// backslash-escaped, line breaks become spaces, and characters a terminal or a
/// renderer could act on are dropped.
pub fn markdown_inert(s: &str) -> String {
    md(s)
}

fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '-' | '.'
            | '!' | '|' | '<' | '>' | '~' | '&' | '@' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c if crate::text::is_display_hazard(c) => {}
            c => out.push(c),
        }
    }
    out
}

fn annotation(f: &FindingV2) -> Option<CheckAnnotation> {
    let path = f.raw_path.as_ref()?;
    if f.side != SideV2::New || f.suppression.is_some() || f.action == ActionV2::Off {
        return None;
    }
    let line = f.line?;
    let level = match f.action {
        ActionV2::Block if f.blocking => "failure",
        ActionV2::Warn => "warning",
        _ => "notice",
    };
    let mut details = String::new();
    if let Some(ev) = &f.evidence {
        let _ = writeln!(details, "{ev}");
    }
    let _ = write!(details, "fingerprint {}", f.fingerprint);
    Some(CheckAnnotation {
        path: path.clone(),
        start_line: line,
        end_line: line,
        start_column: f.column,
        end_column: f.column,
        annotation_level: level,
        title: truncate_chars(
            &format!("{} ({})", f.rule_id, f.severity.as_str()),
            MAX_TITLE_CHARS,
        ),
        message: truncate_bytes(&f.message, MAX_MESSAGE_BYTES),
        raw_details: Some(truncate_bytes(&details, MAX_MESSAGE_BYTES)),
    })
}

/// The check run's conclusion and output for a verdict.
pub fn check_run(v: &VerdictV2) -> CheckRunOutput {
    let conclusion = match v.decision {
        Decision::Pass => "success",
        Decision::Fail => "failure",
        Decision::Error if v.blocks => "failure",
        Decision::Error => "neutral",
    };
    let title = match v.decision {
        Decision::Pass => format!("diffver: pass ({} finding(s))", v.summary.findings),
        Decision::Fail => format!("diffver: fail ({} blocking)", v.summary.blocking),
        Decision::Error => "diffver: the scan could not be completed".to_owned(),
    };
    let mut annotations: Vec<CheckAnnotation> = v.findings.iter().filter_map(annotation).collect();
    annotations.sort_by_key(|a| a.annotation_level != "failure");
    let mut summary = String::new();
    let _ = writeln!(
        summary,
        "**{}**: {} finding(s), {} blocking, {} warning(s), {} suppressed. Policy `{}` v{}.\n",
        v.decision.as_str().to_uppercase(),
        v.summary.findings,
        v.summary.blocking,
        v.summary.warnings,
        v.summary.suppressed,
        md(&v.policy.id),
        md(&v.policy.version),
    );
    if let Some(e) = &v.error {
        let _ = writeln!(summary, "Error: {}\n", md(&e.message));
    }
    let unannotated: Vec<&FindingV2> = v
        .findings
        .iter()
        .filter(|f| f.suppression.is_none() && f.action != ActionV2::Off)
        .filter(|f| annotation(f).is_none())
        .collect();
    if !unannotated.is_empty() {
        let _ = writeln!(summary, "Findings not on a line of the head commit:\n");
        let mut chars = summary.chars().count();
        for f in unannotated {
            let line = format!(
                "- {} {} {}{}: {}\n",
                if f.blocking { "**block**" } else { "warn" },
                md(&f.rule_id),
                md(f.path.as_deref().unwrap_or("(the diff)")),
                f.line.map(|l| format!(":{l}")).unwrap_or_default(),
                md(&f.message)
            );
            let n = line.chars().count();
            if chars + n > MAX_SUMMARY_CHARS - 64 {
                summary.push_str("- … (more in the full report)\n");
                break;
            }
            chars += n;
            summary.push_str(&line);
        }
    }
    CheckRunOutput {
        conclusion,
        title,
        summary: truncate_chars(&summary, MAX_SUMMARY_CHARS),
        annotations,
    }
}

#[cfg(test)]
mod tests {
    use super::markdown_inert;

    #[test]
    fn attacker_text_is_markdown_and_html_inert() {
        let s =
            markdown_inert("a <img src=x onerror=alert(1)> [x](http://e) @team\n# h\u{202e}`c`");
        // Every character Markdown or HTML acts on is escaped.
        for (i, c) in s.char_indices() {
            if "<>[]()@#`".contains(c) {
                assert_eq!(&s[i - 1..i], "\\", "unescaped {c:?} in {s}");
            }
        }
        assert!(s.contains("\\[x\\]\\(http://e\\)"));
        assert!(!s.contains('\n') && !s.contains('\u{202e}'));
    }
}
