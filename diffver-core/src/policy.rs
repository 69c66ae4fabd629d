//! Policies: which findings block a change, which only warn, which are off.
//!
//! A policy is a TOML (or JSON) document, schema `diffver.policy/v1`:
//!
//! ```toml
//! schema = "diffver.policy/v1"
//! id = "acme-default"
//! version = "3"
//! extends = "standard"          # optional built-in profile to start from
//! block_at = "high"             # findings at or above this severity block
//! on_error = "fail_closed"      # or "fail_open"
//! opaque = "warn"               # binary content: block | warn | off
//! inline_ignores = []           # rule ids whose `diffver-ignore` comments are honoured
//! rules_toml = ""               # optional extra rules (a rules file, inline)
//! [categories]
//! secret = "block"
//! [rules]
//! "ci.unpinned-action" = "off"
//! [limits]
//! max_diff_bytes = 10485760
//! max_files = 2000
//! [[override]]                  # later overrides win
//! paths = [".github/workflows/**"]
//! block_at = "medium"
//! [[exception]]                 # suppressions (see the `suppress` module)
//! rule = "secret.jwt"
//! paths = ["tests/fixtures/**"]
//! reason = "test tokens"
//! author = "sec@example.com"
//! expires_at = "2027-01-01T00:00:00Z"
//! ```
//!
//! The built-in profiles `strict`, `standard` and `permissive` are documented
//! in `docs/policy.md`. Every result records the policy's canonical hash: the
//! SHA-256 of its resolved form as RFC 8785 canonical JSON.

use std::collections::BTreeMap;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::finding::{Category, Finding, Severity};
use crate::suppress::{Exception, ExceptionDef};

/// What a policy does with a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The finding makes the decision `fail`.
    Block,
    /// The finding is reported but does not block.
    Warn,
    /// The finding is dropped from the decision (still listed, marked off).
    Off,
}

impl Action {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Block => "block",
            Action::Warn => "warn",
            Action::Off => "off",
        }
    }
}

/// What happens when a scan cannot complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// An error lets the change through (with the error reported).
    FailOpen,
    /// An error blocks the change.
    FailClosed,
}

/// Why a policy could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Not valid TOML/JSON, or not the schema's shape.
    #[error("policy {source_name}{}: {message}", position(*.line, *.column))]
    Syntax {
        /// Where the policy came from.
        source_name: String,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// 1-based column (in characters) of the error, when known.
        column: Option<usize>,
        /// What the reader said.
        message: String,
    },
    /// A field is invalid.
    #[error("policy {source_name}: field `{field}`: {reason}")]
    Invalid {
        /// Where the policy came from.
        source_name: String,
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
    /// A rule id the policy names (in `[rules]`, an override or an
    /// exception) is not a rule: a typo would silently do nothing.
    #[error("policy {source_name}: field `{field}`: unknown rule id {rule:?}")]
    UnknownRule {
        /// Where the policy came from.
        source_name: String,
        /// The field.
        field: String,
        /// The id.
        rule: String,
    },
    /// No built-in profile has that name.
    #[error("unknown built-in policy {name:?} (strict, standard, permissive)")]
    UnknownBuiltin {
        /// The name asked for.
        name: String,
    },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    schema: String,
    id: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    extends: Option<String>,
    #[serde(default)]
    block_at: Option<String>,
    #[serde(default)]
    on_error: Option<OnError>,
    #[serde(default)]
    opaque: Option<Action>,
    #[serde(default)]
    inline_ignores: Vec<String>,
    #[serde(default)]
    rules_toml: Option<String>,
    #[serde(default)]
    categories: BTreeMap<String, Action>,
    #[serde(default)]
    rules: BTreeMap<String, Action>,
    #[serde(default)]
    limits: Option<LimitsDef>,
    #[serde(default, rename = "override")]
    overrides: Vec<OverrideDef>,
    #[serde(default, rename = "exception")]
    exceptions: Vec<ExceptionDef>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct LimitsDef {
    #[serde(default)]
    max_diff_bytes: Option<usize>,
    #[serde(default)]
    max_files: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideDef {
    paths: Vec<String>,
    #[serde(default)]
    block_at: Option<String>,
    #[serde(default)]
    categories: BTreeMap<String, Action>,
    #[serde(default)]
    rules: BTreeMap<String, Action>,
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    id: String,
    version: String,
    block_at: Severity,
    on_error: OnError,
    opaque: Action,
    inline_ignores: Vec<String>,
    rules_toml: Option<String>,
    categories: BTreeMap<Category, Action>,
    rules: BTreeMap<String, Action>,
    max_diff_bytes: Option<usize>,
    max_files: Option<usize>,
    overrides: Vec<Override>,
    exceptions: Vec<Exception>,
    hash: String,
}

#[derive(Debug, Clone)]
struct Override {
    patterns: Vec<String>,
    globs: GlobSet,
    block_at: Option<Severity>,
    categories: BTreeMap<Category, Action>,
    rules: BTreeMap<String, Action>,
}

/// The canonical (hashed) form of a policy: the wire shape of its resolved
/// settings, in RFC 8785 JSON.
#[derive(Serialize)]
struct Canonical<'a> {
    schema: &'static str,
    id: &'a str,
    version: &'a str,
    block_at: &'static str,
    on_error: OnError,
    opaque: Action,
    inline_ignores: &'a [String],
    rules_toml: Option<&'a str>,
    categories: BTreeMap<&'static str, Action>,
    rules: &'a BTreeMap<String, Action>,
    max_diff_bytes: Option<usize>,
    max_files: Option<usize>,
    overrides: Vec<CanonicalOverride<'a>>,
    exceptions: Vec<crate::suppress::CanonicalException<'a>>,
}

#[derive(Serialize)]
struct CanonicalOverride<'a> {
    paths: &'a [String],
    block_at: Option<&'static str>,
    categories: BTreeMap<&'static str, Action>,
    rules: &'a BTreeMap<String, Action>,
}

