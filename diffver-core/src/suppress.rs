//! Suppressions: policy exceptions and baselines.
//!
//! A suppressed finding stays in the result, marked with what suppressed it;
//! it just does not count towards the decision. Exceptions match by rule id,
//! fingerprint and/or path glob, carry a reason and an author, and stop
//! applying at `expires_at` (an expired exception is reported). A baseline is
//! the set of fingerprints accepted from an earlier scan, in a file that does
//! not churn: no timestamps or line numbers, sorted, one entry per line.
//!
//! Inline "ignore" comments in the scanned diff are not honoured by default —
//! an attacker writes them too. A policy may opt in per rule
//! (`inline_ignores`); only `diffver-ignore` comments naming the rule count.

use std::collections::BTreeMap;

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::finding::Finding;

/// A moment, as whole seconds since the Unix epoch (UTC), between
/// `0000-01-01T00:00:00Z` and `9999-12-31T23:59:59Z` — the range RFC 3339
/// can write. Parsed from and written as RFC 3339; a value outside the range
/// cannot be made, so a signed time is never a wrong one. Time is always
/// passed in; nothing here reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// A time that cannot be a [`Timestamp`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// Seconds outside years 0000–9999.
    #[error("{seconds} seconds since the Unix epoch is outside years 0000-9999")]
    OutOfRange {
        /// The value given.
        seconds: i64,
    },
    /// Text that is not an RFC 3339 timestamp.
    #[error("{text:?} is not an RFC 3339 timestamp: {reason}")]
    Syntax {
        /// The text (escaped, shortened).
        text: String,
        /// What is wrong.
        reason: String,
    },
}

impl Timestamp {
    /// The earliest: `0000-01-01T00:00:00Z`.
    pub const MIN: Timestamp = Timestamp(-62_167_219_200);
    /// The latest: `9999-12-31T23:59:59Z`.
    pub const MAX: Timestamp = Timestamp(253_402_300_799);

    /// A moment from seconds since the Unix epoch.
    ///
    /// # Errors
    ///
    /// [`TimestampError::OutOfRange`] outside [`Timestamp::MIN`]..=[`Timestamp::MAX`].
    pub fn from_unix_seconds(seconds: i64) -> Result<Timestamp, TimestampError> {
        if (Timestamp::MIN.0..=Timestamp::MAX.0).contains(&seconds) {
            Ok(Timestamp(seconds))
        } else {
            Err(TimestampError::OutOfRange { seconds })
        }
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        self.0
    }

    /// Parses an RFC 3339 timestamp (`2026-11-29T09:00:00Z`); an offset is
    /// converted to UTC and fractions of a second are dropped.
    ///
    /// # Errors
    ///
    /// [`TimestampError::Syntax`] naming what is wrong with the text.
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, TimestampError> {
        let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|e| TimestampError::Syntax {
                text: crate::text::escape_for_display(&s.as_bytes()[..s.len().min(64)]),
                reason: e.to_string(),
            })?;
        Timestamp::from_unix_seconds(t.unix_timestamp())
    }

    /// The RFC 3339 form, in UTC with a `Z` suffix and whole seconds.
    pub fn to_rfc3339(self) -> String {
        // In range by construction; the fallback cannot be reached, and is
        // not a plausible time if it ever were.
        time::OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| format!("invalid-time({})", self.0))
    }
}

