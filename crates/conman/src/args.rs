//! Command line and environment of the `conman` client, parsed the way ConMan does it
//! (`process_client_env_vars`, `process_client_cmd_line`, reference §4.1–4.2).
//!
//! Option parsing is hand-written because ConMan's texts and GNU `getopt` behaviour
//! (options after console names, `--`, clustered flags, an option's argument glued or in
//! the next word) must be reproduced byte for byte; clap would print its own texts.
//! This module only turns words into an [`Invocation`]; it reads the `-F` files but
//! touches no socket or terminal.

use std::ffi::{OsStr, OsString};
use std::io::BufRead;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use conmand_core::client_escape::{DEFAULT_ESCAPE_CHAR, render_esc_char};

/// The default daemon host (ConMan's `CONMAN_HOST`).
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// The default daemon port (ConMan's `CONMAN_PORT`).
pub const DEFAULT_PORT: u32 = 7890;

/// ConMan reads `-F` files with `fgets` into a buffer of this size (`MAX_LINE`).
const MAX_LINE: usize = 1024;

/// What the client has been asked to do with the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Interactive session (the default).
    Connect,
    /// Read-only session (`-m`).
    Monitor,
    /// List matching consoles (`-q`).
    Query,
}

/// Everything the client needs to run one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Daemon host as given (name or address; IPv6 may be bracketed).
    pub host: String,
    /// Daemon port; ConMan keeps whatever positive integer `atoi` gave.
    pub port: u32,
    /// The escape character (first byte of `-e` / `CONMAN_ESCAPE`).
    pub escape: u8,
    /// QUERY, MONITOR or CONNECT.
    pub command: Command,
    /// `-b`.
    pub broadcast: bool,
    /// `-f` (cleared by `-j`).
    pub force: bool,
    /// `-j` (cleared by `-f`).
    pub join: bool,
    /// `-Q`.
    pub quiet: bool,
    /// `-r`.
    pub regex: bool,
    /// `-v`: parsed, no effect (as in ConMan).
    pub verbose: bool,
    /// `-l FILE`.
    pub log: Option<PathBuf>,
    /// Console names or patterns, in order: `-F` files first as met, then arguments.
    pub consoles: Vec<String>,
}

/// The outcome of parsing the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invocation {
    /// Talk to the daemon.
    Run(Options),
    /// Print this text on stdout and exit 0 (`-h`, or no consoles without `-q`).
    Help(String),
    /// Print this text on stdout and exit 0 (`-V`).
    Version(String),
    /// Print this text on stdout and exit 0 (`-L`).
    License(String),
}

/// A fatal command-line error; printed as `ERROR:     <self>` and exit status 1.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    /// Unknown option, or an option missing its argument.
    #[error("CMDLINE: invalid option \"{0}\"")]
    InvalidOption(char),
    /// A `-F` file could not be read.
    #[error("Unable to open \"{path}\": {reason}")]
    ConsoleFile {
        /// The file name as given.
        path: String,
        /// `strerror`-style reason.
        reason: String,
    },
}

/// C `atoi`: optional leading blanks and sign, then digits; anything else ends it.
pub fn atoi(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && (s[i] == b' ' || (b'\t'..=b'\r').contains(&s[i])) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let mut v: i64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add(i64::from(s[i] - b'0'));
        i += 1;
    }
    if neg { -v } else { v }
}

/// Split `host[:port]` the way the client does, with IPv6 brackets allowed
/// (`[::1]:7890`). Returns the host part (maybe empty) and the port if `atoi` gives > 0.
fn split_host_port(s: &[u8]) -> (Vec<u8>, Option<u32>) {
    let (host, rest) = if s.first() == Some(&b'[') {
        match s.iter().position(|&b| b == b']') {
            Some(end) => (s[1..end].to_vec(), &s[end + 1..]),
            None => (s.to_vec(), &b""[..]),
        }
    } else {
        match s.iter().position(|&b| b == b':') {
            Some(p) => (s[..p].to_vec(), &s[p..]),
            None => (s.to_vec(), &b""[..]),
        }
    };
    let port = match rest.first() {
        Some(b':') => {
            let p = atoi(&rest[1..]);
            (p > 0).then(|| u32::try_from(p).unwrap_or(u32::MAX))
        }
        _ => None,
    };
    (host, port)
}

