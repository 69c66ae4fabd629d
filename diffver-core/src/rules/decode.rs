//! Bounded decoders that expose payloads hidden in encoded text: base64, hex,
//! URL-encoding, HTML entities, `\uXXXX`/`\xXX` escapes and Unicode tag
//! characters. The engine applies them recursively (to a fixed depth) and
//! scans what they reveal; a finding records the chain of decodings.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// A decoder a rule can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Decoder {
    Base64,
    Hex,
    Url,
    Html,
    Escapes,
    Tags,
    /// The transforms of `deobfuscate` (ROT13, reversal, leetspeak folding):
    /// not decoders of runs, but named like them so that a rule opts in the
    /// same way. They are triggered by the keyword pass, never by
    /// [`worth_decoding`].
    Rot13,
    Reverse,
    Leet,
}

impl Decoder {
    pub(crate) const NAMES: [&'static str; 9] = [
        "base64", "hex", "url", "html", "escapes", "tags", "rot13", "reverse", "leet",
    ];
    pub(crate) const ALL: [Decoder; 9] = [
        Decoder::Base64,
        Decoder::Hex,
        Decoder::Url,
        Decoder::Html,
        Decoder::Escapes,
        Decoder::Tags,
        Decoder::Rot13,
        Decoder::Reverse,
        Decoder::Leet,
    ];

    pub(crate) fn from_name(name: &str) -> Option<Decoder> {
        Decoder::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Decoder::ALL[i])
    }

    pub(crate) fn name(self) -> &'static str {
        Decoder::NAMES[Decoder::ALL.iter().position(|d| *d == self).unwrap_or(0)]
    }
}

/// Text revealed by one decoding of a part of the input.
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    pub(crate) decoder: Decoder,
    /// Byte range of the encoded text in the text that was decoded.
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) text: String,
}

/// Shortest encoded run worth decoding.
const MIN_RUN: usize = 16;
/// Most bytes decoded from one text.
const MAX_DECODED: usize = 64 << 10;

fn b64(url_safe: bool) -> GeneralPurpose {
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    if url_safe {
        GeneralPurpose::new(&base64::alphabet::URL_SAFE, config)
    } else {
        GeneralPurpose::new(&base64::alphabet::STANDARD, config)
    }
}

/// Decoded text is kept only if it reads as text: valid UTF-8, mostly
/// printable, with some letters. Random bytes and identifiers that happen to
/// be valid base64 do not pass.
fn plausible(bytes: Vec<u8>) -> Option<String> {
    let s = String::from_utf8(bytes).ok()?;
    let total = s.chars().count();
    if total < 6 {
        return None;
    }
    let printable = s
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'))
        .count();
    let letters = s.chars().filter(|c| c.is_alphabetic()).count();
    (printable * 100 >= total * 95 && letters >= 4 && letters * 2 >= total / 2).then_some(s)
}

/// Byte classes for the run scanner: 0 outside the base64 alphabets.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = match b {
            b'A'..=b'F' => 1 | 64,
            b'G'..=b'Z' => 1,
            b'a'..=b'f' => 2 | 64,
            b'g'..=b'z' => 2,
            b'0'..=b'9' => 4 | 64,
            b'+' | b'/' => 8,
            b'-' | b'_' => 16,
            b'=' => 32,
            _ => 0,
        };
        i += 1;
    }
    t
};

/// Whether a run with these accumulated classes may be an encoding.
fn candidate_classes(len: usize, any: u8, all: u8) -> bool {
    if len < MIN_RUN {
        return false;
    }
    if all & 64 != 0 {
        return len.is_multiple_of(2);
    }
    any & 1 != 0 && any & 2 != 0 && any & (4 | 8) != 0 && !(any & 8 != 0 && any & 16 != 0)
}

