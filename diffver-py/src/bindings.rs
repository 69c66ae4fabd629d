//! The pyo3 glue. Every function converts Python values to core types,
//! releases the GIL around the work, and maps core errors to the exception
//! classes of `diffver._errors` with their structured fields as attributes.

use std::sync::Arc;

use diffver_core::artifact::wire::{FindingV2, VerdictV2};
use diffver_core::artifact::{
    self, ArtifactError, EcdsaP256Verifier, HmacSigner, Keyring, Signer as _, SigningMode,
};
use diffver_core::diff::{self, Binary, FileOp, Limits, LineKind, ParseError};
use diffver_core::policy::{Action, Policy, PolicyError};
use diffver_core::report;
use diffver_core::rules::{RuleError, Ruleset};
use diffver_core::suppress::{Baseline, BaselineError, Timestamp};
use diffver_core::verdict::{self, Evaluated, Inputs, ScanContext, Verdict};
use pyo3::BoundObject as _;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

/// Builds an exception of `diffver._errors.<class>` with keyword attributes.
fn raise(
    py: Python<'_>,
    class: &str,
    message: String,
    fields: Vec<(&str, Option<Py<PyAny>>)>,
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let cls = py.import("diffver._errors")?.getattr(class)?;
        let kwargs = PyDict::new(py);
        for (k, v) in fields {
            kwargs.set_item(k, v)?;
        }
        Ok(PyErr::from_value(
            cls.call((message.clone(),), Some(&kwargs))?,
        ))
    };
    build().unwrap_or_else(|e| e)
}

fn obj<'py, T: IntoPyObject<'py>>(py: Python<'py>, v: T) -> Option<Py<PyAny>> {
    v.into_pyobject(py).ok().map(|b| b.into_any().unbind())
}

fn parse_err(py: Python<'_>, e: ParseError) -> PyErr {
    match &e {
        ParseError::LimitExceeded { limit, max, offset } => raise(
            py,
            "LimitExceeded",
            e.to_string(),
            vec![
                ("limit", obj(py, limit.name())),
                ("max", obj(py, *max)),
                ("offset", obj(py, *offset)),
            ],
        ),
        ParseError::CombinedDiff { offset } => raise(
            py,
            "ParseError",
            e.to_string(),
            vec![
                ("offset", obj(py, *offset)),
                ("kind", obj(py, "combined-diff")),
            ],
        ),
        ParseError::Empty => raise(
            py,
            "ParseError",
            e.to_string(),
            vec![("kind", obj(py, "empty"))],
        ),
        ParseError::NoPatch { mails, .. } => raise(
            py,
            "ParseError",
            e.to_string(),
            vec![("kind", obj(py, "no-patch")), ("mails", obj(py, *mails))],
        ),
        _ => raise(py, "ParseError", e.to_string(), vec![]),
    }
}

fn rule_err(py: Python<'_>, e: RuleError) -> PyErr {
    let msg = e.to_string();
    let fields = match e {
        RuleError::Invalid { rule, field, .. } => {
            vec![("rule", obj(py, rule)), ("field", obj(py, field))]
        }
        RuleError::Duplicate { rule } => vec![("rule", obj(py, rule)), ("field", obj(py, "id"))],
        RuleError::Syntax { line, .. } => vec![("line", obj(py, line))],
        RuleError::Regex {
            rule,
            field,
            offset,
            ..
        } => vec![
            ("rule", obj(py, rule)),
            ("field", obj(py, field)),
            ("offset", obj(py, offset)),
        ],
        _ => vec![],
    };
    raise(py, "RuleError", msg, fields)
}

fn policy_err(py: Python<'_>, e: PolicyError) -> PyErr {
    let msg = e.to_string();
    let fields = match e {
        PolicyError::Invalid { field, .. } => vec![("field", obj(py, field))],
        PolicyError::Syntax { line, column, .. } => {
            vec![("line", obj(py, line)), ("column", obj(py, column))]
        }
        PolicyError::UnknownRule { field, rule, .. } => {
            vec![("field", obj(py, field)), ("rule", obj(py, rule))]
        }
        PolicyError::UnknownBuiltin { name } => {
            vec![("field", obj(py, "name")), ("name", obj(py, name))]
        }
        _ => vec![],
    };
    raise(py, "PolicyError", msg, fields)
}

