//! How many clients may be connected, in all and per source address.
//!
//! [`ClientCounter`] is the bookkeeping behind the daemon's `server maxclients=`:
//! a connection is admitted when the total is below the limit and its source address
//! holds less than its share ([`per_host_share`]); it is released when the
//! connection ends. No clock, no I/O: the daemon wraps it in a lock and ties each
//! admission to a guard that releases it.

use std::collections::HashMap;
use std::hash::Hash;

/// Default `server maxclients=`.
pub const DEFAULT_MAX_CLIENTS: usize = 4096;

/// The most connections one source address may hold: half the limit (at least one),
/// so one host can never take every slot.
pub fn per_host_share(max: usize) -> usize {
    max.div_ceil(2).max(1)
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `limit` clients are connected already.
    Full {
        /// The limit in force.
        limit: usize,
    },
    /// The source address holds its whole share.
    HostShare {
        /// The share in force.
        share: usize,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Full { limit } => write!(f, "Too many clients connected (limit {limit})"),
            Refusal::HostShare { share } => {
                write!(f, "Too many clients from this host (limit {share})")
            }
        }
    }
}

/// Connection counts, in all and per source.
#[derive(Debug)]
pub struct ClientCounter<K> {
    total: usize,
    per_source: HashMap<K, usize>,
}

impl<K: Eq + Hash + Clone> Default for ClientCounter<K> {
    fn default() -> Self {
        ClientCounter {
            total: 0,
            per_source: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash + Clone> ClientCounter<K> {
    /// Admit one more connection from `source` under a limit of `max` (which may
    /// change between calls: a reload lowers or raises it; connections already in
    /// are never taken back).
    ///
    /// # Errors
    /// The [`Refusal`] when the limit or the source's share is reached.
    pub fn admit(&mut self, source: &K, max: usize) -> Result<(), Refusal> {
        if self.total >= max {
            return Err(Refusal::Full { limit: max });
        }
        let share = per_host_share(max);
        let held = self.per_source.get(source).copied().unwrap_or(0);
        if held >= share {
            return Err(Refusal::HostShare { share });
        }
        self.total += 1;
        *self.per_source.entry(source.clone()).or_insert(0) += 1;
        Ok(())
    }

    /// A connection from `source` ended.
    pub fn release(&mut self, source: &K) {
        if let Some(n) = self.per_source.get_mut(source) {
            *n -= 1;
            self.total -= 1;
            if *n == 0 {
                self.per_source.remove(source);
            }
        }
    }

    /// Connections in all.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Connections from `source`.
    pub fn from(&self, source: &K) -> usize {
        self.per_source.get(source).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn limit_and_share() {
        let mut c = ClientCounter::default();
        assert_eq!(per_host_share(5), 3);
        for _ in 0..3 {
            c.admit(&"a", 5).unwrap();
        }
        assert_eq!(c.admit(&"a", 5), Err(Refusal::HostShare { share: 3 }));
        c.admit(&"b", 5).unwrap();
        c.admit(&"c", 5).unwrap();
        assert_eq!(c.admit(&"d", 5), Err(Refusal::Full { limit: 5 }));
        c.release(&"a");
        c.admit(&"d", 5).unwrap();
        assert_eq!(c.total(), 5);
        assert_eq!(c.from(&"a"), 2);
        // Releasing what was never admitted changes nothing.
        c.release(&"zzz");
        assert_eq!(c.total(), 5);
    }

    #[test]
    fn a_limit_of_one_admits_one() {
        let mut c = ClientCounter::default();
        assert_eq!(per_host_share(1), 1);
        c.admit(&1u8, 1).unwrap();
        assert_eq!(c.admit(&2u8, 1), Err(Refusal::Full { limit: 1 }));
    }

    proptest! {
        /// Under any sequence of admissions and releases the counts stay within the
        /// limits and agree with a naive recount.
        #[test]
        fn counts_stay_within_limits(ops in proptest::collection::vec((0u8..4, any::<bool>(), 1usize..8), 0..200)) {
            let mut c = ClientCounter::default();
            let mut held: Vec<u8> = Vec::new();
            for (src, admit, max) in ops {
                if admit {
                    if c.admit(&src, max).is_ok() {
                        held.push(src);
                        prop_assert!(c.total() <= max);
                        prop_assert!(c.from(&src) <= per_host_share(max));
                    }
                } else if let Some(i) = held.iter().position(|&h| h == src) {
                    held.remove(i);
                    c.release(&src);
                }
                prop_assert_eq!(c.total(), held.len());
                prop_assert_eq!(c.from(&src), held.iter().filter(|&&h| h == src).count());
            }
        }
    }
}