/// The maximal runs of base64/hex alphabet bytes at least [`MIN_RUN`] long,
/// as byte ranges with their classes (any, all: see [`candidate_classes`]),
/// in order. Every such run covers a byte at an index `p + MIN_RUN` past the
/// last non-alphabet byte `p` seen, so only those bytes are probed; a probe
/// that lands in the alphabet measures (and classifies) its run in both
/// directions. Bytes between long runs are mostly not looked at.
fn long_runs(text: &[u8]) -> impl Iterator<Item = (usize, usize, u8, u8)> + '_ {
    // `from`: no run of MIN_RUN bytes starts before it (the byte before it, if
    // any, is outside the alphabet).
    let mut from = 0usize;
    std::iter::from_fn(move || {
        while let Some(&b) = text.get(from + MIN_RUN - 1) {
            let probe = from + MIN_RUN - 1;
            let c = CLASS[b as usize];
            if c == 0 {
                from = probe + 1;
                continue;
            }
            // The classes of the run so far (`=`, class 32, is left out of `all`).
            let (mut any, mut all) = (0u8, 0xffu8);
            let mut add = |c: u8| {
                any |= c;
                if c != 32 {
                    all &= c;
                }
            };
            add(c);
            let mut start = probe;
            while start > from && CLASS[text[start - 1] as usize] != 0 {
                add(CLASS[text[start - 1] as usize]);
                start -= 1;
            }
            let mut end = probe + 1;
            while let Some(c) = text.get(end).map(|&b| CLASS[b as usize])
                && c != 0
            {
                add(c);
                end += 1;
            }
            from = end + 1;
            if end - start >= MIN_RUN {
                return Some((start, end, any, all));
            }
        }
        None
    })
}

/// Whether some run of base64/hex alphabet bytes is at least [`MIN_RUN`]
/// long.
#[cfg(test)]
fn has_long_run(text: &[u8]) -> bool {
    long_runs(text).next().is_some()
}

/// Whether the text has a run of base64/hex alphabet bytes that may be an
/// encoding. The common case (no run reaches [`MIN_RUN`]) costs a probe
/// every [`MIN_RUN`] bytes; only runs that reach it are classified.
fn has_encoded_run(text: &[u8]) -> bool {
    long_runs(text).any(|(start, end, any, all)| candidate_classes(end - start, any, all))
}

/// Whether a whole run of alphabet bytes may be an encoding, by its classes
/// (the reference for the classes [`long_runs`] gathers as it walks).
#[cfg(test)]
fn run_may_be_encoded(run: &[u8]) -> bool {
    let (mut any, mut all) = (0u8, 0xffu8);
    for &b in run {
        let c = CLASS[b as usize];
        any |= c;
        if c != 32 {
            all &= c;
        }
    }
    candidate_classes(run.len(), any, all)
}

/// A set of decoders, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DecoderSet(u16);

impl DecoderSet {
    pub(crate) fn of(ds: &[Decoder]) -> DecoderSet {
        DecoderSet(ds.iter().fold(0, |m, d| m | d.bit()))
    }
    pub(crate) fn with(self, d: Decoder) -> DecoderSet {
        DecoderSet(self.0 | d.bit())
    }
    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub(crate) fn has(self, d: Decoder) -> bool {
        self.0 & d.bit() != 0
    }
    pub(crate) fn decoders(self) -> impl Iterator<Item = Decoder> {
        Decoder::ALL.into_iter().filter(move |d| self.has(*d))
    }
}

impl Decoder {
    fn bit(self) -> u16 {
        1 << (Decoder::ALL.iter().position(|d| *d == self).unwrap_or(0) as u16)
    }
}

