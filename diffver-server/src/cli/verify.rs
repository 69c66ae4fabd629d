//! `diffver verify`: check a signed verdict artifact.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use std::sync::Arc;

use diffver_core::artifact::wire::{self};
use diffver_core::artifact::{self, EcdsaP256Verifier, KeyMode, Keyring, SigningMode};

use std::path::PathBuf;

use super::common::*;

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

pub(crate) fn run(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&a.artifact)
        .with_context(|| format!("cannot read {}", a.artifact.display()))?;
    let keyring = if let Some(f) = &a.key_file {
        Keyring::new().with_key(a.key_id.clone(), read_key_file(f)?)?
    } else if let Some(f) = &a.public_key_file {
        let pem = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read public key {}", f.display()))?;
        Keyring::new().with_verifier(Arc::new(EcdsaP256Verifier::from_public_key_pem(
            a.key_id.clone(),
            &pem,
        )?))?
    } else if a.allow_development_key {
        if a.production {
            bail!("--production refuses the development key: give --key-file or --public-key-file");
        }
        Keyring::development(SigningMode::Development)?
    } else {
        bail!(
            "no verification key: give --key-file (HMAC) or --public-key-file (ECDSA P-256), or --allow-development-key to accept the published development key"
        )
    };
    let e = |s: &str| diffver_core::text::escape_for_display(s.as_bytes());
    // An unreadable diff is an I/O error (exit 2), not an invalid artifact.
    let diff = match &a.diff {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read the diff {}", path.display()))?,
        ),
        None => None,
    };
    let checked = artifact::verify(&bytes, &keyring).and_then(|v| match &diff {
        Some(d) => v.check_diff(d).map(|()| v),
        None => Ok(v),
    });
    let v = match checked {
        Ok(v) => v,
        Err(err) => {
            eprintln!("invalid: {}", e(&err.to_string()));
            return Ok(ExitCode::from(1));
        }
    };
    let w = &v.verdict;
    let key = match v.mode {
        KeyMode::Development => format!(
            "the published DEVELOPMENT key {} (proves integrity, not origin)",
            e(&v.key_id)
        ),
        KeyMode::Operator => format!("operator key {} ({})", e(&v.key_id), v.algorithm.as_str()),
    };
    outln!(
        "valid: signed by {key}; scan {} at {} decided {} ({} finding(s), {} blocking); policy {} ({})",
        e(&w.scan_id),
        e(&w.scanned_at),
        w.decision.as_str(),
        w.summary.findings,
        w.summary.blocking,
        e(&w.policy.id),
        e(&w.policy.sha256)
    );
    if a.diff.is_some() {
        outln!("diff: matches sha256 {}", e(&v.subject_sha256));
    } else {
        outln!(
            "diff: sha256 {} (not checked: pass --diff FILE to check it is the diff you have)",
            e(&v.subject_sha256)
        );
    }
    for k in &v.ignored_keyids {
        eprintln!("diffver: ignored a signature by unknown key {}", e(k));
    }
    if a.require_pass && w.decision != wire::Decision::Pass {
        eprintln!(
            "diffver: the artifact is valid but its decision is {} (--require-pass)",
            w.decision.as_str()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
