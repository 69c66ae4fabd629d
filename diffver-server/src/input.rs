//! Reading the diff from a file or standard input, within a size limit.

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, bail};

/// Reads at most `max` bytes; more is an error, never a silent truncation.
/// Returns a display name for messages and the bytes.
pub(crate) fn read(path: Option<&Path>, max: usize) -> anyhow::Result<(String, Vec<u8>)> {
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut buf = Vec::new();
    let name = match path {
        None => "standard input".to_owned(),
        Some(p) if p.as_os_str() == "-" => "standard input".to_owned(),
        Some(p) => p.display().to_string(),
    };
    match path {
        Some(p) if p.as_os_str() != "-" => {
            let f = std::fs::File::open(p).with_context(|| format!("cannot open {name}"))?;
            // Size the buffer once: growing it by doubling would hold two copies.
            if let Ok(m) = f.metadata() {
                let want = usize::try_from(m.len())
                    .unwrap_or(usize::MAX)
                    .min(max.saturating_add(1));
                buf.reserve_exact(want);
            }
            f.take(limit)
                .read_to_end(&mut buf)
                .with_context(|| format!("cannot read {name}"))?;
        }
        _ => {
            std::io::stdin()
                .lock()
                .take(limit)
                .read_to_end(&mut buf)
                .context("cannot read standard input")?;
        }
    }
    if buf.len() > max {
        bail!("{name} is larger than the limit of {max} bytes (raise it with --max-bytes)");
    }
    Ok((name, buf))
}
