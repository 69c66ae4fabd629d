//! Apply verification: given the base files the diff claims to change, does
//! every hunk apply exactly, and do the `index <old>..<new>` blob ids match
//! the real pre-image and the computed post-image?
//!
//! The base is supplied by the caller through [`BaseTree`]; this module does
//! no I/O. Hunks are applied at exactly the lines their headers name, with no
//! offset search and no fuzz: a gate must verify what the diff says, not what
//! a forgiving tool could make of it.

use std::collections::{BTreeMap, HashMap};

use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::diff::{Binary, Diff, FileOp, FilePatch, LineKind, PatchPath};
use crate::finding::{Category, FindingBuilder, RuleMeta, Severity};

pub(super) const APPLY_FAILED: RuleMeta = RuleMeta {
    id: "verify.apply-failed",
    title: "Hunk does not apply exactly to the base",
    severity: Severity::High,
    category: Category::Apply,
    description: "A context or removed line differs from the base file at the line the hunk names: the diff was not made against this base, or was edited by hand.",
};

pub(super) const INDEX_MISMATCH: RuleMeta = RuleMeta {
    id: "verify.index-mismatch",
    title: "Blob id in the index line does not match",
    severity: Severity::High,
    category: Category::Apply,
    description: "The `index <old>..<new>` line names blobs that are not the base file or not the result of applying the diff: the diff is not what it claims to be.",
};

pub(super) const BASE_MISSING: RuleMeta = RuleMeta {
    id: "verify.base-missing",
    title: "Base file not supplied",
    severity: Severity::Info,
    category: Category::Apply,
    description: "Apply verification was requested but the base tree has no file at the patch's old path.",
};

pub(super) const UNVERIFIABLE: RuleMeta = RuleMeta {
    id: "verify.apply-unverifiable",
    title: "Change cannot be apply-verified",
    severity: Severity::Info,
    category: Category::Apply,
    description: "Binary patches and submodule pointers are not applied by diffver, so their post-images are not verified.",
};

/// Read access to the base tree a diff applies to. Implemented for maps from
/// path bytes to content; implement it over a git object database or a
/// checkout outside the core.
pub trait BaseTree {
    /// The content of the file at `path` (repository-relative), if it exists.
    fn file(&self, path: &[u8]) -> Option<&[u8]>;
}

impl BaseTree for BTreeMap<Vec<u8>, Vec<u8>> {
    fn file(&self, path: &[u8]) -> Option<&[u8]> {
        self.get(path).map(Vec::as_slice)
    }
}

impl<S: std::hash::BuildHasher> BaseTree for HashMap<Vec<u8>, Vec<u8>, S> {
    fn file(&self, path: &[u8]) -> Option<&[u8]> {
        self.get(path).map(Vec::as_slice)
    }
}

/// A git object format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectFormat {
    /// SHA-1 (40 hex digits), git's default.
    Sha1,
    /// SHA-256 (64 hex digits).
    Sha256,
}

/// The git blob id of `content`: the hash of `blob <len>\0<content>`, in hex.
pub fn git_blob_id(content: &[u8], format: ObjectFormat) -> String {
    let header = format!("blob {}\0", content.len());
    match format {
        ObjectFormat::Sha1 => {
            let mut h = Sha1::new();
            h.update(header.as_bytes());
            h.update(content);
            crate::hex(&h.finalize())
        }
        ObjectFormat::Sha256 => {
            let mut h = Sha256::new();
            h.update(header.as_bytes());
            h.update(content);
            crate::hex(&h.finalize())
        }
    }
}

/// A verified post-image: the file as it is after applying the diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostImage {
    /// The file's path after the change.
    pub path: PatchPath,
    /// Its git blob id (in the diff's object format).
    pub blob_id: String,
    /// SHA-256 of its content, in hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: usize,
}

