//! What the subcommands share: reading the diff (a file, standard input or
//! `git diff`), key files, policies and rules, the clock, and writing output
//! without panicking on a closed pipe.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, bail};

use diffver_core::artifact::{HmacSigner, SigningMode};
use diffver_core::policy::Policy;
use diffver_core::rules::Ruleset;
use diffver_core::suppress::Timestamp;
use diffver_core::verdict::{self};

use super::{KeyArgs, Source};

/// Configuration that would change what `git diff` writes, pinned so that
/// `--git` reads the same diff whatever the user's or the repository's config.
const GIT_CONFIG_PINS: &[&str] = &[
    // Paths C-quoted as diffver reads them; empty context lines kept as " ".
    "core.quotePath=true",
    "diff.suppressBlankEmpty=false",
];

/// `git diff` options that pin its output: prefixes (`diff.noprefix`,
/// `diff.mnemonicPrefix`, `diff.srcPrefix`), the whole tree whatever the
/// working directory (`diff.relative`), no external diff or textconv driver
/// (`diff.external`, `GIT_EXTERNAL_DIFF`, `.gitattributes`), no colour
/// (`color.ui`, `color.diff`), full blob ids and binary data, submodules as
/// gitlink changes however they are configured (`diff.submodule`,
/// `diff.ignoreSubmodules`, `submodule.*.ignore`), and renames and copies
/// detected (`-M -C`, whatever `diff.renames` says).
const GIT_DIFF_PINS: &[&str] = &[
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--no-relative",
    "--no-ext-diff",
    "--no-textconv",
    "--no-color",
    "--full-index",
    "--binary",
    "--submodule=short",
    "--ignore-submodules=none",
    "-M",
    "-C",
];

/// Environment variables that change `git diff`'s output.
const GIT_ENV_UNSET: &[&str] = &[
    "GIT_EXTERNAL_DIFF",
    "GIT_DIFF_OPTS",
    "GIT_DIFF_PATH_COUNTER",
    "GIT_DIFF_PATH_TOTAL",
];

/// The `git` command `--git RANGE` (or, with `--cached`, `--staged`) runs (see
/// [`GIT_DIFF_PINS`]).
fn git_diff_command(range: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new("git");
    // Replace refs (`git replace`) would let the repository substitute the
    // objects the range names.
    cmd.arg("--no-replace-objects");
    for c in GIT_CONFIG_PINS {
        cmd.args(["-c", c]);
    }
    cmd.arg("diff").args(GIT_DIFF_PINS).args([range, "--"]);
    for v in GIT_ENV_UNSET {
        cmd.env_remove(v);
    }
    cmd
}

/// `println!` that never panics: when standard output is a closed pipe
/// (`diffver verify … | head -1`) the process ends quietly with status 141,
/// as if killed by SIGPIPE — never 0, so a gate in a `pipefail` shell does
/// not read a cut-off report as success.
macro_rules! outln {
    ($($arg:tt)*) => {{
        let mut o = std::io::stdout().lock();
        if let Err(e) = writeln!(o, $($arg)*) {
            $crate::cli::common::stdout_failed(&e);
        }
    }};
}
pub(crate) use outln;

pub(crate) fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() != std::io::ErrorKind::BrokenPipe {
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(2);
    }
    std::process::exit(141)
}

