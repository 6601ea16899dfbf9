//! The `conman.conf` configuration: model types, parser and validator.
//!
//! The model ([`Config`] and friends, in `model.rs`) is what the daemon consumes. It is
//! immutable once built; the daemon diffs two of them on SIGHUP.

mod model;

pub use model::*;
