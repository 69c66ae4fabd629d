//! Where the secrets of a diff are, on every line — removed, context and
//! header lines included — so a view of the whole diff can mask them. The
//! rules only report what a diff adds, but a report that shows the diff
//! must not leak a token a change removes.

use std::ops::Range;

use super::Ruleset;
use super::engine::{self, ScanOptions};
use crate::finding::Category;

impl Ruleset {
    /// The byte ranges of `input` that the secret rules match, on any line.
    ///
    /// Every line of the input is scanned as if it were an added line of a
    /// neutral file (so path-scoped secret rules do not apply); ranges are
    /// sorted and may overlap. Input that cannot be rescanned (over the
    /// default limits) yields no ranges.
    pub fn secret_spans(&self, input: &[u8]) -> Vec<Range<usize>> {
        let mut starts = Vec::new();
        let mut lines = Vec::new();
        let mut at = 0;
        for line in input.split(|&b| b == b'\n') {
            starts.push(at);
            lines.push(line);
            at += line.len() + 1;
        }
        let header = format!(
            "diff --git a/redact.txt b/redact.txt\n--- a/redact.txt\n+++ b/redact.txt\n@@ -0,0 +1,{} @@\n",
            lines.len()
        );
        let mut patch = Vec::with_capacity(input.len() + 2 * lines.len() + header.len());
        patch.extend_from_slice(header.as_bytes());
        // Synthetic line i starts at `synth[i]`; its content is line i of
        // the input, one byte later (after the `+`).
        let mut synth = Vec::with_capacity(lines.len());
        for l in &lines {
            synth.push(patch.len() + 1);
            patch.push(b'+');
            patch.extend_from_slice(l);
            patch.push(b'\n');
        }
        let limits = crate::diff::Limits::default().with_max_input_bytes(patch.len().max(1));
        let Ok(diff) = crate::diff::parse(&patch, &limits) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        engine::scan(&diff, self, &ScanOptions::default(), &mut out);
        let mut spans: Vec<Range<usize>> = crate::finding::finish(&diff, out)
            .iter()
            .filter(|f| f.category() == Category::Secret)
            .filter_map(|f| {
                let s = f.location().span;
                let i = synth.partition_point(|&x| x <= s.start).checked_sub(1)?;
                let within = s.start - synth[i];
                let start = starts[i] + within;
                let end = (start + s.len()).min(starts[i] + lines[i].len());
                (start < end).then_some(start..end)
            })
            .collect();
        spans.sort_by_key(|r| (r.start, r.end));
        spans
    }
}
