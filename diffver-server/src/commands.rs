//! The subcommands. Everything that touches files, processes, the clock or
//! the terminal is here; decisions and rendering are the core's.

use std::io::{IsTerminal, Write as _};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use diffver_core::artifact::{self, HmacSigner, Keyring, SigningMode};
use diffver_core::diff::{self, Limits};
use diffver_core::policy::Policy;
use diffver_core::report;
use diffver_core::rules::{Ruleset, RulesetBuilder};
use diffver_core::suppress::{Baseline, Timestamp};
use diffver_core::verdict::{self, Decision, Inputs, ScanContext};

use crate::{
    BaselineCmd, Format, KeyArgs, PolicyCmd, RulesCmd, ScanArgs, Source, StatArgs, VerifyArgs,
};

/// Configuration that would change what `git diff` writes, pinned so that
/// `--git` reads the same diff whatever the user's or the repository's config.
const GIT_CONFIG_PINS: &[&str] = &[
    // Paths C-quoted as diffver reads them; empty context lines kept as " ".
    "core.quotePath=true",
    "diff.suppressBlankEmpty=false",
];

/// `git diff` options that pin its output: prefixes (`diff.noprefix`,
/// `diff.mnemonicPrefix`, `diff.srcPrefix`), the whole tree whatever the
/// working directory (`diff.relative`), no external diff or textconv driver
/// (`diff.external`, `GIT_EXTERNAL_DIFF`, `.gitattributes`), no colour
/// (`color.ui`, `color.diff`), full blob ids and binary data, submodules as
/// gitlink changes however they are configured (`diff.submodule`,
/// `diff.ignoreSubmodules`, `submodule.*.ignore`), and renames and copies
/// detected (`-M -C`, whatever `diff.renames` says).
const GIT_DIFF_PINS: &[&str] = &[
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--no-relative",
    "--no-ext-diff",
    "--no-textconv",
    "--no-color",
    "--full-index",
    "--binary",
    "--submodule=short",
    "--ignore-submodules=none",
    "-M",
    "-C",
];

/// Environment variables that change `git diff`'s output.
const GIT_ENV_UNSET: &[&str] = &[
    "GIT_EXTERNAL_DIFF",
    "GIT_DIFF_OPTS",
    "GIT_DIFF_PATH_COUNTER",
    "GIT_DIFF_PATH_TOTAL",
];

/// The `git` command `--git RANGE` runs (see [`GIT_DIFF_PINS`]).
fn git_diff_command(range: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new("git");
    // Replace refs (`git replace`) would let the repository substitute the
    // objects the range names.
    cmd.arg("--no-replace-objects");
    for c in GIT_CONFIG_PINS {
        cmd.args(["-c", c]);
    }
    cmd.arg("diff").args(GIT_DIFF_PINS).args([range, "--"]);
    for v in GIT_ENV_UNSET {
        cmd.env_remove(v);
    }
    cmd
}

