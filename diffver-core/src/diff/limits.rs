//! Resource limits (and the one other parse option, `allow_empty`) for
//! parsing untrusted diffs.
//!
//! Every limit is configuration. Exceeding one is a typed
//! [`ParseError::LimitExceeded`](super::ParseError::LimitExceeded), never a
//! truncation: a gate that silently scanned half a diff would pass the other half.

/// Which limit a diff exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// Total input size in bytes.
    InputBytes,
    /// Number of file patches.
    Files,
    /// Number of hunks over all files.
    Hunks,
    /// Length of one line in bytes.
    LineBytes,
    /// Number of hunk lines over all files.
    Lines,
}

impl Limit {
    /// A short name for messages: `input size`, `file count`, …
    pub fn name(self) -> &'static str {
        match self {
            Limit::InputBytes => "input size",
            Limit::Files => "file count",
            Limit::Hunks => "hunk count",
            Limit::LineBytes => "line length",
            Limit::Lines => "line count",
        }
    }
}

/// Limits applied while parsing. The defaults suit CI gating of real pull
/// requests; raise them for bulk scans.
///
/// ```
/// use diffver_core::diff::Limits;
/// let limits = Limits::default().with_max_input_bytes(1 << 30).with_max_files(100_000);
/// assert_eq!(limits.max_files(), 100_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    max_input_bytes: usize,
    max_files: usize,
    max_hunks: usize,
    max_line_bytes: usize,
    max_lines: usize,
    allow_empty: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_input_bytes: 256 << 20,
            max_files: 50_000,
            max_hunks: 1_000_000,
            max_line_bytes: 1 << 20,
            max_lines: 20_000_000,
            allow_empty: false,
        }
    }
}

impl Limits {
    /// Limits that accept anything the model can represent (for trusted bulk use).
    pub fn unbounded() -> Limits {
        Limits {
            max_input_bytes: usize::MAX,
            max_files: usize::MAX,
            max_hunks: usize::MAX,
            max_line_bytes: u32::MAX as usize,
            max_lines: usize::MAX,
            allow_empty: false,
        }
    }

    /// Sets the maximum input size in bytes (default 256 MiB).
    pub fn with_max_input_bytes(mut self, n: usize) -> Limits {
        self.max_input_bytes = n;
        self
    }

    /// Sets the maximum number of file patches (default 50,000).
    pub fn with_max_files(mut self, n: usize) -> Limits {
        self.max_files = n;
        self
    }

    /// Sets the maximum number of hunks over all files (default 1,000,000).
    pub fn with_max_hunks(mut self, n: usize) -> Limits {
        self.max_hunks = n;
        self
    }

    /// Sets the maximum length of one line in bytes (default 1 MiB; at most 4 GiB − 1,
    /// the most a line of the model can span).
    pub fn with_max_line_bytes(mut self, n: usize) -> Limits {
        self.max_line_bytes = n.min(u32::MAX as usize);
        self
    }

    /// Sets the maximum number of hunk lines over all files (default
    /// 20,000,000: each costs 24 bytes of model, so one-byte lines cannot
    /// make the model many times the input).
    pub fn with_max_lines(mut self, n: usize) -> Limits {
        self.max_lines = n;
        self
    }

    /// Accepts an empty input (zero bytes) as an empty diff instead of
    /// [`ParseError::Empty`](super::ParseError::Empty) (default: off).
    ///
    /// An empty input is what a broken pipeline upstream produces as often as
    /// it is a real empty change, so it is an error unless the caller says it
    /// means it (`diffver scan --allow-empty`). Input that is not empty but
    /// holds no patch is always [`ParseError::NoPatch`](super::ParseError::NoPatch).
    pub fn with_allow_empty(mut self, allow: bool) -> Limits {
        self.allow_empty = allow;
        self
    }

    /// Whether an empty input parses as an empty diff.
    pub fn allow_empty(&self) -> bool {
        self.allow_empty
    }

    /// Maximum number of hunk lines.
    pub fn max_lines(&self) -> usize {
        self.max_lines
    }

    /// Maximum input size in bytes.
    pub fn max_input_bytes(&self) -> usize {
        self.max_input_bytes
    }

    /// Maximum number of file patches.
    pub fn max_files(&self) -> usize {
        self.max_files
    }

    /// Maximum number of hunks.
    pub fn max_hunks(&self) -> usize {
        self.max_hunks
    }

    /// Maximum line length in bytes.
    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }
}
