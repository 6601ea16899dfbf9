//! # conman
//!
//! The ConMan client: `conman [OPTIONS] [CONSOLES]`. `main.rs` is thin; the behaviour
//! lives here so tests can drive it.