impl Options {
    /// Defaults, then `CONMAN_HOST`, `CONMAN_PORT` and `CONMAN_ESCAPE` from `env`.
    fn from_env(env: &dyn Fn(&str) -> Option<OsString>) -> Self {
        let mut o = Options {
            host: DEFAULT_HOST.to_string(),
            port: DEFAULT_PORT,
            escape: DEFAULT_ESCAPE_CHAR,
            command: Command::Connect,
            broadcast: false,
            force: false,
            join: false,
            quiet: false,
            regex: false,
            verbose: false,
            log: None,
            consoles: Vec::new(),
        };
        if let Some(v) = env("CONMAN_HOST") {
            o.apply_destination(v.as_bytes());
        }
        if let Some(v) = env("CONMAN_PORT") {
            let p = atoi(v.as_bytes());
            if p > 0 {
                o.port = u32::try_from(p).unwrap_or(u32::MAX);
            }
        }
        if let Some(v) = env("CONMAN_ESCAPE")
            && let Some(&c) = v.as_bytes().first()
        {
            o.escape = c;
        }
        o
    }

    /// Apply a `host[:port]` destination: an empty host keeps the current one.
    fn apply_destination(&mut self, v: &[u8]) {
        let (host, port) = split_host_port(v);
        if let Some(p) = port {
            self.port = p;
        }
        if !host.is_empty() {
            self.host = String::from_utf8_lossy(&host).into_owned();
        }
    }
}

/// The help text of `display_client_help`, with the effective destination and escape.
pub fn help_text(prog: &str, o: &Options) -> String {
    let esc = String::from_utf8_lossy(&render_esc_char(o.escape)).into_owned();
    let host = if o.host.contains(':') {
        format!("[{}]", o.host)
    } else {
        o.host.clone()
    };
    format!(
        "Usage: {prog} [OPTIONS] [CONSOLES]\n\
\n\
\x20 -b        Broadcast to multiple consoles (write-only).\n\
\x20 -d HOST   Specify server destination. [{host}:{port}]\n\
\x20 -e CHAR   Specify escape character. [{esc}]\n\
\x20 -f        Force connection (console-stealing).\n\
\x20 -F FILE   Read console names from file.\n\
\x20 -h        Display this help.\n\
\x20 -j        Join connection (console-sharing).\n\
\x20 -l FILE   Log connection output to file.\n\
\x20 -L        Display license information.\n\
\x20 -m        Monitor connection (read-only).\n\
\x20 -q        Query server about specified console(s).\n\
\x20 -Q        Be quiet and suppress informational messages.\n\
\x20 -r        Match console names via regex instead of globbing.\n\
\x20 -v        Be verbose.\n\
\x20 -V        Display version information.\n\
\n\
\x20 Once a connection is established, enter \"{esc}.\" to close the session,\n\
\x20   or \"{esc}?\" to see a list of currently available escape sequences.\n\
\n",
        port = o.port,
    )
}

/// `-V` output.
pub fn version_text() -> String {
    format!("conman-{}\n", env!("CARGO_PKG_VERSION"))
}

/// `-L` output: this implementation's licence, laid out like ConMan's.
pub fn license_text() -> String {
    "conman-rs: a drop-in replacement for ConMan: The Console Manager\n\
\n\
conman-rs is free software, released under the MIT License.\n\
It is an independent reimplementation and contains no ConMan code.\n\
\n"
    .to_string()
}

/// Read console names from a `-F` file: one per line, surrounding blanks stripped, blank
/// lines and `#` comments skipped. Lines are read in pieces of at most 1023 bytes, as
/// ConMan's `fgets` does, so an overlong line yields several names.
fn read_console_file(path: &OsStr, out: &mut Vec<String>) -> Result<(), ArgsError> {
    let err = |e: std::io::Error| ArgsError::ConsoleFile {
        path: path.to_string_lossy().into_owned(),
        reason: conmand_core::oserror::strerror(&e),
    };
    let f = std::fs::File::open(path).map_err(err)?;
    let mut r = std::io::BufReader::new(f);
    loop {
        // Emulate fgets(buf, MAX_LINE): up to MAX_LINE-1 bytes, stopping after '\n'.
        let mut piece = Vec::new();
        while piece.len() < MAX_LINE - 1 {
            let buf = r.fill_buf().map_err(err)?;
            if buf.is_empty() {
                break;
            }
            let room = MAX_LINE - 1 - piece.len();
            let take = buf.len().min(room);
            match buf[..take].iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    piece.extend_from_slice(&buf[..=nl]);
                    r.consume(nl + 1);
                    break;
                }
                None => {
                    piece.extend_from_slice(&buf[..take]);
                    r.consume(take);
                }
            }
        }
        if piece.is_empty() {
            return Ok(());
        }
        let trimmed = piece.trim_ascii();
        if trimmed.is_empty() || trimmed[0] == b'#' {
            continue;
        }
        out.push(String::from_utf8_lossy(trimmed).into_owned());
    }
}

