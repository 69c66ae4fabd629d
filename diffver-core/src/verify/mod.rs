//! Integrity verification: is the diff well formed, and is it what it claims to be?
//!
//! [`verify`] runs every check in [`checks()`] over a parsed [`Diff`] and
//! returns a [`Report`] of [`Finding`]s in a deterministic order. Each check
//! lives in its own module and reports under stable `verify.*` ids:
//!
//! - `structure`: hunk counts, hunk order, garbage, missing hunks, inconsistent paths,
//!   text on header lines;
//! - `paths`: unsafe and deceptive paths, and paths that collide;
//! - `modes`: symlinks, submodules, executable bits;
//! - `content`: binary and other unscannable content, control bytes, terminal escapes;
//! - `apply`: with a caller-supplied base tree, exact application and blob ids.

mod apply;
mod content;
mod modes;
mod paths;
mod structure;

use crate::diff::Diff;
use crate::finding::{Finding, FindingBuilder, RuleMeta, finish};

pub use apply::{BaseTree, ObjectFormat, PostImage, git_blob_id};

/// Every verification check, in one explicit list.
pub fn checks() -> &'static [RuleMeta] {
    ALL
}

static ALL: &[RuleMeta] = &[
    structure::HUNK_COUNT_MISMATCH,
    structure::HUNK_ORDER,
    structure::GARBAGE,
    structure::MISSING_HUNKS,
    structure::INCONSISTENT_PATHS,
    structure::HEADER_TEXT,
    paths::ABSOLUTE,
    paths::TRAVERSAL,
    paths::GIT_DIR,
    paths::CONTROL,
    paths::BACKSLASH,
    paths::WINDOWS,
    paths::DECEPTIVE,
    paths::COLLISION,
    modes::SYMLINK,
    modes::SYMLINK_ESCAPE,
    modes::SUBMODULE,
    modes::EXECUTABLE,
    content::BINARY,
    content::BINARY_MALFORMED,
    content::CONTROL,
    content::INVALID_UTF8,
    content::LONE_CR,
    content::TERMINAL_ESCAPE,
    apply::APPLY_FAILED,
    apply::INDEX_MISMATCH,
    apply::BASE_MISSING,
    apply::UNVERIFIABLE,
];

/// What verification may use beyond the diff itself.
#[derive(Default, Clone, Copy)]
pub struct Options<'b> {
    base: Option<&'b dyn BaseTree>,
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("base", &self.base.is_some())
            .finish()
    }
}

impl<'b> Options<'b> {
    /// Supplies the base tree the diff claims to apply to, enabling apply
    /// verification and post-image digests for every text file.
    pub fn with_base(mut self, base: &'b dyn BaseTree) -> Options<'b> {
        self.base = Some(base);
        self
    }
}

/// The result of verification.
#[derive(Debug, Clone)]
pub struct Report {
    findings: Vec<Finding>,
    post_images: Vec<PostImage>,
}

impl Report {
    /// The findings, in their total order (path, position, rule id).
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Verified post-images: for every added text file whose `index` line could be
    /// checked, and with a base tree for every text file that applied exactly.
    pub fn post_images(&self) -> &[PostImage] {
        &self.post_images
    }
}

/// Runs every check over `diff`.
pub fn verify(diff: &Diff<'_>, options: &Options<'_>) -> Report {
    let mut out: Vec<FindingBuilder> = Vec::new();
    let post_images = verify_into(diff, options, &mut out);
    Report {
        findings: finish(diff, out),
        post_images,
    }
}

/// Runs every check, adding unsealed findings to `out`; returns the post-images.
pub(crate) fn verify_into(
    diff: &Diff<'_>,
    options: &Options<'_>,
    out: &mut Vec<FindingBuilder>,
) -> Vec<PostImage> {
    structure::check(diff, out);
    paths::check(diff, out);
    modes::check(diff, out);
    content::check(diff, out);
    let images = apply::check(diff, options.base, out);
    crate::finding::cap(out);
    images
}
