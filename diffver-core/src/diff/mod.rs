//! The diff model and its parser.
//!
//! [`parse`] turns untrusted bytes into a [`Diff`]: file patches with their
//! paths, operation, modes, binary status and hunks, and every line with its
//! old/new line numbers and byte offset in the input. [`stat`] renders a diff
//! the way `git apply --numstat` and `git apply --summary` do.

pub mod binary;
mod limits;
mod model;
mod parse;
pub mod path;
mod quote;
pub mod stat;

pub use limits::{Limit, Limits};
pub use model::{
    Binary, BinaryHunk, BinaryKind, Diff, FileOp, FilePatch, Hunk, HunkRange, IndexLine, Line,
    LineKind, Mode, PatchPath, PathSources, Segment, SegmentKind, Span,
};
pub use parse::{ParseError, parse, parse_partial};
