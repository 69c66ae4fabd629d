//! Pure renderers of a wire verdict ([`VerdictV2`]): JSON, SARIF 2.1.0, a
//! self-contained inert HTML view, terminal text, GitHub Actions workflow
//! commands, and a GitHub Check Run's output. They take the wire form — the
//! predicate of a signed artifact — so a stored artifact renders without
//! re-scanning; [`VerdictV2::from_verdict`] gives it for a fresh verdict.
//!
//! Every renderer takes text from the diff only in escaped form: paths,
//! messages and evidence are escaped when findings are built, and the HTML
//! and GitHub renderers escape again for their own syntax.

mod check_run;
mod github;
mod html;
mod sarif;
mod text;

pub use check_run::{
    CheckAnnotation, CheckRunOutput, MAX_ANNOTATIONS_PER_REQUEST, MAX_MESSAGE_BYTES,
    MAX_SUMMARY_CHARS, MAX_TITLE_CHARS, check_run, markdown_inert, truncate_chars,
};
pub use github::github_annotations;
pub use html::html;
pub use sarif::sarif;
pub use text::text;

use crate::artifact::wire::VerdictV2;

/// The verdict as pretty-printed JSON (the wire form the signed artifact
/// carries as its predicate).
pub fn json(v: &VerdictV2) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}
