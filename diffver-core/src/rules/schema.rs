//! The rule file format, version 1 (`schema = "diffver.rules/v1"`), as read
//! from TOML. These are wire types: they change only with a new schema
//! version. [`super::rule`] validates them into compiled rules.

use serde::Deserialize;

/// The schema identifier every rule file must declare.
pub(crate) const SCHEMA_V1: &str = "diffver.rules/v1";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleFile {
    pub(crate) schema: String,
    #[serde(default)]
    pub(crate) pack: Option<String>,
    #[serde(default, rename = "rule")]
    pub(crate) rules: Vec<RuleDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleDef {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) description: String,
    #[serde(default)]
    pub(crate) remediation: String,
    pub(crate) category: String,
    pub(crate) severity: String,
    #[serde(default)]
    pub(crate) confidence: Option<String>,
    #[serde(default)]
    pub(crate) tags: Vec<String>,
    #[serde(default)]
    pub(crate) scope: Vec<String>,
    #[serde(default)]
    pub(crate) paths: Vec<String>,
    #[serde(default)]
    pub(crate) exclude_paths: Vec<String>,
    #[serde(default)]
    pub(crate) keywords: Vec<String>,
    #[serde(default)]
    pub(crate) regex: Option<String>,
    #[serde(default)]
    pub(crate) detector: Option<String>,
    #[serde(default)]
    pub(crate) requires: Option<String>,
    #[serde(default)]
    pub(crate) lines: Option<u32>,
    #[serde(default)]
    pub(crate) entropy: Option<f64>,
    #[serde(default)]
    pub(crate) secret_group: Option<usize>,
    #[serde(default)]
    pub(crate) allow: Vec<String>,
    #[serde(default)]
    pub(crate) allow_match: Vec<String>,
    #[serde(default)]
    pub(crate) stopwords: Vec<String>,
    #[serde(default)]
    pub(crate) normalize: bool,
    #[serde(default)]
    pub(crate) shell: bool,
    #[serde(default)]
    pub(crate) decode: Vec<String>,
    #[serde(default)]
    pub(crate) examples: Examples,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Examples {
    #[serde(default)]
    pub(crate) positive: Vec<Example>,
    #[serde(default)]
    pub(crate) negative: Vec<Example>,
}

/// An example: the text of added lines, and optionally the path they are added to.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Example {
    Text(String),
    InFile { path: String, text: String },
}

impl Example {
    pub(crate) fn path(&self) -> &str {
        match self {
            Example::Text(_) => "example.txt",
            Example::InFile { path, .. } => path,
        }
    }

    pub(crate) fn text(&self) -> &str {
        match self {
            Example::Text(t) | Example::InFile { text: t, .. } => t,
        }
    }
}