fn artifact_err(py: Python<'_>, e: ArtifactError) -> PyErr {
    let kind = match &e {
        ArtifactError::Malformed { .. } => "malformed",
        ArtifactError::UnknownKey { .. } => "unknown-key",
        ArtifactError::BadSignature { .. } => "bad-signature",
        ArtifactError::PayloadType { .. } => "payload-type",
        ArtifactError::Payload { .. } => "payload",
        ArtifactError::DeterministicInProduction => "deterministic-in-production",
        ArtifactError::EmptyKey => "empty-key",
        ArtifactError::KeyTooShort { .. } => "key-too-short",
        ArtifactError::DevelopmentKeyMixed { .. } => "development-key-mixed",
        ArtifactError::DuplicateKey { .. } => "duplicate-key",
        ArtifactError::SignerMismatch { .. } => "signer-mismatch",
        ArtifactError::SubjectMismatch { .. } => "subject-mismatch",
        ArtifactError::PublicKey { .. } => "public-key",
        _ => "signer",
    };
    raise(
        py,
        "SignatureError",
        e.to_string(),
        vec![("kind", obj(py, kind))],
    )
}

fn baseline_err(py: Python<'_>, e: BaselineError) -> PyErr {
    raise(py, "BaselineError", e.to_string(), vec![])
}

/// `bytes` or `str` (UTF-8) to bytes.
fn diff_bytes(v: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(s.to_cow()?.as_bytes().to_vec());
    }
    Err(PyTypeError::new_err(format!(
        "diff must be bytes or str, not {}",
        v.get_type().name()?
    )))
}

/// An RFC 3339 string or an aware `datetime`; `None` is now.
fn timestamp(py: Python<'_>, v: Option<&Bound<'_, PyAny>>) -> PyResult<Timestamp> {
    let Some(v) = v else {
        // A clock outside 1970..9999 is broken: refuse rather than sign a
        // wrong time.
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .ok_or_else(|| {
                raise(
                    py,
                    "DiffverError",
                    "the system clock is out of range; pass now=".to_owned(),
                    vec![],
                )
            })?;
        return Timestamp::from_unix_seconds(secs)
            .map_err(|e| raise(py, "DiffverError", e.to_string(), vec![]));
    };
    let text: String = if let Ok(s) = v.cast::<PyString>() {
        s.to_cow()?.into_owned()
    } else if v.hasattr("isoformat")? {
        if v.getattr("tzinfo")?.is_none() {
            return Err(PyTypeError::new_err("now must be timezone-aware"));
        }
        v.call_method0("isoformat")?.extract()?
    } else {
        return Err(PyTypeError::new_err(
            "now must be an RFC 3339 str or an aware datetime",
        ));
    };
    Timestamp::parse_rfc3339(&text).map_err(|m| raise(py, "DiffverError", m.to_string(), vec![]))
}

/// A compiled, immutable, thread-safe set of rules.
#[pyclass(frozen, module = "diffver._native", name = "Ruleset")]
struct PyRuleset {
    inner: Arc<Ruleset>,
}

#[pymethods]
impl PyRuleset {
    #[staticmethod]
    fn builtin() -> PyRuleset {
        PyRuleset {
            inner: Ruleset::builtin_shared(),
        }
    }

