//! Hidden and deceptive Unicode: bidi controls (Trojan Source), invisible
//! characters, tag-block smuggling, and identifiers that mix scripts.

use unicode_security::MixedScript;

use super::Hit;
use crate::text::{is_bidi_control, is_deceptive_char};

fn name(c: char) -> &'static str {
    match c {
        '\u{202A}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202B}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202C}' => "POP DIRECTIONAL FORMATTING",
        '\u{202D}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202E}' => "RIGHT-TO-LEFT OVERRIDE",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        '\u{200E}' => "LEFT-TO-RIGHT MARK",
        '\u{200F}' => "RIGHT-TO-LEFT MARK",
        '\u{061C}' => "ARABIC LETTER MARK",
        '\u{200B}' => "ZERO WIDTH SPACE",
        '\u{200C}' => "ZERO WIDTH NON-JOINER",
        '\u{200D}' => "ZERO WIDTH JOINER",
        '\u{2060}' => "WORD JOINER",
        '\u{FEFF}' => "ZERO WIDTH NO-BREAK SPACE",
        '\u{00AD}' => "SOFT HYPHEN",
        '\u{3164}' | '\u{FFA0}' | '\u{115F}' | '\u{1160}' => "HANGUL FILLER",
        _ => "invisible format character",
    }
}

fn hit(start: usize, end: usize, message: String, key: String) -> Hit {
    Hit {
        start,
        end,
        message,
        key,
        in_literal: false,
        severity: None,
    }
}

/// Whether a line holds right-to-left letters (Hebrew, Arabic, Syriac,
/// Thaana, N'Ko and their presentation forms): bidi marks and balanced
/// isolates there are ordinary typography.
fn has_rtl_letters(text: &str) -> bool {
    text.chars().any(|c| {
        matches!(c as u32, 0x0590..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFC | 0x10800..=0x10FFF | 0x1E800..=0x1EFFF)
            && c.is_alphabetic()
    })
}

/// Whether byte offset `at` lies outside code (in a string literal or a comment).
fn in_literal(text: &str, at: usize) -> bool {
    !code_ranges(text)
        .iter()
        .any(|&(lo, hi)| lo <= at && at < hi)
}

pub(super) fn bidi_control(text: &str) -> Vec<Hit> {
    // Right-to-left text uses marks and balanced isolates legitimately; the
    // dangerous unbalanced forms are `bidi-unterminated`'s.
    if has_rtl_letters(text) {
        return Vec::new();
    }
    let found: Vec<(usize, char)> = text
        .char_indices()
        .filter(|&(_, c)| is_bidi_control(c))
        .collect();
    let Some(&(i, c)) = found.first() else {
        return Vec::new();
    };
    let msg = format!(
        "{} bidi control character(s), first U+{:04X} {}",
        found.len(),
        c as u32,
        name(c)
    );
    let key: String = found
        .iter()
        .map(|(_, c)| format!("{:04X}", *c as u32))
        .collect();
    let mut h = hit(i, i + c.len_utf8(), msg, key);
    h.in_literal = found.iter().all(|&(at, _)| in_literal(text, at));
    vec![h]
}

/// Embeddings, overrides and isolates left open at the end of the line: the
/// Trojan Source pattern that reorders the rest of the line (and hides code
/// inside comments or strings).
pub(super) fn bidi_unterminated(text: &str) -> Vec<Hit> {
    // One stack, as UAX #9 keeps it: a PDF closes the innermost embedding
    // (not across an isolate), a PDI closes the innermost isolate and every
    // embedding opened after it.
    let mut stack: Vec<(usize, char, bool)> = Vec::new();
    for (i, c) in text.char_indices() {
        match c {
            '\u{202A}'..='\u{202B}' | '\u{202D}'..='\u{202E}' => stack.push((i, c, false)),
            '\u{202C}' if stack.last().is_some_and(|&(_, _, isolate)| !isolate) => {
                stack.pop();
            }
            '\u{2066}'..='\u{2068}' => stack.push((i, c, true)),
            '\u{2069}' => {
                if let Some(k) = stack.iter().rposition(|&(_, _, isolate)| isolate) {
                    stack.truncate(k);
                }
            }
            _ => {}
        }
    }
    let open: Vec<(usize, char)> = stack.into_iter().map(|(i, c, _)| (i, c)).collect();
    let Some(&(i, c)) = open.iter().min_by_key(|(i, _)| *i) else {
        return Vec::new();
    };
    vec![hit(
        i,
        i + c.len_utf8(),
        format!(
            "U+{:04X} {} is not closed on its line: the text after it is displayed reordered",
            c as u32,
            name(c)
        ),
        format!("{:04X}", c as u32),
    )]
}