impl ExceptionDef {
    /// The rule id the exception names, if any.
    pub(crate) fn rule(&self) -> Option<&str> {
        self.rule.as_deref()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExceptionDef {
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
    #[serde(default)]
    paths: Vec<String>,
    reason: String,
    author: String,
    #[serde(default)]
    expires_at: Option<String>,
}

/// A policy exception.
#[derive(Debug, Clone)]
pub struct Exception {
    rule: Option<String>,
    fingerprint: Option<String>,
    paths: Vec<String>,
    globs: Vec<GlobMatcher>,
    reason: String,
    author: String,
    expires_at: Option<Timestamp>,
}

#[derive(Serialize)]
pub(crate) struct CanonicalException<'a> {
    rule: Option<&'a str>,
    fingerprint: Option<&'a str>,
    paths: &'a [String],
    reason: &'a str,
    author: &'a str,
    expires_at: Option<String>,
}

impl Exception {
    pub(crate) fn validate(def: ExceptionDef) -> Result<Exception, String> {
        if def.rule.is_none() && def.fingerprint.is_none() && def.paths.is_empty() {
            return Err("an exception needs a rule, a fingerprint or paths".into());
        }
        if def.reason.trim().is_empty() || def.author.trim().is_empty() {
            return Err("an exception needs a reason and an author".into());
        }
        let texts = [def.reason.as_str(), def.author.as_str()]
            .into_iter()
            .chain(def.rule.as_deref())
            .chain(def.fingerprint.as_deref())
            .chain(def.paths.iter().map(String::as_str));
        for t in texts {
            if !crate::text::is_printable_text(t) {
                return Err(format!(
                    "{t:?} contains control, bidi or invisible characters"
                ));
            }
        }
        let globs = def
            .paths
            .iter()
            .map(|p| {
                globset::GlobBuilder::new(p)
                    .literal_separator(true)
                    .build()
                    .or_else(|_| Glob::new(p))
                    .map(|g| g.compile_matcher())
                    .map_err(|e| format!("invalid glob {p:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let expires_at = def
            .expires_at
            .as_deref()
            .map(Timestamp::parse_rfc3339)
            .transpose()
            .map_err(|e| e.to_string())?;
        Ok(Exception {
            rule: def.rule,
            fingerprint: def.fingerprint.map(|f| f.to_ascii_lowercase()),
            paths: def.paths,
            globs,
            reason: def.reason,
            author: def.author,
            expires_at,
        })
    }

    pub(crate) fn canonical(&self) -> CanonicalException<'_> {
        CanonicalException {
            rule: self.rule.as_deref(),
            fingerprint: self.fingerprint.as_deref(),
            paths: &self.paths,
            reason: &self.reason,
            author: &self.author,
            expires_at: self.expires_at.map(Timestamp::to_rfc3339),
        }
    }

    /// Whether the exception matches the finding (ignoring expiry).
    ///
    /// Path globs match the path the file is written to (`a//b` is `a/b`)
    /// and never a path that leaves the repository (`fixtures/../../x`). An
    /// exception that names a fingerprint never matches a finding whose
    /// fingerprint leaves out the secret value
    /// ([`Finding::fingerprint_ignores_secret_value`]).
    pub fn matches(&self, f: &Finding) -> bool {
        let raw = f.location().path.as_deref().unwrap_or("");
        let path = crate::diff::path::normalize_str(raw);
        self.rule.as_deref().is_none_or(|r| r == f.rule_id())
            && self
                .fingerprint
                .as_deref()
                .is_none_or(|fp| fp == f.fingerprint() && !f.fingerprint_ignores_secret_value())
            && (self.globs.is_empty()
                || (crate::diff::path::stays_inside(&path)
                    && self.globs.iter().any(|g| g.is_match(&*path))))
    }

    /// The rule id the exception names, if any.
    pub fn rule(&self) -> Option<&str> {
        self.rule.as_deref()
    }

    /// Whether the exception has expired at `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|e| now >= e)
    }

    /// The reason given.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Who granted it.
    pub fn author(&self) -> &str {
        &self.author
    }

    /// A short description: `rule=… fingerprint=… paths=…`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(r) = &self.rule {
            parts.push(format!("rule={r}"));
        }
        if let Some(f) = &self.fingerprint {
            parts.push(format!(
                "fingerprint={}",
                f.chars().take(16).collect::<String>()
            ));
        }
        if !self.paths.is_empty() {
            parts.push(format!("paths={}", self.paths.join(",")));
        }
        parts.join(" ")
    }

    /// When it expires.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.expires_at
    }
}

/// Why a baseline could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("baseline: {message}")]
pub struct BaselineError {
    /// What is wrong.
    pub message: String,
}