    /// Compiles a rules file. Like the CLI's `--rules`, the rules are added
    /// to the built-in packs unless `builtin=False` asks for them alone.
    #[staticmethod]
    #[pyo3(signature = (text, name = "<string>", builtin = true))]
    fn from_toml(py: Python<'_>, text: &str, name: &str, builtin: bool) -> PyResult<PyRuleset> {
        let mut b = Ruleset::builder();
        if builtin {
            b = b.add_builtin().map_err(|e| rule_err(py, e))?;
        }
        let rs = b
            .add_toml(text, name)
            .and_then(|b| b.build())
            .map_err(|e| rule_err(py, e))?;
        Ok(PyRuleset {
            inner: Arc::new(rs),
        })
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn rule_ids(&self) -> Vec<String> {
        self.inner.rules().map(|r| r.id().to_owned()).collect()
    }

    #[getter]
    fn hash(&self) -> String {
        self.inner.hash().to_owned()
    }

    fn check_examples(&self) -> Vec<(String, bool, String)> {
        self.inner
            .check_examples()
            .into_iter()
            .map(|f| (f.rule, f.positive, f.example))
            .collect()
    }
}

/// A validated policy.
#[pyclass(frozen, module = "diffver._native", name = "Policy")]
struct PyPolicy {
    inner: Arc<Policy>,
}

#[pymethods]
impl PyPolicy {
    #[staticmethod]
    fn builtin(py: Python<'_>, name: &str) -> PyResult<PyPolicy> {
        let p = Policy::builtin(name).map_err(|e| policy_err(py, e))?;
        Ok(PyPolicy { inner: Arc::new(p) })
    }

    #[staticmethod]
    #[pyo3(signature = (text, name = "<string>"))]
    fn from_toml(py: Python<'_>, text: &str, name: &str) -> PyResult<PyPolicy> {
        let p = Policy::from_toml(text, name).map_err(|e| policy_err(py, e))?;
        Ok(PyPolicy { inner: Arc::new(p) })
    }

    #[staticmethod]
    #[pyo3(signature = (text, name = "<string>"))]
    fn from_json(py: Python<'_>, text: &str, name: &str) -> PyResult<PyPolicy> {
        let p = Policy::from_json(text, name).map_err(|e| policy_err(py, e))?;
        Ok(PyPolicy { inner: Arc::new(p) })
    }

    #[getter]
    fn id(&self) -> String {
        self.inner.id().to_owned()
    }

    #[getter]
    fn version(&self) -> String {
        self.inner.version().to_owned()
    }

    #[getter]
    fn hash(&self) -> String {
        self.inner.hash().to_owned()
    }
}

/// Fingerprints accepted from an earlier scan.
#[pyclass(frozen, module = "diffver._native", name = "Baseline")]
struct PyBaseline {
    inner: Baseline,
}

#[pymethods]
impl PyBaseline {
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<PyBaseline> {
        Baseline::from_json(text)
            .map(|inner| PyBaseline { inner })
            .map_err(|e| baseline_err(py, e))
    }

    #[staticmethod]
    fn from_result(result: &PyScanResult) -> PyBaseline {
        PyBaseline {
            inner: Baseline::from_findings(result.verdict.findings().iter().map(|e| &e.finding)),
        }
    }

    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __contains__(&self, fingerprint: &str) -> bool {
        self.inner.contains(fingerprint)
    }
}

/// Signs verdicts (HMAC-SHA256 over DSSE PAE bytes).
#[pyclass(frozen, module = "diffver._native", name = "Signer")]
struct PySigner {
    inner: HmacSigner,
}

#[pymethods]
impl PySigner {
    #[staticmethod]
    #[pyo3(signature = (production = false))]
    fn deterministic(py: Python<'_>, production: bool) -> PyResult<PySigner> {
        let mode = if production {
            SigningMode::Production
        } else {
            SigningMode::Development
        };
        HmacSigner::deterministic(mode)
            .map(|inner| PySigner { inner })
            .map_err(|e| artifact_err(py, e))
    }

    #[staticmethod]
    fn hmac(py: Python<'_>, key_id: &str, key: &[u8]) -> PyResult<PySigner> {
        HmacSigner::new(key_id, key.to_vec())
            .map(|inner| PySigner { inner })
            .map_err(|e| artifact_err(py, e))
    }

