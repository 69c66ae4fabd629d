//! The terminal report.

use std::fmt::Write as _;

use crate::finding::Side;
use crate::policy::Action;
use crate::verdict::{Decision, Verdict};

/// A human-readable report; no raw control character from the input.
pub fn text(v: &Verdict, name: &str) -> String {
    let safe = |s: &str| crate::text::escape_for_display(s.as_bytes());
    let mut out = String::new();
    let d = v.diff();
    let _ = writeln!(
        out,
        "diffver: {} — {} file(s), +{} -{}",
        crate::text::escape_for_display(name.as_bytes()),
        d.files,
        d.added,
        d.removed
    );
    for e in v.findings() {
        let f = &e.finding;
        let loc = f.location();
        let mut at = loc.path.clone().unwrap_or_else(|| "<diff>".to_owned());
        if let Some(line) = loc.line {
            let _ = write!(at, ":{line}");
            if let Some(col) = loc.column {
                let _ = write!(at, ":{col}");
            }
        }
        let side = match loc.side {
            Side::Old => " (old)",
            Side::Diff => " (diff line)",
            Side::New => "",
        };
        let status = match (&e.suppression, e.action) {
            (Some(s), _) => format!("suppressed:{}", s.kind()),
            (None, Action::Block) => "BLOCK".to_owned(),
            (None, Action::Warn) => "warn".to_owned(),
            (None, Action::Off) => "off".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:>8} {:<14} {} {at}{side}: {}",
            f.severity(),
            status,
            f.rule_id(),
            f.message()
        );
        if let Some(ev) = f.evidence() {
            let _ = writeln!(out, "         | {ev}");
        }
        if !f.decoding().is_empty() {
            let _ = writeln!(out, "         | revealed by: {}", f.decoding().join(" → "));
        }
        if let Some(s) = &e.suppression {
            let _ = writeln!(out, "         | {}", safe(&s.justification()));
        }
    }
    for x in v.expired_exceptions() {
        let _ = writeln!(out, "  expired exception (not applied): {}", safe(x));
    }
    for img in v.post_images() {
        let _ = writeln!(
            out,
            "  verified {} blob {} sha256 {}",
            img.path.display(),
            img.blob_id,
            img.sha256
        );
    }
    let (pid, _, phash) = v.policy();
    let blocking = v.blocking().count();
    let verdict = match v.decision() {
        Decision::Pass => "PASS".to_owned(),
        Decision::Fail => "FAIL".to_owned(),
        Decision::Error => format!(
            "ERROR ({}; {})",
            safe(v.error().unwrap_or("unknown")),
            if v.blocks() {
                "fail-closed: blocks"
            } else {
                "fail-open: does not block"
            }
        ),
    };
    let _ = writeln!(
        out,
        "{verdict}: {} finding(s), {blocking} blocking, {} suppressed — policy {} ({})",
        v.findings().len(),
        v.suppressed().count(),
        safe(pid),
        &phash[..phash.len().min(12)]
    );
    out
}
