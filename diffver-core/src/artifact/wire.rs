//! Wire format v2 of signed verdicts (specified in `docs/artifact.md`, with
//! a JSON Schema in `docs/verdict-v2.schema.json`).
//!
//! These types are frozen: changing a field changes signed bytes, so a change
//! here is a new version. They are built from internal types by explicit
//! conversion, never by deriving `Serialize` on internal structs. Closed sets
//! (decision, severity, side, …) are enums, so a payload with a value outside
//! the set does not parse; [`VerdictV2::check`] then checks that the parts
//! agree with each other (counts, decision, blocking flags).
//!
//! v1 (unspecified, before 0.1) had no signer and no raw paths and carried
//! every closed set as free text; it is no longer accepted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::finding::{self, Side};
use crate::policy::Action;
use crate::verdict::{self, Evaluated, Verdict};

/// in-toto Statement v1 type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// Predicate type of a diffver verdict.
pub const PREDICATE_TYPE: &str = "https://diffver.dev/verdict/v2";
/// Schema of the predicate.
pub const VERDICT_SCHEMA: &str = "diffver.verdict/v2";

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
    pub predicate: VerdictV2,
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

/// The outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// No blocking findings.
    Pass,
    /// At least one blocking finding.
    Fail,
    /// The scan could not be completed.
    Error,
}

impl Decision {
    /// `pass`, `fail` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Pass => "pass",
            Decision::Fail => "fail",
            Decision::Error => "error",
        }
    }
}

/// Severity, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// Confidence of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// The diff's structure.
    Integrity,
    /// Unsafe paths.
    PathSafety,
    /// Symlinks, submodules, executable bits.
    ModeHazard,
    /// Content that cannot be scanned.
    OpaqueContent,
    /// Terminal escape sequences.
    TerminalEscape,
    /// Apply verification against a base.
    Apply,
    /// Prompt injection.
    PromptInjection,
    /// Hidden or deceptive Unicode.
    HiddenUnicode,
    /// Secrets.
    Secret,
    /// CI injection.
    CiInjection,
    /// Code execution and supply chain.
    CodeExec,
}

/// The policy's action for a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionV2 {
    /// Makes the decision `fail` unless suppressed.
    Block,
    /// Reported, not blocking.
    Warn,
    /// Listed, ignored by the decision.
    Off,
}

/// Which side a finding's line counts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SideV2 {
    /// The post-image (new line numbers).
    New,
    /// The pre-image (old line numbers).
    Old,
    /// The diff text itself (line numbers in the diff).
    Diff,
}

/// What suppressed a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuppressionKind {
    /// A policy exception.
    Exception,
    /// A baseline fingerprint.
    Baseline,
    /// A `diffver-ignore` comment the policy honours.
    InlineComment,
}

/// Whether a signature was made with the published development key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyMode {
    /// The published development key: proves integrity in transit only.
    Development,
    /// An operator's key.
    Operator,
}

impl KeyMode {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyMode::Development => "development",
            KeyMode::Operator => "operator",
        }
    }
}

/// Signature algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// HMAC-SHA256 over the PAE bytes (32 bytes).
    HmacSha256,
    /// ECDSA over P-256 with SHA-256 over the PAE bytes, DER-encoded.
    EcdsaP256Sha256,
}

impl Algorithm {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
        }
    }
}

/// Who signed: recorded inside the signed bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerV2 {
    /// The key id (also the envelope signature's `keyid`).
    pub key_id: String,
    /// Development or operator key.
    pub mode: KeyMode,
    /// The algorithm.
    pub algorithm: Algorithm,
}

/// Where an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// The input (diff, rules, policy) is malformed or over a limit: the
    /// submitter controls it, so it always blocks.
    Input,
    /// A fault of the machinery (storage, signer): the policy's `on_error`
    /// decides whether it blocks.
    Internal,
}

/// Why a scan could not complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorV2 {
    /// Input or internal.
    pub kind: ErrorKind,
    /// What went wrong (escaped).
    pub message: String,
}