    #[getter]
    fn key_id(&self) -> String {
        self.inner.identity().key_id
    }

    #[getter]
    fn mode(&self) -> &'static str {
        self.inner.identity().mode.as_str()
    }
}

/// Verification keys by key id.
#[pyclass(frozen, module = "diffver._native", name = "Keyring")]
struct PyKeyring {
    inner: Keyring,
}

#[pymethods]
impl PyKeyring {
    #[new]
    fn new() -> PyKeyring {
        PyKeyring {
            inner: Keyring::new(),
        }
    }

    #[staticmethod]
    #[pyo3(signature = (production = false))]
    fn development(py: Python<'_>, production: bool) -> PyResult<PyKeyring> {
        let mode = if production {
            SigningMode::Production
        } else {
            SigningMode::Development
        };
        Keyring::development(mode)
            .map(|inner| PyKeyring { inner })
            .map_err(|e| artifact_err(py, e))
    }

    fn with_key(&self, py: Python<'_>, key_id: &str, key: &[u8]) -> PyResult<PyKeyring> {
        self.inner
            .clone()
            .with_key(key_id, key.to_vec())
            .map(|inner| PyKeyring { inner })
            .map_err(|e| artifact_err(py, e))
    }

    fn with_ecdsa_p256_pem(&self, py: Python<'_>, key_id: &str, pem: &str) -> PyResult<PyKeyring> {
        EcdsaP256Verifier::from_public_key_pem(key_id, pem)
            .and_then(|v| self.inner.clone().with_verifier(Arc::new(v)))
            .map(|inner| PyKeyring { inner })
            .map_err(|e| artifact_err(py, e))
    }

    #[getter]
    fn key_ids(&self) -> Vec<String> {
        self.inner.key_ids().map(str::to_owned).collect()
    }
}

/// One finding, with what the policy and suppressions made of it.
#[pyclass(frozen, get_all, module = "diffver._native", name = "Finding")]
struct PyFinding {
    rule_id: String,
    title: String,
    category: String,
    severity: String,
    confidence: String,
    action: String,
    blocking: bool,
    suppression: Option<String>,
    suppression_reason: Option<String>,
    raw_path: Option<String>,
    path: Option<String>,
    side: String,
    line: Option<u32>,
    column: Option<u32>,
    byte_column: Option<u32>,
    offset: u64,
    length: u64,
    message: String,
    evidence: Option<String>,
    decoding: Vec<String>,
    fingerprint: String,
}

#[pymethods]
impl PyFinding {
    fn __repr__(&self) -> String {
        format!(
            "Finding({} {} at {}:{})",
            self.rule_id,
            self.severity,
            self.path.as_deref().unwrap_or("<diff>"),
            self.line.map_or("-".into(), |l| l.to_string())
        )
    }
}

/// A Python finding from the wire form (so Python sees exactly what the
/// JSON report and the signed artifact say).
fn finding(e: &Evaluated) -> PyFinding {
    // The wire name of a closed-set value (`"high"`, `"block"`, …).
    fn name<T: serde::Serialize>(t: &T) -> String {
        match serde_json::to_value(t) {
            Ok(serde_json::Value::String(s)) => s,
            _ => String::new(),
        }
    }
    let w = FindingV2::from_evaluated(e);
    let (suppression, suppression_reason) = match w.suppression {
        Some(s) => (Some(name(&s.kind)), Some(s.justification)),
        None => (None, None),
    };
    PyFinding {
        rule_id: w.rule_id,
        title: w.title,
        category: name(&w.category),
        severity: name(&w.severity),
        confidence: name(&w.confidence),
        action: name(&w.action),
        blocking: w.blocking,
        suppression,
        suppression_reason,
        path: w.path,
        raw_path: w.raw_path,
        side: name(&w.side),
        line: w.line,
        column: w.column,
        byte_column: w.byte_column,
        offset: w.offset,
        length: w.length,
        message: w.message,
        evidence: w.evidence,
        decoding: w.decoding,
        fingerprint: w.fingerprint,
    }
}

