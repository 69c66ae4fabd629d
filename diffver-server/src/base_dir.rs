//! Loading the base files a diff names from a checkout, for apply verification.
//!
//! Paths come from the diff, so they are attacker-controlled: a path is read
//! only if every component is a plain name (no `..`, no absolute path, no
//! `.git`) and no directory on the way is a symlink, so a diff cannot make
//! diffver read files outside the checkout. A symlink file's content is its
//! target, as in git.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use diffver_core::diff::{Diff, FileOp};

pub(crate) fn load(dir: &Path, diff: &Diff<'_>) -> anyhow::Result<BTreeMap<Vec<u8>, Vec<u8>>> {
    let meta = std::fs::metadata(dir)
        .with_context(|| format!("cannot read base directory {}", dir.display()))?;
    anyhow::ensure!(
        meta.is_dir(),
        "base directory {} is not a directory",
        dir.display()
    );
    let mut files = BTreeMap::new();
    for f in diff.files() {
        if f.op() == FileOp::Add {
            continue;
        }
        let Some(p) = f.old_path() else { continue };
        let Some(full) = safe_join(dir, p.as_bytes()) else {
            continue;
        };
        if let Some(content) = read_file(&full)? {
            files.insert(p.as_bytes().to_vec(), content);
        }
    }
    Ok(files)
}

fn safe_join(dir: &Path, rel: &[u8]) -> Option<PathBuf> {
    let rel = std::str::from_utf8(rel).ok()?;
    let mut full = dir.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, c) in parts.iter().enumerate() {
        if c.is_empty()
            || *c == "."
            || *c == ".."
            || c.eq_ignore_ascii_case(".git")
            || c.contains('\\')
            || c.contains('\0')
        {
            return None;
        }
        full.push(c);
        if i + 1 < parts.len() {
            let m = std::fs::symlink_metadata(&full).ok()?;
            if !m.is_dir() {
                return None;
            }
        }
    }
    Some(full)
}

/// Largest base file read for apply verification.
const MAX_BASE_FILE: u64 = 256 << 20;

fn read_file(p: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    let m = match std::fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", p.display())),
    };
    if m.file_type().is_symlink() {
        let target =
            std::fs::read_link(p).with_context(|| format!("cannot read link {}", p.display()))?;
        return Ok(Some(target.into_os_string().into_encoded_bytes()));
    }
    // The diff chooses which files are read: skip anything larger than a
    // diff could describe (it is reported as a missing base).
    if !m.is_file() || m.len() > MAX_BASE_FILE {
        return Ok(None);
    }
    Ok(Some(
        std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
    ))
}
