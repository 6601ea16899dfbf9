//! The built-in test console (`dev="test:"`), as ConMan's `server-test.c`: a timer
//! produces bursts of printable ASCII cycling from `!` (0x21) to `~` (0x7E); client
//! input is thrown away. Used by the test-suite and the demo configuration.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use conmand_core::config::TestOpts;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::{Backend, Backoff, BoxFuture, Connection, ConsoleWriter, OpenError};

/// ConMan splits a burst into reads of at most this many bytes.
const MAX_CHUNK: usize = 8191;

/// A test console generator.
pub struct TestBackend {
    opts: TestOpts,
}

impl TestBackend {
    /// A generator with the given `testopts`.
    pub fn new(opts: TestOpts) -> Self {
        TestBackend { opts }
    }
}

impl Backend for TestBackend {
    fn describe(&self) -> String {
        "\"test:\"".to_string()
    }

    fn open(&self) -> BoxFuture<'_, Result<Connection, OpenError>> {
        let opts = self.opts;
        Box::pin(async move {
            let mut seed = [0u8; 8];
            // A failure of the OS RNG only makes the burst timing less random.
            let _ = getrandom::fill(&mut seed);
            let reader = TestReader {
                opts,
                next: b'!',
                remaining: 0,
                rng: u64::from_le_bytes(seed) | 1,
                sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            };
            Ok(Connection {
                reader: Box::new(reader),
                writer: Box::new(NullWriter),
                connected_target: None,
                report_uptime: false,
                guard: None,
            })
        })
    }

    fn descriptors(&self) -> usize {
        0
    }

    fn backoff(&self) -> Backoff {
        Backoff {
            min: Duration::from_secs(1),
            max: Duration::from_secs(1),
            reset_after: Duration::from_secs(1),
        }
    }
}

struct TestReader {
    opts: TestOpts,
    next: u8,
    remaining: u32,
    rng: u64,
    sleep: Pin<Box<Sleep>>,
}

impl TestReader {
    fn rand(&mut self) -> u64 {
        // xorshift64: plenty for burst jitter.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    fn next_delay(&mut self) -> Duration {
        let (min, max) = (self.opts.min_ms, self.opts.max_ms);
        let ms = if max < 0 {
            100
        } else if min < 0 || min >= max {
            max as u64
        } else {
            let span = (max - min) as u64 + 1;
            min as u64 + self.rand() % span
        };
        // At least 1 ms: `M:0` must not make a timer that fires in a busy loop.
        Duration::from_millis(ms.max(1))
    }
}

impl AsyncRead for TestReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while this.remaining == 0 {
            if this.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let delay = this.next_delay();
            this.sleep.as_mut().reset(Instant::now() + delay);
            if (this.rand() % 100) < u64::from(this.opts.probability) {
                this.remaining = this.opts.burst_bytes;
            }
        }
        let n = (this.remaining as usize)
            .min(buf.remaining())
            .min(MAX_CHUNK);
        let out = buf.initialize_unfilled_to(n);
        for b in out.iter_mut() {
            *b = this.next;
            this.next = if this.next >= b'~' {
                b'!'
            } else {
                this.next + 1
            };
        }
        buf.advance(n);
        this.remaining -= n as u32;
        Poll::Ready(Ok(()))
    }
}

use std::future::Future as _;

/// Client input to a test console goes nowhere (ConMan writes it to /dev/null).
struct NullWriter;

impl AsyncWrite for NullWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl ConsoleWriter for NullWriter {
    fn send_break(&mut self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test(start_paused = true)]
    async fn bursts_cycle_printable_ascii() {
        let opts = TestOpts {
            burst_bytes: 200,
            max_ms: 10,
            min_ms: -1,
            probability: 100,
        };
        let conn = TestBackend::new(opts).open().await.unwrap();
        let mut r = conn.reader;
        let mut got = Vec::new();
        while got.len() < 400 {
            let mut buf = [0u8; 64];
            let n = r.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(&got[..3], b"!\"#");
        assert_eq!(got[93], b'~');
        assert_eq!(got[94], b'!');
        assert!(got.iter().all(|b| (0x21..=0x7e).contains(b)));
    }
}
