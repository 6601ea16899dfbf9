//! Local serial consoles (`dev="/dev/ttyS0"`), ConMan's `server-serial.c` on tokio.
//!
//! Opening does what ConMan does, in the same order, on a blocking-pool thread (open
//! and termios calls on a real UART can stall): `open(O_RDWR|O_NONBLOCK|O_NOCTTY)`, a
//! POSIX `fcntl(F_SETLK, F_WRLCK)` lock on the whole device, the `isatty` check, then
//! the original termios are saved and ConMan's raw mode plus `seropts` are applied.
//! The descriptor is then registered with the tokio reactor through [`AsyncFd`].
//!
//! The reader and the writer share the device. When both are dropped (the connection
//! closes) the saved termios are restored and unsent output is flushed (`TCOFLUSH`)
//! before the close, so `close` does not wait for it to drain. Unlike ConMan's
//! `destroy` (`TCIOFLUSH`), input the device sent and nobody has read yet is kept for
//! the next open (a restart by reload reads it).
//!
//! A break is `TIOCSBRK`, an async sleep of [`BREAK_HOLD`], then `TIOCCBRK`, so no
//! runtime thread ever blocks for the quarter second `tcsendbreak` would take. The ioctl
//! layer sits behind `BreakControl` so tests can check the set/wait/clear sequence
//! (a pty cannot show a break).
//!
//! Speeds: the configured `bps` is applied to both directions. On Linux rustix uses
//! `termios2`, so a rate with no `B*` constant (e.g. 1152000) is set exactly through
//! `BOTHER`. If the kernel refuses it, the rate falls back to the largest standard
//! rate below it (ConMan's table, [`standard_rate_at_most`]).
//!
//! Reconnects: ConMan reopens a serial device once, immediately, and then leaves it
//! down until a client attaches. We retry on a timer instead ([`BACKOFF`]: 1 s
//! doubling to 60 s, reset after 60 s up) so an unplugged USB adapter comes back.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use conmand_core::config::{Parity, SerialOpts, SerialSpec};
use conmand_core::oserror::strerror;
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::termios::{
    ControlModes, InputModes, LocalModes, OptionalActions, OutputModes, QueueSelector,
    SpecialCodeIndex, Termios,
};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{Backend, Backoff, BoxFuture, Connection, ConsoleWriter, OpenError};

/// Reconnect policy for serial consoles (ConMan has no timer; see the module docs).
pub const BACKOFF: Backoff = Backoff {
    min: Duration::from_secs(1),
    max: Duration::from_secs(60),
    reset_after: Duration::from_secs(60),
};

/// How long a break holds the line in the spacing state (what `tcsendbreak(fd, 0)`
/// does on Linux).
pub const BREAK_HOLD: Duration = Duration::from_millis(250);

/// ConMan's table of rates `seropts` may round to, plus the common higher ones.
const STANDARD_RATES: [u32; 24] = [
    50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600,
    115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000,
];

/// The largest standard rate not above `bps` (50 for anything lower).
pub fn standard_rate_at_most(bps: u32) -> u32 {
    STANDARD_RATES
        .iter()
        .copied()
        .take_while(|&r| r <= bps)
        .last()
        .unwrap_or(50)
}

/// A local serial device console.
#[derive(Debug, Clone)]
pub struct SerialBackend {
    /// Console name, for messages.
    name: String,
    /// Device path as configured.
    path: PathBuf,
    /// Line settings.
    opts: SerialOpts,
}

impl SerialBackend {
    /// A backend for console `name` on the device and line settings in `spec`.
    pub fn new(spec: &SerialSpec, name: impl Into<String>) -> Self {
        SerialBackend {
            name: name.into(),
            path: spec.path.clone(),
            opts: spec.opts,
        }
    }
}

impl Backend for SerialBackend {
    fn describe(&self) -> String {
        format!("\"{}\"", self.path.display())
    }