fn is_pictograph(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2300..=0x23FF | 0x2B00..=0x2BFF
        | 0x2190..=0x21FF | 0x25A0..=0x25FF | 0x2934..=0x2935 | 0x3030 | 0x303D
        | 0x3297 | 0x3299 | 0x00A9 | 0x00AE | 0x2122 | 0x2139 | 0x203C | 0x2049
        | 0xE0020..=0xE007F)
}

fn is_joining_script_letter(c: char) -> bool {
    // Scripts whose orthography uses ZWJ/ZWNJ: Arabic, Syriac, Thaana, Indic,
    // Sinhala, Thai/Lao/Khmer/Myanmar, Hangul and others beyond Latin, Greek
    // and Cyrillic.
    c.is_alphabetic()
        && (c as u32) >= 0x0590
        && !matches!(c as u32, 0x1D00..=0x1EFF | 0x2C60..=0x2C7F | 0xA720..=0xA7FF)
        || matches!(c as u32, 0x0900..=0x0DFF)
}

pub(super) fn invisible(text: &str, first_line_of_file: bool) -> Vec<Hit> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut found: Vec<(usize, char)> = Vec::new();
    for (k, &(i, c)) in chars.iter().enumerate() {
        if !is_deceptive_char(c) || is_bidi_control(c) || (0xE0000..=0xE007F).contains(&(c as u32))
        {
            continue;
        }
        let prev = k.checked_sub(1).map(|p| chars[p].1);
        let next = chars.get(k + 1).map(|n| n.1);
        let exempt = match c {
            // Variation selectors: emoji presentation selectors are harmless
            // alone or in short runs (stray ones are common in docs); a long
            // run of selectors smuggles data.
            '\u{FE00}'..='\u{FE0F}' => {
                let is_vs = |x: &(usize, char)| matches!(x.1 as u32, 0xFE00..=0xFE0F);
                let run = chars[k..].iter().take_while(|x| is_vs(x)).count()
                    + chars[..k].iter().rev().take_while(|x| is_vs(x)).count();
                run < 4 && (matches!(c, '\u{FE0E}' | '\u{FE0F}') || prev.is_some_and(is_pictograph))
            }
            // Emoji ZWJ sequences; joiners inside words of scripts that use them.
            '\u{200D}' | '\u{200C}' => {
                let before = chars[..k]
                    .iter()
                    .rev()
                    .map(|x| x.1)
                    .find(|&x| !matches!(x as u32, 0xFE0E | 0xFE0F | 0x1F3FB..=0x1F3FF));
                (before.is_some_and(is_pictograph) && next.is_some_and(is_pictograph))
                    || (prev.is_some_and(is_joining_script_letter)
                        && next.is_some_and(is_joining_script_letter))
            }
            // A byte-order mark at the very start of a file.
            '\u{FEFF}' => first_line_of_file && i == 0,
            _ => false,
        };
        if !exempt {
            found.push((i, c));
        }
    }
    let Some(&(i, c)) = found.first() else {
        return Vec::new();
    };
    let key: String = found
        .iter()
        .map(|(_, c)| format!("{:04X}", *c as u32))
        .collect();
    let mut h = hit(
        i,
        i + c.len_utf8(),
        format!(
            "{} invisible character(s), first U+{:04X} {}",
            found.len(),
            c as u32,
            name(c)
        ),
        key,
    );
    h.in_literal = found.iter().all(|&(at, _)| in_literal(text, at));
    // A character quoted on its own (`'\u{115F}'` written literally, as in
    // tables of characters) is a value: nothing can hide behind one character.
    let alone = |&(at, c): &(usize, char)| {
        let q = text[..at].chars().next_back();
        q.is_some_and(|q| matches!(q, '\'' | '"') && text[at + c.len_utf8()..].starts_with(q))
    };
    if found.iter().all(alone) {
        h.severity = Some(crate::finding::Severity::Low);
    }
    vec![h]
}