pub(crate) fn parse_severity(s: &str) -> Option<Severity> {
    Some(match s {
        "info" => Severity::Info,
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "high" => Severity::High,
        "critical" => Severity::Critical,
        _ => return None,
    })
}

/// Path-safety checks a path-scoped override cannot weaken: a path that
/// leaves the repository or writes into `.git/` is never "in" the directory
/// an override names, so only the policy's top-level settings (and explicit
/// exceptions) decide them. Overrides may still make them stricter.
pub const NON_DOWNGRADABLE: [&str; 4] = [
    "verify.path-absolute",
    "verify.path-traversal",
    "verify.path-git-dir",
    "verify.symlink-escape",
];

fn builtin_source(name: &str) -> Option<String> {
    // CI configuration and agent instruction files: every built-in profile
    // treats them alike, from the one list in `path_class`.
    let strict_paths = crate::path_class::PathClass::STRICT
        .iter()
        .flat_map(|c| c.globs())
        .map(|p| format!("{p:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (block_at, opaque, on_error, ci_at, fixtures_at, extra) = match name {
        "strict" => ("medium", "block", "fail_closed", "low", "high", ""),
        "standard" => ("high", "warn", "fail_closed", "medium", "critical", ""),
        "permissive" => (
            "critical",
            "warn",
            "fail_open",
            "high",
            "critical",
            "[rules]\n\"secret.private-key\" = \"block\"\n\"secret.aws-secret-access-key\" = \"block\"",
        ),
        _ => return None,
    };
    Some(format!(
        r#"schema = "diffver.policy/v1"
id = "builtin:{name}"
version = "1"
block_at = "{block_at}"
on_error = "{on_error}"
opaque = "{opaque}"
{extra}
[[override]]
paths = [{strict_paths}]
block_at = "{ci_at}"
[[override]]
paths = ["tests/fixtures/**", "**/testdata/**", "**/test-fixtures/**"]
block_at = "{fixtures_at}"
"#
    ))
}

/// ` at line L, column C` for an error message (empty when unknown).
fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}

