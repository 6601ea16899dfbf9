//! A value that is read often and replaced rarely, as a whole: readers take an
//! `Arc` of the current version and keep a consistent view for as long as they hold
//! it; a writer swaps in a new version. Used for the running consoles
//! ([`Registry`](crate::registry::Registry)) and the reloadable
//! [`Settings`](crate::settings::Settings).

use std::sync::{Arc, RwLock};

/// The current version of a `T`.
#[derive(Debug, Default)]
pub struct Snapshot<T> {
    current: RwLock<Arc<T>>,
}

impl<T> Snapshot<T> {
    /// A snapshot holding `value`.
    pub fn new(value: T) -> Self {
        Snapshot {
            current: RwLock::new(Arc::new(value)),
        }
    }

    /// The current version.
    pub fn get(&self) -> Arc<T> {
        // A poisoned lock only means a panic elsewhere while swapping an Arc; the
        // value inside is still a valid version.
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replace the current version.
    pub fn set(&self, value: T) {
        let value = Arc::new(value);
        match self.current.write() {
            Ok(mut g) => *g = value,
            Err(p) => *p.into_inner() = value,
        }
    }
}
