//! The set of running consoles: name → [`ConsoleHandle`], in configuration order.
//!
//! Readers (client handshakes) take a cheap snapshot; a reload swaps in a new list.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::console::ConsoleHandle;
use crate::snapshot::Snapshot;

/// The running consoles.
#[derive(Default)]
pub struct Registry {
    consoles: Snapshot<Vec<ConsoleHandle>>,
    /// Descriptors the consoles hold when all are connected and logged.
    descriptors: AtomicUsize,
}

impl Registry {
    /// A snapshot of the consoles, in configuration order.
    pub fn snapshot(&self) -> Arc<Vec<ConsoleHandle>> {
        self.consoles.get()
    }

    /// Replace the list.
    pub fn replace(&self, list: Vec<ConsoleHandle>) {
        let fds = list.iter().map(ConsoleHandle::descriptors).sum();
        self.consoles.set(list);
        self.descriptors.store(fds, Ordering::Relaxed);
    }

    /// Put `new` where `old` is; false (nothing changed) when `old` is no longer in
    /// the list. Callers serialise swaps with reloads.
    pub fn swap(&self, old: &ConsoleHandle, new: ConsoleHandle) -> bool {
        let cur = self.snapshot();
        let Some(i) = cur.iter().position(|h| h.same(old)) else {
            return false;
        };
        let mut list = cur.as_ref().clone();
        list[i] = new;
        self.replace(list);
        true
    }

    /// The console called `name`, if running.
    pub fn get(&self, name: &str) -> Option<ConsoleHandle> {
        self.snapshot().iter().find(|c| c.name() == name).cloned()
    }

    /// File descriptors the consoles hold when all are connected and logged.
    pub fn descriptors(&self) -> usize {
        self.descriptors.load(Ordering::Relaxed)
    }
}
