//! GitHub Actions workflow commands (`::error file=…,line=…::message`).

use crate::artifact::wire::{ActionV2, Decision, SideV2, VerdictV2};

/// Escapes data for a workflow command message.
fn data(s: &str) -> String {
    neutral(s)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command property value.
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Text from the input is already escaped; this also drops any character a
/// terminal or the runner could act on.
fn neutral(s: &str) -> String {
    s.chars()
        .filter(|c| !crate::text::is_display_hazard(*c))
        .collect()
}

/// One workflow command per unsuppressed finding: `error` for blocking,
/// `warning` for warnings; and an `error` for a scan that could not complete.
pub fn github_annotations(v: &VerdictV2) -> String {
    let mut out = String::new();
    if v.decision == Decision::Error {
        let reason = v.error.as_ref().map_or("unknown", |e| e.message.as_str());
        out.push_str(&format!(
            "::error title={}::{}\n",
            property("diffver: the scan could not be completed"),
            data(&format!(
                "{reason} ({})",
                if v.blocks {
                    "blocks the change"
                } else {
                    "fail-open: does not block"
                }
            ))
        ));
    }
    for f in v
        .findings
        .iter()
        .filter(|f| f.suppression.is_none() && f.action != ActionV2::Off)
    {
        let level = if f.blocking { "error" } else { "warning" };
        let mut props = Vec::new();
        if let Some(p) = &f.path {
            props.push(format!("file={}", property(p)));
            if f.side == SideV2::New {
                if let Some(l) = f.line {
                    props.push(format!("line={l}"));
                }
                if let Some(c) = f.column {
                    props.push(format!("col={c}"));
                }
            }
        }
        props.push(format!(
            "title={}",
            property(&format!("{} ({})", f.rule_id, f.severity.as_str()))
        ));
        out.push_str(&format!(
            "::{level} {}::{}\n",
            props.join(","),
            data(&f.message)
        ));
    }
    out
}