pub(super) fn tag_chars(text: &str) -> Vec<Hit> {
    let mut first = None;
    let mut decoded = String::new();
    let mut end = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    // Emoji subdivision flags (🏴 + tag letters + CANCEL TAG, like England's)
    // are the one legitimate use of tag characters.
    // Only tag letters a-z and digits (RGI subdivision codes such as
    // "gbeng"), at most three flags a line: more would be a channel.
    let mut flag = vec![false; chars.len()];
    let mut flags = 0;
    for (k, &(_, c)) in chars.iter().enumerate() {
        if c == '\u{1F3F4}' {
            let run = chars[k + 1..]
                .iter()
                .take_while(|x| matches!(x.1 as u32, 0xE0030..=0xE0039 | 0xE0061..=0xE007A))
                .count();
            if (4..=6).contains(&run) && chars.get(k + 1 + run).is_some_and(|x| x.1 == '\u{E007F}')
            {
                flags += 1;
                for f in &mut flag[k + 1..=k + 1 + run] {
                    *f = true;
                }
            }
        }
    }
    if flags > 3 {
        flag.iter_mut().for_each(|f| *f = false);
    }
    for (k, &(i, c)) in chars.iter().enumerate() {
        let v = c as u32;
        if (0xE0000..=0xE007F).contains(&v) && !flag[k] {
            first.get_or_insert(i);
            end = i + c.len_utf8();
            if let Some(a) = char::from_u32(v - 0xE0000).filter(|a| !a.is_control()) {
                decoded.push(a);
            }
        }
    }
    let Some(start) = first else {
        return Vec::new();
    };
    let shown = crate::text::escape_for_display(decoded.as_bytes());
    let shown: String = shown.chars().take(120).collect();
    vec![hit(
        start,
        end,
        format!("Unicode tag characters spell invisible text: \"{shown}\""),
        decoded,
    )]
}

/// Byte ranges of a line that are code: outside string literals and before a
/// trailing comment. A heuristic across languages (quotes, `//`, `#`, `--`,
/// `/*`); homoglyphs in test strings and prose are not identifiers.
fn code_ranges(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let trimmed = text.trim_start();
    if ["//", "#", "*", "/*", "--", ";", "<!--"]
        .iter()
        .any(|m| trimmed.starts_with(m))
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'' | b'`') => {
                out.push((start, i));
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                start = i.min(b.len());
            }
            b'/' if b.get(i + 1) == Some(&b'/') || b.get(i + 1) == Some(&b'*') => {
                out.push((start, i));
                return out;
            }
            b'#' if i == 0 || b[i - 1] == b' ' => {
                out.push((start, i));
                return out;
            }
            _ => i += 1,
        }
    }
    out.push((start, b.len()));
    out
}

/// Whether a non-ASCII letter imitates a Latin one (its confusable skeleton
/// is ASCII), like Cyrillic `а` or Greek `ο`.
fn imitates_latin(c: char) -> bool {
    if c.is_ascii() || !c.is_alphabetic() {
        return false;
    }
    let mut buf = [0u8; 4];
    let mut sk = unicode_security::skeleton(c.encode_utf8(&mut buf));
    matches!((sk.next(), sk.next()), (Some(a), None) if a.is_ascii_alphanumeric())
}

