//! Detectors written as code, for what a regex is the wrong tool for. A rule
//! names its detector (`detector = "bidi-unterminated"`); its metadata and
//! examples stay in the rule file.
//!
//! Unicode detectors run only on lines that are not plain printable ASCII
//! (the engine's fast path skips the rest).

mod ci;
mod unicode;

use crate::diff::{Diff, Hunk};

/// A code detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detector {
    BidiControl,
    BidiUnterminated,
    InvisibleChar,
    TagChars,
    ConfusableIdentifier,
    CiTemplateInjection,
    CiUntrustedEnvWrite,
}

impl Detector {
    pub(crate) const NAMES: [&'static str; 7] = [
        "bidi-control",
        "bidi-unterminated",
        "invisible-char",
        "tag-chars",
        "confusable-identifier",
        "ci-template-injection",
        "ci-untrusted-env-write",
    ];

    const ALL: [Detector; 7] = [
        Detector::BidiControl,
        Detector::BidiUnterminated,
        Detector::InvisibleChar,
        Detector::TagChars,
        Detector::ConfusableIdentifier,
        Detector::CiTemplateInjection,
        Detector::CiUntrustedEnvWrite,
    ];

    pub(crate) fn from_name(name: &str) -> Option<Detector> {
        Detector::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Detector::ALL[i])
    }

    /// Whether the detector only looks at non-ASCII text.
    pub(crate) fn unicode_only(self) -> bool {
        !matches!(
            self,
            Detector::CiTemplateInjection | Detector::CiUntrustedEnvWrite
        )
    }

    /// A cheap keyword the line must contain for the detector to run (ASCII
    /// detectors only).
    pub(crate) fn needle(self) -> Option<&'static [u8]> {
        match self {
            Detector::CiTemplateInjection => Some(b"${{"),
            Detector::CiUntrustedEnvWrite => Some(b"GITHUB_"),
            _ => None,
        }
    }
}

/// One detector hit inside a line's content.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) message: String,
    /// What identifies the hit for its fingerprint.
    pub(crate) key: String,
    /// Whether the hit sits only in a string literal or comment, where it
    /// cannot change what code means: reported one level lower.
    pub(crate) in_literal: bool,
    /// The severity of this hit when it is not the rule's (a CI context an
    /// outsider controls less than fully).
    pub(crate) severity: Option<crate::finding::Severity>,
}

/// Where a detector runs: one line of a hunk, with its file for context.
pub(crate) struct Ctx<'d, 'a> {
    pub(crate) diff: &'d Diff<'a>,
    pub(crate) hunk: &'d Hunk,
    pub(crate) line: usize,
    pub(crate) text: &'d str,
}

pub(crate) fn run(d: Detector, ctx: &Ctx<'_, '_>) -> Vec<Hit> {
    match d {
        Detector::BidiControl => unicode::bidi_control(ctx.text),
        Detector::BidiUnterminated => unicode::bidi_unterminated(ctx.text),
        Detector::InvisibleChar => unicode::invisible(
            ctx.text,
            ctx.line == 0
                && ctx
                    .hunk
                    .lines()
                    .first()
                    .is_some_and(|l| l.new_line() == Some(1)),
        ),
        Detector::TagChars => unicode::tag_chars(ctx.text),
        Detector::ConfusableIdentifier => unicode::confusable_identifiers(ctx.text),
        Detector::CiTemplateInjection => ci::template_injection(ctx),
        Detector::CiUntrustedEnvWrite => ci::untrusted_env_write(ctx),
    }
}

/// Runs a Unicode detector on text outside any hunk (commit messages, garbage).
pub(crate) fn run_text(d: Detector, text: &str) -> Vec<Hit> {
    match d {
        Detector::BidiControl => unicode::bidi_control(text),
        Detector::BidiUnterminated => unicode::bidi_unterminated(text),
        Detector::InvisibleChar => unicode::invisible(text, false),
        Detector::TagChars => unicode::tag_chars(text),
        Detector::ConfusableIdentifier => unicode::confusable_identifiers(text),
        Detector::CiTemplateInjection | Detector::CiUntrustedEnvWrite => Vec::new(),
    }
}
