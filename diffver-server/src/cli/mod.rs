//! The `diffver` command line: one file per subcommand, the shared pieces
//! (reading diffs and keys, loading policies and rules, writing output) in
//! [`common`]. Everything that touches files, processes, the clock or the
//! terminal is here; decisions and rendering are the core's.

#[cfg(feature = "http")]
mod admin;
mod baseline;
mod common;
#[cfg(feature = "http")]
mod migrate;
mod policy;
#[cfg(feature = "http")]
mod publisher;
mod rules;
mod scan;
#[cfg(feature = "http")]
mod serve;
#[cfg(feature = "http")]
mod service_args;
mod stat;
mod verify;
#[cfg(feature = "http")]
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub(crate) use baseline::BaselineCmd;
#[cfg(feature = "http")]
pub(crate) use common::read_key_file;
pub(crate) use policy::PolicyCmd;
pub(crate) use rules::RulesCmd;
pub(crate) use scan::ScanArgs;
pub(crate) use stat::StatArgs;
pub(crate) use verify::VerifyArgs;

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
    /// Run the HTTP API and a worker (with no configuration: the embedded default
    /// under ./diffver-data, listening on 127.0.0.1:8080).
    #[cfg(feature = "http")]
    Serve(Box<serve::ServeArgs>),
    /// Run a worker only (scans queued by `serve` processes sharing the database).
    #[cfg(feature = "http")]
    Worker(Box<worker::WorkerArgs>),
    /// Run the GitHub publisher only (check runs and pull-request diffs; the one
    /// process that talks to GitHub).
    #[cfg(feature = "http")]
    Publisher(Box<publisher::PublisherArgs>),
    /// Apply the database migrations and exit.
    #[cfg(feature = "http")]
    Migrate(Box<migrate::MigrateArgs>),
    /// Administer tenants and API keys.
    #[cfg(feature = "http")]
    Admin(Box<admin::AdminArgs>),
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
    /// Let git produce the staged change (`git diff --cached`, pinned the same way):
    /// what a pre-commit hook checks. Nothing staged is an empty change, which passes.
    #[arg(long, conflicts_with_all = ["path", "git"])]
    pub(crate) staged: bool,
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

/// Runs the command line: parses the arguments, runs the subcommand, prints
/// errors (escaped for the terminal) and returns the exit code: 0 pass, 1 fail
/// (or an invalid artifact / failing rule examples), 2 error or usage, 141 a
/// closed standard output.
pub fn main() -> ExitCode {
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
        Command::Scan(a) => scan::run(*a),
        Command::Verify(a) => verify::run(a),
        Command::Baseline(c) => baseline::run(c),
        Command::Rules(c) => rules::run(c),
        Command::Policy(c) => policy::run(c),
        Command::Stat(a) => stat::run(a),
        #[cfg(feature = "http")]
        Command::Serve(a) => serve::run_cmd(*a),
        #[cfg(feature = "http")]
        Command::Worker(a) => worker::run_cmd(*a),
        #[cfg(feature = "http")]
        Command::Publisher(a) => publisher::run_cmd(*a),
        #[cfg(feature = "http")]
        Command::Migrate(a) => migrate::run_cmd(*a),
        #[cfg(feature = "http")]
        Command::Admin(a) => admin::run_cmd(*a),
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
