//! The terminal report. Everything taken from the diff is already escaped by
//! the core (paths, messages, evidence), so no raw control character from the
//! input reaches the terminal.

use std::io::Write;

use diffver_core::diff::Diff;
use diffver_core::finding::Severity;
use diffver_core::scan::ScanReport as Report;

pub(crate) fn write(
    out: &mut impl Write,
    name: &str,
    diff: &Diff<'_>,
    report: &Report,
    threshold: Severity,
) -> std::io::Result<()> {
    let safe = |s: &str| diffver_core::text::escape_for_display(s.as_bytes());
    let files = diff.files().len();
    let (added, removed) = diff.files().iter().fold((0, 0), |(a, r), f| {
        let (fa, fr) = f.line_counts();
        (a + fa, r + fr)
    });
    writeln!(
        out,
        "diffver: {} — {files} file(s), +{added} -{removed}",
        safe(name)
    )?;
    for f in report.findings() {
        let loc = f.location();
        let mut at = loc.path.clone().unwrap_or_else(|| "<diff>".to_owned());
        if let Some(line) = loc.line {
            at.push_str(&format!(":{line}"));
            if let Some(col) = loc.column {
                at.push_str(&format!(":{col}"));
            }
        }
        let side = match loc.side {
            diffver_core::finding::Side::Old => " (old)",
            diffver_core::finding::Side::Diff => " (diff line)",
            diffver_core::finding::Side::New => "",
        };
        writeln!(
            out,
            "{:>8} {} {at}{side}: {}",
            f.severity(),
            f.rule_id(),
            f.message()
        )?;
        if let Some(e) = f.evidence() {
            writeln!(out, "         | {e}")?;
        }
        if !f.decoding().is_empty() {
            writeln!(out, "         | revealed by: {}", f.decoding().join(" → "))?;
        }
    }
    for img in report.post_images() {
        writeln!(
            out,
            "  verified {} blob {} sha256 {}",
            img.path.display(),
            img.blob_id,
            img.sha256
        )?;
    }
    let blocking = report
        .findings()
        .iter()
        .filter(|f| f.severity() >= threshold)
        .count();
    let verdict = if blocking > 0 { "FAIL" } else { "PASS" };
    writeln!(
        out,
        "{verdict}: {} finding(s), {blocking} at or above {threshold}",
        report.findings().len()
    )
}