fn object_format(f: &FilePatch) -> ObjectFormat {
    match f.index() {
        Some(ix) if ix.old.len() > 40 || ix.new.len() > 40 => ObjectFormat::Sha256,
        _ => ObjectFormat::Sha1,
    }
}

fn is_zero(id: &str) -> bool {
    id.bytes().all(|b| b == b'0')
}

pub(super) fn check(
    diff: &Diff<'_>,
    base: Option<&dyn BaseTree>,
    out: &mut Vec<FindingBuilder>,
) -> Vec<PostImage> {
    let mut images = Vec::new();
    for f in diff.files() {
        if let Some(img) = one_file(diff, f, base, out) {
            images.push(img);
        }
    }
    images
}

fn one_file(
    diff: &Diff<'_>,
    f: &FilePatch,
    base: Option<&dyn BaseTree>,
    out: &mut Vec<FindingBuilder>,
) -> Option<PostImage> {
    let header = f.header_span();
    let note = |rule: RuleMeta, msg: String| {
        FindingBuilder::new(rule, header, msg)
            .at_diff_line(header)
            .path(f.path())
            .key(rule.id)
    };
    let gitlink = [f.old_mode(), f.new_mode(), f.index().and_then(|i| i.mode)]
        .into_iter()
        .flatten()
        .any(|m| m.is_gitlink());
    let unverifiable = !matches!(f.binary(), Binary::No) || gitlink;
    // Without a base, only an added file with an `index` line can be checked
    // (its content is all in the diff); hashing other added files would
    // verify nothing.
    if base.is_none() && (f.op() != FileOp::Add || f.index().is_none()) {
        return None;
    }
    if unverifiable {
        if base.is_some() {
            out.push(note(
                UNVERIFIABLE,
                "binary and submodule changes are not apply-verified".to_owned(),
            ));
        }
        return None;
    }
    let pre: &[u8] = match f.op() {
        FileOp::Add => &[],
        _ => {
            let path = f.old_path()?;
            match base.and_then(|b| b.file(path.as_bytes())) {
                Some(c) => c,
                None => {
                    out.push(note(
                        BASE_MISSING,
                        format!("no base content for \"{}\"", path.display()),
                    ));
                    return None;
                }
            }
        }
    };
    let applied = apply(diff, f, pre);
    let post = applied.as_ref().ok().filter(|_| f.op() != FileOp::Delete);
    // The object format: 64-digit ids say SHA-256. An abbreviated id does not
    // say, so the format whose ids match is taken (SHA-1 when neither does).
    let ids = f.index();
    let pre_ok = |fmt| match ids {
        Some(ix) if f.op() != FileOp::Add && !is_zero(&ix.old) => {
            git_blob_id(pre, fmt).starts_with(&ix.old)
        }
        _ => true,
    };
    let post_ok = |fmt| match (ids, post) {
        (Some(ix), Some(post)) if !is_zero(&ix.new) => git_blob_id(post, fmt).starts_with(&ix.new),
        _ => true,
    };
    let format = match object_format(f) {
        ObjectFormat::Sha256 => ObjectFormat::Sha256,
        ObjectFormat::Sha1 => [ObjectFormat::Sha1, ObjectFormat::Sha256]
            .into_iter()
            .find(|&fmt| pre_ok(fmt) && post_ok(fmt))
            .unwrap_or(ObjectFormat::Sha1),
    };
    if let Some(ix) = ids
        && !pre_ok(format)
    {
        let actual = git_blob_id(pre, format);
        out.push(
            note(
                INDEX_MISMATCH,
                format!(
                    "the index line names pre-image blob {} but the base file is {actual}",
                    ix.old
                ),
            )
            .key(format!("pre:{}", ix.old)),
        );
    }
    let post = match &applied {
        Ok(post) => post,
        Err((line_offset, msg)) => {
            let mut b = FindingBuilder::new(APPLY_FAILED, header, msg.clone()).path(f.path());
            b = match line_offset.and_then(|o| find_line(f, o)) {
                Some(l) => b.at_line(diff, l, None).evidence(diff.line_bytes(l)),
                None => b.at_diff_line(header),
            };
            out.push(b.key(APPLY_FAILED.id));
            return None;
        }
    };
    if f.op() == FileOp::Delete {
        return None;
    }
    let blob_id = git_blob_id(post, format);
    if let Some(ix) = ids
        && !post_ok(format)
    {
        out.push(
            note(
                INDEX_MISMATCH,
                format!(
                    "the index line names post-image blob {} but applying the diff gives {blob_id}",
                    ix.new
                ),
            )
            .key(format!("post:{}", ix.new)),
        );
    }
    Some(PostImage {
        path: f.new_path()?.clone(),
        blob_id,
        sha256: crate::hex(&Sha256::digest(post)),
        size: post.len(),
    })
}