/// The result of a scan under a policy.
#[pyclass(frozen, module = "diffver._native", name = "ScanResult")]
struct PyScanResult {
    verdict: Verdict,
    diff: Arc<Vec<u8>>,
    artifact: Option<Vec<u8>>,
    rules: Arc<Ruleset>,
}

#[pymethods]
impl PyScanResult {
    #[getter]
    fn decision(&self) -> &'static str {
        self.verdict.decision().as_str()
    }

    #[getter]
    fn blocks(&self) -> bool {
        self.verdict.blocks()
    }

    #[getter]
    fn error(&self) -> Option<String> {
        self.verdict.error().map(str::to_owned)
    }

    #[getter]
    fn error_origin(&self) -> Option<&'static str> {
        self.verdict.scan_error().map(|e| e.origin().as_str())
    }

    #[getter]
    fn findings(&self) -> Vec<PyFinding> {
        self.verdict.findings().iter().map(finding).collect()
    }

    #[getter]
    fn blocking(&self) -> Vec<PyFinding> {
        self.verdict.blocking().map(finding).collect()
    }

    #[getter]
    fn suppressed(&self) -> Vec<PyFinding> {
        self.verdict.suppressed().map(finding).collect()
    }

    #[getter]
    fn warnings(&self) -> Vec<PyFinding> {
        self.verdict
            .findings()
            .iter()
            .filter(|e| e.suppression.is_none() && e.action == Action::Warn)
            .map(finding)
            .collect()
    }

    #[getter]
    fn expired_exceptions(&self) -> Vec<String> {
        self.verdict.expired_exceptions().to_vec()
    }

    #[getter]
    fn policy_hash(&self) -> String {
        self.verdict.policy().2.to_owned()
    }

    #[getter]
    fn diff_sha256(&self) -> String {
        self.verdict.diff().sha256.clone()
    }

    #[getter]
    fn scan_id(&self) -> String {
        self.verdict.context().scan_id().to_owned()
    }

    #[getter]
    fn artifact<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.artifact.as_ref().map(|a| PyBytes::new(py, a))
    }

    fn sign<'py>(&self, py: Python<'py>, signer: &PySigner) -> PyResult<Bound<'py, PyBytes>> {
        let bytes =
            artifact::sign(&self.verdict, &signer.inner).map_err(|e| artifact_err(py, e))?;
        Ok(PyBytes::new(py, &bytes))
    }

    fn to_json(&self) -> String {
        report::json(&VerdictV2::from_verdict(&self.verdict))
    }

    fn to_sarif(&self) -> String {
        report::sarif(&VerdictV2::from_verdict(&self.verdict))
    }

    fn to_html(&self) -> String {
        report::html(
            &VerdictV2::from_verdict(&self.verdict),
            &self.diff,
            &self.rules.secret_spans(&self.diff),
        )
    }

    #[pyo3(signature = (name = "diff"))]
    fn to_text(&self, name: &str) -> String {
        report::text(&VerdictV2::from_verdict(&self.verdict), name)
    }

    fn to_github(&self) -> String {
        report::github_annotations(&VerdictV2::from_verdict(&self.verdict))
    }

    fn __repr__(&self) -> String {
        format!(
            "ScanResult(decision={:?}, findings={}, blocking={})",
            self.decision(),
            self.verdict.findings().len(),
            self.verdict.blocking().count()
        )
    }
}

