//! Detection over the labeled real-world corpus in `../shared/corpus` (see its
//! README): every sample is turned into an "add file" diff and scanned with the
//! built-in rules. Figures (recall, false positives) are printed; run with
//! `cargo test --test corpus -- --nocapture` to see them.
//!
//! `DIFFVER_CORPUS` overrides the corpus location.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use diffver::diff::{Limits, parse};
use diffver::finding::{Category, Finding, Severity};
use diffver::rules::Ruleset;
use diffver::scan::{ScanConfig, scan};

fn corpus() -> PathBuf {
    std::env::var_os("DIFFVER_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
}

/// An "add file" diff of `content` at `path`.
fn add_file(path: &str, content: &[u8]) -> Vec<u8> {
    let lines: Vec<&[u8]> = content.split_inclusive(|&b| b == b'\n').collect();
    let mut d = format!(
        "diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{} @@\n",
        lines.len()
    )
    .into_bytes();
    for l in &lines {
        d.push(b'+');
        d.extend_from_slice(l);
        if !l.ends_with(b"\n") {
            d.extend_from_slice(b"\n\\ No newline at end of file\n");
        }
    }
    d
}

fn scan_file(rules: &Ruleset, path: &str, content: &[u8]) -> Vec<Finding> {
    let diff = add_file(path, content);
    let parsed = parse(&diff, &Limits::default()).unwrap();
    scan(&parsed, rules, &ScanConfig::default())
        .findings()
        .to_vec()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "LICENSE") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn trojan_source_every_file_is_flagged_as_hidden_unicode() {
    let rules = Ruleset::builtin();
    let dir = corpus().join("trojan-source");
    let all = files(&dir);
    assert!(
        all.len() >= 50,
        "the corpus has the Trojan Source samples ({})",
        all.len()
    );
    let mut missed = Vec::new();
    for f in &all {
        let rel = f.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
        let findings = scan_file(&rules, &rel, &std::fs::read(f).unwrap());
        let ok = findings
            .iter()
            .any(|x| x.category() == Category::HiddenUnicode && x.severity() >= Severity::High);
        if !ok {
            missed.push(rel);
        }
    }
    eprintln!(
        "trojan-source: {}/{} flagged",
        all.len() - missed.len(),
        all.len()
    );
    assert!(missed.is_empty(), "not flagged: {missed:?}");
}

/// guarddog rules this project covers, and the path a sample is added at
/// (guarddog's code-execution and cmd-overwrite rules are about setup.py,
/// npm-install-script about package.json).
fn guarddog_covered(rule: &str) -> bool {
    matches!(
        rule,
        "exec-base64"
            | "go-exec-base64"
            | "npm-exec-base64"
            | "rubygems-exec-base64"
            | "download-executable"
            | "go-exec-download"
            | "code-execution"
            | "cmd-overwrite"
            | "npm-install-script"
            | "rubygems-install-hook"
            | "shady-links"
            | "exfiltrate-sensitive-data"
            | "npm-exfiltrate-sensitive-data"
            | "go-exfiltrate-sensitive-data"
            | "rubygems-exfiltrate-sensitive-data"
            | "npm-serialize-environment"
            | "rubygems-serialize-environment"
    )
}

fn guarddog_path(name: &str, labels: &[String]) -> String {
    if labels
        .iter()
        .any(|l| l == "code-execution" || l == "cmd-overwrite")
    {
        "setup.py".to_owned()
    } else if labels.iter().any(|l| l == "npm-install-script") {
        "package.json".to_owned()
    } else {
        name.to_owned()
    }
}

#[test]
fn guarddog_recall_and_benign_quiet() {
    let rules = Ruleset::builtin();
    let dir = corpus().join("guarddog/sourcecode");
    let (mut labeled, mut found, mut ok_lines, mut ok_hits) = (0usize, 0usize, 0usize, 0usize);
    let mut per_rule: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for f in files(&dir)
        .into_iter()
        .filter(|p| !p.starts_with(dir.join("benign")))
    {
        let text = std::fs::read(&f).unwrap();
        let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
        // (target line number, rule, positive?)
        let mut marks = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let s = String::from_utf8_lossy(l);
            for (tag, positive) in [("ruleid:", true), ("ok:", false)] {
                if let Some(p) = s.find(tag) {
                    let before = s[..p].trim_end();
                    if before.ends_with('#') || before.ends_with("//") {
                        let rule = s[p + tag.len()..].trim().to_owned();
                        marks.push((i as u32 + 2, rule, positive));
                    }
                }
            }
        }
        let labels: Vec<String> = marks.iter().map(|m| m.1.clone()).collect();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let findings = scan_file(&rules, &guarddog_path(&name, &labels), &text);
        let hit_near = |line: u32, span: u32| {
            findings.iter().any(|x| {
                matches!(
                    x.category(),
                    Category::CodeExec | Category::Secret | Category::HiddenUnicode
                ) && x.severity() >= Severity::Medium
                    && x.location()
                        .line
                        .is_some_and(|l| l + span >= line && l <= line + span)
            })
        };
        for (line, rule, positive) in marks {
            if !guarddog_covered(&rule) {
                continue;
            }
            if positive {
                labeled += 1;
                // A labeled statement may span a few lines.
                let hit = hit_near(line, 3);
                found += usize::from(hit);
                if !hit && std::env::var_os("DIFFVER_CORPUS_MISSES").is_some() {
                    eprintln!("  missed: {name}:{line} ({rule})");
                }
                let e = per_rule.entry(rule).or_default();
                e.0 += 1;
                e.1 += usize::from(hit);
            } else {
                ok_lines += 1;
                if hit_near(line, 0) {
                    ok_hits += 1;
                    let ids: Vec<&str> = findings
                        .iter()
                        .filter(|x| x.location().line == Some(line))
                        .map(|x| x.rule_id())
                        .collect();
                    eprintln!("  look-alike flagged: {name}:{line} ({rule}) by {ids:?}");
                }
            }
        }
    }
    let recall = found as f64 / labeled as f64;
    eprintln!(
        "guarddog: recall {found}/{labeled} = {:.0}% on covered rules; look-alikes flagged {ok_hits}/{ok_lines}",
        recall * 100.0
    );
    for (r, (n, h)) in &per_rule {
        eprintln!("  {r}: {h}/{n}");
    }
    assert!(recall >= 0.84, "guarddog recall fell to {recall:.2}");

    let mut noisy = Vec::new();
    let benign = files(&dir.join("benign"));
    for f in &benign {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for x in scan_file(&rules, &name, &std::fs::read(f).unwrap()) {
            if x.severity() >= Severity::High {
                noisy.push(format!(
                    "{name}: {} {}",
                    x.rule_id(),
                    x.evidence().unwrap_or("")
                ));
            }
        }
    }
    eprintln!(
        "guarddog benign: {} high/critical findings in {} files",
        noisy.len(),
        benign.len()
    );
    assert!(
        noisy.is_empty(),
        "benign code flagged high/critical:\n{}",
        noisy.join("\n")
    );
}

