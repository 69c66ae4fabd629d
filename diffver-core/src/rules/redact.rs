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
    /// neutral file (so path-scoped secret rules do not apply), twice: as it
    /// is, and without a leading `+`, `-` or space (a hunk line's marker),
    /// so a block that spans lines (a PEM key) reads as the file holds it. A
    /// PEM block is masked through its `-----END` line. Ranges are sorted and
    /// may overlap. Input that cannot be rescanned (over the default limits)
    /// yields no ranges.
    pub fn secret_spans(&self, input: &[u8]) -> Vec<Range<usize>> {
        let mut spans = Vec::new();
        for strip_marker in [false, true] {
            self.secret_spans_of_lines(input, strip_marker, &mut spans);
        }
        spans.sort_by_key(|r| (r.start, r.end));
        spans.dedup();
        spans
    }

    fn secret_spans_of_lines(
        &self,
        input: &[u8],
        strip_marker: bool,
        spans: &mut Vec<Range<usize>>,
    ) {
        let mut starts = Vec::new();
        let mut lines = Vec::new();
        let mut at = 0;
        for line in input.split(|&b| b == b'\n') {
            let skip =
                usize::from(strip_marker && matches!(line.first(), Some(b'+' | b'-' | b' ')));
            starts.push(at + skip);
            lines.push(&line[skip..]);
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
            return;
        };
        let mut out = Vec::new();
        engine::scan(&diff, self, &ScanOptions::default(), &mut out);
        // Synthetic offsets map back line by line: a match may span lines,
        // so each end maps through its own line.
        let back = |at: usize| {
            let i = synth.partition_point(|&x| x <= at).checked_sub(1)?;
            Some(starts[i] + (at - synth[i]).min(lines[i].len()))
        };
        for f in crate::finding::finish(&diff, out) {
            if f.category() != Category::Secret {
                continue;
            }
            let s = f.location().span;
            let (Some(start), Some(mut end)) = (back(s.start), back(s.end)) else {
                continue;
            };
            // A PEM block: its body lines carry the key, not only the BEGIN
            // line a rule matches; mask through the END line.
            if start < end && input[start..end].windows(11).any(|w| w == b"-----BEGIN ") {
                let window = &input[end..input.len().min(end + (1 << 20))];
                if let Some(e) = memchr::memmem::find(window, b"-----END ") {
                    let after = end + e;
                    end = memchr::memchr(b'\n', &input[after..]).map_or(input.len(), |n| after + n);
                }
            }
            if start < end {
                spans.push(start..end);
            }
        }
    }
}
