//! Artifact verification on arbitrary bytes: never panics, never accepts
//! anything the development key did not sign.
#![no_main]

use std::sync::OnceLock;

use diffver_core::artifact::{self, Keyring, SigningMode};
use diffver_core::report;
use libfuzzer_sys::fuzz_target;

fn rings() -> &'static [Keyring; 2] {
    static R: OnceLock<[Keyring; 2]> = OnceLock::new();
    R.get_or_init(|| {
        [
            Keyring::development(SigningMode::Development).expect("dev keyring"),
            Keyring::new().with_key("k", [7u8; 32]).expect("operator keyring"),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    for ring in rings() {
        if let Ok(v) = artifact::verify(data, ring) {
            // Whatever verifies is consistent and renders.
            assert!(v.verdict.check().is_ok());
            let _ = report::text(&v.verdict, "fuzz");
            let _ = report::check_run(&v.verdict);
        }
    }
});
