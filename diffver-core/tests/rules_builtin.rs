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

/// The built-in ruleset is compiled once per process and shared; a policy
/// that carries rules of its own gets its own ruleset.
#[test]
fn builtin_ruleset_is_built_once_and_shared() {
    use diffver_core::policy::Policy;
    use diffver_core::verdict::ruleset_shared;
    let a = Ruleset::builtin_shared();
    let b = Ruleset::builtin_shared();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    assert_eq!(a.hash(), Ruleset::builtin().hash());
    let standard = Policy::builtin("standard").unwrap();
    assert!(std::sync::Arc::ptr_eq(
        &ruleset_shared(&standard, &[]).unwrap(),
        &a
    ));
    let with_rules = Policy::from_toml(
        "schema = \"diffver.policy/v1\"\nid = \"p\"\nrules_toml = '''\nschema = \"diffver.rules/v1\"\npack = \"local\"\n[[rule]]\nid = \"local.x\"\ntitle = \"x\"\ndescription = \"x\"\nremediation = \"x\"\ncategory = \"code-exec\"\nseverity = \"low\"\nconfidence = \"low\"\nregex = 'zzqx'\nexamples.positive = [\"zzqx\"]\nexamples.negative = [\"zz\"]\n'''\n",
        "p",
    )
    .unwrap();
    let own = ruleset_shared(&with_rules, &[]).unwrap();
    assert!(!std::sync::Arc::ptr_eq(&own, &a));
    assert_ne!(own.hash(), a.hash());
    let extra = ruleset_shared(&standard, &[("x.toml", with_rules.rules_toml().unwrap())]).unwrap();
    assert_eq!(extra.hash(), own.hash());
}
