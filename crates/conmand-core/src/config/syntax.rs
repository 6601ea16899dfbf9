//! Stage one of configuration parsing: text → tokens → directives.
//!
//! This module knows the grammar of `conman.conf` and nothing about what the values
//! mean (that is `validate.rs`). It reproduces ConMan's lexer (`src/lex.c`) and the
//! token-level part of its directive parsers (`src/server-conf.c`), including which
//! error ends a directive and where.
//!
//! ```text
//! file      = { line } ;
//! line      = [ directive ] EOL ;
//! directive = ( "SERVER" | "GLOBAL" | "CONSOLE" ) { pair } ;
//! pair      = keyword "=" value ;
//! value     = STRING | INTEGER | "ON" | "OFF"
//!           | INTEGER [ "m" | "h" | "d" ]          (TIMESTAMP only)
//!
//! EOL       = LF | CR | CR LF ;
//! blank     = SP | TAB | VT | FF ;                 (skipped)
//! comment   = "#" { any but CR, LF } ;             (skipped; the EOL stays)
//! continue  = "\" LF | "\" CR LF ;                 (skipped; the line number still counts)
//! STRING    = '"' { any but '"', CR, LF } '"'
//!           | "'" { any but "'", CR, LF } "'"      (no escapes; cut to 1023 bytes)
//!           | word that is not a keyword ;
//! word      = [A-Za-z_] { [A-Za-z0-9_] } ;         (keywords match case-insensitively)
//! INTEGER   = [ "-" | "+" ] digit { digit } ;      (a sign only counts before a digit)
//! CHAR      = any other single character ;
//! ```
//!
//! Each directive ends at the first error inside it; the pairs read before the error are
//! kept (SERVER and GLOBAL apply them, CONSOLE drops the whole console).

use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_while, take_while1};
use nom::character::complete::{anychar, one_of, satisfy};
use nom::combinator::{opt, recognize, value};
use nom::sequence::pair;
use nom::{IResult, Parser};

/// Longest string value ConMan keeps (`LEX_MAX_STR - 1`); longer strings are cut.
pub const MAX_STR_BYTES: usize = 1023;

/// A position in the configuration text: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    /// 1-based line number (continued lines count).
    pub line: u32,
    /// 1-based column, counted in characters.
    pub col: u32,
}

/// The keyword table (`server_conf_strs`), matched case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Keyword {
    Alertpack,
    Acl,
    Alertexec,
    Alerts,
    Alertwebhook,
    Auditlog,
    Advertise,
    Cluster,
    Clusterprefix,
    Clusterttl,
    Console,
    Coredump,
    Coredumpdir,
    Dev,
    Eventlog,
    Execpath,
    Global,
    Http,
    Httptokens,
    Ipmiopts,
    Keepalive,
    Log,
    Logdir,
    Logfile,
    Logopts,
    Loopback,
    Maxclients,
    Name,
    Nodename,
    Nofile,
    Off,
    On,
    Pidfile,
    Port,
    Resetcmd,
    Seropts,
    Server,
    Sshaddr,
    Sshca,
    Sshhostkey,
    Sshport,
    Sshusers,
    Syslog,
    Tcpwrappers,
    Testopts,
    Timestamp,
}

impl Keyword {
    /// Every keyword, in table order.
    pub const ALL: [Keyword; 46] = [
        Keyword::Acl,
        Keyword::Alertpack,
        Keyword::Alertexec,
        Keyword::Alerts,
        Keyword::Alertwebhook,
        Keyword::Auditlog,
        Keyword::Advertise,
        Keyword::Cluster,
        Keyword::Clusterprefix,
        Keyword::Clusterttl,
        Keyword::Console,
        Keyword::Coredump,
        Keyword::Coredumpdir,
        Keyword::Dev,
        Keyword::Eventlog,
        Keyword::Execpath,
        Keyword::Global,
        Keyword::Http,
        Keyword::Httptokens,
        Keyword::Ipmiopts,
        Keyword::Keepalive,
        Keyword::Log,
        Keyword::Logdir,
        Keyword::Logfile,
        Keyword::Logopts,
        Keyword::Loopback,
        Keyword::Maxclients,
        Keyword::Name,
        Keyword::Nodename,
        Keyword::Nofile,
        Keyword::Off,
        Keyword::On,
        Keyword::Pidfile,
        Keyword::Port,
        Keyword::Resetcmd,
        Keyword::Seropts,
        Keyword::Server,
        Keyword::Sshaddr,
        Keyword::Sshca,
        Keyword::Sshhostkey,
        Keyword::Sshport,
        Keyword::Sshusers,
        Keyword::Syslog,
        Keyword::Tcpwrappers,
        Keyword::Testopts,
        Keyword::Timestamp,
    ];