/// The verdict predicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictV2 {
    /// Always [`VERDICT_SCHEMA`].
    pub schema: String,
    /// Scan id (`[A-Za-z0-9][A-Za-z0-9._-]{0,127}`).
    pub scan_id: String,
    /// Scan time, RFC 3339 UTC with second precision.
    pub scanned_at: String,
    /// The outcome.
    pub decision: Decision,
    /// Whether the change should be stopped.
    pub blocks: bool,
    /// Why the scan failed, for `error`.
    pub error: Option<ErrorV2>,
    /// Who signed; `null` only in unsigned reports.
    pub signer: Option<SignerV2>,
    /// The tool.
    pub tool: ToolV2,
    /// The policy.
    pub policy: PolicyV2,
    /// The rules.
    pub ruleset: RulesetV2,
    /// The diff.
    pub diff: DiffV2,
    /// Counts.
    pub summary: SummaryV2,
    /// Findings in their total order.
    pub findings: Vec<FindingV2>,
    /// Exceptions that matched but had expired.
    pub expired_exceptions: Vec<String>,
    /// Verified post-images.
    pub post_images: Vec<PostImageV2>,
}

/// Tool identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolV2 {
    /// `diffver`.
    pub name: String,
    /// Crate version.
    pub version: String,
}

/// Policy identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyV2 {
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
pub struct RulesetV2 {
    /// Hash of the rule sources' contents, in load order.
    pub sha256: String,
    /// Number of rules.
    pub rules: u64,
}

