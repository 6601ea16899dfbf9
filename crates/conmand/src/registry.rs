//! The set of running consoles: name → [`ConsoleHandle`], in configuration order.
//!
//! Readers (client handshakes) take a cheap snapshot; a reload swaps in a new list.

use std::sync::Arc;

use crate::console::ConsoleHandle;
use crate::snapshot::Snapshot;

/// The running consoles.
#[derive(Default)]
pub struct Registry {
    consoles: Snapshot<Vec<ConsoleHandle>>,
}

impl Registry {
    /// A snapshot of the consoles, in configuration order.
    pub fn snapshot(&self) -> Arc<Vec<ConsoleHandle>> {
        self.consoles.get()
    }

    /// Replace the list.
    pub fn replace(&self, list: Vec<ConsoleHandle>) {
        self.consoles.set(list);
    }

    /// The console called `name`, if running.
    pub fn get(&self, name: &str) -> Option<ConsoleHandle> {
        self.snapshot().iter().find(|c| c.name() == name).cloned()
    }
}
