//! Safe display of untrusted bytes.
//!
//! Diffs come from people who may be attackers. Anything diffver shows a person
//! (paths, snippets, messages) goes through [`escape_for_display`] first, so no
//! control character, terminal escape, bidi override or invisible character
//! from the input reaches a terminal or a report raw.

use std::fmt::Write as _;

/// Whether a character is invisible or reorders text when rendered: bidi
/// controls, zero-width and other format characters, tag characters, variation
/// selectors and blank-rendering fillers.
pub fn is_deceptive_char(c: char) -> bool {
    matches!(c,
        '\u{00AD}'                      // soft hyphen
        | '\u{034F}'                    // combining grapheme joiner
        | '\u{061C}'                    // arabic letter mark
        | '\u{115F}' | '\u{1160}'       // hangul fillers
        | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}'       // mongolian selectors
        | '\u{200B}'..='\u{200F}'       // zero-width, LRM, RLM
        | '\u{202A}'..='\u{202E}'       // bidi embeddings and overrides
        | '\u{2060}'..='\u{206F}'       // word joiner, invisible operators, bidi isolates
        | '\u{3164}'                    // hangul filler
        | '\u{FE00}'..='\u{FE0F}'       // variation selectors
        | '\u{FEFF}'                    // zero-width no-break space
        | '\u{FFA0}'                    // halfwidth hangul filler
        | '\u{FFF9}'..='\u{FFFB}'       // interlinear annotations
        | '\u{1D173}'..='\u{1D17A}'     // musical formatting
        | '\u{E0000}'..='\u{E007F}'     // tag characters
        | '\u{E0100}'..='\u{E01EF}'     // variation selectors supplement
    )
}

/// Whether a character must not reach a person raw: a control character
/// (`Cc`), a format character (`Cf`: bidi controls, zero-width characters,
/// tag characters, …), a line or paragraph separator (`Zl`, `Zp`: U+2028 and
/// U+2029 break lines in many viewers), or one of the other invisible
/// characters of [`is_deceptive_char`] (variation selectors, fillers).
///
/// The general categories come from the Unicode Character Database (the
/// `unicode-properties` crate), so new format characters are covered when
/// the data is updated, without a hand-kept list.
pub fn is_display_hazard(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};
    // ASCII fast path (the common case, per character of every report): in ASCII
    // only the C0 controls and DEL are hazards (category Cc); `ascii_agrees`
    // checks this against the table for all 128.
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    ) || is_deceptive_char(c)
}

/// Whether a character is a bidirectional formatting control.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Whether a line is plain printable ASCII (tabs allowed, and one trailing
/// CR): the fast path that skips every Unicode and control-character check.
pub fn is_plain_line(bytes: &[u8]) -> bool {
    let body = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    // Checked a chunk at a time without early exit inside the chunk, which
    // the compiler vectorises.
    body.chunks(32).all(|c| {
        c.iter().fold(true, |ok, &b| {
            ok & (((0x20..0x7f).contains(&b)) | (b == b'\t'))
        })
    })
}

/// Whether text is free of control characters (other than tab) and of bidi or
/// invisible characters: required of names and titles that reports print.
pub fn is_printable_text(s: &str) -> bool {
    s.chars()
        .all(|c| c == '\t' || !(c.is_control() || is_deceptive_char(c)))
}

/// Renders untrusted bytes as a single-line string that is safe to print.
///
/// Valid UTF-8 is kept except for control characters (written `\n`, `\t`,
/// `\x1b`, `\u{85}`), backslashes (doubled, so the output is unambiguous) and
/// every other [display hazard](is_display_hazard) (written `\u{202e}`,
/// `\u{2028}`). Invalid UTF-8 bytes are written `\xff`.
pub fn escape_for_display(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if is_display_hazard(c) => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn ascii_agrees() {
        use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};
        for b in 0u8..128 {
            let c = char::from(b);
            let by_table = matches!(
                c.general_category(),
                GeneralCategory::Control
                    | GeneralCategory::Format
                    | GeneralCategory::LineSeparator
                    | GeneralCategory::ParagraphSeparator
            ) || super::is_deceptive_char(c);
            assert_eq!(super::is_display_hazard(c), by_table, "{b:#x}");
        }
    }

    use super::*;

    #[test]
    fn neutralises_controls_and_deceptive_characters() {
        let s = escape_for_display(b"a\x1b[31mb\xff\r\n\\ \xe2\x80\xae z\xc2\x9b");
        assert_eq!(s, "a\\x1b[31mb\\xff\\r\\n\\\\ \\u{202e} z\\u{9b}");
        assert!(!s.chars().any(|c| c.is_control()));
    }

    #[test]
    fn separators_and_format_characters_are_escaped() {
        let s = escape_for_display("a\u{2028}b\u{2029}c\u{600}d\u{110BD}e\u{E0041}".as_bytes());
        assert_eq!(s, "a\\u{2028}b\\u{2029}c\\u{600}d\\u{110bd}e\\u{e0041}");
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let shown = escape_for_display(c.to_string().as_bytes());
            assert!(
                !shown.chars().any(is_display_hazard),
                "U+{:04X} reaches the display raw",
                c as u32
            );
        }
    }
}
