//! Validating rule definitions into compiled [`Rule`]s, with precise errors.

use std::borrow::Cow;

use globset::{Glob, GlobSet, GlobSetBuilder};
use regex_automata::meta::Regex;
use regex_automata::util::syntax;

use super::decode::Decoder;
use super::detectors::Detector;
use super::schema::{Example, RuleDef};
use crate::finding::{Category, Confidence, RuleRef, Severity};

/// Why a rule file could not be loaded. Each variant names the rule and the
/// field at fault where there is one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The file is not valid TOML, or does not have the schema's shape.
    #[error("rule file {source_name}: {message}")]
    Syntax {
        /// Where the rules came from (a file name, or `builtin:<pack>`).
        source_name: String,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// What the TOML reader said.
        message: String,
    },
    /// The file declares a schema this version does not read.
    #[error(
        "rule file {source_name}: unsupported schema {found:?} (expected \"diffver.rules/v1\")"
    )]
    Schema {
        /// Where the rules came from.
        source_name: String,
        /// The declared schema.
        found: String,
    },
    /// A field of a rule is invalid.
    #[error("rule {rule}: field `{field}`: {reason}")]
    Invalid {
        /// The rule's id.
        rule: String,
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A regex does not compile: where in the pattern, and why.
    #[error(
        "rule {rule}: field `{field}`: invalid regex at byte {offset} of `{pattern}` (at `{near}`): {message}"
    )]
    Regex {
        /// The rule's id.
        rule: String,
        /// The field (`regex`, `requires`, `allow`, …).
        field: &'static str,
        /// The pattern.
        pattern: String,
        /// Byte offset in the pattern where the error starts (0 when the
        /// error is not about one place, such as a size limit).
        offset: usize,
        /// What is wrong.
        message: String,
        /// The pattern from `offset` on (at most 24 bytes), escaped.
        near: String,
    },
    /// Two rules share an id.
    #[error("rule {rule}: the id is defined twice")]
    Duplicate {
        /// The id.
        rule: String,
    },
}

/// Which text a rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Scope(u8);

impl Scope {
    pub(crate) const ADDED: Scope = Scope(1);
    pub(crate) const REMOVED: Scope = Scope(2);
    pub(crate) const CONTEXT: Scope = Scope(4);
    pub(crate) const PATH: Scope = Scope(8);
    pub(crate) const MESSAGE: Scope = Scope(16);

    pub(crate) fn union(a: Scope, b: Scope) -> Scope {
        Scope(a.0 | b.0)
    }

    pub(crate) fn has(self, other: Scope) -> bool {
        self.0 & other.0 != 0
    }

    fn parse(name: &str) -> Option<Scope> {
        Some(match name {
            "added" => Scope::ADDED,
            "removed" => Scope::REMOVED,
            "context" => Scope::CONTEXT,
            "path" => Scope::PATH,
            "message" => Scope::MESSAGE,
            _ => return None,
        })
    }
}

/// A validated, compiled rule.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) info: RuleRef,
    pub(crate) pack: String,
    pub(crate) description: String,
    pub(crate) remediation: String,
    pub(crate) tags: Vec<String>,
    pub(crate) scope: Scope,
    pub(crate) paths: Option<GlobSet>,
    pub(crate) exclude: Option<GlobSet>,
    pub(crate) path_patterns: Vec<String>,
    pub(crate) keywords: Vec<String>,
    pub(crate) regex: Option<Regex>,
    pub(crate) regex_src: Option<String>,
    pub(crate) detector: Option<Detector>,
    pub(crate) requires: Option<Regex>,
    pub(crate) lines: usize,
    pub(crate) entropy: Option<f64>,
    pub(crate) secret_group: Option<usize>,
    pub(crate) allow: Vec<Regex>,
    pub(crate) allow_match: Vec<Regex>,
    pub(crate) stopwords: Vec<String>,
    pub(crate) normalize: bool,
    /// Also match the shell view (`rules/shell.rs`).
    pub(crate) shell: bool,
    pub(crate) decode: Vec<Decoder>,
    pub(crate) positive: Vec<Example>,
    pub(crate) negative: Vec<Example>,
}

impl Rule {
    /// Whether the rule applies to a file at `path`.
    pub(crate) fn applies_to(&self, path: &str) -> bool {
        self.paths.as_ref().is_none_or(|g| g.is_match(path))
            && !self.exclude.as_ref().is_some_and(|g| g.is_match(path))
    }
}

/// Compile limits for untrusted rule regexes: bounded size, no huge repetitions.
fn compile(rule: &str, field: &'static str, pattern: &str) -> Result<Regex, RuleError> {
    let invalid = |reason: String| RuleError::Invalid {
        rule: rule.to_owned(),
        field,
        reason,
    };
    if pattern.len() > 8192 {
        return Err(invalid("the pattern is longer than 8192 bytes".into()));
    }
    Regex::builder()
        .syntax(
            syntax::Config::new()
                .nest_limit(64)
                .unicode(false)
                .utf8(false),
        )
        .configure(
            Regex::config()
                .nfa_size_limit(Some(8 << 20))
                .hybrid_cache_capacity(4 << 20),
        )
        .build(pattern)
        .map_err(|e| regex_error(rule, field, pattern, &e))
}

