//! The terminal report.

use std::fmt::Write as _;

use crate::artifact::wire::{ActionV2, Decision, SideV2, SuppressionKind, VerdictV2};

fn kind(k: SuppressionKind) -> &'static str {
    match k {
        SuppressionKind::Exception => "exception",
        SuppressionKind::Baseline => "baseline",
        SuppressionKind::InlineComment => "inline-comment",
    }
}

/// A human-readable report of a (wire) verdict; no raw control character
/// from the input.
pub fn text(v: &VerdictV2, name: &str) -> String {
    let safe = |s: &str| crate::text::escape_for_display(s.as_bytes());
    let mut out = String::new();
    let d = &v.diff;
    let _ = writeln!(
        out,
        "diffver: {} — {} file(s), +{} -{}",
        crate::text::escape_for_display(name.as_bytes()),
        d.files,
        d.added,
        d.removed
    );
    for f in &v.findings {
        let mut at = f.path.clone().unwrap_or_else(|| "<diff>".to_owned());
        if let Some(line) = f.line {
            let _ = write!(at, ":{line}");
            if let Some(col) = f.column {
                let _ = write!(at, ":{col}");
            }
        }
        let side = match f.side {
            SideV2::Old => " (old)",
            SideV2::Diff => " (diff line)",
            SideV2::New => "",
        };
        let status = match (&f.suppression, f.action) {
            (Some(s), _) => format!("suppressed:{}", kind(s.kind)),
            (None, ActionV2::Block) => "BLOCK".to_owned(),
            (None, ActionV2::Warn) => "warn".to_owned(),
            (None, ActionV2::Off) => "off".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:>8} {:<14} {} {at}{side}: {}",
            f.severity.as_str(),
            status,
            safe(&f.rule_id),
            safe(&f.message)
        );
        if let Some(ev) = &f.evidence {
            let _ = writeln!(out, "         | {}", safe(ev));
        }
        if !f.decoding.is_empty() {
            let _ = writeln!(
                out,
                "         | revealed by: {}",
                safe(&f.decoding.join(" → "))
            );
        }
        if let Some(s) = &f.suppression {
            let _ = writeln!(out, "         | {}", safe(&s.justification));
        }
    }
    for x in &v.expired_exceptions {
        let _ = writeln!(out, "  expired exception (not applied): {}", safe(x));
    }
    for img in &v.post_images {
        let _ = writeln!(
            out,
            "  verified {} blob {} sha256 {}",
            safe(&img.path),
            safe(&img.blob_id),
            safe(&img.sha256)
        );
    }
    let phash = &v.policy.sha256;
    let verdict = match v.decision {
        Decision::Pass => "PASS".to_owned(),
        Decision::Fail => "FAIL".to_owned(),
        Decision::Error => format!(
            "ERROR ({}; {})",
            safe(v.error.as_ref().map_or("unknown", |e| e.message.as_str())),
            if v.blocks {
                "fail-closed: blocks"
            } else {
                "fail-open: does not block"
            }
        ),
    };
    let _ = writeln!(
        out,
        "{verdict}: {} finding(s), {} blocking, {} suppressed — policy {} ({})",
        v.summary.findings,
        v.summary.blocking,
        v.summary.suppressed,
        safe(&v.policy.id),
        safe(&phash.chars().take(12).collect::<String>())
    );
    out
}