/// The decoders worth trying on a text: a cheap test run on every added line
/// before any decoding. Returns the subset of `enabled` whose trigger is
/// present (a long base64/hex run, three `%XX`, three entities, three
/// `\\x`/`\\u` escapes, a tag character).
///
/// `escapes` and `non_ascii` say whether the text holds one of `%`, `&`, a
/// backslash, and a non-ASCII byte: the caller learnt both in its own pass
/// over the line. Each `false` must be true of the text.
pub(crate) fn worth_decoding(
    text: &[u8],
    enabled: DecoderSet,
    escapes: bool,
    non_ascii: bool,
) -> DecoderSet {
    // Cheap tests first: whether some alphabet run reaches MIN_RUN (probing
    // every MIN_RUN-th byte), and which trigger bytes occur.
    let mut seen = 0u8;
    if escapes {
        seen |= 0b1110;
    }
    if non_ascii && memchr::memchr(0xF3, text).is_some() {
        seen |= 0b1_0000;
    }
    let mut found = 0u16;
    if (enabled.has(Decoder::Base64) || enabled.has(Decoder::Hex)) && has_encoded_run(text) {
        found |= Decoder::Base64.bit() | Decoder::Hex.bit();
    }
    if seen & 0b1110 == 0 {
        if seen & 0b1_0000 != 0 && enabled.has(Decoder::Tags) && has_tag_char(text) {
            found |= Decoder::Tags.bit();
        }
        return DecoderSet(found & enabled.0);
    }
    if enabled.has(Decoder::Url) || enabled.has(Decoder::Html) || enabled.has(Decoder::Escapes) {
        let (mut pct, mut amp, mut esc) = (0u32, 0u32, 0u32);
        for i in memchr::memchr3_iter(b'%', b'&', b'\\', text) {
            let next = text.get(i + 1).copied();
            match text[i] {
                b'%' => {
                    pct += u32::from(
                        next.is_some_and(|b| b.is_ascii_hexdigit())
                            && text.get(i + 2).is_some_and(u8::is_ascii_hexdigit),
                    )
                }
                b'&' => {
                    amp += u32::from(
                        next == Some(b'#')
                            || text[i + 1..]
                                .iter()
                                .take(7)
                                .position(|&c| c == b';')
                                .is_some_and(|p| p >= 2),
                    )
                }
                _ => esc += u32::from(matches!(next, Some(b'x' | b'u'))),
            }
        }
        if pct >= 3 {
            found |= Decoder::Url.bit();
        }
        if amp >= 3 {
            found |= Decoder::Html.bit();
        }
        if esc >= 3 {
            found |= Decoder::Escapes.bit();
        }
    }
    if seen & 0b1_0000 != 0 && enabled.has(Decoder::Tags) && has_tag_char(text) {
        found |= Decoder::Tags.bit();
    }
    DecoderSet(found & enabled.0)
}

/// Tag characters are U+E0000..U+E007F: UTF-8 `F3 A0 80..81 xx`.
fn has_tag_char(text: &[u8]) -> bool {
    memchr::memchr_iter(0xF3, text).any(|i| text.get(i + 1) == Some(&0xA0))
}

/// Decodes every encoded run in `text` with the given decoders.
pub(crate) fn decode_all(text: &str, decoders: DecoderSet) -> Vec<Decoded> {
    let mut out = Vec::new();
    let mut budget = MAX_DECODED;
    for d in decoders.decoders() {
        match d {
            Decoder::Base64 | Decoder::Hex => runs(text, d, &mut out, &mut budget),
            Decoder::Url => whole(text, d, url_decode(text), &mut out, &mut budget),
            Decoder::Html => whole(text, d, html_decode(text), &mut out, &mut budget),
            Decoder::Escapes => whole(text, d, unescape(text), &mut out, &mut budget),
            Decoder::Tags => tags(text, &mut out),
            // Applied by `deobfuscate` where the keyword pass asks for them.
            Decoder::Rot13 | Decoder::Reverse | Decoder::Leet => {}
        }
    }
    out
}

fn whole(
    text: &str,
    d: Decoder,
    decoded: Option<String>,
    out: &mut Vec<Decoded>,
    budget: &mut usize,
) {
    if let Some(s) = decoded
        && s != text
        && s.len() <= *budget
    {
        *budget -= s.len();
        out.push(Decoded {
            decoder: d,
            start: 0,
            end: text.len(),
            text: s,
        });
    }
}

