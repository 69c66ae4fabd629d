//! The built-in packs load, every rule's embedded examples pass, and every
//! built-in rule has at least one positive and one negative example.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffver_core::rules::Ruleset;

#[test]
fn builtin_packs_load_and_examples_pass() {
    let rs = Ruleset::builtin();
    assert!(rs.len() >= 30, "{} rules", rs.len());
    let failures = rs.check_examples();
    assert!(
        failures.is_empty(),
        "{} example failures:\n{}",
        failures.len(),
        failures
            .iter()
            .map(|f| format!(
                "{} {} {:?}",
                f.rule,
                if f.positive { "missed" } else { "matched" },
                f.example
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for r in rs.rules() {
        let (pos, neg) = r.examples();
        assert!(
            !pos.is_empty() && !neg.is_empty(),
            "{} needs positive and negative examples",
            r.id()
        );
    }
}
