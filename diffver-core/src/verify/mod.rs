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
//! - `sensitive`: unreadable binary content on, and renames or copies into, sensitive paths;
//! - `apply`: with a caller-supplied base tree, exact application and blob ids.

mod apply;
mod content;
mod modes;
mod paths;
mod sensitive;
mod structure;

use crate::diff::Diff;
use crate::finding::{Finding, FindingBuilder, RuleMeta, finish};

pub(crate) use apply::apply as apply_to;
pub use apply::{BaseTree, ObjectFormat, PostImage, git_blob_id};
pub(crate) use sensitive::{MAX_TOTAL_DECODED, decode_file as decode_binary};

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
    sensitive::BINARY_SENSITIVE,
    sensitive::RENAME_SENSITIVE,
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

    /// The base tree, if one was supplied.
    pub fn base(&self) -> Option<&'b dyn BaseTree> {
        self.base
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
    let decoded = if diff.files().iter().any(|f| f.is_binary()) {
        sensitive::decode_outcomes(diff)
    } else {
        Vec::new()
    };
    content::check(diff, &decoded, out);
    sensitive::check(diff, &decoded, out);
    let images = apply::check(diff, options.base, out);
    crate::finding::cap(out);
    images
}