/// Reads the diff from a file, standard input, or `git diff`.
pub(crate) fn read_source(src: &Source, max: usize) -> anyhow::Result<(String, Vec<u8>)> {
    let staged = src.staged.then(|| "--cached".to_owned());
    if let Some(range) = src.git.as_ref().or(staged.as_ref()) {
        if range.starts_with('-') && !src.staged {
            bail!("the git range {range:?} must not start with '-'");
        }
        let out = git_diff_command(range).output().context("cannot run git")?;
        if !out.status.success() {
            bail!(
                "git diff {range} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        if out.stdout.len() > max {
            bail!("the diff is larger than the limit of {max} bytes (raise it with --max-bytes)");
        }
        return Ok((format!("git diff {range}"), out.stdout));
    }
    crate::input::read(src.path.as_deref(), max)
}

pub(crate) fn load_policy(spec: &str) -> anyhow::Result<Policy> {
    if Policy::BUILTIN.contains(&spec) {
        return Ok(Policy::builtin(spec)?);
    }
    let text =
        std::fs::read_to_string(spec).with_context(|| format!("cannot read policy {spec}"))?;
    let policy = if spec.ends_with(".json") {
        Policy::from_json(&text, spec)?
    } else {
        Policy::from_toml(&text, spec)?
    };
    Ok(policy)
}

/// The rules of a scan: built-in, the policy's, then each file in order —
/// built by the one core function every surface uses, so the ruleset hash
/// does not depend on how a file's path was typed.
pub(crate) fn load_rules(
    policy: Option<&Policy>,
    files: &[std::path::PathBuf],
) -> anyhow::Result<Ruleset> {
    let mut sources = Vec::with_capacity(files.len());
    for f in files {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read rules {}", f.display()))?;
        sources.push((f.display().to_string(), text));
    }
    let extra: Vec<(&str, &str)> = sources
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let policy = match policy {
        Some(p) => p.clone(),
        None => Policy::builtin("standard")?,
    };
    Ok(verdict::ruleset_with(&policy, &extra)?)
}

pub(crate) fn signer(key: &KeyArgs) -> anyhow::Result<HmacSigner> {
    match &key.key_file {
        Some(f) => Ok(HmacSigner::new(key.key_id.clone(), read_key_file(f)?)?),
        None => {
            let mode = if key.production {
                SigningMode::Production
            } else {
                SigningMode::Development
            };
            Ok(HmacSigner::deterministic(mode)?)
        }
    }
}

/// A fingerprint key file, read like any key file (see [`read_key_file`]).
pub(crate) fn read_fingerprint_key(path: Option<&Path>) -> anyhow::Result<Option<Vec<u8>>> {
    path.map(read_key_file).transpose()
}

/// Reads a key file. Trailing CR and LF bytes are stripped (what `echo` and
/// editors add) and nothing else; the core then refuses keys shorter than
/// 32 bytes, so an unset secret (`echo "$KEY" > k`) is an error, never an
/// empty key.
pub(crate) fn read_key_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut k =
        std::fs::read(path).with_context(|| format!("cannot read key {}", path.display()))?;
    while k.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        k.pop();
    }
    if k.is_empty() {
        bail!(
            "the key file {} is empty (an unset secret?)",
            path.display()
        );
    }
    Ok(k)
}

pub(crate) fn now(arg: Option<&str>) -> anyhow::Result<Timestamp> {
    match arg {
        Some(s) => Ok(Timestamp::parse_rfc3339(s)?),
        None => {
            // A clock before 1970 or past 9999 is a broken clock: refuse to
            // sign a time rather than sign a wrong one.
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the system clock is before 1970; pass --now")?
                .as_secs();
            let secs =
                i64::try_from(secs).context("the system clock is out of range; pass --now")?;
            Ok(Timestamp::from_unix_seconds(secs)
                .context("the system clock is out of range; pass --now")?)
        }
    }
}

/// Whether two paths name the same existing file (same device and inode on
/// Unix, so hard links and symlinks count; the same canonical path elsewhere).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(ca), Ok(cb)) => ca == cb,
        _ => false,
    }
}

/// Refuses to write `out` when it is the diff being read: the report would
/// overwrite the input.
pub(crate) fn refuse_overwriting_input(
    src: &Source,
    outs: &[(&str, Option<&Path>)],
) -> anyhow::Result<()> {
    let Some(input) = src.path.as_deref().filter(|p| p.as_os_str() != "-") else {
        return Ok(());
    };
    for (flag, out) in outs {
        if let Some(out) = out
            && same_file(input, out)
        {
            bail!(
                "{flag} {} is the input diff; refusing to overwrite it",
                out.display()
            );
        }
    }
    Ok(())
}

pub(crate) fn write_out(path: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match path {
        Some(p) => {
            std::fs::write(p, bytes).with_context(|| format!("cannot write {}", p.display()))
        }
        None => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
                stdout_failed(&e);
            }
            Ok(())
        }
    }
}
