//! The keyword gate: which lines hold an ASCII keyword, found by walking a
//! keyword DFA over four parts of the input at once.
//!
//! A DFA walk is bound by the latency of its table loads: each step waits
//! for the state the previous one loaded. Four independent walks in one
//! loop overlap those waits, and measured about three times the throughput
//! of one walk (`aho-corasick`'s DFA, which walks one stream and does not
//! expose its table). The gate only answers "some keyword ends here"; the
//! engine then runs the `aho-corasick` automaton over each such line for the
//! exact matches, so what the gate reports can only cost time, never change
//! a finding.
//!
//! Architecture invariant: every line whose bytes contain a keyword (ASCII
//! case-insensitively) has a reported position inside it or on its first
//! byte before it (a diff line's `+`/`-`/space prefix); the gate may also
//! report lines that hold none.

use std::collections::VecDeque;

/// Largest transition table built (entries, 4 bytes each): a ruleset whose
/// keywords need more goes without a gate and the engine searches with the
/// automaton alone.
const MAX_ENTRIES: usize = 4 << 20;

/// A DFA over ASCII-case-folded keywords whose match states say only that
/// some keyword ends at the byte just read.
#[derive(Debug)]
pub(crate) struct KeywordGate {
    /// Byte → column in a state's row (letters of both cases share one).
    classes: [u8; 256],
    /// Transitions, premultiplied: `table[state + class]` is the next state,
    /// itself an offset into `table`.
    table: Vec<u32>,
    start: u32,
    /// States at or above this offset are match states.
    match_min: u32,
}

impl KeywordGate {
    /// The gate for `keywords` (ASCII, matched case-insensitively), or
    /// `None` when there are none, one is empty (it would match on every
    /// line: rules forbid it) or the table would pass [`MAX_ENTRIES`].
    pub(crate) fn build(keywords: &[String]) -> Option<KeywordGate> {
        let keywords: Vec<&[u8]> = keywords.iter().map(|k| k.as_bytes()).collect();
        if keywords.is_empty() || keywords.iter().any(|k| k.is_empty()) {
            return None;
        }
        let mut classes = [0u8; 256];
        let mut stride = 1usize;
        for &b in keywords.iter().flat_map(|k| k.iter()) {
            let b = b.to_ascii_lowercase();
            if classes[b as usize] == 0 {
                if stride > usize::from(u8::MAX) {
                    return None;
                }
                classes[b as usize] = stride as u8;
                stride += 1;
            }
        }
        for b in b'A'..=b'Z' {
            classes[b as usize] = classes[b.to_ascii_lowercase() as usize];
        }
        let states: usize = 1 + keywords.iter().map(|k| k.len()).sum::<usize>();
        if states.saturating_mul(stride) > MAX_ENTRIES {
            return None;
        }
        // The trie: `goto[s * stride + c]`, `NONE` where there is no edge.
        const NONE: u32 = u32::MAX;
        let mut goto: Vec<u32> = vec![NONE; stride];
        let mut accepts: Vec<bool> = vec![false];
        for k in &keywords {
            let mut s = 0usize;
            for &b in *k {
                let at = s * stride + classes[b as usize] as usize;
                if goto[at] == NONE {
                    goto[at] = accepts.len() as u32;
                    accepts.push(false);
                    goto.extend(std::iter::repeat_n(NONE, stride));
                }
                s = goto[at] as usize;
            }
            accepts[s] = true;
        }
        // Failure links breadth-first, filling the DFA's missing edges from
        // the failure state's (already complete) row.
        let n = accepts.len();
        let mut fail = vec![0usize; n];
        let mut delta = vec![0u32; n * stride];
        let mut queue = VecDeque::new();
        for c in 0..stride {
            let t = goto[c];
            if t != NONE {
                delta[c] = t;
                queue.push_back(t as usize);
            }
        }
        while let Some(s) = queue.pop_front() {
            accepts[s] = accepts[s] || accepts[fail[s]];
            for c in 0..stride {
                let t = goto[s * stride + c];
                let via_fail = delta[fail[s] * stride + c];
                if t == NONE {
                    delta[s * stride + c] = via_fail;
                } else {
                    delta[s * stride + c] = t;
                    fail[t as usize] = via_fail as usize;
                    queue.push_back(t as usize);
                }
            }
        }
        // Renumber so that match states come last, and premultiply.
        let mut id = vec![0u32; n];
        let mut next = 0u32;
        for pass in [false, true] {
            for s in 0..n {
                if accepts[s] == pass {
                    id[s] = next * stride as u32;
                    next += 1;
                }
            }
        }
        let match_min = (n - accepts.iter().filter(|&&a| a).count()) as u32 * stride as u32;
        let mut table = vec![0u32; n * stride];
        for s in 0..n {
            for c in 0..stride {
                table[id[s] as usize + c] = id[delta[s * stride + c] as usize];
            }
        }
        Some(KeywordGate {
            classes,
            table,
            start: id[0],
            match_min,
        })
    }