#[test]
fn detect_secrets_fixtures() {
    let rules = Ruleset::builtin();
    let dir = corpus().join("detect-secrets");
    let secrets = |name: &str, path: &str| -> Vec<String> {
        scan_file(&rules, path, &std::fs::read(dir.join(name)).unwrap())
            .iter()
            .filter(|f| f.category() == Category::Secret)
            .map(|f| format!("{}:{}", f.rule_id(), f.location().line.unwrap_or(0)))
            .collect()
    };
    for (name, path) in [
        ("each_secret.py", "each_secret.py"),
        ("config.ini", "config.ini"),
        ("config.yaml", "config.yaml"),
        ("private_key", "private_key"),
        ("file_with_secrets.py", "file_with_secrets.py"),
    ] {
        let found = secrets(name, path);
        eprintln!("detect-secrets {name}: {found:?}");
        assert!(!found.is_empty(), "{name}: no secret found");
    }
    let clean = secrets("file_with_no_secrets.py", "file_with_no_secrets.py");
    assert!(
        clean.is_empty(),
        "file_with_no_secrets.py flagged: {clean:?}"
    );
    // The real unified diff from the detect-secrets repository.
    let sample = std::fs::read(dir.join("sample.diff")).unwrap();
    let parsed = parse(&sample, &Limits::default()).unwrap();
    let report = scan(&parsed, &rules, &ScanConfig::default());
    let found: Vec<String> = report
        .findings()
        .iter()
        .filter(|f| f.category() == Category::Secret)
        .map(|f| format!("{} {:?}", f.rule_id(), f.evidence()))
        .collect();
    eprintln!("detect-secrets sample.diff: {found:?}");
    // Every secret shown is redacted.
    for f in report.findings() {
        if f.category() == Category::Secret {
            assert!(
                f.evidence().unwrap_or("").contains("****"),
                "{:?}",
                f.evidence()
            );
        }
    }
}

#[test]
fn zizmor_template_injection_hazards_and_safe_variants() {
    let rules = Ruleset::builtin();
    let dir = corpus().join("zizmor/template-injection");
    let lines_flagged = |name: &str| -> Vec<u32> {
        let text = std::fs::read(dir.join(name)).unwrap();
        let path = format!(".github/workflows/{}", name.replace('/', "-"));
        scan_file(&rules, &path, &text)
            .iter()
            .filter(|f| f.rule_id() == "ci.template-injection")
            .filter_map(|f| f.location().line)
            .collect()
    };
    // Hazards: attacker-controlled data expanded into scripts.
    for (name, must) in [
        ("codeql-sinks.yml", vec![17]),
        ("pwsh-script.yml", vec![16]),
        ("dataflow.yml", vec![21, 22, 23, 28, 29]),
        ("static-env.yml", vec![43, 50, 55]),
    ] {
        let got = lines_flagged(name);
        eprintln!("zizmor {name}: flagged lines {got:?}");
        for l in must {
            assert!(
                got.contains(&l),
                "{name}: line {l} not flagged (got {got:?})"
            );
        }
    }
    // Safe variants: boolean uses of attacker data, trusted contexts, static env.
    let got = lines_flagged("dataflow.yml");
    assert!(
        !got.contains(&15) && !got.contains(&16),
        "boolean expressions flagged: {got:?}"
    );
    let got = lines_flagged("static-env.yml");
    for l in [26, 33, 38] {
        assert!(
            !got.contains(&l),
            "static-env.yml: static env at line {l} flagged"
        );
    }
    for safe in [
        "false-positive-menagerie.yml",
        "template-injection-static-matrix.yml",
        "issue-1638-repro.yml",
        "issue-2197-repro.yml",
    ] {
        let got = lines_flagged(safe);
        assert!(got.is_empty(), "{safe}: safe workflow flagged at {got:?}");
    }
}
