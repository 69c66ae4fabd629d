//! `diffver scan`: verify a diff, scan it and decide under a policy.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context as _;

use diffver_core::artifact::wire::VerdictV2;
use diffver_core::artifact::{self, KeyMode, Signer as _};
use diffver_core::diff::{self, Limits};
use diffver_core::report;
use diffver_core::suppress::Baseline;
use diffver_core::verdict::{self, Decision, Inputs, ScanContext};

use std::path::PathBuf;

use super::common::*;
use super::{Format, KeyArgs, Source};

#[derive(clap::Args)]
pub(crate) struct ScanArgs {
    #[command(flatten)]
    pub(crate) source: Source,
    /// A built-in profile (strict, standard, permissive) or a policy file (.toml or .json).
    #[arg(long, default_value = "standard")]
    pub(crate) policy: String,
    /// A baseline file: findings whose fingerprints it lists are suppressed.
    #[arg(long, value_name = "FILE")]
    pub(crate) baseline: Option<PathBuf>,
    /// Extra rule files (TOML), added to the built-in packs.
    #[arg(long = "rules", value_name = "FILE")]
    pub(crate) rule_files: Vec<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// Write the report here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Write the signed verdict (a DSSE envelope) here.
    #[arg(long, value_name = "FILE")]
    pub(crate) artifact: Option<PathBuf>,
    /// The scan time (RFC 3339); pin it for reproducible artifacts. Default: now.
    #[arg(long, value_name = "RFC3339")]
    pub(crate) now: Option<String>,
    /// The scan id. Default: derived from the diff's SHA-256.
    #[arg(long)]
    pub(crate) scan_id: Option<String>,
    #[command(flatten)]
    pub(crate) key: KeyArgs,
    /// A file holding the key secrets are HMAC'd with in fingerprints.
    #[arg(long, value_name = "FILE")]
    pub(crate) fingerprint_key_file: Option<PathBuf>,
    /// A checkout of the diff's base: hunks are applied to it and blob ids checked.
    #[arg(long, value_name = "DIR")]
    pub(crate) base_dir: Option<PathBuf>,
    /// Largest diff accepted, in bytes (the policy may set a lower limit).
    #[arg(long, default_value_t = 256 << 20)]
    pub(crate) max_bytes: usize,
    /// Threads for the rules (default: all cores). Results do not depend on it.
    #[arg(long, value_name = "N")]
    pub(crate) jobs: Option<usize>,
    /// Accept an empty diff (zero bytes) as an empty change that passes. Without
    /// it an empty input is an error (exit 2): a broken pipeline upstream must
    /// not read as a clean change. Input that is not a diff is always an error.
    #[arg(long)]
    pub(crate) allow_empty: bool,
}

pub(crate) fn run(a: ScanArgs) -> anyhow::Result<ExitCode> {
    refuse_overwriting_input(
        &a.source,
        &[
            ("--output", a.output.as_deref()),
            ("--artifact", a.artifact.as_deref()),
        ],
    )?;
    let policy = load_policy(&a.policy)?;
    // The rules compile while a file or `git diff` is read (errors in the
    // same order). Standard input is read after them: a mistake in the rules
    // is reported at once, not after the input ends.
    let from_stdin = a.source.git.is_none()
        && !a.source.staged
        && a.source
            .path
            .as_deref()
            .is_none_or(|p| p.as_os_str() == "-");
    let (rules, source) = if from_stdin {
        let rules = load_rules(Some(&policy), &a.rule_files)?;
        (Ok(rules), read_source(&a.source, a.max_bytes))
    } else {
        std::thread::scope(|s| {
            let rules = s.spawn(|| load_rules(Some(&policy), &a.rule_files));
            let source = read_source(&a.source, a.max_bytes);
            let rules = rules
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            (rules, source)
        })
    };
    let rules = rules?;
    let (name, bytes) = source?;
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
                .with_allow_empty(a.allow_empty || a.source.staged);
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
    inputs.allow_empty = a.allow_empty || a.source.staged;
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