    /// The upper-case table spelling used in error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Acl => "ACL",
            Keyword::Alertpack => "ALERTPACK",
            Keyword::Alertexec => "ALERTEXEC",
            Keyword::Alerts => "ALERTS",
            Keyword::Alertwebhook => "ALERTWEBHOOK",
            Keyword::Auditlog => "AUDITLOG",
            Keyword::Advertise => "ADVERTISE",
            Keyword::Cluster => "CLUSTER",
            Keyword::Clusterprefix => "CLUSTERPREFIX",
            Keyword::Clusterttl => "CLUSTERTTL",
            Keyword::Console => "CONSOLE",
            Keyword::Coredump => "COREDUMP",
            Keyword::Coredumpdir => "COREDUMPDIR",
            Keyword::Dev => "DEV",
            Keyword::Eventlog => "EVENTLOG",
            Keyword::Execpath => "EXECPATH",
            Keyword::Global => "GLOBAL",
            Keyword::Http => "HTTP",
            Keyword::Httptokens => "HTTPTOKENS",
            Keyword::Ipmiopts => "IPMIOPTS",
            Keyword::Keepalive => "KEEPALIVE",
            Keyword::Log => "LOG",
            Keyword::Logdir => "LOGDIR",
            Keyword::Logfile => "LOGFILE",
            Keyword::Logopts => "LOGOPTS",
            Keyword::Loopback => "LOOPBACK",
            Keyword::Maxclients => "MAXCLIENTS",
            Keyword::Name => "NAME",
            Keyword::Nodename => "NODENAME",
            Keyword::Nofile => "NOFILE",
            Keyword::Off => "OFF",
            Keyword::On => "ON",
            Keyword::Pidfile => "PIDFILE",
            Keyword::Port => "PORT",
            Keyword::Resetcmd => "RESETCMD",
            Keyword::Seropts => "SEROPTS",
            Keyword::Server => "SERVER",
            Keyword::Sshaddr => "SSHADDR",
            Keyword::Sshca => "SSHCA",
            Keyword::Sshhostkey => "SSHHOSTKEY",
            Keyword::Sshport => "SSHPORT",
            Keyword::Sshusers => "SSHUSERS",
            Keyword::Syslog => "SYSLOG",
            Keyword::Tcpwrappers => "TCPWRAPPERS",
            Keyword::Testopts => "TESTOPTS",
            Keyword::Timestamp => "TIMESTAMP",
        }
    }

    /// Looks a word up in the table, ignoring case.
    pub fn lookup(word: &str) -> Option<Keyword> {
        Keyword::ALL
            .iter()
            .copied()
            .find(|k| k.as_str().eq_ignore_ascii_case(word))
    }

    /// What kind of value follows `KEYWORD=`.
    fn value_kind(self) -> ValueKind {
        match self {
            Keyword::Coredump | Keyword::Keepalive | Keyword::Loopback | Keyword::Tcpwrappers => {
                ValueKind::OnOff
            }
            Keyword::Maxclients
            | Keyword::Nofile
            | Keyword::Port
            | Keyword::Sshport
            | Keyword::Clusterttl => ValueKind::Int,
            Keyword::Timestamp => ValueKind::Timestamp,
            _ => ValueKind::Str,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    OnOff,
    Int,
    Str,
    Timestamp,
}

/// One token of the configuration language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok<'a> {
    /// End of line (LF, CR or CR LF).
    Eol,
    /// End of input.
    Eof,
    /// A string: quoted (quotes removed, cut to 1023 bytes) or a non-keyword word.
    Str {
        /// The text.
        text: &'a str,
        /// Whether it was written in quotes.
        quoted: bool,
    },
    /// A keyword, with the text as written.
    Kw(Keyword, &'a str),
    /// An integer, as written (`[-+]?[0-9]+`).
    Int(&'a str),
    /// Any other single character.
    Char(char),
    /// A quote with no closing quote before the end of the line ("unmatched quote").
    Unmatched,
}

impl Tok<'_> {
    /// The token text as ConMan's `lex_text` has it (used in "unrecognized token").
    pub fn text(&self) -> String {
        match self {
            Tok::Eol => "\n".to_string(),
            Tok::Eof | Tok::Unmatched => String::new(),
            Tok::Str { text, .. } | Tok::Kw(_, text) | Tok::Int(text) => (*text).to_string(),
            Tok::Char(c) => c.to_string(),
        }
    }
}

/// A lexer problem or note that is not tied to a directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Where.
    pub span: Span,
    /// What, in words.
    pub message: String,
}