fn find_line(f: &FilePatch, offset: usize) -> Option<&crate::diff::Line> {
    f.hunks()
        .iter()
        .flat_map(|h| h.lines())
        .find(|l| l.offset() == offset)
}

/// Applies `f`'s hunks to `pre` exactly. On failure returns the offending
/// diff line's offset (if one) and a message.
pub(crate) fn apply(
    diff: &Diff<'_>,
    f: &FilePatch,
    pre: &[u8],
) -> Result<Vec<u8>, (Option<usize>, String)> {
    let lines: Vec<&[u8]> = pre.split_inclusive(|&b| b == b'\n').collect();
    let mut post = Vec::with_capacity(pre.len() + 64);
    let mut cursor = 0usize;
    for h in f.hunks() {
        let o = h.old_range();
        let start = if o.count == 0 {
            o.start as usize
        } else {
            (o.start as usize).saturating_sub(1)
        };
        if start < cursor || start > lines.len() {
            return Err((
                None,
                format!(
                    "hunk at old line {} is outside the base file ({} lines) or before the previous hunk",
                    o.start,
                    lines.len()
                ),
            ));
        }
        for l in &lines[cursor..start] {
            post.extend_from_slice(l);
        }
        cursor = start;
        for line in h.lines() {
            let content = diff.line_bytes(line);
            let eol: &[u8] = if line.no_newline_at_eof() { b"" } else { b"\n" };
            match line.kind() {
                LineKind::Context | LineKind::Removed => {
                    let actual = lines.get(cursor).copied();
                    let matches = actual.is_some_and(|a| {
                        a.len() == content.len() + eol.len()
                            && a.starts_with(content)
                            && a.ends_with(eol)
                    });
                    if !matches {
                        let shown = actual.map_or_else(
                            || "end of file".to_owned(),
                            |a| format!("\"{}\"", crate::text::escape_for_display(a)),
                        );
                        return Err((
                            Some(line.offset()),
                            format!(
                                "old line {} of the base is {shown}, not what the hunk says",
                                cursor + 1
                            ),
                        ));
                    }
                    cursor += 1;
                    if line.kind() == LineKind::Context {
                        post.extend_from_slice(content);
                        post.extend_from_slice(eol);
                    }
                }
                LineKind::Added => {
                    post.extend_from_slice(content);
                    post.extend_from_slice(eol);
                }
            }
        }
    }
    for l in &lines[cursor.min(lines.len())..] {
        post.extend_from_slice(l);
    }
    if f.op() == FileOp::Delete && !post.is_empty() {
        return Err((
            None,
            format!("the deletion leaves {} bytes of the base file", post.len()),
        ));
    }
    Ok(post)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ids_match_git() {
        // `git hash-object` of the empty file and of "hello\n".
        assert_eq!(
            git_blob_id(b"", ObjectFormat::Sha1),
            "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
        );
        assert_eq!(
            git_blob_id(b"hello\n", ObjectFormat::Sha1),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(
            git_blob_id(b"", ObjectFormat::Sha256),
            "473a0f4c3be8a93681a267e3b1e9a7dcda1185436fe141f7749120a303721813"
        );
    }
}
