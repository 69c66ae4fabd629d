//! SARIF 2.1.0 for GitHub code scanning and other consumers.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::finding::{Severity, Side};
use crate::policy::Action;
use crate::suppress::Suppression;
use crate::verdict::{Evaluated, Verdict};

/// Percent-encodes a relative path into a URI reference.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

fn level(e: &Evaluated) -> &'static str {
    match (e.action, e.finding.severity()) {
        (Action::Block, _) => "error",
        (Action::Warn, Severity::Info) | (Action::Off, _) => "note",
        (Action::Warn, _) => "warning",
    }
}

/// The verdict as a SARIF 2.1.0 log (one run).
pub fn sarif(v: &Verdict) -> String {
    let mut rules: BTreeMap<String, (usize, Value)> = BTreeMap::new();
    for e in v.findings() {
        let f = &e.finding;
        if rules.contains_key(f.rule_id()) {
            continue;
        }
        let title = f.rule().title.to_string();
        let descriptor = json!({
            "id": f.rule_id(),
            "name": f.rule_id().replace(['.', '-'], "_"),
            "shortDescription": { "text": title },
            "fullDescription": { "text": title },
            "help": { "text": format!("{title}. See `diffver rules explain {}`.", f.rule_id()) },
            "defaultConfiguration": { "level": if f.rule().severity >= Severity::High { "error" } else { "warning" } },
            "properties": {
                "tags": ["security", f.category().as_str()],
                "security-severity": security_severity(f.rule().severity),
                "precision": match f.confidence() {
                    crate::finding::Confidence::High => "high",
                    crate::finding::Confidence::Medium => "medium",
                    crate::finding::Confidence::Low => "low",
                },
            }
        });
        let index = rules.len();
        rules.insert(f.rule_id().to_owned(), (index, descriptor));
    }
    let mut ordered: Vec<(usize, Value)> = rules.values().cloned().collect();
    ordered.sort_by_key(|(i, _)| *i);
    let diff_name = format!("diffs/{}.patch", v.context().scan_id);
    let results: Vec<Value> = v
        .findings()
        .iter()
        .map(|e| {
            let f = &e.finding;
            let loc = f.location();
            let (file, line, col) = match (&loc.path, loc.side) {
                (Some(p), Side::New) => (uri(p), loc.line.unwrap_or(1), loc.column),
                (Some(p), _) => (uri(p), 1, None),
                (None, _) => (uri(&diff_name), loc.line.unwrap_or(1), None),
            };
            let mut region = json!({ "startLine": line.max(1) });
            if let Some(c) = col {
                region["startColumn"] = json!(c.max(1));
            }
            let mut r = json!({
                "ruleId": f.rule_id(),
                "ruleIndex": rules.get(f.rule_id()).map_or(0, |(i, _)| *i),
                "level": level(e),
                "message": { "text": f.message() },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": file },
                        "region": region
                    }
                }],
                "partialFingerprints": { "diffver/v1": f.fingerprint() },
                "properties": {
                    "severity": f.severity().as_str(),
                    "action": e.action.as_str(),
                    "decoding": f.decoding(),
                }
            });
            if let Some(s) = &e.suppression {
                let kind = if matches!(s, Suppression::InlineComment) {
                    "inSource"
                } else {
                    "external"
                };
                r["suppressions"] = json!([{ "kind": kind, "justification": s.justification() }]);
            }
            r
        })
        .collect();
    let (pid, pver, phash) = v.policy();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "diffver",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/diffver/diffver",
                "rules": ordered.into_iter().map(|(_, d)| d).collect::<Vec<_>>()
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": {
                "decision": v.decision().as_str(),
                "policy": { "id": pid, "version": pver, "sha256": phash },
                "diffSha256": v.diff().sha256,
            }
        }]
    });
    let mut s = serde_json::to_string_pretty(&log).unwrap_or_default();
    s.push('\n');
    s
}
