//! Reaching the daemon: name resolution, TCP connect, greeting and request
//! (ConMan's `connect_to_server`, `send_greeting`, `send_req`, `recv_rsp`, reference §3,
//! §4.3).
//!
//! Differences on purpose: IPv6 destinations work (ConMan is IPv4 only), the
//! handshake has a timeout ([`handshake_timeout`], default 30 s, `CONMAN_HANDSHAKE_TIMEOUT`
//! overrides it) so a daemon that accepts but never answers cannot hang the client,
//! and request and response lines may be up to [`MAX_WIRE_LINE`] bytes (ConMan cuts
//! them at 131,071, losing console names without a word): a longer request is
//! refused before it is sent, a longer response is an error, never a cut list.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use conmand_core::oserror::strerror;
use conmand_core::protocol::{
    Command as RequestCommand, Greeting, MAX_WIRE_LINE, Request, Response, take_line_within,
};

/// ConMan's `CONMAN_ERR_LOCAL`: the error happened in the client.
pub const ERR_LOCAL: i64 = 1;
/// `CONMAN_ERR_TOO_MANY_CONSOLES`.
pub const ERR_TOO_MANY_CONSOLES: i64 = 6;
/// `CONMAN_ERR_BUSY_CONSOLES`.
pub const ERR_BUSY_CONSOLES: i64 = 7;

/// The default handshake timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variable that overrides the handshake timeout (seconds, may be
/// fractional).
pub const TIMEOUT_ENV: &str = "CONMAN_HANDSHAKE_TIMEOUT";

/// How much one read of a handshake answer asks for.
const READ_CHUNK: usize = 64 * 1024;

/// Why a response line could not be read.
#[derive(Debug)]
enum ReadError {
    /// Socket error or timeout.
    Io(io::Error),
    /// No newline within [`MAX_WIRE_LINE`] bytes.
    TooLong,
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// A protocol-level failure, shown as `ERROR: <message>.` with exit status 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .message.as_deref().unwrap_or("Unspecified"))]
pub struct ProtocolError {
    /// ConMan error code: [`ERR_LOCAL`] for client-side failures, else the daemon's.
    pub code: i64,
    /// The message; `None` shows as `Unspecified`.
    pub message: Option<String>,
}

impl ProtocolError {
    /// A client-side error with this message.
    fn local(message: String) -> Self {
        Self {
            code: ERR_LOCAL,
            message: Some(message),
        }
    }
}

/// The handshake timeout: `CONMAN_HANDSHAKE_TIMEOUT` seconds if set and positive, else 30 s.
pub fn handshake_timeout(env: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> Duration {
    env(TIMEOUT_ENV)
        .and_then(|v| v.to_str().and_then(|s| s.trim().parse::<f64>().ok()))
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// An established connection to the daemon.
#[derive(Debug)]
pub struct Connection {
    /// The socket.
    stream: TcpStream,
    /// Short host name (up to the first `.` of the canonical name), used in messages.
    host: String,
    /// The port.
    port: u32,
    /// Bytes read past the last handshake line; they belong to what follows.
    leftover: Vec<u8>,
    /// Handshake timeout.
    timeout: Duration,
}

/// Resolve `host` to an address, preferring IPv4 as ConMan does.
fn resolve(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ip);
    }
    let addrs: Vec<IpAddr> = dns_lookup::lookup_host(host).ok()?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
}

/// Connect to `host:port`. `port` is what the options hold; like `htons`, only its low
/// 16 bits reach the socket.
pub fn connect(host: &str, port: u32, timeout: Duration) -> Result<Connection, ProtocolError> {
    let ip = resolve(host)
        .ok_or_else(|| ProtocolError::local(format!("Unable to resolve host <{host}>")))?;
    // The "canonical" name: reverse lookup of the forward result (e.g. localhost).
    let (fqdn, short) = match dns_lookup::lookup_addr(&ip) {
        Ok(name) if !name.is_empty() => {
            let short = name.split('.').next().unwrap_or(&name).to_string();
            (name, short)
        }
        _ => (host.to_string(), host.to_string()),
    };
    let addr = SocketAddr::new(ip, (port & 0xFFFF) as u16);
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
        ProtocolError::local(format!(
            "Unable to connect to <{fqdn}:{port}>: {}",
            strerror(&e)
        ))
    })?;
    Ok(Connection {
        stream,
        host: short,
        port,
        leftover: Vec::new(),
        timeout,
    })
}

