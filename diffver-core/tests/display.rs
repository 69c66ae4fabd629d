//! Issue 10: the characters escaped for display come from Unicode
//! properties, checked here against an independent copy of the Unicode
//! Character Database (Python's `unicodedata`): every control, format, line
//! separator and paragraph separator character it knows is escaped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use diffver_core::text::{escape_for_display, is_display_hazard};

#[test]
fn every_cc_cf_zl_zp_character_of_the_ucd_is_escaped() {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, unicodedata as u\n\
             print(u.unidata_version)\n\
             print(' '.join(str(c) for c in range(0x110000) if u.category(chr(c)) in ('Cc','Cf','Zl','Zp')))",
        ])
        .output()
        .expect("python3 is needed for the cross-check");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let version = lines.next().unwrap();
    let cps: Vec<u32> = lines
        .next()
        .unwrap()
        .split(' ')
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(
        cps.len() > 200,
        "Unicode {version}: {} characters",
        cps.len()
    );
    for cp in cps {
        let c = char::from_u32(cp).unwrap();
        assert!(is_display_hazard(c), "U+{cp:04X} (Unicode {version})");
        let shown = escape_for_display(c.to_string().as_bytes());
        assert!(
            shown.is_ascii() && shown.starts_with('\\'),
            "U+{cp:04X} shown as {shown:?}"
        );
    }
}