/// What one lexer step found before the token proper.
#[derive(Clone, Copy)]
enum Skip {
    Blank,
    Comment,
    Continuation,
    Nul,
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{b}' | '\u{c}')
}

fn skip_item(i: &str) -> IResult<&str, Skip> {
    alt((
        value(Skip::Blank, take_while1(is_blank)),
        value(
            Skip::Comment,
            recognize(pair(tag("#"), take_till(|c| c == '\r' || c == '\n'))),
        ),
        value(Skip::Continuation, alt((tag("\\\n"), tag("\\\r\n")))),
        value(Skip::Nul, tag("\0")),
    ))
    .parse(i)
}

fn eol(i: &str) -> IResult<&str, &str> {
    alt((tag("\r\n"), tag("\n"), tag("\r"))).parse(i)
}

/// A quoted string: `Ok((rest, Some(body)))`, or `Some` missing when unterminated.
fn quoted(i: &str) -> IResult<&str, (char, &str, bool)> {
    let (i, q) = one_of("\"'").parse(i)?;
    let (i, body) = take_till(|c| c == q || c == '\r' || c == '\n' || c == '\0').parse(i)?;
    let (i, close) = opt(satisfy(|c| c == q)).parse(i)?;
    Ok((i, (q, body, close.is_some())))
}

fn integer(i: &str) -> IResult<&str, &str> {
    recognize(pair(
        opt(one_of("+-")),
        take_while1(|c: char| c.is_ascii_digit()),
    ))
    .parse(i)
}

fn word(i: &str) -> IResult<&str, &str> {
    recognize(pair(
        satisfy(|c| c.is_ascii_alphabetic() || c == '_'),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
    ))
    .parse(i)
}

