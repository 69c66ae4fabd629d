//! Rule-file and policy loading (TOML and JSON) on arbitrary text.
#![no_main]

use diffver_core::policy::Policy;
use diffver_core::rules::Ruleset;
use diffver_core::suppress::Baseline;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(rs) = Ruleset::from_toml(text, "fuzz.toml") {
        let _ = rs.check_examples();
    }
    let _ = Policy::from_toml(text, "fuzz.toml");
    let _ = Policy::from_json(text, "fuzz.json");
    let _ = Baseline::from_json(text);
});