fn runs(text: &str, d: Decoder, out: &mut Vec<Decoded>, budget: &mut usize) {
    // The maximal alphabet runs long enough to decode, found by probing.
    for (start, i, any, all) in long_runs(text.as_bytes()) {
        if !candidate_classes(i - start, any, all) || *budget == 0 {
            continue;
        }
        // ASCII bytes between non-alphabet bytes: always a `str` slice.
        let Some(run) = text.get(start..i) else {
            continue;
        };
        let all_hex = run.bytes().all(|b| b.is_ascii_hexdigit());
        let decoded = match d {
            Decoder::Hex if all_hex && run.len().is_multiple_of(2) => hex_decode(run),
            Decoder::Base64 if !all_hex => {
                let trimmed = run.trim_end_matches('=');
                let url_safe = trimmed.contains(['-', '_']);
                let engine = b64(url_safe);
                if b64_head_not_utf8(&engine, trimmed.as_bytes()) {
                    continue;
                }
                engine.decode(trimmed).ok().and_then(plausible)
            }
            _ => None,
        };
        if let Some(s) = decoded
            && s.len() <= *budget
        {
            *budget -= s.len();
            out.push(Decoded {
                decoder: d,
                start,
                end: i,
                text: s,
            });
        }
    }
}

/// Whether the first quanta of a base64 run already decode to bytes that
/// are not UTF-8 (an invalid sequence, not one cut at the end), so that the
/// whole run cannot be [`plausible`]: most identifiers that look like base64
/// (`aws_lc_0_47_0_EVP_PKEY_get1_DH`) are rejected here without decoding
/// them whole. A head that does not decode (an `=` inside the run) proves
/// nothing and returns `false`.
fn b64_head_not_utf8(engine: &GeneralPurpose, run: &[u8]) -> bool {
    const HEAD: usize = 16;
    let Some(head) = run.get(..HEAD) else {
        return false;
    };
    let mut buf = [0u8; HEAD / 4 * 3];
    match engine.decode_slice(head, &mut buf) {
        Ok(n) => std::str::from_utf8(&buf[..n]).is_err_and(|e| e.error_len().is_some()),
        Err(_) => false,
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn hex_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let bytes: Option<Vec<u8>> = b
        .chunks(2)
        .map(|c| Some(hex_val(c[0])? << 4 | hex_val(*c.get(1)?)?))
        .collect();
    plausible(bytes?)
}

fn url_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&x| hex_val(x)),
                b.get(i + 2).and_then(|&x| hex_val(x)),
            )
        {
            out.push(h << 4 | l);
            n += 1;
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    (n >= 3).then_some(())?;
    String::from_utf8(out).ok()
}

