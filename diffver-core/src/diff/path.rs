//! Path normalisation, exactly as the tools that write a patch's files do.
//!
//! Measured with git 2.47 and GNU patch 2.7.6 (see `tests/git_differential.rs`):
//!
//! - `git apply` collapses runs of `/` in every name it reads from a `---`,
//!   `+++`, `rename from/to` or `copy from/to` line (its `squash_slash()`), so
//!   `+++ b/.github//workflows/z.yml` writes `.github/workflows/z.yml`, and
//!   `git apply --numstat` prints the collapsed name. Names taken only from the
//!   `diff --git` line are not collapsed (git then refuses to write them as an
//!   invalid path). `.` components are kept, and refused the same way.
//! - `patch -p1` hands the name to the filesystem, which also ignores `.`
//!   components: `+++ b/x/./y.md` writes `x/y.md`.
//!
//! The model keeps what git reads ([`squash_slashes`] on the marker and
//! rename/copy names, so `diffver stat` prints what git prints). Everything that
//! *matches* a path (rule path globs, policy overrides and exceptions, path
//! classes, collision checks) uses [`normalize`], which also drops `.`
//! components, empty components and a trailing slash: whichever tool writes the
//! file, it lands at the normalised name.

use std::borrow::Cow;

use super::model::{PatchPath, PathSources};

/// Collapses every run of `/` into one, as git's `squash_slash()` does.
pub(crate) fn squash_slashes(p: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memmem::find(p, b"//").is_none() {
        return Cow::Borrowed(p);
    }
    let mut out = Vec::with_capacity(p.len());
    for &b in p {
        if b == b'/' && out.last() == Some(&b'/') {
            continue;
        }
        out.push(b);
    }
    Cow::Owned(out)
}

fn squash_path(p: &mut PatchPath) {
    if let Cow::Owned(v) = squash_slashes(&p.bytes) {
        p.bytes = v;
    }
}

/// Applies git's slash squashing to the names git squashes: `---`, `+++`,
/// `rename`/`copy` `from` and `to`, but not the `diff --git` line's names.
pub(crate) fn squash_sources(s: &mut PathSources) {
    for p in [&mut s.minus, &mut s.plus]
        .into_iter()
        .filter_map(|p| p.as_mut().and_then(Option::as_mut))
    {
        squash_path(p);
    }
    for p in [&mut s.from, &mut s.to].into_iter().flatten() {
        squash_path(p);
    }
}

/// The name a path is written to: runs of `/` collapsed, `.` components and a
/// trailing `/` dropped. A leading `/` (an absolute path) and `..` components
/// are kept: they are unsafe, and the path checks report them.
pub fn normalize(p: &[u8]) -> Cow<'_, [u8]> {
    let clean = !p.is_empty()
        && memchr::memmem::find(p, b"//").is_none()
        && !p.ends_with(b"/")
        && p != b"."
        && !p.starts_with(b"./")
        && !p.ends_with(b"/.")
        && memchr::memmem::find(p, b"/./").is_none();
    if clean {
        return Cow::Borrowed(p);
    }
    let mut out = Vec::with_capacity(p.len());
    if p.first() == Some(&b'/') {
        out.push(b'/');
    }
    for c in p.split(|&b| b == b'/') {
        if c.is_empty() || c == b"." {
            continue;
        }
        if !out.is_empty() && out.last() != Some(&b'/') {
            out.push(b'/');
        }
        out.extend_from_slice(c);
    }
    Cow::Owned(out)
}

/// [`normalize`] for a path held as text (a finding's display path: escaping
/// never touches `/` or `.`, so normalising the display form is the same as
/// displaying the normalised form).
pub fn normalize_str(p: &str) -> Cow<'_, str> {
    match normalize(p.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(p),
        // Only ASCII `/` and `.` bytes were removed, so the rest is still UTF-8.
        Cow::Owned(v) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
    }
}

/// Whether a (normalised) path stays inside the repository: not absolute
/// and without a `..` component. Path globs of policies never match a path
/// that leaves the repository, whatever they say.
pub fn stays_inside(p: &str) -> bool {
    !p.starts_with('/')
        && !p.starts_with('\\')
        && p.as_bytes().get(1..2) != Some(b":")
        && !p.split(['/', '\\']).any(|c| c == "..")
}

impl PatchPath {
    /// The path where a tool applying the patch writes the file (see
    /// [`normalize`]): what every path match uses.
    pub fn normalized(&self) -> Cow<'_, [u8]> {
        normalize(&self.bytes)
    }

    /// [`PatchPath::normalized`] as text (invalid UTF-8 replaced), for glob
    /// matching.
    pub fn normalized_lossy(&self) -> String {
        String::from_utf8_lossy(&self.normalized()).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squash_is_gits_squash_slash() {
        assert_eq!(
            &*squash_slashes(b".github//workflows/z.yml"),
            b".github/workflows/z.yml"
        );
        assert_eq!(
            &*squash_slashes(b".github///copilot-instructions.md"),
            b".github/copilot-instructions.md"
        );
        assert_eq!(&*squash_slashes(b"/x//y"), b"/x/y");
        assert_eq!(&*squash_slashes(b"x/./y"), b"x/./y", "git keeps `.`");
    }

    #[test]
    fn normalize_drops_dots_and_empty_components() {
        for (raw, want) in [
            (&b".cursor//rules/x.mdc"[..], &b".cursor/rules/x.mdc"[..]),
            (b"./x/./y.md", b"x/y.md"),
            (b"x/y/", b"x/y"),
            (b"x/.", b"x"),
            (b"/x//y", b"/x/y"),
            (b"a/../b", b"a/../b"),
            (b"plain/path.rs", b"plain/path.rs"),
        ] {
            assert_eq!(&*normalize(raw), want, "{}", String::from_utf8_lossy(raw));
        }
        assert!(matches!(normalize(b"a/b"), Cow::Borrowed(_)));
    }

    #[test]
    fn inside() {
        assert!(stays_inside("tests/fixtures/a.sh"));
        assert!(!stays_inside("tests/fixtures/../../x.sh"));
        assert!(!stays_inside("/etc/passwd"));
        assert!(!stays_inside("C:/x"));
    }
}