/// Identifiers that mix Latin with look-alike letters of another script
/// (`sayНello` with a Cyrillic Н): they look like one name and are another.
pub(super) fn confusable_identifiers(text: &str) -> Vec<Hit> {
    let mut out = Vec::new();
    for (lo, hi) in code_ranges(text) {
        let Some(code) = text.get(lo..hi) else {
            continue;
        };
        let mut start = None;
        let check = |s: usize, e: usize, out: &mut Vec<Hit>| {
            let token = &code[s..e];
            if token.is_ascii() || !token.chars().any(|c| c.is_ascii_alphabetic()) {
                return;
            }
            let letters: String = token.chars().filter(|c| c.is_alphabetic()).collect();
            let odd: Vec<char> = token.chars().filter(|&c| imitates_latin(c)).collect();
            if letters.is_single_script() || odd.is_empty() {
                return;
            }
            let names: Vec<String> = odd
                .iter()
                .take(3)
                .map(|c| format!("U+{:04X}", *c as u32))
                .collect();
            out.push(hit(
                lo + s,
                lo + e,
                format!(
                    "identifier \"{}\" mixes scripts ({} imitating Latin letters) and can pass for another name",
                    crate::text::escape_for_display(token.as_bytes()),
                    names.join(", ")
                ),
                token.to_owned(),
            ));
        };
        for (i, c) in code.char_indices() {
            let ident = c.is_alphanumeric() || c == '_' || c == '$';
            match (ident, start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    check(s, i, &mut out);
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            check(s, code.len(), &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi() {
        assert_eq!(
            bidi_unterminated(
                "/*\u{202E} } \u{2066}if (isAdmin)\u{2069} \u{2066} begin admins only */"
            )
            .len(),
            1
        );
        assert!(bidi_unterminated("a \u{2067}b\u{2069} c").is_empty());
        assert!(
            bidi_unterminated("\u{2066}\u{202E}x\u{2069}").is_empty(),
            "a PDI closes embeddings inside its isolate"
        );
        assert_eq!(bidi_control("a \u{2067}b\u{2069} c").len(), 1);
    }

    #[test]
    fn invisible_with_emoji_exemptions() {
        assert_eq!(invisible("ig\u{200B}nore", false).len(), 1);
        assert!(
            invisible(
                "family \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467} ok",
                false
            )
            .is_empty()
        );
        assert!(invisible("heart \u{2764}\u{FE0F} ok", false).is_empty());
        assert!(invisible("\u{FEFF}fn main", true).is_empty());
        assert_eq!(invisible("\u{FEFF}fn main", false).len(), 1);
        assert!(
            invisible(
                "\u{645}\u{6cc}\u{200C}\u{62e}\u{648}\u{627}\u{647}\u{645}",
                false
            )
            .is_empty()
        );
    }

    #[test]
    fn invisible_quoted_alone_is_low() {
        use crate::finding::Severity;
        let table = invisible("&[('\u{1100}', '\u{115F}'), ('a', 'b')]", false);
        assert_eq!(table.len(), 1);
        assert_eq!(table[0].severity, Some(Severity::Low));
        let s = invisible("let z = \"\u{200B}\";", false);
        assert_eq!(s[0].severity, Some(Severity::Low));
        // Inside a longer literal, or in code, it keeps the rule's severity.
        assert_eq!(
            invisible("let s = \"ig\u{200B}nore\";", false)[0].severity,
            None
        );
        assert_eq!(
            invisible("if x\u{115F} == '\u{115F}' {", false)[0].severity,
            None
        );
        assert_eq!(invisible("'\u{200B}\"", false)[0].severity, None);
    }

    #[test]
    fn mixed_script_identifiers() {
        assert!(confusable_identifiers("let text = \"abc\u{3b1}\u{3b2}\u{3b3}\";").is_empty());
        assert!(confusable_identifiers("// Vol01\u{6821}\u{82b1}").is_empty());
        assert_eq!(
            confusable_identifiers("if (p\u{430}ssword == x) // ok").len(),
            1
        );
        assert_eq!(confusable_identifiers("def say\u{41D}ello():").len(), 1);
        assert!(
            confusable_identifiers(
                "let \u{43f}\u{440}\u{438}\u{432}\u{435}\u{442} = 1; caf\u{e9}()"
            )
            .is_empty()
        );
    }
}