fn html_decode(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut n = 0;
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let ent = &tail[1..e];
            let c = if let Some(h) = ent.strip_prefix("#x").or_else(|| ent.strip_prefix("#X")) {
                u32::from_str_radix(h, 16).ok().and_then(char::from_u32)
            } else if let Some(d) = ent.strip_prefix('#') {
                d.parse::<u32>().ok().and_then(char::from_u32)
            } else {
                match ent {
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "amp" => Some('&'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    "nbsp" => Some(' '),
                    _ => None,
                }
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                n += 1;
                rest = &tail[e + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    (n >= 3).then_some(out)
}

fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut n = 0;
    let mut i = 0;
    let mut pending: Vec<u8> = Vec::new();
    let flush = |pending: &mut Vec<u8>, out: &mut String| {
        if !pending.is_empty() {
            out.push_str(&String::from_utf8_lossy(pending));
            pending.clear();
        }
    };
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let hex_run = |from: usize, len: usize| -> Option<u32> {
                let h = b.get(from..from + len)?;
                let s = std::str::from_utf8(h).ok()?;
                u32::from_str_radix(s, 16).ok()
            };
            match b[i + 1] {
                b'x' => {
                    if let Some(v) = hex_run(i + 2, 2) {
                        pending.push(v as u8);
                        n += 1;
                        i += 4;
                        continue;
                    }
                }
                b'u' if b.get(i + 2) == Some(&b'{') => {
                    if let Some(close) = b[i + 3..].iter().take(8).position(|&c| c == b'}')
                        && let Some(c) = hex_run(i + 3, close).and_then(char::from_u32)
                    {
                        flush(&mut pending, &mut out);
                        out.push(c);
                        n += 1;
                        i += 4 + close;
                        continue;
                    }
                }
                b'u' => {
                    if let Some(c) = hex_run(i + 2, 4).and_then(char::from_u32) {
                        flush(&mut pending, &mut out);
                        out.push(c);
                        n += 1;
                        i += 6;
                        continue;
                    }
                }
                _ => {}
            }
        }
        flush(&mut pending, &mut out);
        let ch_len = s[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&s[i..i + ch_len]);
        i += ch_len;
    }
    flush(&mut pending, &mut out);
    (n >= 3).then_some(out)
}

