//! SARIF 2.1.0 for GitHub code scanning and other consumers.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::artifact::wire::{
    ActionV2, Confidence, Decision, FindingV2, Severity, SideV2, SuppressionKind, VerdictV2,
};

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

fn level(f: &FindingV2) -> &'static str {
    match (f.action, f.severity) {
        (ActionV2::Block, _) => "error",
        (ActionV2::Warn, Severity::Info) | (ActionV2::Off, _) => "note",
        (ActionV2::Warn, _) => "warning",
    }
}

/// The verdict as a SARIF 2.1.0 log (one run). A scan that could not
/// complete says so: `invocations[0].executionSuccessful` is `false` and a
/// tool execution notification carries the reason.
pub fn sarif(v: &VerdictV2) -> String {
    let mut rules: BTreeMap<String, (usize, Value)> = BTreeMap::new();
    for f in &v.findings {
        if rules.contains_key(&f.rule_id) {
            continue;
        }
        let title = f.title.clone();
        let descriptor = json!({
            "id": f.rule_id,
            "name": f.rule_id.replace(['.', '-'], "_"),
            "shortDescription": { "text": title },
            "fullDescription": { "text": title },
            "help": { "text": format!("{title}. See `diffver rules explain {}`.", f.rule_id) },
            "defaultConfiguration": { "level": if f.severity >= Severity::High { "error" } else { "warning" } },
            "properties": {
                "tags": ["security", f.category],
                "security-severity": security_severity(f.severity),
                "precision": match f.confidence {
                    Confidence::High => "high",
                    Confidence::Medium => "medium",
                    Confidence::Low => "low",
                },
            }
        });
        let index = rules.len();
        rules.insert(f.rule_id.clone(), (index, descriptor));
    }
    let mut ordered: Vec<(usize, Value)> = rules.values().cloned().collect();
    ordered.sort_by_key(|(i, _)| *i);
    let diff_name = crate::artifact::wire::subject_name(&v.scan_id);
    let results: Vec<Value> = v
        .findings
        .iter()
        .map(|f| {
            let (file, line, col) = match (&f.path, f.side) {
                (Some(p), SideV2::New) => (uri(p), f.line.unwrap_or(1), f.column),
                (Some(p), _) => (uri(p), 1, None),
                (None, _) => (uri(&diff_name), f.line.unwrap_or(1), None),
            };
            let mut region = json!({ "startLine": line.max(1) });
            if let Some(c) = col {
                region["startColumn"] = json!(c.max(1));
            }
            let mut r = json!({
                "ruleId": f.rule_id,
                "ruleIndex": rules.get(&f.rule_id).map_or(0, |(i, _)| *i),
                "level": level(f),
                "message": { "text": f.message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": file },
                        "region": region
                    }
                }],
                "partialFingerprints": { "diffver/v1": f.fingerprint },
                "properties": {
                    "severity": f.severity,
                    "action": f.action,
                    "decoding": f.decoding,
                }
            });
            if let Some(s) = &f.suppression {
                let kind = if s.kind == SuppressionKind::InlineComment {
                    "inSource"
                } else {
                    "external"
                };
                r["suppressions"] = json!([{ "kind": kind, "justification": s.justification }]);
            }
            r
        })
        .collect();
    let mut invocation = json!({ "executionSuccessful": v.decision != Decision::Error });
    if let Some(e) = &v.error {
        invocation["toolExecutionNotifications"] = json!([{
            "level": "error",
            "message": { "text": format!("the scan could not be completed ({} error): {}", match e.kind {
                crate::artifact::wire::ErrorKind::Input => "input",
                crate::artifact::wire::ErrorKind::Internal => "internal",
            }, e.message) },
        }]);
    }
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "diffver",
                "version": v.tool.version,
                "semanticVersion": v.tool.version,
                "informationUri": "https://github.com/diffver/diffver",
                "rules": ordered.into_iter().map(|(_, d)| d).collect::<Vec<_>>()
            }},
            "invocations": [invocation],
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": {
                "decision": v.decision,
                "policy": { "id": v.policy.id, "version": v.policy.version, "sha256": v.policy.sha256 },
                "diffSha256": v.diff.sha256,
            }
        }]
    });
    let mut s = serde_json::to_string_pretty(&log).unwrap_or_default();
    s.push('\n');
    s
}
