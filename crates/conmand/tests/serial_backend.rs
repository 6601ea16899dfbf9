//! The serial backend against socat pty pairs: data both ways, seropts and raw mode on
//! the device, termios restored on close, far end vanishing and coming back, and the
//! open errors ConMan reports.

#![allow(clippy::unwrap_used)]

mod backend_peers;

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use backend_peers::{PtyPair, WAIT, peer, read_exactly, within};
use conmand::console::backend::serial::SerialBackend;
use conmand::console::backend::{Backend, OpenError};
use conmand_core::config::{Parity, SerialOpts, SerialSpec};
use rustix::fs::{Mode, OFlags};
use rustix::termios::{
    ControlModes, InputModes, LocalModes, OptionalActions, OutputModes, SpecialCodeIndex, Termios,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn open_tty(path: &Path) -> OwnedFd {
    rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .expect("open tty")
}

fn termios_of(path: &Path) -> Termios {
    rustix::termios::tcgetattr(open_tty(path)).expect("tcgetattr")
}

fn backend(path: &Path, opts: SerialOpts) -> SerialBackend {
    SerialBackend::new(
        &SerialSpec {
            path: path.to_owned(),
            opts,
        },
        "ser",
    )
}

/// Puts a cooked, 9600 baud, 8N1 configuration on the tty so a restore is visible.
fn make_cooked(path: &Path) -> Termios {
    let fd = open_tty(path);
    let mut t = rustix::termios::tcgetattr(&fd).unwrap();
    t.set_speed(9600).unwrap();
    t.local_modes |= LocalModes::ICANON | LocalModes::ECHO | LocalModes::ISIG;
    t.output_modes |= OutputModes::OPOST;
    t.input_modes |= InputModes::ICRNL | InputModes::IXON;
    t.control_modes -= ControlModes::CSIZE | ControlModes::PARENB | ControlModes::CSTOPB;
    t.control_modes |= ControlModes::CS8;
    rustix::termios::tcsetattr(&fd, OptionalActions::Now, &t).unwrap();
    rustix::termios::tcgetattr(&fd).unwrap()
}

/// Writes `data` to the far end of the pair (blocking, on the blocking pool).
async fn far_write(path: &Path, data: &'static [u8]) {
    let path = path.to_owned();
    within(
        "far-end write",
        tokio::task::spawn_blocking(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            f.write_all(data).unwrap();
        }),
    )
    .await
    .unwrap();
}

