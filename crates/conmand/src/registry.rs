//! The set of running consoles: name → [`ConsoleHandle`], in configuration order.
//!
//! Readers (client handshakes) take a cheap snapshot; a reload swaps in a new list.

use std::sync::{Arc, RwLock};

use crate::console::ConsoleHandle;

/// The running consoles.
#[derive(Default)]
pub struct Registry {
    consoles: RwLock<Arc<Vec<ConsoleHandle>>>,
}

impl Registry {
    /// A snapshot of the consoles, in configuration order.
    pub fn snapshot(&self) -> Arc<Vec<ConsoleHandle>> {
        // A poisoned lock only means a panic elsewhere while swapping an Arc; the
        // value inside is still a valid list.
        match self.consoles.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replace the list.
    pub fn replace(&self, list: Vec<ConsoleHandle>) {
        let list = Arc::new(list);
        match self.consoles.write() {
            Ok(mut g) => *g = list,
            Err(p) => *p.into_inner() = list,
        }
    }

    /// The console called `name`, if running.
    pub fn get(&self, name: &str) -> Option<ConsoleHandle> {
        self.snapshot().iter().find(|c| c.name() == name).cloned()
    }
}