/// Reads the diff from a file, standard input, or `git diff`.
fn read_source(src: &Source, max: usize) -> anyhow::Result<(String, Vec<u8>)> {
    if let Some(range) = &src.git {
        if range.starts_with('-') {
            bail!("the git range {range:?} must not start with '-'");
        }
        let out = git_diff_command(range).output().context("cannot run git")?;
        if !out.status.success() {
            bail!(
                "git diff {range} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        if out.stdout.len() > max {
            bail!("the diff is larger than the limit of {max} bytes (raise it with --max-bytes)");
        }
        return Ok((format!("git diff {range}"), out.stdout));
    }
    crate::input::read(src.path.as_deref(), max)
}

fn load_policy(spec: &str) -> anyhow::Result<Policy> {
    if Policy::BUILTIN.contains(&spec) {
        return Ok(Policy::builtin(spec)?);
    }
    let text =
        std::fs::read_to_string(spec).with_context(|| format!("cannot read policy {spec}"))?;
    let policy = if spec.ends_with(".json") {
        Policy::from_json(&text, spec)?
    } else {
        Policy::from_toml(&text, spec)?
    };
    Ok(policy)
}

fn load_rules(policy: Option<&Policy>, files: &[std::path::PathBuf]) -> anyhow::Result<Ruleset> {
    let mut b: RulesetBuilder = Ruleset::builder().add_builtin()?;
    if let Some(src) = policy.and_then(Policy::rules_toml) {
        b = b.add_toml(src, "policy rules_toml")?;
    }
    for f in files {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read rules {}", f.display()))?;
        b = b.add_toml(&text, &f.display().to_string())?;
    }
    Ok(b.build()?)
}

fn signer(key: &KeyArgs) -> anyhow::Result<HmacSigner> {
    match &key.key_file {
        Some(f) => {
            let k = std::fs::read(f).with_context(|| format!("cannot read key {}", f.display()))?;
            Ok(HmacSigner::new(key.key_id.clone(), trim_key(k))?)
        }
        None => {
            let mode = if key.production {
                SigningMode::Production
            } else {
                SigningMode::Development
            };
            Ok(HmacSigner::deterministic(mode)?)
        }
    }
}

fn read_fingerprint_key(path: Option<&Path>) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(p) = path else { return Ok(None) };
    let k = trim_key(std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?);
    if k.is_empty() {
        bail!("the fingerprint key in {} is empty", p.display());
    }
    Ok(Some(k))
}

fn trim_key(mut k: Vec<u8>) -> Vec<u8> {
    while k.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        k.pop();
    }
    k
}

fn now(arg: Option<&str>) -> anyhow::Result<Timestamp> {
    match arg {
        Some(s) => Timestamp::parse_rfc3339(s).map_err(anyhow::Error::msg),
        None => {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            Ok(Timestamp(secs))
        }
    }
}

/// Whether two paths name the same existing file (same device and inode on
/// Unix, so hard links and symlinks count; the same canonical path elsewhere).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(ca), Ok(cb)) => ca == cb,
        _ => false,
    }
}

/// Refuses to write `out` when it is the diff being read: the report would
/// overwrite the input.
fn refuse_overwriting_input(src: &Source, outs: &[(&str, Option<&Path>)]) -> anyhow::Result<()> {
    let Some(input) = src.path.as_deref().filter(|p| p.as_os_str() != "-") else {
        return Ok(());
    };
    for (flag, out) in outs {
        if let Some(out) = out
            && same_file(input, out)
        {
            bail!(
                "{flag} {} is the input diff; refusing to overwrite it",
                out.display()
            );
        }
    }
    Ok(())
}

fn write_out(path: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match path {
        Some(p) => {
            std::fs::write(p, bytes).with_context(|| format!("cannot write {}", p.display()))
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()?;
            Ok(())
        }
    }
}

