//! Consoles: the per-console actor task and its backends.

pub mod backend;