/// Scans a diff under a policy. Releases the GIL while scanning.
#[pyfunction]
#[pyo3(signature = (diff, *, policy = None, baseline = None, now = None, signer = None, rules = None, scan_id = None, fingerprint_key = None, allow_empty = false))]
#[allow(clippy::too_many_arguments)]
fn scan(
    py: Python<'_>,
    diff: &Bound<'_, PyAny>,
    policy: Option<&PyPolicy>,
    baseline: Option<&PyBaseline>,
    now: Option<&Bound<'_, PyAny>>,
    signer: Option<&PySigner>,
    rules: Option<&PyRuleset>,
    scan_id: Option<String>,
    fingerprint_key: Option<Vec<u8>>,
    allow_empty: bool,
) -> PyResult<PyScanResult> {
    let bytes = Arc::new(diff_bytes(diff)?);
    let now = timestamp(py, now)?;
    let policy = match policy {
        Some(p) => p.inner.clone(),
        None => Arc::new(Policy::builtin("standard").map_err(|e| policy_err(py, e))?),
    };
    let rules = match rules {
        Some(r) => r.inner.clone(),
        None => verdict::ruleset_shared(&policy, &[]).map_err(|e| rule_err(py, e))?,
    };
    let baseline = baseline.map(|b| b.inner.clone());
    let signer = signer.map(|s| s.inner.clone());
    // Empty: the core derives `sha256-<prefix>` from the diff's digest.
    let scan_id = scan_id.unwrap_or_default();
    let input = bytes.clone();
    let kept_rules = rules.clone();
    let (verdict, artifact) = py
        .detach(move || {
            let ctx = ScanContext::new(scan_id, now)?;
            let mut inputs = Inputs::new(&input, &rules, &policy, &ctx);
            inputs.baseline = baseline.as_ref();
            inputs.fingerprint_key = fingerprint_key.as_deref();
            inputs.allow_empty = allow_empty;
            let v = verdict::evaluate(&inputs);
            let a = signer.map(|s| artifact::sign(&v, &s));
            Ok::<_, diffver_core::verdict::ScanIdError>((v, a))
        })
        .map_err(|e| raise(py, "DiffverError", e.to_string(), vec![]))?;
    let artifact = artifact.transpose().map_err(|e| artifact_err(py, e))?;
    Ok(PyScanResult {
        verdict,
        diff: bytes,
        artifact,
        rules: kept_rules,
    })
}

/// Verifies a signed verdict (and, given `diff`, that it is about that
/// diff); returns the verified predicate, the key and its mode as JSON text.
#[pyfunction]
#[pyo3(signature = (envelope, keys, diff = None))]
fn verify_json(
    py: Python<'_>,
    envelope: &[u8],
    keys: &PyKeyring,
    diff: Option<Vec<u8>>,
) -> PyResult<String> {
    let env = envelope.to_vec();
    let ring = keys.inner.clone();
    let v = py
        .detach(move || {
            let v = artifact::verify(&env, &ring)?;
            if let Some(d) = &diff {
                v.check_diff(d)?;
            }
            Ok(v)
        })
        .map_err(|e| artifact_err(py, e))?;
    let out = serde_json::json!({
        "verdict": v.verdict,
        "key_id": v.key_id,
        "mode": v.mode,
        "algorithm": v.algorithm,
        "subject_sha256": v.subject_sha256,
        "ignored_keyids": v.ignored_keyids,
    });
    serde_json::to_string(&out).map_err(|e| raise(py, "DiffverError", e.to_string(), vec![]))
}

/// A parsed diff line.
#[pyclass(frozen, get_all, module = "diffver._native", name = "Line")]
struct PyLine {
    kind: &'static str,
    old_line: Option<u32>,
    new_line: Option<u32>,
    offset: usize,
    content: Py<PyBytes>,
    no_newline: bool,
}

/// A parsed hunk.
#[pyclass(frozen, get_all, module = "diffver._native", name = "Hunk")]
struct PyHunk {
    old_start: u32,
    old_count: u32,
    new_start: u32,
    new_count: u32,
    heading: String,
    lines: Vec<Py<PyLine>>,
}

/// A parsed file patch.
#[pyclass(frozen, get_all, module = "diffver._native", name = "FilePatch")]
struct PyFilePatch {
    old_path: Option<String>,
    new_path: Option<String>,
    old_path_bytes: Option<Py<PyBytes>>,
    new_path_bytes: Option<Py<PyBytes>>,
    op: &'static str,
    similarity: Option<u8>,
    old_mode: Option<u32>,
    new_mode: Option<u32>,
    is_binary: bool,
    added: usize,
    removed: usize,
    hunks: Vec<Py<PyHunk>>,
}

