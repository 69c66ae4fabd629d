//! The `diffver` command-line tool (see the `diffver_server` library).

use std::process::ExitCode;

fn main() -> ExitCode {
    diffver_server::cli::main()
}
