//! The `diffver` command-line tool as a library: [`cli::main`] is the whole
//! program (`src/main.rs` only calls it), so the binary stays a thin shell
//! and the subcommands live one per file under `cli/`. The HTTP service and
//! the worker will live beside it behind the `http` feature.

mod base_dir;
pub mod cli;
mod input;
