//! diffver-core: the pure, I/O-free heart of diffver.
//!
//! It parses a diff from untrusted bytes ([`diff::parse`]) and verifies that
//! the diff is well formed and is what it claims to be ([`verify::verify`]).
//! It reads no files, no clock and no environment: everything, including the
//! base tree used for apply verification, is passed in.
//!
//! ```
//! use diffver_core::{diff, verify};
//!
//! let patch = b"diff --git a/run.sh b/run.sh\n\
//! new file mode 100755\n\
//! --- /dev/null\n\
//! +++ b/run.sh\n\
//! @@ -0,0 +1 @@\n\
//! +echo \x1b[2Khidden\n";
//! let parsed = diff::parse(patch, &diff::Limits::default())?;
//! let report = verify::verify(&parsed, &verify::Options::default());
//! let ids: Vec<&str> = report.findings().iter().map(|f| f.rule_id()).collect();
//! assert_eq!(ids, ["verify.executable-added", "verify.terminal-escape"]);
//! # Ok::<(), diffver_core::diff::ParseError>(())
//! ```

pub mod artifact;
pub mod diff;
pub mod finding;
pub mod path_class;
pub mod policy;
pub mod report;
pub mod rules;
pub mod scan;
pub mod suppress;
pub mod text;
pub mod verdict;
pub mod verify;

/// Lower-case hex of a byte string.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}
