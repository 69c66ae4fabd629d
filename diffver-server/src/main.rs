//! The `diffver` command-line tool.
//!
//! `diffver scan` verifies a diff, runs the rules, applies a policy and prints
//! a report (and, with `--artifact`, writes a signed verdict); `diffver verify`
//! checks a signed verdict; `baseline`, `rules`, `policy` and `stat` help set
//! it up. Exit codes: 0 pass, 1 fail (or an invalid artifact / failing rule
//! examples), 2 error or usage.

mod base_dir;
mod commands;
mod input;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Verify a diff and scan what it adds before it is merged or read by an agent.
#[derive(Parser)]
#[command(name = "diffver", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify a diff, scan it and decide under a policy (exit 0 pass, 1 fail, 2 error).
    Scan(Box<ScanArgs>),
    /// Check a signed verdict artifact (exit 0 valid, 1 invalid, 2 error).
    Verify(VerifyArgs),
    /// Create or update a baseline of accepted findings.
    #[command(subcommand)]
    Baseline(BaselineCmd),
    /// List, explain and test rules.
    #[command(subcommand)]
    Rules(RulesCmd),
    /// Check a policy file (or a built-in profile) and print its hash.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Print a diff's files in the formats of `git apply --numstat` and `--summary`.
    Stat(StatArgs),
}

/// Where the diff comes from.
#[derive(clap::Args, Clone)]
pub(crate) struct Source {
    /// The diff to read (`-` or nothing: standard input).
    pub(crate) path: Option<PathBuf>,
    /// Let git produce the diff of RANGE in the current repository, with every option that
    /// changes git's output pinned (prefixes, whole tree, no external diff or textconv, no
    /// colour, full index, binary, renames and copies), whatever the git config says.
    #[arg(long, value_name = "RANGE", conflicts_with = "path")]
    pub(crate) git: Option<String>,
}

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

/// Signing or verification keys.
#[derive(clap::Args, Clone)]
pub(crate) struct KeyArgs {
    /// A file holding an operator HMAC key (trailing CR/LF are stripped; at
    /// least 32 bytes). Without it the published development key is used,
    /// which `--production` refuses.
    #[arg(long, value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,
    /// The key id recorded with (or looked up for) the key file.
    #[arg(long, default_value = "operator")]
    pub(crate) key_id: String,
    /// Production mode: refuse the deterministic development key.
    #[arg(long)]
    pub(crate) production: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
    Sarif,
    Html,
    Github,
}

#[derive(clap::Args)]
pub(crate) struct VerifyArgs {
    /// The artifact (a DSSE envelope).
    pub(crate) artifact: PathBuf,
    /// A file holding an operator HMAC key (trailing CR/LF are stripped; at least 32 bytes).
    #[arg(long, value_name = "FILE", conflicts_with = "public_key_file")]
    pub(crate) key_file: Option<PathBuf>,
    /// A PEM public key (ECDSA P-256, SubjectPublicKeyInfo) of a KMS signing key.
    #[arg(long, value_name = "FILE")]
    pub(crate) public_key_file: Option<PathBuf>,
    /// The key id the key file's signatures carry.
    #[arg(long, default_value = "operator")]
    pub(crate) key_id: String,
    /// Accept artifacts signed with the published development key (they prove
    /// integrity in transit, not who signed). Refused with --production.
    #[arg(long, conflicts_with_all = ["key_file", "public_key_file"])]
    pub(crate) allow_development_key: bool,
    /// Production mode: never accept the development key.
    #[arg(long)]
    pub(crate) production: bool,
    /// The diff the artifact should be about: its sha256 must be the subject's.
    #[arg(long, value_name = "FILE")]
    pub(crate) diff: Option<PathBuf>,
    /// Exit 1 unless the valid artifact's decision is `pass` (for gates).
    #[arg(long)]
    pub(crate) require_pass: bool,
}

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

#[derive(Subcommand)]
pub(crate) enum PolicyCmd {
    /// Validate a policy and print its id, version and canonical hash.
    Check {
        /// A policy file or a built-in profile name.
        policy: String,
    },
}

#[derive(clap::Args)]
pub(crate) struct StatArgs {
    #[command(flatten)]
    pub(crate) source: Source,
    /// Print only the `--numstat` part.
    #[arg(long, conflicts_with = "summary")]
    pub(crate) numstat: bool,
    /// Print only the `--summary` part.
    #[arg(long)]
    pub(crate) summary: bool,
    /// Largest diff accepted, in bytes.
    #[arg(long, default_value_t = 256 << 20)]
    pub(crate) max_bytes: usize,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Scan(a) => commands::scan(*a),
        Command::Verify(a) => commands::verify(a),
        Command::Baseline(c) => commands::baseline(c),
        Command::Rules(c) => commands::rules(c),
        Command::Policy(c) => commands::policy(c),
        Command::Stat(a) => commands::stat(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let mut msg = format!("error: {e}");
            for cause in e.chain().skip(1) {
                msg.push_str(&format!(": {cause}"));
            }
            eprintln!("{}", diffver_core::text::escape_for_display(msg.as_bytes()));
            ExitCode::from(2)
        }
    }
}