/// Cuts `s` to at most [`MAX_STR_BYTES`] bytes on a character boundary.
fn cut(s: &str) -> &str {
    if s.len() <= MAX_STR_BYTES {
        return s;
    }
    let mut end = MAX_STR_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// ConMan's lexer over a `&str`, tracking line and column.
pub struct Lexer<'a> {
    rest: &'a str,
    line: u32,
    col: u32,
    /// Lexer-level errors (NUL bytes).
    pub errors: Vec<Note>,
    /// Lexer-level warnings (strings cut to 1023 bytes).
    pub warnings: Vec<Note>,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `src`.
    pub fn new(src: &'a str) -> Self {
        Lexer {
            rest: src,
            line: 1,
            col: 1,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn advance(&mut self, consumed: &str) {
        let n = u32::try_from(consumed.chars().count()).unwrap_or(u32::MAX);
        self.col = self.col.saturating_add(n);
    }

    fn span(&self) -> Span {
        Span {
            line: self.line,
            col: self.col,
        }
    }

    /// The next token and where it starts.
    pub fn next_token(&mut self) -> (Tok<'a>, Span) {
        // Skip blanks, comments, continuations (and NUL bytes, which are errors).
        while let Ok((rest, what)) = skip_item(self.rest) {
            let consumed = &self.rest[..self.rest.len() - rest.len()];
            match what {
                Skip::Continuation => {
                    self.line = self.line.saturating_add(1);
                    self.col = 1;
                }
                Skip::Nul => {
                    self.errors.push(Note {
                        span: self.span(),
                        message: "NUL byte in configuration file".to_string(),
                    });
                    self.advance(consumed);
                }
                Skip::Blank | Skip::Comment => self.advance(consumed),
            }
            self.rest = rest;
        }
        let start = self.span();
        if self.rest.is_empty() {
            return (Tok::Eof, start);
        }
        if let Ok((rest, _)) = eol(self.rest) {
            self.rest = rest;
            self.line = self.line.saturating_add(1);
            self.col = 1;
            return (Tok::Eol, start);
        }
        if let Ok((rest, (_q, body, closed))) = quoted(self.rest) {
            let consumed = &self.rest[..self.rest.len() - rest.len()];
            self.advance(consumed);
            self.rest = rest;
            if !closed {
                return (Tok::Unmatched, start);
            }
            let text = cut(body);
            if text.len() < body.len() {
                self.warnings.push(Note {
                    span: start,
                    message: format!("string cut to {MAX_STR_BYTES} bytes"),
                });
            }
            return (Tok::Str { text, quoted: true }, start);
        }
        if let Ok((rest, w)) = word(self.rest) {
            self.advance(w);
            self.rest = rest;
            let w = cut(w);
            return match Keyword::lookup(w) {
                Some(k) => (Tok::Kw(k, w), start),
                None => (
                    Tok::Str {
                        text: w,
                        quoted: false,
                    },
                    start,
                ),
            };
        }
        if let Ok((rest, n)) = integer(self.rest) {
            self.advance(n);
            self.rest = rest;
            return (Tok::Int(cut(n)), start);
        }
        match anychar::<&str, nom::error::Error<&str>>(self.rest) {
            Ok((rest, c)) => {
                self.col = self.col.saturating_add(1);
                self.rest = rest;
                (Tok::Char(c), start)
            }
            // Unreachable: `rest` is not empty here.
            Err(_) => (Tok::Eof, start),
        }
    }
}

/// The three directive kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DirectiveKind {
    /// `SERVER`
    Server,
    /// `GLOBAL`
    Global,
    /// `CONSOLE`
    Console,
}

impl DirectiveKind {
    /// Upper-case name, as in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            DirectiveKind::Server => "SERVER",
            DirectiveKind::Global => "GLOBAL",
            DirectiveKind::Console => "CONSOLE",
        }
    }

    fn allows(self, k: Keyword) -> bool {
        use Keyword::*;
        match self {
            DirectiveKind::Server => matches!(
                k,
                Acl | Alertexec
                    | Alertpack
                    | Alerts
                    | Alertwebhook
                    | Auditlog
                    | Advertise
                    | Cluster
                    | Clusterprefix
                    | Clusterttl
                    | Coredump
                    | Coredumpdir
                    | Eventlog
                    | Execpath
                    | Http
                    | Httptokens
                    | Keepalive
                    | Logdir
                    | Logfile
                    | Loopback
                    | Maxclients
                    | Nodename
                    | Nofile
                    | Pidfile
                    | Port
                    | Resetcmd
                    | Sshaddr
                    | Sshca
                    | Sshhostkey
                    | Sshport
                    | Sshusers
                    | Syslog
                    | Tcpwrappers
                    | Timestamp
            ),
            DirectiveKind::Global => matches!(k, Log | Logopts | Seropts | Ipmiopts | Testopts),
            DirectiveKind::Console => {
                matches!(
                    k,
                    Name | Dev | Log | Logopts | Seropts | Ipmiopts | Testopts
                )
            }
        }
    }
}

/// The unit letter after a `TIMESTAMP` integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// No unit (the pair ended its line): minutes.
    None,
    /// `m`
    Minutes,
    /// `h`
    Hours,
    /// `d`
    Days,
}

