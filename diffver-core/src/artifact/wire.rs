//! Wire format v1 of signed verdicts. These types are frozen: changing a
//! field changes signed bytes, so a change here is a new version. They are
//! built from internal types by explicit conversion, never by deriving
//! `Serialize` on internal structs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::finding::Side;
use crate::verdict::{Evaluated, Verdict};

/// in-toto Statement v1 type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// Predicate type of a diffver verdict.
pub const PREDICATE_TYPE: &str = "https://diffver.dev/verdict/v1";
/// Schema of the predicate.
pub const VERDICT_SCHEMA: &str = "diffver.verdict/v1";

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Base64 of the payload bytes.
    pub payload: String,
    /// The payload's media type.
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Signatures over the PAE of type and payload.
    pub signatures: Vec<Signature>,
}

/// One DSSE signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// Key id.
    pub keyid: String,
    /// Base64 signature.
    pub sig: String,
}

/// An in-toto Statement v1 about the diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// The diff: `diffs/{scan_id}.patch` with its sha256.
    pub subject: Vec<Subject>,
    /// Always [`PREDICATE_TYPE`].
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The verdict.
    pub predicate: VerdictV1,
}

/// A statement subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// Name.
    pub name: String,
    /// Algorithm -> hex digest.
    pub digest: BTreeMap<String, String>,
}

/// The verdict predicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictV1 {
    /// Always [`VERDICT_SCHEMA`].
    pub schema: String,
    /// Scan id.
    pub scan_id: String,
    /// Scan time, RFC 3339 UTC.
    pub scanned_at: String,
    /// `pass`, `fail` or `error`.
    pub decision: String,
    /// Whether the change should be stopped.
    pub blocks: bool,
    /// Why the scan failed, for `error`.
    pub error: Option<String>,
    /// The tool.
    pub tool: ToolV1,
    /// The policy.
    pub policy: PolicyV1,
    /// The rules.
    pub ruleset: RulesetV1,
    /// The diff.
    pub diff: DiffV1,
    /// Counts.
    pub summary: SummaryV1,
    /// Findings in their total order.
    pub findings: Vec<FindingV1>,
    /// Exceptions that matched but had expired.
    pub expired_exceptions: Vec<String>,
    /// Verified post-images.
    pub post_images: Vec<PostImageV1>,
}

/// Tool identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolV1 {
    /// `diffver`.
    pub name: String,
    /// Crate version.
    pub version: String,
}

/// Policy identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyV1 {
    /// Id.
    pub id: String,
    /// Version.
    pub version: String,
    /// Canonical hash.
    pub sha256: String,
}

/// Ruleset identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesetV1 {
    /// Hash of the rule sources.
    pub sha256: String,
    /// Number of rules.
    pub rules: u64,
}

/// Diff facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffV1 {
    /// SHA-256 of the diff bytes.
    pub sha256: String,
    /// Size.
    pub bytes: u64,
    /// File patches.
    pub files: u64,
    /// Added lines.
    pub added: u64,
    /// Removed lines.
    pub removed: u64,
}

/// Finding counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryV1 {
    /// All findings.
    pub findings: u64,
    /// Blocking.
    pub blocking: u64,
    /// Warnings (not blocking, not suppressed, not off).
    pub warnings: u64,
    /// Suppressed.
    pub suppressed: u64,
    /// Turned off by policy.
    pub off: u64,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingV1 {
    /// Rule id.
    pub rule_id: String,
    /// Rule title.
    pub title: String,
    /// Category.
    pub category: String,
    /// Severity.
    pub severity: String,
    /// Confidence.
    pub confidence: String,
    /// `block`, `warn` or `off`.
    pub action: String,
    /// Whether it blocks.
    pub blocking: bool,
    /// What suppressed it.
    pub suppression: Option<SuppressionV1>,
    /// File path (escaped display form).
    pub path: Option<String>,
    /// `new`, `old` or `diff`.
    pub side: String,
    /// Line.
    pub line: Option<u32>,
    /// Column in characters.
    pub column: Option<u32>,
    /// Column in bytes.
    pub byte_column: Option<u32>,
    /// Byte offset in the diff.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// Message.
    pub message: String,
    /// Escaped, redacted excerpt.
    pub evidence: Option<String>,
    /// Decodings that revealed it.
    pub decoding: Vec<String>,
    /// Content-based fingerprint.
    pub fingerprint: String,
}

/// A suppression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressionV1 {
    /// `exception`, `baseline` or `inline-comment`.
    pub kind: String,
    /// Why.
    pub justification: String,
}

/// A verified post-image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostImageV1 {
    /// Path (escaped display form).
    pub path: String,
    /// Git blob id.
    pub blob_id: String,
    /// SHA-256 of the content.
    pub sha256: String,
    /// Size.
    pub size: u64,
}