/// The 1-based line and column (in characters) of byte offset `at` in `src`.
fn line_column(src: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(src.len());
    while !src.is_char_boundary(at) {
        at -= 1;
    }
    let before = &src[..at];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

impl Policy {
    /// A built-in profile: `strict`, `standard` or `permissive`.
    ///
    /// # Errors
    ///
    /// [`PolicyError::UnknownBuiltin`] for any other name.
    pub fn builtin(name: &str) -> Result<Policy, PolicyError> {
        let src = builtin_source(name).ok_or_else(|| PolicyError::UnknownBuiltin {
            name: name.to_owned(),
        })?;
        Policy::from_toml(&src, &format!("builtin:{name}"))
    }

    /// The built-in profile names.
    pub const BUILTIN: [&'static str; 3] = ["strict", "standard", "permissive"];

    /// Parses a TOML policy.
    ///
    /// # Errors
    ///
    /// [`PolicyError`] naming the field at fault, or the TOML line.
    pub fn from_toml(src: &str, source_name: &str) -> Result<Policy, PolicyError> {
        let file: PolicyFile = toml::from_str(src).map_err(|e| {
            let (line, column) = match e.span() {
                Some(s) => {
                    let (l, c) = line_column(src, s.start);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            PolicyError::Syntax {
                source_name: source_name.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        Policy::resolve(file, source_name)
    }

    /// Parses a JSON policy (same fields as TOML).
    ///
    /// # Errors
    ///
    /// [`PolicyError`] naming the field at fault.
    pub fn from_json(src: &str, source_name: &str) -> Result<Policy, PolicyError> {
        let file: PolicyFile = serde_json::from_str(src).map_err(|e| PolicyError::Syntax {
            source_name: source_name.to_owned(),
            line: Some(e.line()),
            column: Some(e.column()),
            message: e.to_string(),
        })?;
        Policy::resolve(file, source_name)
    }

    fn resolve(file: PolicyFile, source_name: &str) -> Result<Policy, PolicyError> {
        let invalid = |field: &str, reason: String| PolicyError::Invalid {
            source_name: source_name.to_owned(),
            field: field.to_owned(),
            reason,
        };
        if file.schema != "diffver.policy/v1" {
            return Err(invalid(
                "schema",
                format!(
                    "unsupported schema {:?} (expected \"diffver.policy/v1\")",
                    file.schema
                ),
            ));
        }
        if file.id.trim().is_empty() {
            return Err(invalid("id", "must not be empty".into()));
        }
        let printable = |field: &str, t: &str| {
            if crate::text::is_printable_text(t) {
                Ok(())
            } else {
                Err(invalid(
                    field,
                    "must not contain control, bidi or invisible characters".into(),
                ))
            }
        };
        printable("id", &file.id)?;
        printable("version", file.version.as_deref().unwrap_or(""))?;
        let base = match &file.extends {
            Some(name) => Some(Policy::builtin(name).map_err(|_| {
                invalid(
                    "extends",
                    format!("unknown built-in profile {name:?} (strict, standard, permissive)"),
                )
            })?),
            None => None,
        };
        let sev = |field: &str, s: &str| {
            parse_severity(s).ok_or_else(|| {
                invalid(
                    field,
                    format!("unknown severity {s:?} (info, low, medium, high, critical)"),
                )
            })
        };
        let cats = |field: &str,
                    m: &BTreeMap<String, Action>|
         -> Result<BTreeMap<Category, Action>, PolicyError> {
            m.iter()
                .map(|(k, v)| {
                    Category::from_name(k)
                        .map(|c| (c, *v))
                        .ok_or_else(|| invalid(field, format!("unknown category {k:?}")))
                })
                .collect()
        };
        let block_at = match &file.block_at {
            Some(s) => sev("block_at", s)?,
            None => base.as_ref().map_or(Severity::High, |b| b.block_at),
        };
        let mut categories = base
            .as_ref()
            .map(|b| b.categories.clone())
            .unwrap_or_default();
        categories.extend(cats("categories", &file.categories)?);
        let mut rules = base.as_ref().map(|b| b.rules.clone()).unwrap_or_default();
        rules.extend(file.rules.clone());
        let mut overrides = base
            .as_ref()
            .map(|b| b.overrides.clone())
            .unwrap_or_default();
        for (i, o) in file.overrides.iter().enumerate() {
            let field = format!("override[{i}]");
            if o.paths.is_empty() {
                return Err(invalid(
                    &field,
                    "an override needs at least one path glob".into(),
                ));
            }
            let mut b = GlobSetBuilder::new();
            for p in &o.paths {
                let g = globset::GlobBuilder::new(p)
                    .literal_separator(true)
                    .build()
                    .or_else(|_| Glob::new(p))
                    .map_err(|e| {
                        invalid(
                            &format!("{field}.paths"),
                            format!("invalid glob {p:?}: {e}"),
                        )
                    })?;
                b.add(g);
            }
            overrides.push(Override {
                patterns: o.paths.clone(),
                globs: b.build().map_err(|e| invalid(&field, e.to_string()))?,
                block_at: o
                    .block_at
                    .as_deref()
                    .map(|s| sev(&format!("{field}.block_at"), s))
                    .transpose()?,
                categories: cats(&format!("{field}.categories"), &o.categories)?,
                rules: o.rules.clone(),
            });
        }
        let mut exceptions = base
            .as_ref()
            .map(|b| b.exceptions.clone())
            .unwrap_or_default();
        for (i, e) in file.exceptions.iter().enumerate() {
            exceptions.push(
                Exception::validate(e.clone())
                    .map_err(|reason| invalid(&format!("exception[{i}]"), reason))?,
            );
        }
        let mut policy_rule_ids: Vec<String> = Vec::new();
        if let Some(src) = &file.rules_toml {
            let rs = crate::rules::Ruleset::from_toml(src, "policy rules_toml")
                .map_err(|e| invalid("rules_toml", e.to_string()))?;
            policy_rule_ids.extend(rs.rules().map(|r| r.id().to_owned()));
        }
        // Rule ids in the built-in namespaces must exist now; ids in other
        // namespaces may belong to rules loaded beside the policy (`--rules`)
        // and are checked against the ruleset when scanning
        // (`Policy::unknown_rule_ids`).
        let known = known_rule_ids();
        let check_id = |field: &str, id: &str| -> Result<(), PolicyError> {
            let builtin_ns = id.split_once('.').is_some_and(|(ns, _)| {
                known
                    .iter()
                    .any(|k| k.split_once('.').is_some_and(|(n, _)| n == ns))
            });
            if builtin_ns && !known.contains(&id) && !policy_rule_ids.iter().any(|r| r == id) {
                return Err(PolicyError::UnknownRule {
                    source_name: source_name.to_owned(),
                    field: field.to_owned(),
                    rule: id.to_owned(),
                });
            }
            Ok(())
        };
        for id in file.rules.keys() {
            check_id("rules", id)?;
        }
        for (i, o) in file.overrides.iter().enumerate() {
            for id in o.rules.keys() {
                check_id(&format!("override[{i}].rules"), id)?;
            }
        }
        for (i, e) in file.exceptions.iter().enumerate() {
            if let Some(id) = e.rule() {
                check_id(&format!("exception[{i}].rule"), id)?;
            }
        }
        let limits = file.limits.clone().unwrap_or_default();
        let mut p = Policy {
            id: file.id,
            version: file.version.unwrap_or_else(|| "1".into()),
            block_at,
            on_error: file
                .on_error
                .or(base.as_ref().map(|b| b.on_error))
                .unwrap_or(OnError::FailClosed),
            opaque: file
                .opaque
                .or(base.as_ref().map(|b| b.opaque))
                .unwrap_or(Action::Warn),
            inline_ignores: file.inline_ignores,
            rules_toml: file
                .rules_toml
                .or(base.as_ref().and_then(|b| b.rules_toml.clone())),
            categories,
            rules,
            max_diff_bytes: limits
                .max_diff_bytes
                .or(base.as_ref().and_then(|b| b.max_diff_bytes)),
            max_files: limits.max_files.or(base.as_ref().and_then(|b| b.max_files)),
            overrides,
            exceptions,
            hash: String::new(),
        };
        p.hash = p.compute_hash();
        Ok(p)
    }

    fn compute_hash(&self) -> String {
        let cat =
            |m: &BTreeMap<Category, Action>| m.iter().map(|(c, a)| (c.as_str(), *a)).collect();
        let canonical = Canonical {
            schema: "diffver.policy/v1",
            id: &self.id,
            version: &self.version,
            block_at: self.block_at.as_str(),
            on_error: self.on_error,
            opaque: self.opaque,
            inline_ignores: &self.inline_ignores,
            rules_toml: self.rules_toml.as_deref(),
            categories: cat(&self.categories),
            rules: &self.rules,
            max_diff_bytes: self.max_diff_bytes,
            max_files: self.max_files,
            overrides: self
                .overrides
                .iter()
                .map(|o| CanonicalOverride {
                    paths: &o.patterns,
                    block_at: o.block_at.map(Severity::as_str),
                    categories: cat(&o.categories),
                    rules: &o.rules,
                })
                .collect(),
            exceptions: self.exceptions.iter().map(Exception::canonical).collect(),
        };
        let bytes = serde_jcs::to_vec(&canonical).unwrap_or_default();
        crate::hex(&Sha256::digest(&bytes))
    }

    /// The policy's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The policy's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// SHA-256 (hex) of the resolved policy as RFC 8785 canonical JSON.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The default blocking threshold.
    pub fn block_at(&self) -> Severity {
        self.block_at
    }

    /// What an error does to the decision.
    pub fn on_error(&self) -> OnError {
        self.on_error
    }

    /// Diff size limit, if the policy sets one.
    pub fn max_diff_bytes(&self) -> Option<usize> {
        self.max_diff_bytes
    }

    /// File count limit, if the policy sets one.
    pub fn max_files(&self) -> Option<usize> {
        self.max_files
    }

    /// Extra rules (a rules file) the policy carries inline.
    pub fn rules_toml(&self) -> Option<&str> {
        self.rules_toml.as_deref()
    }

    /// Rule ids whose inline `diffver-ignore` comments are honoured.
    pub fn inline_ignores(&self) -> &[String] {
        &self.inline_ignores
    }

    /// The policy's exceptions.
    pub fn exceptions(&self) -> &[Exception] {
        &self.exceptions
    }

    /// Rule ids the policy names (in `[rules]`, overrides or exceptions)
    /// that neither `rules` nor the verification checks define. Callers that
    /// load extra rules beside a policy check this before scanning; the
    /// verdict is an error when it is not empty.
    pub fn unknown_rule_ids(&self, rules: &crate::rules::Ruleset) -> Vec<String> {
        let mut named: Vec<&str> = self.rules.keys().map(String::as_str).collect();
        for o in &self.overrides {
            named.extend(o.rules.keys().map(String::as_str));
        }
        named.extend(self.exceptions.iter().filter_map(Exception::rule));
        let mut unknown: Vec<String> = named
            .into_iter()
            .filter(|id| {
                !rules.rules().any(|r| r.id() == *id)
                    && !crate::verify::checks().iter().any(|c| c.id == *id)
                    && *id != crate::finding::TRUNCATED_ID
            })
            .map(str::to_owned)
            .collect();
        unknown.sort();
        unknown.dedup();
        unknown
    }

    /// What the policy does with `finding`. The most specific setting wins:
    /// a rule action, else a category action, else (for binary content) the
    /// `opaque` action, else the severity threshold. Overrides whose paths
    /// match the finding's file replace the top-level settings they name,
    /// later overrides over earlier ones.
    ///
    /// Override globs match the path the file is written to (`a//b` is
    /// `a/b`, see [`crate::diff::path::normalize`]) and never a path that
    /// leaves the repository. For the checks in [`NON_DOWNGRADABLE`] an
    /// override can only make the action stricter, never weaker.
    pub fn action_for(&self, finding: &Finding) -> Action {
        let raw = finding.location().path.as_deref().unwrap_or("");
        let path = crate::diff::path::normalize_str(raw);
        let inside = crate::diff::path::stays_inside(&path);
        let opaque = (finding.rule_id() == "verify.binary-content").then_some(self.opaque);
        let decide = |block_at: Severity, category: Option<Action>, rule: Option<Action>| {
            rule.or(category)
                .or(opaque)
                .unwrap_or(if finding.severity() >= block_at {
                    Action::Block
                } else {
                    Action::Warn
                })
        };
        let mut block_at = self.block_at;
        let mut category = self.categories.get(&finding.category()).copied();
        let mut rule = self.rules.get(finding.rule_id()).copied();
        let top = decide(block_at, category, rule);
        for o in self
            .overrides
            .iter()
            .filter(|o| inside && o.globs.is_match(&*path))
        {
            block_at = o.block_at.unwrap_or(block_at);
            category = o.categories.get(&finding.category()).copied().or(category);
            rule = o.rules.get(finding.rule_id()).copied().or(rule);
        }
        let action = decide(block_at, category, rule);
        if NON_DOWNGRADABLE.contains(&finding.rule_id()) {
            // Block < Warn < Off in the enum's order: the stricter is the smaller.
            return action.min(top);
        }
        action
    }
}

/// Every rule id diffver defines without extra rules: the built-in packs'
/// rules (read from their `id = "…"` lines, without compiling them), the
/// verification checks and the truncation marker.
fn known_rule_ids() -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = crate::rules::BUILTIN_PACKS
        .iter()
        .flat_map(|(_, src)| src.lines())
        .filter_map(|l| l.strip_prefix("id = \"")?.strip_suffix('"'))
        .collect();
    ids.extend(crate::verify::checks().iter().map(|c| c.id));
    ids.push(crate::finding::TRUNCATED_ID);
    ids
}