/// Parse `argv` (with `argv[0]`) and the environment, GNU `getopt` style with
/// `bd:e:fF:hjl:LmqQrvV`: options and operands may be mixed, `--` ends options.
/// `-L` and `-V` act as soon as they are met, like ConMan's `exit(0)` inside the loop.
pub fn parse(
    argv: &[OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Invocation, ArgsError> {
    let prog = argv
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_else(|| "conman".to_string());
    let mut o = Options::from_env(env);
    let mut help = false;
    let mut operands: Vec<&OsStr> = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let word = argv[i].as_bytes();
        i += 1;
        if word == b"--" {
            operands.extend(argv[i..].iter().map(OsString::as_os_str));
            break;
        }
        if word.len() < 2 || word[0] != b'-' {
            operands.push(OsStr::from_bytes(word));
            continue;
        }
        let mut j = 1;
        while j < word.len() {
            let c = word[j];
            j += 1;
            let needs_arg = matches!(c, b'd' | b'e' | b'F' | b'l');
            let optarg: Option<&[u8]> = if needs_arg {
                if j < word.len() {
                    let a = &word[j..];
                    j = word.len();
                    Some(a)
                } else if i < argv.len() {
                    i += 1;
                    Some(argv[i - 1].as_bytes())
                } else {
                    return Err(ArgsError::InvalidOption(char::from(c)));
                }
            } else {
                None
            };
            let arg = optarg.unwrap_or(b"");
            match c {
                b'b' => o.broadcast = true,
                b'd' => o.apply_destination(arg),
                // An empty -e gives NUL, like optarg[0] on "".
                b'e' => o.escape = arg.first().copied().unwrap_or(0),
                b'f' => {
                    o.force = true;
                    o.join = false;
                }
                b'F' => read_console_file(OsStr::from_bytes(arg), &mut o.consoles)?,
                b'h' => help = true,
                b'j' => {
                    o.force = false;
                    o.join = true;
                }
                b'l' => o.log = Some(PathBuf::from(OsStr::from_bytes(arg))),
                b'L' => return Ok(Invocation::License(license_text())),
                b'm' => o.command = Command::Monitor,
                b'q' => o.command = Command::Query,
                b'Q' => o.quiet = true,
                b'r' => o.regex = true,
                b'v' => o.verbose = true,
                b'V' => return Ok(Invocation::Version(version_text())),
                other => return Err(ArgsError::InvalidOption(char::from(other))),
            }
        }
    }
    if o.command == Command::Monitor {
        o.broadcast = false;
        o.force = false;
        o.join = false;
    }
    for op in operands {
        for piece in op.as_bytes().split(|&b| b == b',') {
            if !piece.is_empty() {
                o.consoles.push(String::from_utf8_lossy(piece).into_owned());
            }
        }
    }
    if help || (o.command != Command::Query && o.consoles.is_empty()) {
        return Ok(Invocation::Help(help_text(&prog, &o)));
    }
    Ok(Invocation::Run(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<OsString> {
        std::iter::once("conman")
            .chain(v.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn no_env(_: &str) -> Option<OsString> {
        None
    }

    fn run(v: &[&str]) -> Options {
        match parse(&args(v), &no_env).unwrap() {
            Invocation::Run(o) => o,
            other => panic!("not a run: {other:?}"),
        }
    }

    #[test]
    fn help_text_matches_reference() {
        let want = "Usage: conman [OPTIONS] [CONSOLES]\n\n  -b        Broadcast to multiple consoles (write-only).\n  -d HOST   Specify server destination. [127.0.0.1:7890]\n  -e CHAR   Specify escape character. [&]\n  -f        Force connection (console-stealing).\n  -F FILE   Read console names from file.\n  -h        Display this help.\n  -j        Join connection (console-sharing).\n  -l FILE   Log connection output to file.\n  -L        Display license information.\n  -m        Monitor connection (read-only).\n  -q        Query server about specified console(s).\n  -Q        Be quiet and suppress informational messages.\n  -r        Match console names via regex instead of globbing.\n  -v        Be verbose.\n  -V        Display version information.\n\n  Once a connection is established, enter \"&.\" to close the session,\n    or \"&?\" to see a list of currently available escape sequences.\n\n";
        assert_eq!(
            parse(&args(&[]), &no_env).unwrap(),
            Invocation::Help(want.into())
        );
        assert_eq!(
            parse(&args(&["-h", "x"]), &no_env).unwrap(),
            Invocation::Help(want.into())
        );
    }

    #[test]
    fn help_shows_effective_destination_and_escape() {
        let env = |k: &str| match k {
            "CONMAN_HOST" => Some(OsString::from("127.0.0.1:17890")),
            "CONMAN_ESCAPE" => Some(OsString::from("\x01x")),
            _ => None,
        };
        let Invocation::Help(h) = parse(&args(&[]), &env).unwrap() else {
            panic!()
        };
        assert!(h.contains("[127.0.0.1:17890]\n"));
        assert!(h.contains("escape character. [^A]\n"));
        assert!(h.contains("enter \"^A.\" to close"));
    }

    #[test]
    fn env_order_and_overrides() {
        let env = |k: &str| match k {
            "CONMAN_HOST" => Some(OsString::from("h1:1000")),
            "CONMAN_PORT" => Some(OsString::from("2000")),
            _ => None,
        };
        let Invocation::Run(o) = parse(&args(&["x"]), &env).unwrap() else {
            panic!()
        };
        assert_eq!((o.host.as_str(), o.port), ("h1", 2000));
        let Invocation::Run(o) = parse(&args(&["-d", ":3000", "x"]), &env).unwrap() else {
            panic!()
        };
        assert_eq!((o.host.as_str(), o.port), ("h1", 3000));
        let o = run(&["-d", "h2:zero", "x"]);
        assert_eq!((o.host.as_str(), o.port), ("h2", 7890));
        let o = run(&["-d", "[::1]:7000", "x"]);
        assert_eq!((o.host.as_str(), o.port), ("::1", 7000));
    }

    #[test]
    fn options_after_operands_commas_and_double_dash() {
        let o = run(&["a,b,,c", "-q", "d", "--", "-m"]);
        assert_eq!(o.command, Command::Query);
        assert_eq!(o.consoles, ["a", "b", "c", "d", "-m"]);
        let o = run(&["-qm", "x"]);
        assert_eq!(o.command, Command::Monitor);
        let o = run(&["-bfj", "-ex", "-lfile", "y"]);
        assert!(o.broadcast && o.join && !o.force);
        assert_eq!(o.escape, b'x');
        assert_eq!(o.log, Some(PathBuf::from("file")));
        let o = run(&["-bf", "-m", "x"]);
        assert!(!o.broadcast && !o.force);
    }

    #[test]
    fn invalid_options() {
        let e = parse(&args(&["-x"]), &no_env).unwrap_err();
        assert_eq!(e.to_string(), "CMDLINE: invalid option \"x\"");
        let e = parse(&args(&["x", "-d"]), &no_env).unwrap_err();
        assert_eq!(e.to_string(), "CMDLINE: invalid option \"d\"");
        let e = parse(&args(&["--help"]), &no_env).unwrap_err();
        assert_eq!(e.to_string(), "CMDLINE: invalid option \"-\"");
    }

    #[test]
    fn version_and_license_exit_early() {
        assert_eq!(
            parse(&args(&["-V", "-x"]), &no_env).unwrap(),
            Invocation::Version(format!("conman-{}\n", env!("CARGO_PKG_VERSION")))
        );
        assert!(matches!(
            parse(&args(&["-L"]), &no_env).unwrap(),
            Invocation::License(_)
        ));
    }

    #[test]
    fn console_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("list");
        std::fs::write(&f, "  a  \n\n# c\n  #d\nb\t\nlast").unwrap();
        let fs = f.to_str().unwrap();
        let o = run(&["-F", fs, "z"]);
        assert_eq!(o.consoles, ["a", "b", "last", "z"]);
        let e = parse(&args(&["-F", "/nonexistent/x"]), &no_env).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Unable to open \"/nonexistent/x\": No such file or directory"
        );
        let long = "n".repeat(1500);
        std::fs::write(&f, format!("{long}\n")).unwrap();
        let o = run(&["-F", fs]);
        assert_eq!(o.consoles.len(), 2);
        assert_eq!(o.consoles[0].len(), 1023);
    }

    #[test]
    fn atoi_like_c() {
        assert_eq!(atoi(b" 12ab"), 12);
        assert_eq!(atoi(b"-5"), -5);
        assert_eq!(atoi(b"x"), 0);
    }
}
