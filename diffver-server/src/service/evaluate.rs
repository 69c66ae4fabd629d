//! One scan, the way a worker runs it: resolve the tenant's policy with its stored
//! exceptions and fail-open/closed setting, evaluate with diffver-core, render, and
//! make the statement to sign ([`Unsigned`]); the worker has it signed (a local key,
//! or a KMS call) and [`Unsigned::seal`] assembles the envelope.
//!
//! Everything here is a function of its inputs: the scan time is the scan's creation
//! time (not the attempt's), so a retried job produces the same artifact bytes.

use anyhow::Context as _;
use diffver_core::artifact::wire::VerdictV2;
use diffver_core::artifact::{self, RawSignature, SignerIdentity};
use diffver_core::policy::Policy;
use diffver_core::report;
use diffver_core::suppress::{Baseline, Timestamp};
use diffver_core::verdict::{self, Inputs, ScanContext};
use diffver_store::{Decision, NewFinding, OnErrorMode, PolicyException};

/// Where a scan's policy comes from.
#[derive(Debug, Clone)]
pub enum PolicySource {
    /// A built-in profile (`strict`, `standard`, `permissive`).
    Builtin(String),
    /// A stored policy version's TOML body.
    Stored {
        /// The policy's name.
        name: String,
        /// Its version.
        version: i32,
        /// The TOML body.
        body: String,
    },
}

/// What a worker stores for a finished scan.
#[derive(Debug)]
pub struct Rendered {
    /// The DSSE envelope.
    pub envelope: Vec<u8>,
    /// The HTML report.
    pub html: String,
    /// The decision.
    pub decision: Decision,
    /// Whether it blocks.
    pub blocking: bool,
    /// The applied policy's canonical hash.
    pub policy_hash: String,
    /// The findings in their total order.
    pub findings: Vec<NewFinding>,
}

/// A finished scan before its signature: the statement to sign and what is
/// stored with the artifact.
#[derive(Debug)]
pub struct Unsigned {
    /// The in-toto statement (canonical JSON) naming the signer.
    pub payload: Vec<u8>,
    /// The signer's key id.
    key_id: String,
    /// The rest of [`Rendered`].
    rendered: Rendered,
}

impl Unsigned {
    /// The exact bytes to sign (DSSE PAE of the payload).
    pub fn signing_input(&self) -> Vec<u8> {
        artifact::signing_input(&self.payload)
    }

    /// The scan's outputs with the envelope of the payload and `signature`.
    ///
    /// # Errors
    ///
    /// Only if the core refuses the envelope (it cannot for a payload it made).
    pub fn seal(self, signature: Vec<u8>) -> anyhow::Result<Rendered> {
        let envelope = artifact::assemble(
            &self.payload,
            &[RawSignature {
                key_id: self.key_id,
                sig: signature,
            }],
        )?;
        Ok(Rendered {
            envelope,
            ..self.rendered
        })
    }
}

/// The policy of a scan: the source, then the tenant's exceptions appended (each
/// with its expiry), then the tenant's `on_error` override. All of it is in the
/// policy's canonical hash, so the artifact shows what was applied.
///
/// # Errors
///
/// A stored body that no longer parses, or an exception the core refuses.
pub fn resolve_policy(
    source: &PolicySource,
    exceptions: &[PolicyException],
    on_error: OnErrorMode,
) -> anyhow::Result<Policy> {
    let (mut doc, label) = match source {
        PolicySource::Builtin(name) => (
            serde_json::json!({"schema": "diffver.policy/v1", "id": name, "extends": name}),
            name.clone(),
        ),
        PolicySource::Stored {
            name,
            version,
            body,
        } => (
            toml::from_str::<serde_json::Value>(body)
                .with_context(|| format!("stored policy {name} v{version} does not parse"))?,
            format!("{name} v{version}"),
        ),
    };
    let Some(obj) = doc.as_object_mut() else {
        anyhow::bail!("policy {label} is not a table");
    };
    match on_error {
        OnErrorMode::FailOpen => {
            obj.insert("on_error".into(), "fail_open".into());
        }
        OnErrorMode::FailClosed => {
            obj.insert("on_error".into(), "fail_closed".into());
        }
        // `policy` (and any later mode): what the policy says.
        _ => {}
    }
    if !exceptions.is_empty() {
        let list = obj
            .entry("exception")
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        let Some(list) = list.as_array_mut() else {
            anyhow::bail!("policy {label}: `exception` is not a list");
        };
        for e in exceptions {
            let mut x = serde_json::Map::new();
            x.insert("rule".into(), e.rule_id.clone().into());
            if let Some(p) = &e.path {
                x.insert("paths".into(), serde_json::json!([p]));
            }
            if let Some(f) = &e.fingerprint {
                x.insert("fingerprint".into(), f.clone().into());
            }
            x.insert("reason".into(), e.reason.clone().into());
            x.insert("author".into(), e.author.clone().into());
            let expires = Timestamp::from_unix_seconds(e.expires.0.div_euclid(1000))
                .context("exception expiry out of range")?;
            x.insert("expires_at".into(), expires.to_rfc3339().into());
            list.push(serde_json::Value::Object(x));
        }
    }
    let json = serde_json::to_string(&doc)?;
    Ok(Policy::from_json(&json, &format!("tenant policy {label}"))?)
}