    fn open(&self) -> BoxFuture<'_, Result<Connection, OpenError>> {
        Box::pin(async move {
            let (path, name, opts) = (self.path.clone(), self.name.clone(), self.opts);
            let device = tokio::task::spawn_blocking(move || Device::open(&path, &name, opts))
                .await
                .map_err(|e| OpenError::Retry(format!("serial open task failed: {e}")))??;
            let device = Arc::new(register(device).map_err(|e| {
                OpenError::Retry(format!(
                    "Unable to register [{}] device {}: {}",
                    self.name,
                    self.describe(),
                    strerror(&e)
                ))
            })?);
            Ok(Connection {
                reader: Box::new(SerialReader {
                    device: Arc::clone(&device),
                }),
                writer: Box::new(SerialWriter { device }),
                connected_target: Some(self.describe()),
                report_uptime: false,
                guard: None,
            })
        })
    }

    fn backoff(&self) -> Backoff {
        BACKOFF
    }
}

/// An open, locked, configured serial device. Dropping it restores the saved termios,
/// flushes the queues and closes the descriptor (which releases the lock).
#[derive(Debug)]
struct Device {
    /// The open device.
    fd: OwnedFd,
    /// The termios found at open time, restored on drop.
    saved: Termios,
}

impl Device {
    /// Opens, locks, checks and configures `path` (blocking; run on the blocking pool).
    fn open(path: &Path, name: &str, opts: SerialOpts) -> Result<Device, OpenError> {
        let dev = path.display();
        let fd = rustix::fs::open(
            path,
            OFlags::RDWR | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            OpenError::Retry(format!(
                "Unable to open [{name}] device \"{dev}\": {}",
                strerror(&e.into())
            ))
        })?;
        rustix::fs::fcntl_lock(&fd, FlockOperation::NonBlockingLockExclusive)
            .map_err(|_| OpenError::Retry(format!("Unable to lock [{name}] device \"{dev}\"")))?;
        if !rustix::termios::isatty(&fd) {
            return Err(OpenError::Retry(format!(
                "[{name}] device \"{dev}\" not a terminal"
            )));
        }
        let setup_error = |what: &str, e: rustix::io::Errno| {
            OpenError::Retry(format!(
                "Unable to {what} [{name}] device \"{dev}\": {}",
                strerror(&e.into())
            ))
        };
        let saved =
            rustix::termios::tcgetattr(&fd).map_err(|e| setup_error("get attributes of", e))?;
        let mut tty = saved.clone();
        make_raw(&mut tty);
        apply_opts(&mut tty, opts, opts.bps);
        if let Err(e) = rustix::termios::tcsetattr(&fd, OptionalActions::Now, &tty) {
            // An exact non-standard rate may be refused: fall back to the table.
            let fallback = standard_rate_at_most(opts.bps);
            if fallback == opts.bps {
                return Err(setup_error("set attributes of", e));
            }
            tracing::warn!(
                console = %name,
                "Serial rate {} unsupported on [{name}] device \"{dev}\": using {fallback}",
                opts.bps
            );
            apply_opts(&mut tty, opts, fallback);
            rustix::termios::tcsetattr(&fd, OptionalActions::Now, &tty)
                .map_err(|e| setup_error("set attributes of", e))?;
        }
        Ok(Device { fd, saved })
    }
}

impl AsRawFd for Device {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Device {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // Both fail harmlessly on a hung-up tty (EIO); nothing more can be done then.
        let _ = rustix::termios::tcsetattr(&self.fd, OptionalActions::Now, &self.saved);
        let _ = rustix::termios::tcflush(&self.fd, QueueSelector::OFlush);
    }
}