    /// Positions in `hay[range]` at which a keyword ends, at most one per
    /// line (the first; the rest of that line is skipped), in order.
    pub(crate) fn hits(&self, hay: &[u8], range: std::ops::Range<usize>, out: &mut Vec<usize>) {
        let range = range.start.min(hay.len())..range.end.min(hay.len());
        // Four parts of about equal length, each starting at a line start.
        let quarter = range.len() / 4;
        let mut cuts = [range.start, 0, 0, 0, range.end];
        for (i, cut) in cuts.iter_mut().enumerate().take(4).skip(1) {
            let at = (range.start + i * quarter).min(range.end);
            *cut = memchr::memchr(b'\n', &hay[at..range.end]).map_or(range.end, |p| at + p + 1);
        }
        for i in 1..4 {
            cuts[i] = cuts[i].max(cuts[i - 1]);
        }
        let mut parts: [Vec<usize>; 4] = Default::default();
        let mut pos = [cuts[0], cuts[1], cuts[2], cuts[3]];
        let end = [cuts[1], cuts[2], cuts[3], cuts[4]];
        let mut state = [self.start; 4];
        let (t, cl, m) = (&self.table, &self.classes, self.match_min);
        // Indexing cannot fail: a state is a premultiplied row offset and a
        // class is below the row length (`build`).
        let step = |s: u32, b: u8| t[(s + u32::from(cl[b as usize])) as usize];
        'walk: loop {
            let n = (0..4).map(|i| end[i] - pos[i]).min().unwrap_or(0);
            if n == 0 {
                break;
            }
            for _ in 0..n {
                // In bounds: each part has at least `n` bytes left.
                let bytes = [hay[pos[0]], hay[pos[1]], hay[pos[2]], hay[pos[3]]];
                state[0] = step(state[0], bytes[0]);
                state[1] = step(state[1], bytes[1]);
                state[2] = step(state[2], bytes[2]);
                state[3] = step(state[3], bytes[3]);
                pos[0] += 1;
                pos[1] += 1;
                pos[2] += 1;
                pos[3] += 1;
                if (state[0] >= m) | (state[1] >= m) | (state[2] >= m) | (state[3] >= m) {
                    for i in 0..4 {
                        if state[i] >= m {
                            parts[i].push(pos[i] - 1);
                            pos[i] = line_after(hay, pos[i] - 1, end[i]);
                            state[i] = self.start;
                        }
                    }
                    continue 'walk;
                }
            }
        }
        // The parts not yet done go on alone, from where they are.
        for i in 0..4 {
            self.walk(hay, state[i], pos[i], end[i], &mut parts[i]);
        }
        for p in parts {
            out.extend(p);
        }
    }

    /// One walk over `hay[pos..end]` from state `s`, appending hits as
    /// [`KeywordGate::hits`].
    fn walk(&self, hay: &[u8], mut s: u32, mut pos: usize, end: usize, out: &mut Vec<usize>) {
        while pos < end {
            s = self.table[(s + u32::from(self.classes[hay[pos] as usize])) as usize];
            if s >= self.match_min {
                out.push(pos);
                pos = line_after(hay, pos, end);
                s = self.start;
            } else {
                pos += 1;
            }
        }
    }
}