pub(crate) fn scan(a: ScanArgs) -> anyhow::Result<ExitCode> {
    refuse_overwriting_input(
        &a.source,
        &[
            ("--output", a.output.as_deref()),
            ("--artifact", a.artifact.as_deref()),
        ],
    )?;
    let policy = load_policy(&a.policy)?;
    let rules = load_rules(Some(&policy), &a.rule_files)?;
    let (name, bytes) = read_source(&a.source, a.max_bytes)?;
    let baseline = match &a.baseline {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read baseline {}", p.display()))?;
            Some(Baseline::from_json(&text)?)
        }
        None => None,
    };
    let fingerprint_key = read_fingerprint_key(a.fingerprint_key_file.as_deref())?;
    // Empty: the core derives `sha256-<prefix>` from the digest it computes.
    let scan_id = a.scan_id.clone().unwrap_or_default();
    let ctx = ScanContext::new(scan_id, now(a.now.as_deref())?);
    let base = match &a.base_dir {
        Some(dir) => {
            // What parses is loaded; a parse error is the verdict's to report
            // (blocking, with the findings before it), not a reason to stop here.
            let limits = Limits::default()
                .with_max_input_bytes(a.max_bytes)
                .with_allow_empty(a.allow_empty);
            let (parsed, _) = diff::parse_partial(&bytes, &limits);
            Some(crate::base_dir::load(dir, &parsed)?)
        }
        None => None,
    };
    let progress = bytes.len() > (8 << 20) && std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    if progress {
        eprint!("diffver: scanning {} MiB…", bytes.len() >> 20);
    }
    let mut inputs = Inputs::new(&bytes, &rules, &policy, &ctx);
    inputs.baseline = baseline.as_ref();
    inputs.fingerprint_key = fingerprint_key.as_deref();
    inputs.allow_empty = a.allow_empty;
    inputs.threads = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if let Some(b) = &base {
        inputs.base = Some(b);
    }
    let v = verdict::evaluate(&inputs);
    if progress {
        eprintln!(" done in {:.1}s", started.elapsed().as_secs_f64());
    }
    if let Some(path) = &a.artifact {
        let envelope = artifact::sign(&v, &signer(&a.key)?)?;
        std::fs::write(path, &envelope)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let rendered = match a.format {
        Format::Text => report::text(&v, &name),
        Format::Json => report::json(&v),
        Format::Sarif => report::sarif(&v),
        Format::Html => report::html(&v, &bytes),
        Format::Github => report::github_annotations(&v),
    };
    write_out(a.output.as_deref(), rendered.as_bytes())?;
    Ok(match v.decision() {
        Decision::Pass => ExitCode::SUCCESS,
        Decision::Fail => ExitCode::from(1),
        Decision::Error if !v.blocks() => {
            eprintln!(
                "diffver: the scan failed but the policy is fail-open: {}",
                v.error().unwrap_or("")
            );
            ExitCode::SUCCESS
        }
        Decision::Error => {
            eprintln!(
                "error: the scan could not be completed: {}",
                v.error().unwrap_or("")
            );
            ExitCode::from(2)
        }
    })
}

pub(crate) fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&a.artifact)
        .with_context(|| format!("cannot read {}", a.artifact.display()))?;
    let keyring = match &a.key.key_file {
        Some(f) => {
            let k = std::fs::read(f).with_context(|| format!("cannot read key {}", f.display()))?;
            Keyring::new().with_key(a.key.key_id.clone(), trim_key(k))
        }
        None if a.key.production => {
            bail!("--production needs --key-file: the development key proves nothing")
        }
        None => Keyring::development(),
    };
    match artifact::verify(&bytes, &keyring) {
        Ok(v) => {
            let e = |s: &str| diffver_core::text::escape_for_display(s.as_bytes());
            println!(
                "valid: scan {} at {} decided {} ({} finding(s), {} blocking); diff sha256 {}; policy {} ({})",
                e(&v.scan_id),
                e(&v.scanned_at),
                e(&v.decision),
                v.summary.findings,
                v.summary.blocking,
                e(&v.diff.sha256),
                e(&v.policy.id),
                e(&v.policy.sha256)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!(
                "invalid: {}",
                diffver_core::text::escape_for_display(e.to_string().as_bytes())
            );
            Ok(ExitCode::from(1))
        }
    }
}

