//! `diffver policy`: check a policy and print its hash.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Subcommand;

use super::common::*;

#[derive(Subcommand)]
pub(crate) enum PolicyCmd {
    /// Validate a policy and print its id, version and canonical hash.
    Check {
        /// A policy file or a built-in profile name.
        policy: String,
    },
}

pub(crate) fn run(c: PolicyCmd) -> anyhow::Result<ExitCode> {
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