/// A [`RuleError::Regex`] with the position regex-syntax reports.
fn regex_error(
    rule: &str,
    field: &'static str,
    pattern: &str,
    e: &regex_automata::meta::BuildError,
) -> RuleError {
    let (offset, message) = match e.syntax_error() {
        Some(regex_syntax::Error::Parse(p)) => (p.span().start.offset, p.kind().to_string()),
        Some(regex_syntax::Error::Translate(t)) => (t.span().start.offset, t.kind().to_string()),
        _ => (
            0,
            e.size_limit().map_or_else(
                || e.to_string(),
                |l| format!("the compiled regex exceeds {l} bytes"),
            ),
        ),
    };
    let bytes = pattern.as_bytes();
    let from = offset.min(bytes.len());
    let near = &bytes[from..(from + 24).min(bytes.len())];
    let mut shown = crate::text::escape_for_display(&bytes[..bytes.len().min(200)]);
    if bytes.len() > 200 {
        shown.push('…');
    }
    RuleError::Regex {
        rule: rule.to_owned(),
        field,
        pattern: shown,
        offset,
        message,
        near: crate::text::escape_for_display(near),
    }
}

/// The same compilation for the keyword-less rules' combined prefilter.
pub(crate) fn compile_many(patterns: &[String]) -> Result<Regex, String> {
    Regex::builder()
        .syntax(
            syntax::Config::new()
                .nest_limit(64)
                .unicode(false)
                .utf8(false),
        )
        .configure(
            Regex::config()
                .nfa_size_limit(Some(32 << 20))
                .hybrid_cache_capacity(4 << 20),
        )
        .build_many(patterns)
        .map_err(|e| e.to_string())
}

fn globs(rule: &str, field: &'static str, pats: &[String]) -> Result<Option<GlobSet>, RuleError> {
    if pats.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in pats {
        let g = globset::GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .or_else(|_| Glob::new(p))
            .map_err(|e| RuleError::Invalid {
                rule: rule.to_owned(),
                field,
                reason: format!("invalid glob {p:?}: {e}"),
            })?;
        b.add(g);
    }
    b.build().map(Some).map_err(|e| RuleError::Invalid {
        rule: rule.to_owned(),
        field,
        reason: e.to_string(),
    })
}

fn valid_id(id: &str) -> bool {
    let mut parts = id.split('.');
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    parts.next().is_some_and(ok_part) && id.contains('.') && parts.all(ok_part) && id.len() <= 100
}