pub(crate) fn baseline(c: BaselineCmd) -> anyhow::Result<ExitCode> {
    let (args, out, existing) = match &c {
        BaselineCmd::Create { args, output } => (args, output.clone(), None),
        BaselineCmd::Update { args, baseline } => {
            let text = std::fs::read_to_string(baseline)
                .with_context(|| format!("cannot read {}", baseline.display()))?;
            (args, baseline.clone(), Some(Baseline::from_json(&text)?))
        }
    };
    let flag = if existing.is_some() {
        "--baseline"
    } else {
        "--output"
    };
    refuse_overwriting_input(&args.source, &[(flag, Some(&out))])?;
    let policy = load_policy(&args.policy)?;
    let rules = load_rules(Some(&policy), &args.rule_files)?;
    let (_, bytes) = read_source(&args.source, args.max_bytes)?;
    let fingerprint_key = read_fingerprint_key(args.fingerprint_key_file.as_deref())?;
    let ctx = ScanContext::new("baseline", Timestamp(0));
    let mut inputs = Inputs::new(&bytes, &rules, &policy, &ctx);
    inputs.fingerprint_key = fingerprint_key.as_deref();
    let v = verdict::evaluate(&inputs);
    if v.decision() == Decision::Error {
        bail!("cannot scan the diff: {}", v.error().unwrap_or(""));
    }
    let findings = v.findings().iter().map(|e| &e.finding);
    let mut b = Baseline::from_findings(findings.clone());
    let blind = findings
        .filter(|f| f.fingerprint_ignores_secret_value())
        .count();
    if blind > 0 {
        eprintln!(
            "diffver: {blind} secret finding(s) not baselined: without --fingerprint-key-file their \
             fingerprints cannot tell two secrets of the same length apart"
        );
    }
    if let Some(old) = existing {
        b.merge(&old);
    }
    std::fs::write(&out, b.to_json()).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!(
        "diffver: baseline {} holds {} fingerprint(s)",
        out.display(),
        b.len()
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn rules(c: RulesCmd) -> anyhow::Result<ExitCode> {
    match c {
        RulesCmd::List { rule_files } => {
            let rs = load_rules(None, &rule_files)?;
            for r in rs.rules() {
                println!(
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
            println!("{} — {}", r.id(), safe(r.title()));
            println!(
                "pack: {}  category: {}  severity: {}  confidence: {}",
                r.pack(),
                r.category(),
                r.severity(),
                r.confidence().as_str()
            );
            if !r.tags().is_empty() {
                println!("tags: {}", safe(&r.tags().join(", ")));
            }
            println!("\n{}", safe(r.description()));
            if !r.remediation().is_empty() {
                println!("\nremediation: {}", safe(r.remediation()));
            }
            if !r.paths().is_empty() {
                println!("\npaths: {}", safe(&r.paths().join(", ")));
            }
            if let Some(re) = r.regex() {
                println!(
                    "\nkeywords: {}\nregex: {}",
                    r.keywords().join(", "),
                    safe(re)
                );
            } else if r.is_detector() {
                println!("\n(a code detector)");
            }
            let (pos, neg) = r.examples();
            for p in pos {
                println!("  matches:        {}", safe(p));
            }
            for n in neg {
                println!("  does not match: {}", safe(n));
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
                println!(
                    "FAIL {}: {} example {}",
                    f.rule,
                    if f.positive { "positive" } else { "negative" },
                    diffver_core::text::escape_for_display(f.example.as_bytes())
                );
            }
            println!(
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

pub(crate) fn policy(c: PolicyCmd) -> anyhow::Result<ExitCode> {
    let PolicyCmd::Check { policy } = c;
    let p = load_policy(&policy)?;
    println!(
        "ok: policy {} version {} sha256 {} (blocks at {}, {} exception(s))",
        diffver_core::text::escape_for_display(p.id().as_bytes()),
        diffver_core::text::escape_for_display(p.version().as_bytes()),
        p.hash(),
        p.block_at(),
        p.exceptions().len()
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn stat(a: StatArgs) -> anyhow::Result<ExitCode> {
    let limits = Limits::default().with_max_input_bytes(a.max_bytes);
    let (name, bytes) = read_source(&a.source, a.max_bytes)?;
    let parsed = diff::parse(&bytes, &limits).with_context(|| format!("cannot parse {name}"))?;
    let mut out = std::io::stdout().lock();
    if !a.summary {
        out.write_all(diff::stat::numstat(&parsed).as_bytes())?;
    }
    if !a.numstat {
        let summary = diff::stat::summary(&parsed);
        // Git prints these names raw; on a terminal, diffver neutralises them.
        if std::io::stdout().is_terminal() {
            for line in summary.split_inclusive(|&b| b == b'\n') {
                let body = line.strip_suffix(b"\n").unwrap_or(line);
                writeln!(out, "{}", diffver_core::text::escape_for_display(body))?;
            }
        } else {
            out.write_all(&summary)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