/// Unicode tag characters (U+E0020–U+E007E) spell ASCII invisibly.
fn tags(text: &str, out: &mut Vec<Decoded>) {
    let mut start = None;
    let mut buf = String::new();
    let mut end = 0;
    for (i, c) in text.char_indices() {
        let v = c as u32;
        if (0xE0000..=0xE007F).contains(&v) {
            if start.is_none() {
                start = Some(i);
            }
            if let Some(a) = char::from_u32(v - 0xE0000).filter(|a| !a.is_control()) {
                buf.push(a);
            }
            end = i + c.len_utf8();
        } else if let Some(s) = start.take()
            && !buf.is_empty()
        {
            out.push(Decoded {
                decoder: Decoder::Tags,
                start: s,
                end,
                text: std::mem::take(&mut buf),
            });
        }
    }
    if let Some(s) = start
        && !buf.is_empty()
    {
        out.push(Decoded {
            decoder: Decoder::Tags,
            start: s,
            end,
            text: buf,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The longest alphabet run, byte by byte.
    /// The byte-by-byte search the probing [`has_encoded_run`] replaced (how
    /// runs are found; how a run is judged is shared).
    fn encoded_run_linear(text: &[u8]) -> bool {
        let mut len = 0usize;
        let mut i = 0;
        while i < text.len() {
            len = if CLASS[text[i] as usize] != 0 {
                len + 1
            } else {
                0
            };
            i += 1;
            if len == MIN_RUN {
                let start = i - MIN_RUN;
                let end = text[i..]
                    .iter()
                    .position(|&b| CLASS[b as usize] == 0)
                    .map_or(text.len(), |p| i + p);
                if run_may_be_encoded(&text[start..end]) {
                    return true;
                }
                i = end;
                len = 0;
            }
        }
        false
    }

    fn longest_run(text: &[u8]) -> usize {
        text.split(|&b| CLASS[b as usize] == 0)
            .map(<[u8]>::len)
            .max()
            .unwrap_or(0)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The probing search agrees with the byte-by-byte one, on text
        /// built of alphabet runs of every length around MIN_RUN.
        #[test]
        fn long_run_probe_agrees(parts in proptest::collection::vec(
            (0usize..2 * MIN_RUN + 2, proptest::sample::select(vec![b' ', b'.', b'"', 0xF3, b'\n'])),
            0..12,
        )) {
            let mut text = Vec::new();
            for (n, sep) in parts {
                text.extend(std::iter::repeat_n(b'a', n));
                text.push(sep);
            }
            prop_assert_eq!(has_long_run(&text), longest_run(&text) >= MIN_RUN);
        }

        #[test]
        fn long_run_probe_agrees_on_any_bytes(text in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(has_long_run(&text), longest_run(&text) >= MIN_RUN);
        }

        /// The probing encoded-run test agrees with the byte-by-byte one, on
        /// runs of mixed alphabet classes (hex, base64, URL-safe, padding)
        /// of every length around MIN_RUN between separators.
        #[test]
        fn encoded_run_probe_agrees(parts in proptest::collection::vec(
            (proptest::collection::vec(proptest::sample::select(
                b"aAf0Z9+/-_=g".to_vec()), 0..2 * MIN_RUN + 2),
             proptest::sample::select(vec![b' ', b'.', b'"', 0xF3, b'\n'])),
            0..10,
        )) {
            let mut text = Vec::new();
            for (run, sep) in parts {
                text.extend(run);
                text.push(sep);
            }
            prop_assert_eq!(has_encoded_run(&text), encoded_run_linear(&text));
        }

        #[test]
        fn encoded_run_probe_agrees_on_any_bytes(text in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(has_encoded_run(&text), encoded_run_linear(&text));
        }

        /// The runs the probing search yields are exactly the maximal
        /// alphabet runs of at least MIN_RUN bytes, and the classes it
        /// gathers while measuring one are the run's own.
        #[test]
        fn long_runs_are_the_maximal_runs_with_their_classes(parts in proptest::collection::vec(
            (proptest::collection::vec(proptest::sample::select(
                b"aAf0Z9+/-_=g".to_vec()), 0..2 * MIN_RUN + 2),
             proptest::sample::select(vec![b' ', b'.', 0xF3])),
            0..10,
        )) {
            let mut text = Vec::new();
            let mut want = Vec::new();
            for (run, sep) in parts {
                if run.len() >= MIN_RUN {
                    want.push((text.len(), text.len() + run.len()));
                }
                text.extend(run);
                text.push(sep);
            }
            let got: Vec<(usize, usize, u8, u8)> = long_runs(&text).collect();
            let ranges: Vec<(usize, usize)> = got.iter().map(|r| (r.0, r.1)).collect();
            prop_assert_eq!(ranges, want);
            for (start, end, any, all) in got {
                prop_assert_eq!(
                    candidate_classes(end - start, any, all),
                    run_may_be_encoded(&text[start..end])
                );
            }
        }
    }

    fn one(text: &str, d: Decoder) -> Option<String> {
        decode_all(text, DecoderSet::of(&[d]))
            .into_iter()
            .next()
            .map(|d| d.text)
    }

    #[test]
    fn decodes_each_encoding() {
        assert_eq!(
            one(
                "x = \"aWdub3JlIGFsbCBwcmV2aW91cyBpbnN0cnVjdGlvbnM=\"",
                Decoder::Base64
            )
            .as_deref(),
            Some("ignore all previous instructions")
        );
        assert_eq!(
            one("69676e6f726520616c6c", Decoder::Hex).as_deref(),
            Some("ignore all")
        );
        assert_eq!(
            one("a%20b%20c%20d", Decoder::Url).as_deref(),
            Some("a b c d")
        );
        assert_eq!(
            one("&#105;&#x67;&lt;x", Decoder::Html).as_deref(),
            Some("ig<x")
        );
        assert_eq!(
            one("\\x69\\x67\\u006eore", Decoder::Escapes).as_deref(),
            Some("ignore")
        );
        let hidden: String = "hi!"
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap())
            .collect();
        assert_eq!(
            one(&format!("ok{hidden}"), Decoder::Tags).as_deref(),
            Some("hi!")
        );
    }

    #[test]
    fn identifiers_and_random_data_do_not_decode() {
        assert!(one("let thisIsAVeryLongIdentifierName = 1;", Decoder::Base64).is_none());
        assert!(one("sha256: 3b5d5c3712955042212316173ccf37be", Decoder::Hex).is_none());
        assert!(one("f6CGV4aMM9zedoh3OUNbSakBymo7yplB", Decoder::Base64).is_none());
    }
}
