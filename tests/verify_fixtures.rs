//! Data-driven verification tests over `tests/fixtures/verify/*.diff`.
//!
//! A fixture named `<check>.trigger.diff` (or `<check>.<variant>.trigger.diff`)
//! must produce a `verify.<check>` finding; `<check>.ok.diff` is its near miss
//! and must not. Every fixture's full report is compared with its `.snap`
//! snapshot; run with `UPDATE_SNAPSHOTS=1` to rewrite them after a deliberate
//! change, then review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use diffver::diff::{Limits, parse_partial};
use diffver::verify::{self, Options, checks};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/verify");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "diff"))
        .collect();
    v.sort();
    v
}

/// Renders a fixture's report as the snapshot text.
fn render(input: &[u8]) -> String {
    // A fixture may be an input git rejects as a whole (headers without a
    // patch): what parses is still verified, and the error is snapshotted.
    let (parsed, error) = parse_partial(input, &Limits::default());
    let report = verify::verify(&parsed, &Options::default());
    let mut s = String::new();
    if let Some(e) = error {
        writeln!(s, "parse error: {e}").unwrap();
    }
    for f in report.findings() {
        let l = f.location();
        writeln!(
            s,
            "{} {} {}:{}:{} {:?} | {}",
            f.rule_id(),
            f.severity(),
            l.path.as_deref().unwrap_or("-"),
            l.line.map_or("-".into(), |n| n.to_string()),
            l.column.map_or("-".into(), |n| n.to_string()),
            l.side,
            f.message()
        )
        .unwrap();
    }
    for img in report.post_images() {
        writeln!(
            s,
            "post-image {} {} {}",
            img.path.display(),
            img.blob_id,
            img.size
        )
        .unwrap();
    }
    s
}

fn check(path: &Path) -> BTreeSet<String> {
    let input = std::fs::read(path).unwrap();
    let actual = render(&input);
    let snap = path.with_extension("snap");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snap, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&snap).unwrap_or_else(|_| {
        panic!(
            "missing snapshot {}; run with UPDATE_SNAPSHOTS=1",
            snap.display()
        )
    });
    assert_eq!(actual, expected, "snapshot mismatch for {}", path.display());
    let (parsed, _) = parse_partial(&input, &Limits::default());
    verify::verify(&parsed, &Options::default())
        .findings()
        .iter()
        .map(|f| f.rule_id().to_owned())
        .collect()
}

#[test]
fn every_fixture_triggers_its_check_and_every_near_miss_does_not() {
    let mut triggered = BTreeSet::new();
    for path in fixtures() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let check_name = name.split('.').next().unwrap();
        let rule = format!("verify.{check_name}");
        let ids = check(&path);
        if name.ends_with(".trigger.diff") {
            assert!(
                ids.contains(&rule),
                "{name} should trigger {rule}, got {ids:?}"
            );
            triggered.insert(rule);
        } else if name.ends_with(".ok.diff") {
            assert!(!ids.contains(&rule), "{name} must not trigger {rule}");
        }
    }
    // Every structural/path/mode/content check has a fixture (apply checks
    // need a base tree and are tested against git in tests/apply_verification.rs).
    for meta in checks() {
        if meta.category == diffver::finding::Category::Apply {
            continue;
        }
        assert!(
            triggered.contains(meta.id),
            "no trigger fixture for {}",
            meta.id
        );
    }
}

#[test]
fn findings_never_carry_raw_control_characters() {
    for path in fixtures() {
        let input = std::fs::read(&path).unwrap();
        let (parsed, _) = parse_partial(&input, &Limits::default());
        for f in verify::verify(&parsed, &Options::default()).findings() {
            let texts = [
                f.message(),
                f.evidence().unwrap_or(""),
                f.location().path.as_deref().unwrap_or(""),
            ];
            for t in texts {
                assert!(
                    !t.chars()
                        .any(|c| c.is_control() || diffver::text::is_deceptive_char(c)),
                    "{}: raw control in {t:?}",
                    path.display()
                );
            }
        }
    }
}