/// ConMan's raw mode (`get_tty_raw`). CRTSCTS, IXOFF and CREAD are left as found.
fn make_raw(tty: &mut Termios) {
    tty.input_modes -= InputModes::BRKINT
        | InputModes::ICRNL
        | InputModes::INPCK
        | InputModes::ISTRIP
        | InputModes::IXON;
    tty.output_modes -= OutputModes::OPOST;
    tty.control_modes -= ControlModes::CSIZE | ControlModes::PARENB;
    tty.control_modes |= ControlModes::CS8 | ControlModes::CLOCAL;
    tty.local_modes -= LocalModes::ECHO
        | LocalModes::ECHOCTL
        | LocalModes::ICANON
        | LocalModes::IEXTEN
        | LocalModes::ISIG;
    tty.special_codes[SpecialCodeIndex::VMIN] = 1;
    tty.special_codes[SpecialCodeIndex::VTIME] = 0;
}

/// Applies `seropts` (at rate `bps`, both directions) over raw mode.
fn apply_opts(tty: &mut Termios, opts: SerialOpts, bps: u32) {
    // On Linux any rate is representable (BOTHER); elsewhere rustix may refuse a rate
    // with no B* constant, so fall back to the table right away.
    if tty.set_speed(bps).is_err() {
        let _ = tty.set_speed(standard_rate_at_most(bps));
    }
    tty.control_modes -= ControlModes::CSIZE;
    tty.control_modes |= match opts.databits {
        5 => ControlModes::CS5,
        6 => ControlModes::CS6,
        7 => ControlModes::CS7,
        _ => ControlModes::CS8,
    };
    match opts.parity {
        Parity::None => tty.control_modes -= ControlModes::PARENB | ControlModes::PARODD,
        Parity::Odd => tty.control_modes |= ControlModes::PARENB | ControlModes::PARODD,
        Parity::Even => {
            tty.control_modes |= ControlModes::PARENB;
            tty.control_modes -= ControlModes::PARODD;
        }
    }
    if opts.stopbits == 2 {
        tty.control_modes |= ControlModes::CSTOPB;
    } else {
        tty.control_modes -= ControlModes::CSTOPB;
    }
}

/// Registers the device with the tokio reactor.
#[allow(unsafe_code)]
fn register(device: Device) -> io::Result<AsyncFd<Device>> {
    // SAFETY: `Device` owns its `OwnedFd`, never replaces it, and `as_raw_fd` always
    // returns that same open descriptor until the `AsyncFd` (and so the `Device`) is
    // dropped; `AsyncFd` deregisters before dropping the inner value.
    unsafe { AsyncFd::register(device) }.map_err(|e| e.into_parts().1)
}

/// Raises (`on`) or lowers the break condition on a tty with `TIOCSBRK`/`TIOCCBRK`.
#[allow(unsafe_code)]
fn break_ioctl(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let request = if on { libc::TIOCSBRK } else { libc::TIOCCBRK };
    // SAFETY: `fd` is a live descriptor for the duration of the borrow, and the only
    // requests issued are TIOCSBRK/TIOCCBRK, which take no argument: the kernel neither
    // reads nor writes through the third argument.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request, 0) };
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The two halves of a break, so the timing around them can be tested without a UART.
pub(crate) trait BreakControl: Send + Sync {
    /// Starts sending a break (line held in the spacing state).
    fn set_break(&self) -> io::Result<()>;
    /// Ends the break.
    fn clear_break(&self) -> io::Result<()>;
}

impl BreakControl for Device {
    fn set_break(&self) -> io::Result<()> {
        break_ioctl(self.fd.as_fd(), true)
    }

    fn clear_break(&self) -> io::Result<()> {
        break_ioctl(self.fd.as_fd(), false)
    }
}

/// Sends one break: set, hold for `hold` without blocking the thread, clear. If the
/// future is dropped mid-hold the break is still cleared.
pub(crate) async fn pulse_break<B: BreakControl + ?Sized>(
    line: &B,
    hold: Duration,
) -> io::Result<()> {
    /// Clears the break when dropped, unless disarmed after a normal clear.
    struct ClearOnDrop<'a, B: BreakControl + ?Sized>(Option<&'a B>);
    impl<B: BreakControl + ?Sized> Drop for ClearOnDrop<'_, B> {
        fn drop(&mut self) {
            if let Some(line) = self.0.take() {
                let _ = line.clear_break();
            }
        }
    }

    line.set_break()?;
    let mut guard = ClearOnDrop(Some(line));
    tokio::time::sleep(hold).await;
    guard.0 = None;
    line.clear_break()
}

