//! `diffver baseline`: create or update a baseline of accepted findings.

use std::process::ExitCode;

use anyhow::{Context as _, bail};

use diffver_core::suppress::{Baseline, Timestamp};
use diffver_core::verdict::{self, Decision, Inputs, ScanContext};

use std::path::PathBuf;

use clap::Subcommand;

use super::Source;
use super::common::*;

/// What a baseline is made with: the same settings `scan` takes, so the
/// fingerprints match the scans it is used with.
#[derive(clap::Args)]
pub(crate) struct BaselineArgs {
    #[command(flatten)]
    pub(crate) source: Source,
    /// A built-in profile or a policy file (its `rules_toml` adds rules).
    #[arg(long, default_value = "standard")]
    pub(crate) policy: String,
    /// Extra rule files (TOML), added to the built-in packs.
    #[arg(long = "rules", value_name = "FILE")]
    pub(crate) rule_files: Vec<PathBuf>,
    /// The key secrets are HMAC'd with in fingerprints; pass the same one to `scan`.
    /// Without it secret findings are not baselined: an unkeyed fingerprint
    /// cannot tell two secrets of the same length apart.
    #[arg(long, value_name = "FILE")]
    pub(crate) fingerprint_key_file: Option<PathBuf>,
    /// Largest diff accepted, in bytes.
    #[arg(long, default_value_t = 256 << 20)]
    pub(crate) max_bytes: usize,
}

#[derive(Subcommand)]
pub(crate) enum BaselineCmd {
    /// Write a baseline of every finding of a diff.
    Create {
        #[command(flatten)]
        args: BaselineArgs,
        /// Where to write it.
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Add a diff's findings to an existing baseline.
    Update {
        #[command(flatten)]
        args: BaselineArgs,
        /// The baseline to update in place.
        #[arg(long)]
        baseline: PathBuf,
    },
}

pub(crate) fn run(c: BaselineCmd) -> anyhow::Result<ExitCode> {
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
