//! Python bindings of diffver-core, built by maturin as `diffver._native`
//! (see `pyproject.toml`). The hand-written `python/diffver/__init__.py` is
//! the public API; this module is private.
//!
//! Without the `python` feature the crate is empty, so the workspace builds
//! and tests without a Python toolchain.

#[cfg(feature = "python")]
mod bindings;