/// Fingerprints accepted from an earlier scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseline {
    /// fingerprint -> rule id
    entries: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BaselineFile {
    schema: String,
    findings: Vec<BaselineEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BaselineEntry {
    fingerprint: String,
    rule: String,
}

impl Baseline {
    /// A baseline of every finding given (deduplicated, sorted), except those
    /// whose fingerprint cannot tell two values apart (secrets scanned
    /// without a fingerprint key, see
    /// [`Finding::fingerprint_ignores_secret_value`]): accepting one would
    /// accept every secret of the same length at that path.
    pub fn from_findings<'f>(findings: impl IntoIterator<Item = &'f Finding>) -> Baseline {
        Baseline {
            entries: findings
                .into_iter()
                .filter(|f| !f.fingerprint_ignores_secret_value())
                .map(|f| (f.fingerprint().to_owned(), f.rule_id().to_owned()))
                .collect(),
        }
    }

    /// Adds another baseline's entries (for `baseline update`).
    pub fn merge(&mut self, other: &Baseline) {
        self.entries
            .extend(other.entries.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    /// Whether a fingerprint is accepted.
    pub fn contains(&self, fingerprint: &str) -> bool {
        self.entries.contains_key(fingerprint)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Reads a baseline file.
    ///
    /// # Errors
    ///
    /// [`BaselineError`] if it is not a `diffver.baseline/v1` document.
    pub fn from_json(src: &str) -> Result<Baseline, BaselineError> {
        let f: BaselineFile = serde_json::from_str(src).map_err(|e| BaselineError {
            message: e.to_string(),
        })?;
        if f.schema != "diffver.baseline/v1" {
            return Err(BaselineError {
                message: format!("unsupported schema {:?}", f.schema),
            });
        }
        Ok(Baseline {
            entries: f
                .findings
                .into_iter()
                .map(|e| (e.fingerprint.to_ascii_lowercase(), e.rule))
                .collect(),
        })
    }

    /// The file form: sorted by fingerprint, one entry per line, no
    /// timestamps or positions, so regenerating it does not churn.
    pub fn to_json(&self) -> String {
        let mut s = String::from("{\n  \"schema\": \"diffver.baseline/v1\",\n  \"findings\": [");
        for (i, (fp, rule)) in self.entries.iter().enumerate() {
            let entry = BaselineEntry {
                fingerprint: fp.clone(),
                rule: rule.clone(),
            };
            s.push_str(if i == 0 { "\n    " } else { ",\n    " });
            s.push_str(&serde_json::to_string(&entry).unwrap_or_default());
        }
        s.push_str(if self.entries.is_empty() {
            "]\n}\n"
        } else {
            "\n  ]\n}\n"
        });
        s
    }
}

/// What suppressed a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Suppression {
    /// A policy exception.
    Exception {
        /// What it matches.
        matches: String,
        /// Its reason.
        reason: String,
        /// Who granted it.
        author: String,
    },
    /// The baseline accepted the fingerprint.
    Baseline,
    /// A `diffver-ignore` comment on the line, honoured because the policy
    /// opts in for this rule.
    InlineComment,
}

impl Suppression {
    /// `exception`, `baseline` or `inline-comment`.
    pub fn kind(&self) -> &'static str {
        match self {
            Suppression::Exception { .. } => "exception",
            Suppression::Baseline => "baseline",
            Suppression::InlineComment => "inline-comment",
        }
    }

    /// A one-line justification.
    pub fn justification(&self) -> String {
        match self {
            Suppression::Exception {
                matches,
                reason,
                author,
            } => format!("{reason} (exception {matches}, by {author})"),
            Suppression::Baseline => "accepted in the baseline".into(),
            Suppression::InlineComment => "diffver-ignore comment honoured by policy".into(),
        }
    }
}

/// Whether a line carries a `diffver-ignore` comment naming `rule` (or any rule).
pub(crate) fn inline_ignore_names(line: &[u8], rule: &str) -> bool {
    let text = String::from_utf8_lossy(line);
    let Some(i) = text.find("diffver-ignore") else {
        return false;
    };
    let rest = text[i + "diffver-ignore".len()..].trim_start();
    match rest.strip_prefix(':') {
        Some(list) => list.split([',', ' ']).map(str::trim).any(|r| r == rule),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let t = Timestamp::parse_rfc3339("2026-11-29T09:00:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-29T09:00:00Z");
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-29T10:00:00+01:00").unwrap(),
            t
        );
    }

    #[test]
    fn inline_ignore_must_name_the_rule() {
        assert!(inline_ignore_names(
            b"x = 1 # diffver-ignore: secret.jwt",
            "secret.jwt"
        ));
        assert!(!inline_ignore_names(
            b"x = 1 # diffver-ignore",
            "secret.jwt"
        ));
        assert!(!inline_ignore_names(
            b"x = 1 # diffver-ignore: secret.other",
            "secret.jwt"
        ));
    }
}
