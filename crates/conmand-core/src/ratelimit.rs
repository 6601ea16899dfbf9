//! A token bucket: at most `burst` events at once, refilled at `per_sec` events a
//! second. The caller passes the time in (milliseconds on any monotonic clock).
//!
//! The daemon uses one per client for escapes that write to other members and the
//! logs (`&F`/`&J`/`&M` toggles, `&Z`, invalid escapes), so one client cannot fill
//! the disk or flood other operators' terminals with notices.

/// A token bucket.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    burst: u32,
    per_sec: u32,
    /// Tokens, in thousandths.
    milli_tokens: u64,
    last_ms: u64,
    /// Events refused since the last one allowed.
    refused: u64,
}

/// What [`TokenBucket::take`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead; `refused_before` events were refused since the last allowed one.
    Allowed {
        /// Refused since the previous allowed event.
        refused_before: u64,
    },
    /// Refused; `first` is true for the first refusal of a run (report it once).
    Refused {
        /// The first refusal since the last allowed event.
        first: bool,
    },
}

impl TokenBucket {
    /// A full bucket at time `now_ms`.
    pub fn new(burst: u32, per_sec: u32, now_ms: u64) -> Self {
        TokenBucket {
            burst,
            per_sec,
            milli_tokens: u64::from(burst) * 1000,
            last_ms: now_ms,
            refused: 0,
        }
    }

    /// Take a token at `now_ms` (a time before the last one counts as no time).
    pub fn take(&mut self, now_ms: u64) -> Verdict {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now_ms);
        let cap = u64::from(self.burst) * 1000;
        self.milli_tokens = (self.milli_tokens + elapsed * u64::from(self.per_sec)).min(cap);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            let refused_before = std::mem::take(&mut self.refused);
            Verdict::Allowed { refused_before }
        } else {
            self.refused += 1;
            Verdict::Refused {
                first: self.refused == 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn burst_then_refill() {
        let mut b = TokenBucket::new(3, 2, 0);
        for _ in 0..3 {
            assert!(matches!(b.take(0), Verdict::Allowed { .. }));
        }
        assert_eq!(b.take(0), Verdict::Refused { first: true });
        assert_eq!(b.take(100), Verdict::Refused { first: false });
        // 2 per second: one token after 500 ms.
        assert_eq!(b.take(500), Verdict::Allowed { refused_before: 2 });
        assert_eq!(b.take(500), Verdict::Refused { first: true });
        // Never more than the burst, however long the pause.
        for _ in 0..3 {
            assert!(matches!(b.take(1_000_000), Verdict::Allowed { .. }));
        }
        assert!(matches!(b.take(1_000_000), Verdict::Refused { .. }));
    }

    proptest! {
        /// Over any window, allowed events never exceed burst + rate × window.
        #[test]
        fn never_more_than_burst_plus_rate(steps in proptest::collection::vec(0u64..700, 1..300), burst in 1u32..20, rate in 1u32..20) {
            let mut b = TokenBucket::new(burst, rate, 0);
            let mut t = 0;
            let mut allowed = 0u64;
            for s in steps {
                t += s;
                if matches!(b.take(t), Verdict::Allowed { .. }) {
                    allowed += 1;
                }
                prop_assert!(allowed <= u64::from(burst) + t * u64::from(rate) / 1000);
            }
        }
    }
}
