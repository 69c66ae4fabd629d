//! `diffver rules`: list, explain and test rules.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use diffver_core::rules::Ruleset;

use std::path::PathBuf;

use clap::Subcommand;

use super::common::*;

#[derive(Subcommand)]
pub(crate) enum RulesCmd {
    /// List every rule.
    List {
        /// Extra rule files.
        #[arg(long = "rules", value_name = "FILE")]
        rule_files: Vec<PathBuf>,
    },
    /// Describe one rule.
    Explain {
        /// The rule id.
        id: String,
        /// Extra rule files.
        #[arg(long = "rules", value_name = "FILE")]
        rule_files: Vec<PathBuf>,
    },
    /// Run every rule's embedded examples (exit 1 if any fails).
    Test {
        /// Rule files to test (default: the built-in packs).
        files: Vec<PathBuf>,
    },
}

pub(crate) fn run(c: RulesCmd) -> anyhow::Result<ExitCode> {
    match c {
        RulesCmd::List { rule_files } => {
            let rs = load_rules(None, &rule_files)?;
            for r in rs.rules() {
                outln!(
                    "{:<38} {:<8} {:<16} {}",
                    r.id(),
                    r.severity(),
                    r.category(),
                    r.title()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesCmd::Explain { id, rule_files } => {
            let rs = load_rules(None, &rule_files)?;
            let Some(r) = rs.rules().find(|r| r.id() == id) else {
                bail!("no rule {id:?} (see `diffver rules list`)");
            };
            let safe = |s: &str| diffver_core::text::escape_for_display(s.as_bytes());
            outln!("{} — {}", r.id(), safe(r.title()));
            outln!(
                "pack: {}  category: {}  severity: {}  confidence: {}",
                r.pack(),
                r.category(),
                r.severity(),
                r.confidence().as_str()
            );
            if !r.tags().is_empty() {
                outln!("tags: {}", safe(&r.tags().join(", ")));
            }
            outln!("\n{}", safe(r.description()));
            if !r.remediation().is_empty() {
                outln!("\nremediation: {}", safe(r.remediation()));
            }
            if !r.paths().is_empty() {
                outln!("\npaths: {}", safe(&r.paths().join(", ")));
            }
            if let Some(re) = r.regex() {
                outln!(
                    "\nkeywords: {}\nregex: {}",
                    r.keywords().join(", "),
                    safe(re)
                );
            } else if r.is_detector() {
                outln!("\n(a code detector)");
            }
            let (pos, neg) = r.examples();
            for p in pos {
                outln!("  matches:        {}", safe(p));
            }
            for n in neg {
                outln!("  does not match: {}", safe(n));
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesCmd::Test { files } => {
            let rs = if files.is_empty() {
                Ruleset::builtin()
            } else {
                let mut b = Ruleset::builder();
                for f in &files {
                    let text = std::fs::read_to_string(f)
                        .with_context(|| format!("cannot read {}", f.display()))?;
                    b = b.add_toml(&text, &f.display().to_string())?;
                }
                b.build()?
            };
            let failures = rs.check_examples();
            for f in &failures {
                outln!(
                    "FAIL {}: {} example {}",
                    f.rule,
                    if f.positive { "positive" } else { "negative" },
                    diffver_core::text::escape_for_display(f.example.as_bytes())
                );
            }
            outln!(
                "{} rule(s), {} example failure(s)",
                rs.len(),
                failures.len()
            );
            Ok(if failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
