//! diffver: verify a diff and scan what it adds, before it is merged or read
//! by an agent.
//!
//! This facade re-exports the SDK. Today that is [`diffver_core`]: the diff
//! model and parser ([`diff`]), integrity verification ([`verify`]) and
//! [`finding`]s. Later layers (store, server, Python bindings) sit beside it
//! and depend on the core, never the reverse.
//!
//! ```
//! let patch = b"--- a/notes.txt\n+++ b/notes.txt\n@@ -1 +1 @@\n-draft\n+final\n";
//! let parsed = diffver::diff::parse(patch, &diffver::diff::Limits::default())?;
//! let report = diffver::verify::verify(&parsed, &Default::default());
//! assert!(report.findings().is_empty());
//! # Ok::<(), diffver::diff::ParseError>(())
//! ```

pub use diffver_core::{
    artifact, diff, finding, policy, report, rules, scan, suppress, text, verdict, verify,
};

/// The README's examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