fn side(s: Side) -> &'static str {
    match s {
        Side::New => "new",
        Side::Old => "old",
        Side::Diff => "diff",
    }
}

impl FindingV1 {
    /// The wire form of an evaluated finding.
    pub fn from_evaluated(e: &Evaluated) -> FindingV1 {
        let f = &e.finding;
        let l = f.location();
        FindingV1 {
            rule_id: f.rule_id().to_owned(),
            title: f.rule().title.to_string(),
            category: f.category().as_str().to_owned(),
            severity: f.severity().as_str().to_owned(),
            confidence: f.confidence().as_str().to_owned(),
            action: e.action.as_str().to_owned(),
            blocking: e.is_blocking(),
            suppression: e.suppression.as_ref().map(|s| SuppressionV1 {
                kind: s.kind().to_owned(),
                justification: s.justification(),
            }),
            path: l.path.clone(),
            side: side(l.side).to_owned(),
            line: l.line,
            column: l.column,
            byte_column: l.byte_column,
            offset: l.span.start as u64,
            length: l.span.len() as u64,
            message: f.message().to_owned(),
            evidence: f.evidence().map(str::to_owned),
            decoding: f.decoding().iter().map(|d| (*d).to_owned()).collect(),
            fingerprint: f.fingerprint().to_owned(),
        }
    }
}

impl VerdictV1 {
    /// The wire form of a verdict.
    pub fn from_verdict(v: &Verdict) -> VerdictV1 {
        let (pid, pver, phash) = v.policy();
        let (rhash, rules) = v.ruleset();
        let findings: Vec<FindingV1> = v.findings().iter().map(FindingV1::from_evaluated).collect();
        let count =
            |p: &dyn Fn(&Evaluated) -> bool| v.findings().iter().filter(|e| p(e)).count() as u64;
        VerdictV1 {
            schema: VERDICT_SCHEMA.to_owned(),
            scan_id: v.context().scan_id.clone(),
            scanned_at: v.context().now.to_rfc3339(),
            decision: v.decision().as_str().to_owned(),
            blocks: v.blocks(),
            error: v.error().map(str::to_owned),
            tool: ToolV1 {
                name: "diffver".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            policy: PolicyV1 {
                id: pid.to_owned(),
                version: pver.to_owned(),
                sha256: phash.to_owned(),
            },
            ruleset: RulesetV1 {
                sha256: rhash.to_owned(),
                rules: rules as u64,
            },
            diff: DiffV1 {
                sha256: v.diff().sha256.clone(),
                bytes: v.diff().bytes as u64,
                files: v.diff().files as u64,
                added: v.diff().added as u64,
                removed: v.diff().removed as u64,
            },
            summary: SummaryV1 {
                findings: findings.len() as u64,
                blocking: count(&|e| e.is_blocking()),
                warnings: count(&|e| {
                    e.suppression.is_none() && e.action == crate::policy::Action::Warn
                }),
                suppressed: count(&|e| e.suppression.is_some()),
                off: count(&|e| e.suppression.is_none() && e.action == crate::policy::Action::Off),
            },
            findings,
            expired_exceptions: v.expired_exceptions().to_vec(),
            post_images: v
                .post_images()
                .iter()
                .map(|p| PostImageV1 {
                    path: p.path.display(),
                    blob_id: p.blob_id.clone(),
                    sha256: p.sha256.clone(),
                    size: p.size as u64,
                })
                .collect(),
        }
    }
}

impl Statement {
    /// The statement about a verdict's diff.
    pub fn from_verdict(v: &Verdict) -> Statement {
        let mut digest = BTreeMap::new();
        digest.insert("sha256".to_owned(), v.diff().sha256.clone());
        Statement {
            statement_type: STATEMENT_TYPE.to_owned(),
            subject: vec![Subject {
                name: format!("diffs/{}.patch", v.context().scan_id),
                digest,
            }],
            predicate_type: PREDICATE_TYPE.to_owned(),
            predicate: VerdictV1::from_verdict(v),
        }
    }

    /// Checks the fixed fields after parsing.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.statement_type != STATEMENT_TYPE {
            return Err(format!("statement type {:?}", self.statement_type));
        }
        if self.predicate_type != PREDICATE_TYPE {
            return Err(format!("predicate type {:?}", self.predicate_type));
        }
        if self.predicate.schema != VERDICT_SCHEMA {
            return Err(format!("schema {:?}", self.predicate.schema));
        }
        let subject_ok = self.subject.len() == 1
            && self.subject[0].digest.get("sha256") == Some(&self.predicate.diff.sha256);
        if !subject_ok {
            return Err("the subject digest does not match the verdict's diff".into());
        }
        Ok(())
    }
}