/// A parsed diff.
#[pyclass(frozen, get_all, module = "diffver._native", name = "Diff")]
struct PyDiff {
    files: Vec<Py<PyFilePatch>>,
}

/// Parses a diff into objects. Raises `ParseError` / `LimitExceeded`.
#[pyfunction]
#[pyo3(signature = (diff, *, max_bytes = None, allow_empty = false))]
fn parse(
    py: Python<'_>,
    diff: &Bound<'_, PyAny>,
    max_bytes: Option<usize>,
    allow_empty: bool,
) -> PyResult<PyDiff> {
    let bytes = diff_bytes(diff)?;
    let mut limits = Limits::default().with_allow_empty(allow_empty);
    if let Some(m) = max_bytes {
        limits = limits.with_max_input_bytes(m);
    }
    let d = diff::parse(&bytes, &limits).map_err(|e| parse_err(py, e))?;
    let mut files = Vec::with_capacity(d.files().len());
    for f in d.files() {
        let mut hunks = Vec::with_capacity(f.hunks().len());
        for h in f.hunks() {
            let mut lines = Vec::with_capacity(h.lines().len());
            for l in h.lines() {
                lines.push(Py::new(
                    py,
                    PyLine {
                        kind: match l.kind() {
                            LineKind::Added => "added",
                            LineKind::Removed => "removed",
                            LineKind::Context => "context",
                        },
                        old_line: l.old_line(),
                        new_line: l.new_line(),
                        offset: l.offset(),
                        content: PyBytes::new(py, d.line_bytes(l)).unbind(),
                        no_newline: l.no_newline_at_eof(),
                    },
                )?);
            }
            hunks.push(Py::new(
                py,
                PyHunk {
                    old_start: h.old_range().start,
                    old_count: h.old_range().count,
                    new_start: h.new_range().start,
                    new_count: h.new_range().count,
                    heading: String::from_utf8_lossy(d.bytes(h.heading())).into_owned(),
                    lines,
                },
            )?);
        }
        let (op, similarity) = match f.op() {
            FileOp::Add => ("add", None),
            FileOp::Delete => ("delete", None),
            FileOp::Rename { similarity } => ("rename", similarity),
            FileOp::Copy { similarity } => ("copy", similarity),
            _ => ("modify", None),
        };
        let (added, removed) = f.line_counts();
        files.push(Py::new(
            py,
            PyFilePatch {
                old_path: f.old_path().map(|p| p.display()),
                new_path: f.new_path().map(|p| p.display()),
                old_path_bytes: f
                    .old_path()
                    .map(|p| PyBytes::new(py, p.as_bytes()).unbind()),
                new_path_bytes: f
                    .new_path()
                    .map(|p| PyBytes::new(py, p.as_bytes()).unbind()),
                op,
                similarity,
                old_mode: f.old_mode().map(|m| m.0),
                new_mode: f.new_mode().map(|m| m.0),
                is_binary: !matches!(f.binary(), Binary::No),
                added,
                removed,
                hunks,
            },
        )?);
    }
    Ok(PyDiff { files })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRuleset>()?;
    m.add_class::<PyPolicy>()?;
    m.add_class::<PyBaseline>()?;
    m.add_class::<PySigner>()?;
    m.add_class::<PyKeyring>()?;
    m.add_class::<PyFinding>()?;
    m.add_class::<PyScanResult>()?;
    m.add_class::<PyDiff>()?;
    m.add_class::<PyFilePatch>()?;
    m.add_class::<PyHunk>()?;
    m.add_class::<PyLine>()?;
    m.add_function(wrap_pyfunction!(scan, m)?)?;
    m.add_function(wrap_pyfunction!(parse, m)?)?;
    m.add_function(wrap_pyfunction!(verify_json, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