impl Connection {
    /// The short host name shown in session messages (`&I`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u32 {
        self.port
    }

    /// Send the greeting and read its answer, then send the request and read its answer.
    /// On success returns `(reset offered, matched consoles)`.
    pub fn handshake(
        &mut self,
        user: &str,
        tty: Option<&str>,
        req: &Request,
    ) -> Result<(bool, Vec<String>), ProtocolError> {
        self.send(&Greeting::new(user, tty.map(String::from)).to_bytes())?;
        self.expect_ok()?;
        let line = req.to_bytes();
        if line.len() > MAX_WIRE_LINE {
            return Err(ProtocolError::local(format!(
                "Request of {} bytes for {} console names exceeds the {MAX_WIRE_LINE}-byte \
                 line maximum; name fewer consoles or use a pattern",
                line.len(),
                req.consoles.len()
            )));
        }
        self.send(&line)?;
        if req.command == RequestCommand::Query {
            self.stream.shutdown(Shutdown::Write).map_err(|e| {
                ProtocolError::local(format!(
                    "Unable to close write-half of connection to <{}:{}>: {}",
                    self.host,
                    self.port,
                    strerror(&e)
                ))
            })?;
        }
        self.expect_ok()
    }

    /// Write a handshake line.
    fn send(&mut self, line: &[u8]) -> Result<(), ProtocolError> {
        self.stream.write_all(line).map_err(|e| {
            ProtocolError::local(format!(
                "Unable to send greeting to <{}:{}>: {}",
                self.host,
                self.port,
                strerror(&e)
            ))
        })
    }

    /// Read one response line and turn it into `Ok((reset, consoles))` or an error.
    fn expect_ok(&mut self) -> Result<(bool, Vec<String>), ProtocolError> {
        let line = match self.read_line() {
            Ok(Some(line)) => line,
            Ok(None) => {
                return Err(ProtocolError::local(format!(
                    "Connection terminated by <{}:{}>",
                    self.host, self.port
                )));
            }
            Err(ReadError::TooLong) => {
                return Err(ProtocolError::local(format!(
                    "Response from <{}:{}> exceeds the {MAX_WIRE_LINE}-byte line maximum",
                    self.host, self.port
                )));
            }
            Err(ReadError::Io(e)) => {
                return Err(ProtocolError::local(format!(
                    "Unable to read response from <{}:{}>:\n  {} (blocked by TCP-Wrappers?)",
                    self.host,
                    self.port,
                    strerror(&e)
                )));
            }
        };
        match Response::parse(&line) {
            Ok(Response::Ok { reset, consoles }) => Ok((reset, consoles)),
            Ok(Response::Error { code, message }) => Err(ProtocolError {
                code: i64::from(code.value()),
                message: (!message.is_empty()).then_some(message),
            }),
            Err(_) => Err(ProtocolError::local(format!(
                "Received invalid response from <{}:{}>",
                self.host, self.port
            ))),
        }
    }

    /// Read up to and including `\n` within the handshake timeout; a line longer
    /// than [`MAX_WIRE_LINE`] is [`ReadError::TooLong`]. `Ok(None)` means EOF before
    /// any byte. Bytes after the line are kept.
    fn read_line(&mut self) -> Result<Option<Vec<u8>>, ReadError> {
        let deadline = Instant::now() + self.timeout;
        let mut pending = bytes::BytesMut::from(&std::mem::take(&mut self.leftover)[..]);
        let mut scanned = 0;
        let mut buf = vec![0u8; READ_CHUNK];
        let result = loop {
            match take_line_within(&mut pending, &mut scanned, MAX_WIRE_LINE) {
                Ok(Some(line)) => break Ok(Some(line.to_vec())),
                Ok(None) => {}
                Err(_) => break Err(ReadError::TooLong),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(io::Error::from_raw_os_error(libc::ETIMEDOUT).into());
            }
            if let Err(e) = self.stream.set_read_timeout(Some(left)) {
                break Err(e.into());
            }
            match self.stream.read(&mut buf) {
                Ok(0) if pending.is_empty() => break Ok(None),
                Ok(0) => break Ok(Some(pending.split().to_vec())),
                Ok(n) => pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break Err(io::Error::from_raw_os_error(libc::ETIMEDOUT).into());
                }
                Err(e) => break Err(e.into()),
            }
        };
        self.leftover = pending.to_vec();
        result
    }

    /// Copy what the daemon sends after an error (console list, busy lines) to `sink`
    /// until it closes; bounded by the handshake timeout.
    pub fn drain_trailing(&mut self, sink: &mut dyn FnMut(&[u8])) {
        if !self.leftover.is_empty() {
            sink(&std::mem::take(&mut self.leftover));
        }
        let deadline = Instant::now() + self.timeout;
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.stream.set_read_timeout(Some(left)).is_err() {
                return;
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => sink(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// Hand over the socket and any bytes already read past the handshake, for the
    /// session. The socket is left blocking without timeouts.
    pub fn into_parts(self) -> io::Result<(TcpStream, Vec<u8>)> {
        self.stream.set_read_timeout(None)?;
        Ok((self.stream, self.leftover))
    }
}
