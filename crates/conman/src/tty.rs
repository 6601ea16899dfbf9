//! The client's terminal: ConMan's raw mode on stdin and a guarantee that the user's
//! settings come back on every way out (drop, panic hook, suspend).
//!
//! Raw mode is exactly ConMan's `get_tty_raw` (reference §2.3): iflag loses BRKINT,
//! ICRNL, INPCK, ISTRIP and IXON; OPOST is cleared; CS8 with PARENB cleared and CLOCAL
//! set; lflag loses ECHO, ECHOCTL, ICANON, IEXTEN and ISIG; VMIN=1, VTIME=0. Settings are
//! applied with TCSAFLUSH like ConMan's `set_tty_mode`. Because OPOST is off, every line
//! the client prints itself ends in `\r\n`.
//!
//! The saved settings also live in a process-wide slot so the panic hook installed by
//! [`RawTty::enter`] can restore them before the panic message is printed.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::Mutex;

use rustix::termios::{
    ControlModes, InputModes, LocalModes, OptionalActions, OutputModes, SpecialCodeIndex, Termios,
    tcgetattr, tcsetattr,
};

/// The settings to restore if we panic while the terminal is raw. `None` when not raw.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

/// Guards the panic hook so it is chained only once per process.
static HOOK: std::sync::Once = std::sync::Once::new();

/// fd 0, which the process keeps open for its whole life.
fn stdin_fd() -> BorrowedFd<'static> {
    rustix::stdio::stdin()
}

/// Restore `t` on fd 0, as `set_tty_mode` does.
fn apply(t: &Termios) -> io::Result<()> {
    tcsetattr(stdin_fd(), OptionalActions::Flush, t).map_err(io::Error::from)
}

/// ConMan's raw settings derived from `t`.
pub fn raw_from(t: &Termios) -> Termios {
    let mut raw = t.clone();
    raw.input_modes -= InputModes::BRKINT
        | InputModes::ICRNL
        | InputModes::INPCK
        | InputModes::ISTRIP
        | InputModes::IXON;
    raw.output_modes -= OutputModes::OPOST;
    raw.control_modes -= ControlModes::CSIZE | ControlModes::PARENB;
    raw.control_modes |= ControlModes::CS8 | ControlModes::CLOCAL;
    raw.local_modes -= LocalModes::ECHO
        | LocalModes::ECHOCTL
        | LocalModes::ICANON
        | LocalModes::IEXTEN
        | LocalModes::ISIG;
    raw.special_codes[SpecialCodeIndex::VMIN] = 1;
    raw.special_codes[SpecialCodeIndex::VTIME] = 0;
    raw
}

/// fd 0 in raw mode; dropping it restores the settings that were in force before.
#[derive(Debug)]
pub struct RawTty {
    /// The user's settings, taken before going raw.
    saved: Termios,
}

impl RawTty {
    /// Save the current settings of stdin and switch it to raw mode.
    pub fn enter() -> io::Result<Self> {
        let saved = tcgetattr(stdin_fd()).map_err(io::Error::from)?;
        if let Ok(mut slot) = SAVED.lock() {
            *slot = Some(saved.clone());
        }
        HOOK.call_once(|| {
            let prev = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore_saved();
                prev(info);
            }));
        });
        apply(&raw_from(&saved))?;
        Ok(Self { saved })
    }

    /// Put the user's settings back (before stopping with SIGTSTP).
    pub fn restore(&self) -> io::Result<()> {
        apply(&self.saved)
    }

    /// Go raw again, starting from whatever the shell left us (after SIGCONT).
    pub fn reenter(&self) -> io::Result<()> {
        let now = tcgetattr(stdin_fd()).map_err(io::Error::from)?;
        apply(&raw_from(&now))
    }

    /// Flip the local ECHO flag (`&E`). Unlike ConMan (TCSAFLUSH), this applies the
    /// change at once without discarding keys typed ahead of the escape.
    pub fn toggle_echo(&self) -> io::Result<()> {
        let mut t = tcgetattr(stdin_fd()).map_err(io::Error::from)?;
        t.local_modes ^= LocalModes::ECHO;
        tcsetattr(stdin_fd(), OptionalActions::Now, &t).map_err(io::Error::from)
    }
}

impl Drop for RawTty {
    fn drop(&mut self) {
        // Nothing useful can be done if the terminal is gone; the error is ignored.
        let _ = apply(&self.saved);
        if let Ok(mut slot) = SAVED.lock() {
            *slot = None;
        }
    }
}

/// Restore the saved settings if the terminal is raw (panic hook path).
fn restore_saved() {
    if let Ok(slot) = SAVED.try_lock()
        && let Some(t) = slot.as_ref()
    {
        let _ = apply(t);
    }
}

/// True if fd 0 is a terminal.
pub fn stdin_is_tty() -> bool {
    rustix::termios::isatty(stdin_fd())
}

/// True if fd 1 is a terminal.
pub fn stdout_is_tty() -> bool {
    rustix::termios::isatty(rustix::stdio::stdout())
}

/// `ttyname(0)` minus a leading `/dev/`, or `None` if stdin is not a terminal.
pub fn tty_name() -> Option<String> {
    let name = rustix::termios::ttyname(stdin_fd(), Vec::new()).ok()?;
    let bytes = name.as_bytes();
    let short = bytes.strip_prefix(b"/dev/").unwrap_or(bytes);
    (!short.is_empty()).then(|| String::from_utf8_lossy(short).into_owned())
}
