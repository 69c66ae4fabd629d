pub use diffver_core::*;