/// Validates one definition.
pub(crate) fn validate(def: RuleDef, pack: &str) -> Result<Rule, RuleError> {
    let id = def.id.clone();
    let invalid = |field: &'static str, reason: String| RuleError::Invalid {
        rule: id.clone(),
        field,
        reason,
    };
    if !valid_id(&id) {
        return Err(invalid(
            "id",
            "an id is namespaced lower-case words separated by dots, like `pi.instruction-override`".into(),
        ));
    }
    if def.title.trim().is_empty() {
        return Err(invalid("title", "must not be empty".into()));
    }
    // Reports print these: no control, bidi or invisible characters (line
    // breaks are allowed in the prose fields).
    let prose = [
        ("description", &def.description),
        ("remediation", &def.remediation),
    ];
    let names = std::iter::once(("title", &def.title))
        .chain(def.tags.iter().map(|t| ("tags", t)))
        .chain(def.paths.iter().map(|t| ("paths", t)))
        .chain(def.exclude_paths.iter().map(|t| ("exclude_paths", t)));
    for (field, text, allow_newline) in prose
        .into_iter()
        .map(|(f, t)| (f, t, true))
        .chain(names.map(|(f, t)| (f, t, false)))
    {
        let ok = text.split('\n').all(crate::text::is_printable_text)
            && (allow_newline || !text.contains('\n'));
        if !ok {
            return Err(invalid(
                field,
                "must not contain control, bidi or invisible characters".into(),
            ));
        }
    }
    let category = Category::from_name(&def.category).ok_or_else(|| {
        invalid(
            "category",
            format!(
                "unknown category {:?} (one of: {})",
                def.category,
                Category::ALL.map(|c| c.as_str()).join(", ")
            ),
        )
    })?;
    let severity = match def.severity.as_str() {
        "info" => Severity::Info,
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "high" => Severity::High,
        "critical" => Severity::Critical,
        s => {
            return Err(invalid(
                "severity",
                format!("unknown severity {s:?} (info, low, medium, high, critical)"),
            ));
        }
    };
    let confidence = match def.confidence.as_deref() {
        None | Some("medium") => Confidence::Medium,
        Some("low") => Confidence::Low,
        Some("high") => Confidence::High,
        Some(s) => {
            return Err(invalid(
                "confidence",
                format!("unknown confidence {s:?} (low, medium, high)"),
            ));
        }
    };
    let mut scope = Scope::default();
    for s in &def.scope {
        let one = Scope::parse(s).ok_or_else(|| {
            invalid(
                "scope",
                format!("unknown scope {s:?} (added, removed, context, path, message)"),
            )
        })?;
        scope.0 |= one.0;
    }
    if scope.0 == 0 {
        scope = Scope::ADDED;
    }
    // Text outside hunks (commit messages, preambles, mail trailers, hunk
    // headings, text on header lines) is read by people and agents like added
    // text, and an attacker writes it: rules that look for what steers or
    // deceives a reader, or runs code, read it too (issue 11).
    if scope.has(Scope::ADDED)
        && matches!(
            category,
            Category::PromptInjection | Category::HiddenUnicode | Category::CodeExec
        )
    {
        scope = Scope::union(scope, Scope::MESSAGE);
    }
    let regex = def
        .regex
        .as_deref()
        .map(|p| compile(&id, "regex", p))
        .transpose()?;
    let detector = match def.detector.as_deref() {
        None => None,
        Some(name) => Some(Detector::from_name(name).ok_or_else(|| {
            invalid(
                "detector",
                format!(
                    "unknown detector {name:?} (one of: {})",
                    Detector::NAMES.join(", ")
                ),
            )
        })?),
    };
    if regex.is_some() && detector.is_some() {
        return Err(invalid(
            "detector",
            "a rule has a regex or a detector, not both".into(),
        ));
    }
    if regex.is_none() && detector.is_none() && !scope.has(Scope::PATH) {
        return Err(invalid(
            "regex",
            "a rule needs a regex or a detector (or scope = [\"path\"])".into(),
        ));
    }
    let mut keywords = Vec::new();
    for k in &def.keywords {
        // Non-ASCII keywords (phrases in other scripts) match byte for byte;
        // ASCII letters match in any case.
        if k.is_empty() || k.len() > 64 || k.chars().any(char::is_control) {
            return Err(invalid(
                "keywords",
                format!("keyword {k:?} must be 1 to 64 bytes without control characters"),
            ));
        }
        keywords.push(k.to_ascii_lowercase());
    }
    let lines = def.lines.unwrap_or(1);
    if !(1..=8).contains(&lines) {
        return Err(invalid("lines", "a rule can span 1 to 8 lines".into()));
    }
    if let Some(e) = def.entropy
        && !(0.0..=8.0).contains(&e)
    {
        return Err(invalid(
            "entropy",
            "entropy is in bits per byte, 0 to 8".into(),
        ));
    }
    if let (Some(g), Some(re)) = (def.secret_group, &regex) {
        if g == 0 || g >= re.group_info().group_len(regex_automata::PatternID::ZERO) {
            return Err(invalid(
                "secret_group",
                format!("the regex has no capture group {g}"),
            ));
        }
    } else if def.secret_group.is_some() {
        return Err(invalid(
            "secret_group",
            "a secret group needs a regex".into(),
        ));
    }
    if def.shell && (regex.is_none() || keywords.is_empty() || category == Category::Secret) {
        // The shell view is reached through keywords and never shows a
        // secret's bytes, so it is for keyword rules that are not secrets.
        return Err(invalid(
            "shell",
            "the shell view needs a regex and keywords, and is not for secret rules".into(),
        ));
    }
    let allow = def
        .allow
        .iter()
        .map(|p| compile(&id, "allow", p))
        .collect::<Result<Vec<_>, _>>()?;
    let allow_match = def
        .allow_match
        .iter()
        .map(|p| compile(&id, "allow_match", p))
        .collect::<Result<Vec<_>, _>>()?;
    let requires = def
        .requires
        .as_deref()
        .map(|p| compile(&id, "requires", p))
        .transpose()?;
    let decode = def
        .decode
        .iter()
        .map(|d| {
            Decoder::from_name(d).ok_or_else(|| {
                invalid(
                    "decode",
                    format!(
                        "unknown decoder {d:?} (one of: {})",
                        Decoder::NAMES.join(", ")
                    ),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Rule {
        info: RuleRef {
            id: Cow::Owned(def.id.clone()),
            title: Cow::Owned(def.title.clone()),
            category,
            severity,
            confidence,
        },
        pack: pack.to_owned(),
        description: def.description,
        remediation: def.remediation,
        tags: def.tags,
        scope,
        paths: globs(&id, "paths", &def.paths)?,
        exclude: globs(&id, "exclude_paths", &def.exclude_paths)?,
        path_patterns: def.paths,
        keywords,
        regex,
        regex_src: def.regex,
        detector,
        requires,
        lines: lines as usize,
        entropy: def.entropy,
        secret_group: def.secret_group,
        allow,
        allow_match,
        stopwords: def
            .stopwords
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect(),
        normalize: def.normalize,
        shell: def.shell,
        decode,
        positive: def.examples.positive,
        negative: def.examples.negative,
    })
}