/// The scan time of a scan created at `created_ms`.
///
/// # Errors
///
/// A time outside what artifacts can record.
pub fn scan_time(created_ms: i64) -> anyhow::Result<Timestamp> {
    Ok(Timestamp::from_unix_seconds(created_ms.div_euclid(1000))?)
}

/// Evaluates and renders a scan, and makes the statement `signer` will sign (CPU
/// work: run it off the async runtime).
///
/// # Errors
///
/// A scan id the core refuses, rules that do not load, or a key id the core refuses.
pub fn evaluate(
    diff: &[u8],
    policy: &Policy,
    baseline: Option<&Baseline>,
    scan_id: &str,
    now: Timestamp,
    signer: &SignerIdentity,
) -> anyhow::Result<Unsigned> {
    let rules = verdict::ruleset_shared(policy, &[])?;
    let ctx = ScanContext::new(scan_id, now)?;
    let mut inputs = Inputs::new(diff, &rules, policy, &ctx);
    inputs.threads = 1;
    inputs.baseline = baseline;
    let v = verdict::evaluate(&inputs);
    render(&v, diff, &rules, signer)
}

/// The verdict for a scan that could not be completed (its attempts are used up):
/// `error`, blocking unless the policy (with the tenant's override) is fail-open.
///
/// # Errors
///
/// A scan id or key id the core refuses.
pub fn internal_error(
    policy: &Policy,
    scan_id: &str,
    now: Timestamp,
    reason: &str,
    diff: (&str, usize),
    signer: &SignerIdentity,
) -> anyhow::Result<Unsigned> {
    let rules = verdict::ruleset_shared(policy, &[])?;
    let ctx = ScanContext::new(scan_id, now)?;
    let inputs = Inputs::new(&[], &rules, policy, &ctx);
    // The verdict names the diff that was accepted (by its recorded digest and size),
    // not the empty input it is evaluated on.
    let v = verdict::internal_error_for(&inputs, diff.0, diff.1, reason);
    render(&v, &[], &rules, signer)
}

fn render(
    v: &verdict::Verdict,
    diff: &[u8],
    rules: &diffver_core::rules::Ruleset,
    signer: &SignerIdentity,
) -> anyhow::Result<Unsigned> {
    let payload = artifact::payload(v, signer)?;
    let wire = VerdictV2::from_verdict(v);
    let html = report::html(&wire, diff, &rules.secret_spans(diff));
    let findings = wire
        .findings
        .iter()
        .map(|f| NewFinding {
            rule_id: f.rule_id.clone(),
            severity: f.severity.as_str().to_owned(),
            path: f.path.clone(),
            line: f.line.map(i64::from),
            fingerprint: f.fingerprint.clone(),
            blocking: f.blocking,
            suppressed: f.suppression.is_some(),
            message: f.message.clone(),
        })
        .collect();
    let decision = match v.decision() {
        verdict::Decision::Pass => Decision::Pass,
        verdict::Decision::Fail => Decision::Fail,
        verdict::Decision::Error => Decision::Error,
    };
    Ok(Unsigned {
        payload,
        key_id: signer.key_id.clone(),
        rendered: Rendered {
            envelope: Vec::new(),
            html,
            decision,
            blocking: v.blocks(),
            policy_hash: v.policy().2.to_owned(),
            findings,
        },
    })
}
