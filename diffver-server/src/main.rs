//! The `diffver` command-line tool.
//!
//! `diffver scan` parses and verifies a diff and prints a report; `diffver
//! stat` prints a diff's files the way `git apply --numstat --summary` does.
//! Exit codes: 0 pass, 1 fail (a finding at or above the blocking severity),
//! 2 error or usage.

mod base_dir;
mod input;
mod text_report;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use diffver_core::diff::{self, Limits};
use diffver_core::finding::Severity;
use diffver_core::rules::{Ruleset, ScanOptions};
use diffver_core::scan::{self, ScanConfig};
use diffver_core::verify;

/// Verify a diff and scan what it adds before it is merged or read by an agent.
#[derive(Parser)]
#[command(name = "diffver", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify a diff and scan what it adds; exit 0 on pass, 1 on fail, 2 on error.
    Scan(ScanArgs),
    /// Print a diff's files in the formats of `git apply --numstat` and `--summary`.
    Stat(StatArgs),
}

#[derive(clap::Args)]
struct ScanArgs {
    /// The diff to read (`-` or nothing: standard input).
    path: Option<PathBuf>,
    /// Lowest severity that fails the scan.
    #[arg(long, value_enum, default_value_t = Threshold::High)]
    fail_on: Threshold,
    /// A checkout of the diff's base: hunks are applied to it and the index
    /// line's blob ids are checked.
    #[arg(long, value_name = "DIR")]
    base_dir: Option<PathBuf>,
    /// Largest diff accepted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_input_bytes())]
    max_bytes: usize,
}

#[derive(clap::Args)]
struct StatArgs {
    /// The diff to read (`-` or nothing: standard input).
    path: Option<PathBuf>,
    /// Print only the `--numstat` part.
    #[arg(long, conflicts_with = "summary")]
    numstat: bool,
    /// Print only the `--summary` part.
    #[arg(long)]
    summary: bool,
    /// Largest diff accepted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_input_bytes())]
    max_bytes: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum Threshold {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl From<Threshold> for Severity {
    fn from(t: Threshold) -> Severity {
        match t {
            Threshold::Info => Severity::Info,
            Threshold::Low => Severity::Low,
            Threshold::Medium => Severity::Medium,
            Threshold::High => Severity::High,
            Threshold::Critical => Severity::Critical,
        }
    }
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
        Command::Scan(args) => scan(args),
        Command::Stat(args) => stat(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let mut msg = format!("error: {e}");
            for cause in e.chain().skip(1) {
                msg.push_str(&format!(": {cause}"));
            }
            let _ = writeln!(
                std::io::stderr(),
                "{}",
                diffver_core::text::escape_for_display(msg.as_bytes())
            );
            ExitCode::from(2)
        }
    }
}

fn scan(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let limits = Limits::default().with_max_input_bytes(args.max_bytes);
    let (name, bytes) = input::read(args.path.as_deref(), limits.max_input_bytes())?;
    let parsed = diff::parse(&bytes, &limits).with_context(|| format!("cannot parse {name}"))?;
    let base = match &args.base_dir {
        Some(dir) => Some(base_dir::load(dir, &parsed)?),
        None => None,
    };
    let mut options = verify::Options::default();
    if let Some(b) = &base {
        options = options.with_base(b);
    }
    let rules = Ruleset::builtin();
    let config = ScanConfig {
        verify: options,
        rules: ScanOptions::default(),
    };
    let report = scan::scan(&parsed, &rules, &config);
    let threshold = Severity::from(args.fail_on);
    let blocking = report
        .findings()
        .iter()
        .filter(|f| f.severity() >= threshold)
        .count();
    let mut out = std::io::stdout().lock();
    text_report::write(&mut out, &name, &parsed, &report, threshold)?;
    out.flush()?;
    Ok(if blocking > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn stat(args: StatArgs) -> anyhow::Result<ExitCode> {
    let limits = Limits::default().with_max_input_bytes(args.max_bytes);
    let (name, bytes) = input::read(args.path.as_deref(), limits.max_input_bytes())?;
    let parsed = diff::parse(&bytes, &limits).with_context(|| format!("cannot parse {name}"))?;
    let mut out = std::io::stdout().lock();
    if !args.summary {
        out.write_all(diff::stat::numstat(&parsed).as_bytes())?;
    }
    if !args.numstat {
        let summary = diff::stat::summary(&parsed);
        // Git prints these names raw; on a terminal, diffver neutralises them.
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
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