/// Reads exactly `n` bytes from the far end of the pair.
async fn far_read(path: &Path, n: usize) -> Vec<u8> {
    let path = path.to_owned();
    within(
        "far-end read",
        tokio::task::spawn_blocking(move || {
            let mut f = std::fs::File::open(path).unwrap();
            let mut buf = vec![0; n];
            f.read_exact(&mut buf).unwrap();
            buf
        }),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn data_seropts_raw_mode_and_restore() {
    let Some(socat) = peer("socat") else { return };
    let dir = tempfile::tempdir().unwrap();
    let pair = PtyPair::start(&socat, dir.path().join("a"), dir.path().join("b")).await;
    let before = make_cooked(&pair.a);
    assert!(before.local_modes.contains(LocalModes::ICANON));

    let opts = SerialOpts {
        bps: 19200,
        databits: 7,
        parity: Parity::Odd,
        stopbits: 2,
    };
    let be = backend(&pair.a, opts);
    assert_eq!(be.describe(), format!("\"{}\"", pair.a.display()));
    let mut conn = within("open", be.open()).await.expect("open");
    assert_eq!(
        conn.connected_target.as_deref(),
        Some(be.describe().as_str())
    );

    let t = termios_of(&pair.a);
    assert_eq!((t.input_speed(), t.output_speed()), (19200, 19200));
    // Linux ptys force CS8 and clear PARENB in every tcsetattr (pty_set_termios), so
    // only PARODD and CSTOPB can be seen here; the unit tests in serial.rs check that
    // CS7|PARENB are requested.
    assert!(
        t.control_modes
            .contains(ControlModes::PARODD | ControlModes::CSTOPB | ControlModes::CLOCAL)
    );
    for flag in [
        LocalModes::ECHO,
        LocalModes::ECHOCTL,
        LocalModes::ICANON,
        LocalModes::IEXTEN,
        LocalModes::ISIG,
    ] {
        assert!(!t.local_modes.intersects(flag), "lflag {flag:?} still set");
    }
    for flag in [
        InputModes::BRKINT,
        InputModes::ICRNL,
        InputModes::INPCK,
        InputModes::ISTRIP,
        InputModes::IXON,
    ] {
        assert!(!t.input_modes.intersects(flag), "iflag {flag:?} still set");
    }
    assert!(!t.output_modes.contains(OutputModes::OPOST));
    assert_eq!(t.special_codes[SpecialCodeIndex::VMIN], 1);
    assert_eq!(t.special_codes[SpecialCodeIndex::VTIME], 0);

    // Far end → console (CR stays CR: ICRNL is off).
    far_write(&pair.b, b"login:\r\n\xff\x00").await;
    read_exactly(&mut conn.reader, b"login:\r\n\xff\x00").await;
    // Console → far end (LF stays LF: OPOST is off).
    let reading = far_read(&pair.b, 8);
    conn.writer.write_all(b"root\n\xff\x00\x03").await.unwrap();
    assert_eq!(reading.await, b"root\n\xff\x00\x03");

    drop(conn);
    let after = termios_of(&pair.a);
    assert_eq!((after.input_speed(), after.output_speed()), (9600, 9600));
    assert_eq!(after.local_modes, before.local_modes);
    assert_eq!(after.input_modes, before.input_modes);
    assert_eq!(after.output_modes, before.output_modes);
    assert_eq!(after.control_modes, before.control_modes);
}

#[tokio::test]
async fn rates_above_460800_are_set_exactly() {
    let Some(socat) = peer("socat") else { return };
    let dir = tempfile::tempdir().unwrap();
    let pair = PtyPair::start(&socat, dir.path().join("a"), dir.path().join("b")).await;
    for bps in [460_800, 1_152_000, 1_234_567] {
        let opts = SerialOpts {
            bps,
            ..SerialOpts::default()
        };
        let conn = within("open", backend(&pair.a, opts).open())
            .await
            .expect("open");
        let t = termios_of(&pair.a);
        assert_eq!((t.input_speed(), t.output_speed()), (bps, bps));
        assert!(
            !t.control_modes
                .intersects(ControlModes::PARODD | ControlModes::CSTOPB)
        );
        drop(conn);
    }
}

#[tokio::test]
async fn far_end_gone_ends_reader_and_reopen_works() {
    let Some(socat) = peer("socat") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let mut pair = PtyPair::start(&socat, a.clone(), b.clone()).await;
    let be = backend(&a, SerialOpts::default());
    let mut conn = within("open", be.open()).await.expect("open");

    pair.stop();
    let mut buf = [0u8; 64];
    match within("reader end after hangup", conn.reader.read(&mut buf)).await {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("read {n} bytes from a hung-up pty"),
    }
    drop(conn);
    // Gone: the path no longer exists, so an open fails with ConMan's message.
    match within("open while gone", be.open()).await {
        Err(OpenError::Retry(msg)) => assert_eq!(
            msg,
            format!(
                "Unable to open [ser] device \"{}\": No such file or directory",
                a.display()
            )
        ),
        other => panic!("expected Retry, got {:?}", other.map(|_| ())),
    }

    let pair = PtyPair::start(&socat, a.clone(), b.clone()).await;
    let mut conn = within("reopen", be.open()).await.expect("reopen");
    far_write(&pair.b, b"back").await;
    read_exactly(&mut conn.reader, b"back").await;
}

#[tokio::test]
async fn a_regular_file_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain");
    std::fs::write(&path, b"").unwrap();
    match backend(&path, SerialOpts::default()).open().await {
        Err(OpenError::Retry(msg)) => {
            assert_eq!(
                msg,
                format!("[ser] device \"{}\" not a terminal", path.display())
            )
        }
        other => panic!("expected Retry, got {:?}", other.map(|_| ())),
    }
}

/// ConMan's lock is a POSIX fcntl lock, so another process holding one (python's
/// `lockf` is `fcntl(F_SETLK)`) makes the open fail.
#[tokio::test]
async fn a_device_locked_by_another_process_is_refused() {
    let Some(socat) = peer("socat") else { return };
    let Some(python) = peer("python3") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pair = PtyPair::start(&socat, dir.path().join("a"), dir.path().join("b")).await;
    let mut locker = std::process::Command::new(python)
        .arg("-c")
        .arg(
            "import fcntl,os,sys\n\
             fd=os.open(sys.argv[1], os.O_RDWR|os.O_NOCTTY)\n\
             fcntl.lockf(fd, fcntl.LOCK_EX|fcntl.LOCK_NB)\n\
             print('locked', flush=True)\n\
             sys.stdin.read()\n",
        )
        .arg(&pair.a)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = locker.stdout.take().unwrap();
    let line = within(
        "locker ready",
        tokio::task::spawn_blocking(move || {
            let mut buf = [0u8; 7];
            stdout.read_exact(&mut buf).map(|_| buf)
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(&line, b"locked\n");

    let be = backend(&pair.a, SerialOpts::default());
    match be.open().await {
        Err(OpenError::Retry(msg)) => {
            assert_eq!(
                msg,
                format!("Unable to lock [ser] device \"{}\"", pair.a.display())
            )
        }
        other => panic!("expected Retry, got {:?}", other.map(|_| ())),
    }
    drop(locker.stdin.take()); // EOF on stdin: the locker exits and its lock goes
    locker.wait().unwrap();
    let conn = tokio::time::timeout(WAIT, be.open()).await.unwrap();
    assert!(conn.is_ok(), "open after the lock was released");
}