/// Console output from the device.
struct SerialReader {
    /// Shared with the writer.
    device: Arc<AsyncFd<Device>>,
}

impl AsyncRead for SerialReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.device.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|dev| Ok(rustix::io::read(dev.get_ref(), &mut *unfilled)?)) {
                Ok(Ok(n)) => {
                    // n == 0 is EOF (hung-up tty): the connection is gone.
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

/// Client input to the device, and breaks.
struct SerialWriter {
    /// Shared with the reader.
    device: Arc<AsyncFd<Device>>,
}

impl AsyncWrite for SerialWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            let mut guard = ready!(self.device.poll_write_ready(cx))?;
            match guard.try_io(|dev| Ok(rustix::io::write(dev.get_ref(), buf)?)) {
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the tty; there is nothing buffered here.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl ConsoleWriter for SerialWriter {
    fn send_break(&mut self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(pulse_break(self.device.get_ref(), BREAK_HOLD))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records break calls with the (paused) tokio clock.
    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<(&'static str, tokio::time::Instant)>>,
    }

    impl BreakControl for Recorder {
        fn set_break(&self) -> io::Result<()> {
            self.calls
                .lock()
                .unwrap()
                .push(("set", tokio::time::Instant::now()));
            Ok(())
        }
        fn clear_break(&self) -> io::Result<()> {
            self.calls
                .lock()
                .unwrap()
                .push(("clear", tokio::time::Instant::now()));
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn break_sets_waits_then_clears() {
        let rec = Arc::new(Recorder::default());
        let start = tokio::time::Instant::now();
        let task = tokio::spawn({
            let rec = Arc::clone(&rec);
            async move { pulse_break(&*rec, BREAK_HOLD).await }
        });
        // Let the task run up to its sleep: the break is set and not yet cleared.
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(249)).await;
        assert_eq!(
            rec.calls
                .lock()
                .unwrap()
                .iter()
                .map(|c| c.0)
                .collect::<Vec<_>>(),
            ["set"]
        );
        task.await.unwrap().unwrap();
        let calls = rec.calls.lock().unwrap();
        assert_eq!(
            calls.iter().map(|c| c.0).collect::<Vec<_>>(),
            ["set", "clear"]
        );
        assert_eq!(calls[0].1, start);
        assert_eq!(calls[1].1 - calls[0].1, BREAK_HOLD);
    }

    #[tokio::test(start_paused = true)]
    async fn break_is_cleared_when_cancelled_mid_hold() {
        let rec = Recorder::default();
        let pulse = pulse_break(&rec, BREAK_HOLD);
        let res = tokio::time::timeout(Duration::from_millis(100), pulse).await;
        assert!(res.is_err(), "the pulse must still be holding at 100 ms");
        let calls = rec.calls.lock().unwrap();
        assert_eq!(
            calls.iter().map(|c| c.0).collect::<Vec<_>>(),
            ["set", "clear"]
        );
    }

    /// A failing set must not be followed by a hold or a clear.
    #[tokio::test(start_paused = true)]
    async fn break_set_failure_is_reported() {
        struct Broken;
        impl BreakControl for Broken {
            fn set_break(&self) -> io::Result<()> {
                Err(io::Error::from_raw_os_error(libc::ENOTTY))
            }
            fn clear_break(&self) -> io::Result<()> {
                panic!("clear after a failed set")
            }
        }
        let start = tokio::time::Instant::now();
        let err = pulse_break(&Broken, BREAK_HOLD).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTTY));
        assert_eq!(tokio::time::Instant::now(), start);
    }

    /// A real termios value to edit (from a pty master; nothing is applied to it).
    fn some_termios() -> Termios {
        let master =
            rustix::pty::openpt(rustix::pty::OpenptFlags::RDWR | rustix::pty::OpenptFlags::NOCTTY)
                .expect("openpt");
        rustix::termios::tcgetattr(&master).expect("tcgetattr")
    }

    #[test]
    fn raw_mode_and_seropts_request_conman_flags() {
        let mut t = some_termios();
        t.control_modes |= ControlModes::CRTSCTS | ControlModes::CREAD;
        t.input_modes |= InputModes::IXOFF | InputModes::BRKINT | InputModes::ICRNL;
        t.output_modes |= OutputModes::OPOST;
        t.local_modes |= LocalModes::ICANON | LocalModes::ECHO | LocalModes::ISIG;
        make_raw(&mut t);
        apply_opts(
            &mut t,
            SerialOpts {
                bps: 19200,
                databits: 7,
                parity: Parity::Even,
                stopbits: 2,
            },
            19200,
        );
        assert_eq!((t.input_speed(), t.output_speed()), (19200, 19200));
        assert_eq!(t.control_modes & ControlModes::CSIZE, ControlModes::CS7);
        assert!(
            t.control_modes
                .contains(ControlModes::PARENB | ControlModes::CSTOPB | ControlModes::CLOCAL)
        );
        assert!(!t.control_modes.contains(ControlModes::PARODD));
        // Left as they were.
        assert!(
            t.control_modes
                .contains(ControlModes::CRTSCTS | ControlModes::CREAD)
        );
        assert!(t.input_modes.contains(InputModes::IXOFF));
        assert!(
            !t.input_modes
                .intersects(InputModes::BRKINT | InputModes::ICRNL)
        );
        assert!(!t.output_modes.contains(OutputModes::OPOST));
        assert!(
            !t.local_modes
                .intersects(LocalModes::ICANON | LocalModes::ECHO | LocalModes::ISIG)
        );
        assert_eq!(t.special_codes[SpecialCodeIndex::VMIN], 1);
        assert_eq!(t.special_codes[SpecialCodeIndex::VTIME], 0);

        apply_opts(
            &mut t,
            SerialOpts {
                bps: 9600,
                databits: 5,
                parity: Parity::Odd,
                stopbits: 1,
            },
            9600,
        );
        assert_eq!(t.control_modes & ControlModes::CSIZE, ControlModes::CS5);
        assert!(
            t.control_modes
                .contains(ControlModes::PARENB | ControlModes::PARODD)
        );
        assert!(!t.control_modes.contains(ControlModes::CSTOPB));
        apply_opts(&mut t, SerialOpts::default(), 9600);
        assert_eq!(t.control_modes & ControlModes::CSIZE, ControlModes::CS8);
        assert!(
            !t.control_modes
                .intersects(ControlModes::PARENB | ControlModes::PARODD)
        );
    }

    #[test]
    fn rate_round_down() {
        assert_eq!(standard_rate_at_most(115200), 115200);
        assert_eq!(standard_rate_at_most(115201), 115200);
        assert_eq!(standard_rate_at_most(1_152_000), 1_152_000);
        assert_eq!(standard_rate_at_most(2_000_000), 1_152_000);
        assert_eq!(standard_rate_at_most(10), 50);
    }

    #[test]
    fn describe_quotes_the_path() {
        let spec = SerialSpec {
            path: "/dev/ttyS0".into(),
            opts: SerialOpts::default(),
        };
        let b = SerialBackend::new(&spec, "s0");
        assert_eq!(b.describe(), "\"/dev/ttyS0\"");
        assert_eq!(b.backoff(), BACKOFF);
    }
}
