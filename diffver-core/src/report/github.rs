//! GitHub Actions workflow commands (`::error file=…,line=…::message`).

use crate::policy::Action;
use crate::verdict::Verdict;

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
        .filter(|c| !c.is_control() && !crate::text::is_deceptive_char(*c))
        .collect()
}

/// One workflow command per unsuppressed finding: `error` for blocking,
/// `warning` for warnings.
pub fn github_annotations(v: &Verdict) -> String {
    let mut out = String::new();
    for e in v
        .findings()
        .iter()
        .filter(|e| e.suppression.is_none() && e.action != Action::Off)
    {
        let f = &e.finding;
        let level = if e.is_blocking() { "error" } else { "warning" };
        let mut props = Vec::new();
        if let Some(p) = &f.location().path {
            props.push(format!("file={}", property(p)));
            if f.location().side == crate::finding::Side::New {
                if let Some(l) = f.location().line {
                    props.push(format!("line={l}"));
                }
                if let Some(c) = f.location().column {
                    props.push(format!("col={c}"));
                }
            }
        }
        props.push(format!(
            "title={}",
            property(&format!("{} ({})", f.rule_id(), f.severity()))
        ));
        out.push_str(&format!(
            "::{level} {}::{}\n",
            props.join(","),
            data(f.message())
        ));
    }
    out
}
