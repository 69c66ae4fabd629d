//! The `diffver` command-line tool as a library: [`cli::main`] is the whole
//! program (`src/main.rs` only calls it), so the binary stays a thin shell
//! and the subcommands live one per file under `cli/`. The HTTP service and
//! the worker live beside it in [`service`], behind the `http` feature (on by
//! default); without it the CLI has no async stack.

mod base_dir;
pub mod cli;
mod input;
#[cfg(feature = "http")]
pub mod service;
