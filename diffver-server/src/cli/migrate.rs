//! `diffver migrate`: apply the database migrations and exit.

use std::process::ExitCode;

use crate::service::run::open_migrated;

use super::common::outln;
use super::service_args::{StoreArgs, runtime};
use std::io::Write as _;

#[derive(clap::Args)]
pub(crate) struct MigrateArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

pub(crate) fn run_cmd(a: MigrateArgs) -> anyhow::Result<ExitCode> {
    let opened = runtime()?.block_on(open_migrated(&a.store.settings()))?;
    outln!("migrations applied ({})", opened.describe);
    Ok(ExitCode::SUCCESS)
}