/// A parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `on` / `off`
    OnOff(bool),
    /// An integer (saturated to the `i64` range).
    Int(i64),
    /// A string (quoted or a bare word).
    Str(String),
    /// `TIMESTAMP=` value and unit.
    Timestamp(i64, TimeUnit),
}

/// One `KEYWORD=value` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The keyword.
    pub key: Keyword,
    /// Where the keyword is.
    pub key_span: Span,
    /// The value.
    pub value: Value,
    /// Where the value is.
    pub value_span: Span,
}

/// One `SERVER`, `GLOBAL` or `CONSOLE` directive with the pairs read before any error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// Which directive.
    pub kind: DirectiveKind,
    /// Where the directive keyword is.
    pub span: Span,
    /// Pairs in order, up to the first syntax error.
    pub pairs: Vec<Pair>,
    /// The syntax error that ended the directive early, if any.
    pub error: Option<Note>,
}

/// A statement of the file: a directive, or a line that is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stmt {
    /// A directive.
    Directive(Directive),
    /// A line that starts with something else (the error, the line skipped).
    Error(Note),
}

/// The result of stage one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Syntax {
    /// Statements in file order.
    pub stmts: Vec<Stmt>,
    /// Lexer errors (NUL bytes).
    pub errors: Vec<Note>,
    /// Warnings (cut strings, a TIMESTAMP without unit that ConMan would misread).
    pub warnings: Vec<Note>,
}

/// A token stream with one token of look-ahead and memory of the last token.
struct Stream<'a> {
    lexer: Lexer<'a>,
    peeked: Option<(Tok<'a>, Span)>,
    last: Tok<'a>,
}

impl<'a> Stream<'a> {
    fn next(&mut self) -> (Tok<'a>, Span) {
        let t = match self.peeked.take() {
            Some(t) => t,
            None => self.lexer.next_token(),
        };
        self.last = t.0.clone();
        t
    }

    fn peek(&mut self) -> &(Tok<'a>, Span) {
        let lexer = &mut self.lexer;
        self.peeked.get_or_insert_with(|| lexer.next_token())
    }

    /// Skips to the end of the line unless the last token already ended it.
    fn skip_line(&mut self) {
        while !matches!(self.last, Tok::Eol | Tok::Eof) {
            self.next();
        }
    }
}

/// Parses configuration text into statements.
pub fn parse(src: &str) -> Syntax {
    let mut s = Stream {
        lexer: Lexer::new(src),
        peeked: None,
        last: Tok::Eol,
    };
    let mut out = Syntax::default();
    loop {
        let (tok, span) = s.next();
        match tok {
            Tok::Eof => break,
            Tok::Eol => {}
            Tok::Kw(Keyword::Server, _) => {
                out.stmts.push(Stmt::Directive(directive(
                    &mut s,
                    DirectiveKind::Server,
                    span,
                    &mut out.warnings,
                )));
            }
            Tok::Kw(Keyword::Global, _) => {
                out.stmts.push(Stmt::Directive(directive(
                    &mut s,
                    DirectiveKind::Global,
                    span,
                    &mut out.warnings,
                )));
            }
            Tok::Kw(Keyword::Console, _) => {
                out.stmts.push(Stmt::Directive(directive(
                    &mut s,
                    DirectiveKind::Console,
                    span,
                    &mut out.warnings,
                )));
            }
            Tok::Unmatched => {
                out.stmts.push(Stmt::Error(Note {
                    span,
                    message: "unmatched quote".to_string(),
                }));
            }
            other => {
                out.stmts.push(Stmt::Error(Note {
                    span,
                    message: format!("unrecognized token '{}'", other.text()),
                }));
                s.skip_line();
            }
        }
    }
    out.errors.append(&mut s.lexer.errors);
    out.warnings.append(&mut s.lexer.warnings);
    out
}

fn err(span: Span, message: String) -> Option<Note> {
    Some(Note { span, message })
}

