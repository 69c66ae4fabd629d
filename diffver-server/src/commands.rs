//! The subcommands. Everything that touches files, processes, the clock or
//! the terminal is here; decisions and rendering are the core's.

use std::io::{IsTerminal, Write as _};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use std::sync::Arc;

use diffver_core::artifact::wire::{self, VerdictV2};
use diffver_core::artifact::{
    self, EcdsaP256Verifier, HmacSigner, KeyMode, Keyring, Signer as _, SigningMode,
};
use diffver_core::diff::{self, Limits};
use diffver_core::policy::Policy;
use diffver_core::report;
use diffver_core::rules::Ruleset;
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

/// `println!` that never panics: when standard output is a closed pipe
/// (`diffver verify … | head -1`) the process ends quietly with status 141,
/// as if killed by SIGPIPE — never 0, so a gate in a `pipefail` shell does
/// not read a cut-off report as success.
macro_rules! outln {
    ($($arg:tt)*) => {{
        let mut o = std::io::stdout().lock();
        if let Err(e) = writeln!(o, $($arg)*) {
            stdout_failed(&e);
        }
    }};
}

fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() != std::io::ErrorKind::BrokenPipe {
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(2);
    }
    std::process::exit(141)
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

/// The rules of a scan: built-in, the policy's, then each file in order —
/// built by the one core function every surface uses, so the ruleset hash
/// does not depend on how a file's path was typed.
fn load_rules(policy: Option<&Policy>, files: &[std::path::PathBuf]) -> anyhow::Result<Ruleset> {
    let mut sources = Vec::with_capacity(files.len());
    for f in files {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read rules {}", f.display()))?;
        sources.push((f.display().to_string(), text));
    }
    let extra: Vec<(&str, &str)> = sources
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let policy = match policy {
        Some(p) => p.clone(),
        None => Policy::builtin("standard")?,
    };
    Ok(verdict::ruleset_with(&policy, &extra)?)
}

fn signer(key: &KeyArgs) -> anyhow::Result<HmacSigner> {
    match &key.key_file {
        Some(f) => Ok(HmacSigner::new(key.key_id.clone(), read_key_file(f)?)?),
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

/// A fingerprint key file, read like any key file (see [`read_key_file`]).
fn read_fingerprint_key(path: Option<&Path>) -> anyhow::Result<Option<Vec<u8>>> {
    path.map(read_key_file).transpose()
}

/// Reads a key file. Trailing CR and LF bytes are stripped (what `echo` and
/// editors add) and nothing else; the core then refuses keys shorter than
/// 32 bytes, so an unset secret (`echo "$KEY" > k`) is an error, never an
/// empty key.
fn read_key_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut k =
        std::fs::read(path).with_context(|| format!("cannot read key {}", path.display()))?;
    while k.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        k.pop();
    }
    if k.is_empty() {
        bail!(
            "the key file {} is empty (an unset secret?)",
            path.display()
        );
    }
    Ok(k)
}

fn now(arg: Option<&str>) -> anyhow::Result<Timestamp> {
    match arg {
        Some(s) => Ok(Timestamp::parse_rfc3339(s)?),
        None => {
            // A clock before 1970 or past 9999 is a broken clock: refuse to
            // sign a time rather than sign a wrong one.
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the system clock is before 1970; pass --now")?
                .as_secs();
            let secs =
                i64::try_from(secs).context("the system clock is out of range; pass --now")?;
            Ok(Timestamp::from_unix_seconds(secs)
                .context("the system clock is out of range; pass --now")?)
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
            if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
                stdout_failed(&e);
            }
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
    let ctx = ScanContext::new(scan_id, now(a.now.as_deref())?)?;
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
        let signer = signer(&a.key)?;
        let envelope = artifact::sign(&v, &signer)?;
        std::fs::write(path, &envelope)
            .with_context(|| format!("cannot write {}", path.display()))?;
        if signer.identity().mode == KeyMode::Development {
            eprintln!(
                "diffver: the artifact is signed with the published development key: it proves integrity in transit, not who signed it"
            );
        }
    }
    let wire = VerdictV2::from_verdict(&v);
    let rendered = match a.format {
        Format::Text => report::text(&wire, &name),
        Format::Json => report::json(&wire),
        Format::Sarif => report::sarif(&wire),
        Format::Html => report::html(&wire, &bytes, &rules.secret_spans(&bytes)),
        Format::Github => report::github_annotations(&wire),
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
    let keyring = if let Some(f) = &a.key_file {
        Keyring::new().with_key(a.key_id.clone(), read_key_file(f)?)?
    } else if let Some(f) = &a.public_key_file {
        let pem = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read public key {}", f.display()))?;
        Keyring::new().with_verifier(Arc::new(EcdsaP256Verifier::from_public_key_pem(
            a.key_id.clone(),
            &pem,
        )?))?
    } else if a.allow_development_key {
        if a.production {
            bail!("--production refuses the development key: give --key-file or --public-key-file");
        }
        Keyring::development(SigningMode::Development)?
    } else {
        bail!(
            "no verification key: give --key-file (HMAC) or --public-key-file (ECDSA P-256), or --allow-development-key to accept the published development key"
        )
    };
    let e = |s: &str| diffver_core::text::escape_for_display(s.as_bytes());
    // An unreadable diff is an I/O error (exit 2), not an invalid artifact.
    let diff = match &a.diff {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read the diff {}", path.display()))?,
        ),
        None => None,
    };
    let checked = artifact::verify(&bytes, &keyring).and_then(|v| match &diff {
        Some(d) => v.check_diff(d).map(|()| v),
        None => Ok(v),
    });
    let v = match checked {
        Ok(v) => v,
        Err(err) => {
            eprintln!("invalid: {}", e(&err.to_string()));
            return Ok(ExitCode::from(1));
        }
    };
    let w = &v.verdict;
    let key = match v.mode {
        KeyMode::Development => format!(
            "the published DEVELOPMENT key {} (proves integrity, not origin)",
            e(&v.key_id)
        ),
        KeyMode::Operator => format!("operator key {} ({})", e(&v.key_id), v.algorithm.as_str()),
    };
    outln!(
        "valid: signed by {key}; scan {} at {} decided {} ({} finding(s), {} blocking); policy {} ({})",
        e(&w.scan_id),
        e(&w.scanned_at),
        w.decision.as_str(),
        w.summary.findings,
        w.summary.blocking,
        e(&w.policy.id),
        e(&w.policy.sha256)
    );
    if a.diff.is_some() {
        outln!("diff: matches sha256 {}", e(&v.subject_sha256));
    } else {
        outln!(
            "diff: sha256 {} (not checked: pass --diff FILE to check it is the diff you have)",
            e(&v.subject_sha256)
        );
    }
    for k in &v.ignored_keyids {
        eprintln!("diffver: ignored a signature by unknown key {}", e(k));
    }
    if a.require_pass && w.decision != wire::Decision::Pass {
        eprintln!(
            "diffver: the artifact is valid but its decision is {} (--require-pass)",
            w.decision.as_str()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
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
    let ctx = ScanContext::new("baseline", Timestamp::from_unix_seconds(0)?)?;
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

pub(crate) fn policy(c: PolicyCmd) -> anyhow::Result<ExitCode> {
    let PolicyCmd::Check { policy } = c;
    let p = load_policy(&policy)?;
    outln!(
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
