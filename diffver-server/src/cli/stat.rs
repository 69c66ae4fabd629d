//! `diffver stat`: a diff's files as `git apply --numstat` / `--summary` print them.

use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;

use anyhow::Context as _;

use diffver_core::diff::{self, Limits};

use super::Source;
use super::common::*;

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

pub(crate) fn run(a: StatArgs) -> anyhow::Result<ExitCode> {
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