/// The start of the line after the one holding `at` (or `end`).
fn line_after(hay: &[u8], at: usize, end: usize) -> usize {
    memchr::memchr(b'\n', &hay[at..end]).map_or(end, |p| at + p + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::{AhoCorasick, MatchKind};
    use proptest::prelude::*;

    /// The lines (by index) that hold a keyword, by the `aho-corasick` automaton.
    fn reference(keywords: &[String], hay: &[u8]) -> Vec<usize> {
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(keywords)
            .unwrap();
        hay.split(|&b| b == b'\n')
            .enumerate()
            .filter(|(_, line)| ac.find_overlapping_iter(*line).next().is_some())
            .map(|(i, _)| i)
            .collect()
    }

    fn gated(keywords: &[String], hay: &[u8]) -> Vec<usize> {
        let gate = KeywordGate::build(keywords).unwrap();
        let mut hits = Vec::new();
        gate.hits(hay, 0..hay.len(), &mut hits);
        assert!(hits.windows(2).all(|w| w[0] < w[1]), "hits in order");
        let mut lines: Vec<usize> = hits
            .iter()
            .map(|&p| hay[..p].iter().filter(|&&b| b == b'\n').count())
            .collect();
        lines.dedup();
        lines
    }

    #[test]
    fn finds_the_lines_with_keywords_in_any_case() {
        let kws: Vec<String> = ["ignore previous", "aws", "![", "token"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let hay = b"nothing here\n+ IGNORE Previous rules\nlaws of\n\nx![y\nTo\nken\nTOKEN";
        assert_eq!(gated(&kws, hay), vec![1, 2, 4, 7]);
        assert_eq!(gated(&kws, hay), reference(&kws, hay));
    }

    #[test]
    fn no_keywords_no_gate() {
        assert!(KeywordGate::build(&[]).is_none());
        assert!(KeywordGate::build(&[String::new()]).is_none());
        assert!(KeywordGate::build(&["a".to_string(), String::new()]).is_none());
    }

    proptest! {
        /// The gate reports exactly the lines the automaton finds a keyword
        /// in (keywords without a newline), whatever the input and however
        /// it is cut into parts.
        #[test]
        fn agrees_with_aho_corasick(
            kws in proptest::collection::vec("[a-dA-D!_ ]{1,5}", 1..12),
            hay in proptest::collection::vec(
                prop_oneof![Just(b'\n'), Just(b'a'), Just(b'B'), Just(b'c'), Just(b'!'), Just(b' '), Just(b'd'), any::<u8>()],
                0..400,
            ),
        ) {
            prop_assert_eq!(gated(&kws, &hay), reference(&kws, &hay));
        }

        /// A sub-range is walked as if it were the whole input.
        #[test]
        fn a_range_is_its_own_input(
            hay in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'x'), Just(b'y'), any::<u8>()], 0..300),
            a in 0usize..300, b in 0usize..300,
        ) {
            let kws = vec!["xy".to_string(), "yyx".to_string()];
            let gate = KeywordGate::build(&kws).unwrap();
            let (a, b) = (a.min(b).min(hay.len()), a.max(b).min(hay.len()));
            let mut hits = Vec::new();
            gate.hits(&hay, a..b, &mut hits);
            prop_assert!(hits.iter().all(|&p| p >= a && p < b));
            let mut whole = Vec::new();
            gate.hits(&hay[a..b], 0..b - a, &mut whole);
            let shifted: Vec<usize> = whole.iter().map(|p| p + a).collect();
            prop_assert_eq!(hits, shifted);
        }
    }
}
