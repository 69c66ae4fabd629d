//! Changes to sensitive paths (see [`crate::path_class`]) whose content the
//! rules cannot see: opaque binary content, and renames or copies.
//!
//! A `GIT binary patch` `literal` that decodes to text is scanned by the rules
//! like any added file (see `rules/engine.rs`); everything else on a
//! workflow, agent-instruction, git hook or build-script path — a `delta`, a
//! `Binary files … differ` marker, data that does not decode, content that
//! is not text — is reported here at high severity, because the gate would
//! otherwise pass content it never read into a place where it runs.
//!
//! A rename or copy moves content the diff does not show; into a sensitive
//! path that content starts to run (a workflow) or to instruct an agent, so
//! the move is a finding in itself, whatever the similarity.

use crate::diff::binary::{self, BinaryDecodeError};
use crate::diff::{Binary, BinaryKind, Diff, FileOp, FilePatch};
use crate::finding::{Category, FindingBuilder, RuleMeta, Severity};
use crate::path_class::PathClasses;

pub(super) const BINARY_SENSITIVE: RuleMeta = RuleMeta {
    id: "verify.binary-sensitive-path",
    title: "Unreadable binary content on a sensitive path",
    severity: Severity::High,
    category: Category::OpaqueContent,
    description: "A workflow, agent instruction file, git hook or build script changed by a binary delta, a `Binary files … differ` marker, or binary data that does not decode to text: the gate cannot read what will run or instruct an agent.",
};

pub(super) const RENAME_SENSITIVE: RuleMeta = RuleMeta {
    id: "verify.rename-into-sensitive-path",
    title: "Rename or copy into a sensitive path",
    severity: Severity::High,
    category: Category::PathSafety,
    description: "A rename or copy moves content the diff does not show into a workflow, agent instruction file, git hook or build script, where it starts to run or to instruct agents.",
};

/// Most bytes decoded over all binary literals of one diff (a diff of many
/// small deflate bombs must not cost unbounded time).
pub(crate) const MAX_TOTAL_DECODED: usize = 64 << 20;

/// Decodes the forward literal of `f`, if it has one, charging `budget`.
pub(crate) fn decode_file(
    diff: &Diff<'_>,
    f: &FilePatch,
    budget: &mut usize,
) -> Option<Result<Vec<u8>, BinaryDecodeError>> {
    let Binary::Patch { forward, .. } = f.binary() else {
        return None;
    };
    if f.op() == FileOp::Delete {
        return None;
    }
    let r = binary::decode_literal(diff, forward, *budget);
    if let Ok(v) = &r {
        *budget = budget.saturating_sub(v.len());
    }
    Some(r)
}

/// What decoding a file's binary patch gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decoded {
    /// No `GIT binary patch` to decode (text, a marker, a deletion).
    Nothing,
    /// A literal that decodes to text: the rules read it.
    Text,
    /// A literal that decodes to content that is not text.
    NotText,
    /// Not decodable (a delta, malformed data, over the limit).
    Failed(BinaryDecodeError),
}

/// Decodes every file's binary literal once (within the diff's budget),
/// keeping only what the checks need to know.
pub(super) fn decode_outcomes(diff: &Diff<'_>) -> Vec<Decoded> {
    let mut budget = MAX_TOTAL_DECODED;
    diff.files()
        .iter()
        .map(|f| match decode_file(diff, f, &mut budget) {
            None => Decoded::Nothing,
            Some(Ok(c)) if binary::is_text(&c) => Decoded::Text,
            Some(Ok(_)) => Decoded::NotText,
            Some(Err(e)) => Decoded::Failed(e),
        })
        .collect()
}

pub(super) fn check(diff: &Diff<'_>, decoded: &[Decoded], out: &mut Vec<FindingBuilder>) {
    let needs = diff
        .files()
        .iter()
        .any(|f| f.is_binary() || matches!(f.op(), FileOp::Rename { .. } | FileOp::Copy { .. }));
    if !needs {
        return;
    }
    let classes = PathClasses::new();
    for (i, f) in diff.files().iter().enumerate() {
        let decoded = decoded.get(i).cloned().unwrap_or(Decoded::Nothing);
        let Some(dest) = f.new_path() else { continue };
        let Some(class) = classes.classify(dest.as_bytes()) else {
            continue;
        };
        let span = f.header_span();
        match f.op() {
            FileOp::Rename { similarity } | FileOp::Copy { similarity } => {
                let verb = if matches!(f.op(), FileOp::Rename { .. }) {
                    "renamed"
                } else {
                    "copied"
                };
                let from = f.old_path().map(|p| p.display()).unwrap_or_default();
                let sim = similarity.map_or(String::new(), |s| format!(" ({s}% similar)"));
                out.push(
                    FindingBuilder::new(
                        RENAME_SENSITIVE,
                        span,
                        format!(
                            "\"{from}\" is {verb} into the {} \"{}\"{sim}: its content is not in the diff",
                            class.describe(),
                            dest.display()
                        ),
                    )
                    .at_diff_line(span)
                    .path(Some(dest))
                    .key(format!("{verb}:{}", crate::text::escape_for_display(&dest.normalized()))),
                );
            }
            _ => {}
        }
        let why = match (f.binary(), decoded) {
            (Binary::No, _) => continue,
            (Binary::Marker { .. }, _) => {
                "a `Binary files … differ` marker carries none of the content".to_owned()
            }
            (_, Decoded::Text) => continue,
            (_, Decoded::NotText) => {
                "the binary patch decodes to content that is not text".to_owned()
            }
            (Binary::Patch { forward, .. }, _) if forward.kind == BinaryKind::Delta => {
                "a binary delta cannot be read without the pre-image".to_owned()
            }
            (_, Decoded::Failed(e)) => format!("the binary patch cannot be decoded: {e}"),
            (_, Decoded::Nothing) => continue,
        };
        out.push(
            FindingBuilder::new(
                BINARY_SENSITIVE,
                span,
                format!(
                    "the {} \"{}\" is changed by binary content: {why}",
                    class.describe(),
                    dest.display()
                ),
            )
            .at_diff_line(span)
            .path(Some(dest))
            .key(b"binary-sensitive"),
        );
    }
}