/// Diff facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffV2 {
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
pub struct SummaryV2 {
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
pub struct FindingV2 {
    /// Rule id.
    pub rule_id: String,
    /// Rule title.
    pub title: String,
    /// Category.
    pub category: Category,
    /// Severity.
    pub severity: Severity,
    /// Confidence.
    pub confidence: Confidence,
    /// The policy's action.
    pub action: ActionV2,
    /// Whether it blocks (`action` is `block` and nothing suppressed it).
    pub blocking: bool,
    /// What suppressed it.
    pub suppression: Option<SuppressionV2>,
    /// File path, escaped for display (long paths shortened).
    pub path: Option<String>,
    /// The exact path bytes when they are UTF-8 (not escaped: escape before
    /// display); `null` when there is no path or it is not UTF-8.
    pub raw_path: Option<String>,
    /// Which side `line` counts on.
    pub side: SideV2,
    /// 1-based line.
    pub line: Option<u32>,
    /// 1-based column in Unicode scalar values.
    pub column: Option<u32>,
    /// 1-based column in bytes.
    pub byte_column: Option<u32>,
    /// Byte offset in the diff.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// Message (escaped).
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
pub struct SuppressionV2 {
    /// What suppressed it.
    pub kind: SuppressionKind,
    /// Why.
    pub justification: String,
}

/// A verified post-image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostImageV2 {
    /// Path (escaped display form).
    pub path: String,
    /// Git blob id.
    pub blob_id: String,
    /// SHA-256 of the content.
    pub sha256: String,
    /// Size.
    pub size: u64,
}

fn side(s: Side) -> SideV2 {
    match s {
        Side::New => SideV2::New,
        Side::Old => SideV2::Old,
        Side::Diff => SideV2::Diff,
    }
}

fn severity(s: finding::Severity) -> Severity {
    match s {
        finding::Severity::Info => Severity::Info,
        finding::Severity::Low => Severity::Low,
        finding::Severity::Medium => Severity::Medium,
        finding::Severity::High => Severity::High,
        finding::Severity::Critical => Severity::Critical,
    }
}

fn confidence(c: finding::Confidence) -> Confidence {
    match c {
        finding::Confidence::Low => Confidence::Low,
        finding::Confidence::Medium => Confidence::Medium,
        finding::Confidence::High => Confidence::High,
    }
}

fn category(c: finding::Category) -> Category {
    match c {
        finding::Category::Integrity => Category::Integrity,
        finding::Category::PathSafety => Category::PathSafety,
        finding::Category::ModeHazard => Category::ModeHazard,
        finding::Category::OpaqueContent => Category::OpaqueContent,
        finding::Category::TerminalEscape => Category::TerminalEscape,
        finding::Category::Apply => Category::Apply,
        finding::Category::PromptInjection => Category::PromptInjection,
        finding::Category::HiddenUnicode => Category::HiddenUnicode,
        finding::Category::Secret => Category::Secret,
        finding::Category::CiInjection => Category::CiInjection,
        finding::Category::CodeExec => Category::CodeExec,
    }
}

fn action(a: Action) -> ActionV2 {
    match a {
        Action::Block => ActionV2::Block,
        Action::Warn => ActionV2::Warn,
        Action::Off => ActionV2::Off,
    }
}

impl FindingV2 {
    /// The wire form of an evaluated finding.
    pub fn from_evaluated(e: &Evaluated) -> FindingV2 {
        let f = &e.finding;
        let l = f.location();
        FindingV2 {
            rule_id: f.rule_id().to_owned(),
            title: f.rule().title.to_string(),
            category: category(f.category()),
            severity: severity(f.severity()),
            confidence: confidence(f.confidence()),
            action: action(e.action),
            blocking: e.is_blocking(),
            suppression: e.suppression.as_ref().map(|s| SuppressionV2 {
                kind: match s {
                    crate::suppress::Suppression::Exception { .. } => SuppressionKind::Exception,
                    crate::suppress::Suppression::Baseline => SuppressionKind::Baseline,
                    crate::suppress::Suppression::InlineComment => SuppressionKind::InlineComment,
                },
                justification: s.justification(),
            }),
            path: l.path.clone(),
            raw_path: l.raw_path.clone(),
            side: side(l.side),
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

    /// Whether it is a warning: not blocking, not suppressed, not off.
    pub fn is_warning(&self) -> bool {
        self.suppression.is_none() && self.action == ActionV2::Warn
    }
}

impl SummaryV2 {
    /// The counts of a list of findings.
    pub fn of(findings: &[FindingV2]) -> SummaryV2 {
        let count =
            |p: &dyn Fn(&FindingV2) -> bool| findings.iter().filter(|f| p(f)).count() as u64;
        SummaryV2 {
            findings: findings.len() as u64,
            blocking: count(&|f| f.blocking),
            warnings: count(&FindingV2::is_warning),
            suppressed: count(&|f| f.suppression.is_some()),
            off: count(&|f| f.suppression.is_none() && f.action == ActionV2::Off),
        }
    }
}

impl VerdictV2 {
    /// The wire form of a verdict, unsigned (`signer` is `null`).
    pub fn from_verdict(v: &Verdict) -> VerdictV2 {
        let (pid, pver, phash) = v.policy();
        let (rhash, rules) = v.ruleset();
        let findings: Vec<FindingV2> = v.findings().iter().map(FindingV2::from_evaluated).collect();
        VerdictV2 {
            schema: VERDICT_SCHEMA.to_owned(),
            scan_id: v.context().scan_id().to_owned(),
            scanned_at: v.context().now().to_rfc3339(),
            decision: match v.decision() {
                verdict::Decision::Pass => Decision::Pass,
                verdict::Decision::Fail => Decision::Fail,
                verdict::Decision::Error => Decision::Error,
            },
            blocks: v.blocks(),
            error: v.error().map(|message| ErrorV2 {
                kind: match v.scan_error().map(verdict::ScanError::origin) {
                    Some(verdict::ErrorOrigin::Internal) => ErrorKind::Internal,
                    _ => ErrorKind::Input,
                },
                message: message.to_owned(),
            }),
            signer: None,
            tool: ToolV2 {
                name: "diffver".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            policy: PolicyV2 {
                id: pid.to_owned(),
                version: pver.to_owned(),
                sha256: phash.to_owned(),
            },
            ruleset: RulesetV2 {
                sha256: rhash.to_owned(),
                rules: rules as u64,
            },
            diff: DiffV2 {
                sha256: v.diff().sha256.clone(),
                bytes: v.diff().bytes as u64,
                files: v.diff().files as u64,
                added: v.diff().added as u64,
                removed: v.diff().removed as u64,
            },
            summary: SummaryV2::of(&findings),
            findings,
            expired_exceptions: v.expired_exceptions().to_vec(),
            post_images: v
                .post_images()
                .iter()
                .map(|p| PostImageV2 {
                    path: p.path.display(),
                    blob_id: p.blob_id.clone(),
                    sha256: p.sha256.clone(),
                    size: p.size as u64,
                })
                .collect(),
        }
    }

    /// The blocking findings.
    pub fn blocking(&self) -> impl Iterator<Item = &FindingV2> {
        self.findings.iter().filter(|f| f.blocking)
    }

    /// Checks that the parts agree: the schema, the scan id's alphabet, the
    /// time's form, each finding's `blocking` flag against its action and
    /// suppression, the summary against the findings, and the decision
    /// against the blocking findings and the error.
    ///
    /// # Errors
    ///
    /// A sentence naming the first disagreement.
    pub fn check(&self) -> Result<(), String> {
        if self.schema != VERDICT_SCHEMA {
            return Err(format!(
                "schema {:?} is not {VERDICT_SCHEMA:?}",
                self.schema
            ));
        }
        verdict::check_scan_id(&self.scan_id).map_err(|e| e.to_string())?;
        if self.tool.name != "diffver" {
            return Err(format!("tool {:?} is not diffver", self.tool.name));
        }
        for (what, h) in [
            ("diff.sha256", &self.diff.sha256),
            ("policy.sha256", &self.policy.sha256),
            ("ruleset.sha256", &self.ruleset.sha256),
        ] {
            if !is_sha256_hex(h) {
                return Err(format!("{what} is not 64 lower-case hex digits"));
            }
        }
        let t = crate::suppress::Timestamp::parse_rfc3339(&self.scanned_at)
            .map_err(|e| e.to_string())?;
        if t.to_rfc3339() != self.scanned_at {
            return Err(format!(
                "scanned_at {:?} is not in the canonical form {:?}",
                self.scanned_at,
                t.to_rfc3339()
            ));
        }
        for (i, f) in self.findings.iter().enumerate() {
            let positions_ok = f.line != Some(0)
                && f.column != Some(0)
                && f.byte_column != Some(0)
                && f.column.is_some() == f.byte_column.is_some();
            if !positions_ok {
                return Err(format!(
                    "finding {i} ({}) has a 0 line or column, or only one of column and byte_column",
                    f.rule_id
                ));
            }
            if !is_sha256_hex(&f.fingerprint) {
                return Err(format!(
                    "finding {i} ({}) has a fingerprint that is not 64 lower-case hex digits",
                    f.rule_id
                ));
            }
            let blocking = f.action == ActionV2::Block && f.suppression.is_none();
            if f.blocking != blocking {
                return Err(format!(
                    "finding {i} ({}) says blocking={} but its action is {:?} and it is {}suppressed",
                    f.rule_id,
                    f.blocking,
                    f.action,
                    if f.suppression.is_some() { "" } else { "not " }
                ));
            }
        }
        if self.summary != SummaryV2::of(&self.findings) {
            return Err("the summary does not match the findings".into());
        }
        let any_blocking = self.summary.blocking > 0;
        match (self.decision, &self.error) {
            (Decision::Error, None) => return Err("decision error without an error".into()),
            (Decision::Pass | Decision::Fail, Some(_)) => {
                return Err(format!(
                    "decision {} carries an error",
                    self.decision.as_str()
                ));
            }
            (Decision::Pass, None) if any_blocking || self.blocks => {
                return Err("decision pass with blocking findings".into());
            }
            (Decision::Fail, None) if !any_blocking || !self.blocks => {
                return Err("decision fail without blocking findings".into());
            }
            (Decision::Error, Some(e)) if e.kind == ErrorKind::Input && !self.blocks => {
                return Err("an input error that does not block".into());
            }
            _ => {}
        }
        Ok(())
    }
}

impl Statement {
    /// The statement about a verdict's diff, signed by `signer`.
    pub fn from_verdict(v: &Verdict, signer: SignerV2) -> Statement {
        let mut predicate = VerdictV2::from_verdict(v);
        predicate.signer = Some(signer);
        let mut digest = BTreeMap::new();
        digest.insert("sha256".to_owned(), v.diff().sha256.clone());
        Statement {
            statement_type: STATEMENT_TYPE.to_owned(),
            subject: vec![Subject {
                name: subject_name(&predicate.scan_id),
                digest,
            }],
            predicate_type: PREDICATE_TYPE.to_owned(),
            predicate,
        }
    }

    /// Checks the fixed fields and that the subject is the verdict's diff.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.statement_type != STATEMENT_TYPE {
            return Err(format!("statement type {:?}", self.statement_type));
        }
        if self.predicate_type != PREDICATE_TYPE {
            return Err(format!(
                "predicate type {:?} is not {PREDICATE_TYPE:?}",
                self.predicate_type
            ));
        }
        self.predicate.check()?;
        let [subject] = self.subject.as_slice() else {
            return Err(format!(
                "{} subjects; a verdict has exactly one",
                self.subject.len()
            ));
        };
        let digest_ok = subject.digest.len() == 1
            && subject.digest.get("sha256") == Some(&self.predicate.diff.sha256);
        if !digest_ok {
            return Err("the subject digest does not match the verdict's diff".into());
        }
        if subject.name != subject_name(&self.predicate.scan_id) {
            return Err(format!(
                "the subject name {:?} is not diffs/<scan_id>.patch",
                subject.name
            ));
        }
        if self.predicate.signer.is_none() {
            return Err("the predicate names no signer".into());
        }
        Ok(())
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The subject name of a scan's diff: `diffs/{scan_id}.patch`.
pub fn subject_name(scan_id: &str) -> String {
    format!("diffs/{scan_id}.patch")
}