fn parse_int(text: &str) -> i64 {
    text.parse::<i64>().unwrap_or(if text.starts_with('-') {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// Reads the pairs of one directive (the directive keyword is already consumed).
fn directive(
    s: &mut Stream<'_>,
    kind: DirectiveKind,
    span: Span,
    warnings: &mut Vec<Note>,
) -> Directive {
    let mut d = Directive {
        kind,
        span,
        pairs: Vec::new(),
        error: None,
    };
    loop {
        let (tok, tspan) = s.next();
        let key = match tok {
            Tok::Eol | Tok::Eof => return d,
            Tok::Unmatched => {
                d.error = err(tspan, "unmatched quote".to_string());
                break;
            }
            Tok::Kw(k, _) if kind.allows(k) => k,
            other => {
                d.error = err(tspan, format!("unrecognized token '{}'", other.text()));
                break;
            }
        };
        let kw = key.as_str();
        let (eq, eq_span) = s.next();
        if eq != Tok::Char('=') {
            // ConMan misspells this one for console IPMIOPTS and TESTOPTS.
            let word = if kind == DirectiveKind::Console
                && matches!(key, Keyword::Ipmiopts | Keyword::Testopts)
            {
                "unexpected"
            } else {
                "expected"
            };
            d.error = err(eq_span, format!("{word} '=' after {kw} keyword"));
            break;
        }
        let (v, vspan) = s.next();
        let value = match (key.value_kind(), v) {
            (ValueKind::OnOff, Tok::Kw(Keyword::On, _)) => Value::OnOff(true),
            (ValueKind::OnOff, Tok::Kw(Keyword::Off, _)) => Value::OnOff(false),
            (ValueKind::OnOff, _) => {
                d.error = err(vspan, format!("expected ON or OFF for {kw} value"));
                break;
            }
            (ValueKind::Int, Tok::Int(t)) => Value::Int(parse_int(t)),
            (ValueKind::Int, _) => {
                d.error = err(vspan, format!("expected INTEGER for {kw} value"));
                break;
            }
            (ValueKind::Str, Tok::Str { text, .. }) => Value::Str(text.to_string()),
            (ValueKind::Str, _) => {
                d.error = err(vspan, format!("expected STRING for {kw} value"));
                break;
            }
            (ValueKind::Timestamp, Tok::Int(t)) => {
                let n = parse_int(t);
                if n < 0 {
                    d.error = err(vspan, format!("invalid {kw} value {n}"));
                    break;
                }
                let (u, uspan) = s.next();
                let unit = match u {
                    Tok::Eol | Tok::Eof => {
                        // ConMan keeps reading pairs from the next line here; we end the
                        // directive and warn when that would have mattered.
                        if !matches!(s.peek().0, Tok::Eol | Tok::Eof) {
                            warnings.push(Note {
                                span: vspan,
                                message: format!(
                                    "{kw} value without a unit ends the line: ConMan would \
                                     misread the next line; write '{n}m'"
                                ),
                            });
                        }
                        d.pairs.push(Pair {
                            key,
                            key_span: tspan,
                            value: Value::Timestamp(n, TimeUnit::None),
                            value_span: vspan,
                        });
                        return d;
                    }
                    Tok::Str { text, .. } if text.len() == 1 => match text {
                        "m" | "M" => TimeUnit::Minutes,
                        "h" | "H" => TimeUnit::Hours,
                        "d" | "D" => TimeUnit::Days,
                        _ => {
                            d.error =
                                err(uspan, format!("expected (m|d|h) qualifier for {kw} value"));
                            break;
                        }
                    },
                    _ => {
                        d.error = err(uspan, format!("expected (m|d|h) qualifier for {kw} value"));
                        break;
                    }
                };
                Value::Timestamp(n, unit)
            }
            (ValueKind::Timestamp, _) => {
                d.error = err(vspan, format!("expected INTEGER for {kw} value"));
                break;
            }
        };
        d.pairs.push(Pair {
            key,
            key_span: tspan,
            value,
            value_span: vspan,
        });
    }
    s.skip_line();
    d
}
