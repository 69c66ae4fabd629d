//! Pure renderers of a [`Verdict`]: JSON, SARIF 2.1.0, a self-contained
//! inert HTML view, terminal text, and GitHub Actions workflow commands.
//!
//! Every renderer takes text from the diff only in escaped form: paths,
//! messages and evidence are escaped when findings are built, and the HTML
//! and GitHub renderers escape again for their own syntax.

mod github;
mod html;
mod sarif;
mod text;

pub use github::github_annotations;
pub use html::html;
pub use sarif::sarif;
pub use text::text;

use crate::artifact::wire::VerdictV1;
use crate::verdict::Verdict;

/// The verdict as pretty-printed JSON (the same wire form the signed
/// artifact carries).
pub fn json(v: &Verdict) -> String {
    let mut s = serde_json::to_string_pretty(&VerdictV1::from_verdict(v)).unwrap_or_default();
    s.push('\n');
    s
}
