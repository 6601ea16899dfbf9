//! The client's handshake messages, greeting and request, encoded and decoded
//! exactly as ConMan does (reference §3.3, §3.4). The server's answers are in
//! [`super::response`].
//!
//! Encoders produce ConMan's byte-exact lines. Decoders replay ConMan's server
//! token loops (`recv_greeting`/`parse_greeting`, `recv_req`/`parse_cmd_opts`),
//! so their quirks carry over: tokens before the key word are skipped,
//! `KEY = value` pairs consume their tokens even when they do not match, the
//! last value wins, and a CR inside a line ends one token loop and lets the
//! outer loop go on.

use bytes::BufMut;

use super::lexer::{Keyword, Lexer, Token};
use super::{RequestError, assigned_keyword, assigned_str, decode_value, put_option, put_pair};

/// The client's first line: `HELLO USER='<user>'[ TTY='<tty>']`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Greeting {
    /// The login name. The server rejects a greeting without one (error 2).
    pub user: Option<String>,
    /// The client's terminal without `/dev/` (e.g. `pts/3`), if stdin is a tty.
    pub tty: Option<String>,
}

impl Greeting {
    /// A greeting for `user`, with an optional tty.
    pub fn new(user: impl Into<String>, tty: Option<String>) -> Self {
        Greeting {
            user: Some(user.into()),
            tty,
        }
    }

    /// Appends the wire form, `HELLO USER='u' TTY='t'\n`. `USER` (or `TTY`) is
    /// left out when it is `None`; quotes inside values are lex-encoded.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(Keyword::Hello.as_str().as_bytes());
        if let Some(user) = &self.user {
            put_pair(out, Keyword::User, user);
        }
        if let Some(tty) = &self.tty {
            put_pair(out, Keyword::Tty, tty);
        }
        out.put_u8(b'\n');
    }

    /// The wire form as a new vector (see [`Greeting::encode`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Decodes a greeting line the way ConMan's server does, without checking it.
    ///
    /// `USER=` and `TTY=` count only after a `HELLO` keyword; empty values are
    /// skipped; the last value wins; values are lex-decoded (7-bit).
    pub fn decode(line: &[u8]) -> Greeting {
        let mut g = Greeting::default();
        let mut l = Lexer::new(line);
        loop {
            match l.next_token() {
                Token::Keyword(Keyword::Hello) => g.decode_hello_args(&mut l),
                Token::Eof | Token::Eol => return g,
                _ => {}
            }
        }
    }

    /// `parse_greeting`: reads `USER=`/`TTY=` pairs up to the end of the line.
    fn decode_hello_args(&mut self, l: &mut Lexer<'_>) {
        loop {
            match l.next_token() {
                Token::Keyword(Keyword::User) => {
                    if let Some(v) = assigned_str(l).filter(|v| !v.is_empty()) {
                        self.user = Some(decode_value(v));
                    }
                }
                Token::Keyword(Keyword::Tty) => {
                    if let Some(v) = assigned_str(l).filter(|v| !v.is_empty()) {
                        self.tty = Some(decode_value(v));
                    }
                }
                Token::Eof | Token::Eol => return,
                _ => {}
            }
        }
    }

    /// Decodes a greeting line and insists on a user, as the server does.
    ///
    /// # Errors
    /// [`RequestError::NoUser`] (error 2) when no non-empty `USER=` follows
    /// `HELLO`; ConMan then logs the user as `unknown` and closes.
    pub fn parse(line: &[u8]) -> Result<Greeting, RequestError> {
        let g = Greeting::decode(line);
        if g.user.is_none() {
            return Err(RequestError::NoUser);
        }
        Ok(g)
    }
}

/// The request command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// `QUERY`: list matching consoles; the server closes afterwards.
    Query,
    /// `MONITOR`: read-only session on exactly one console.
    Monitor,
    /// `CONNECT`: read-write session (or broadcast to several consoles).
    Connect,
}

impl Command {
    /// The keyword sent for this command.
    pub const fn keyword(self) -> Keyword {
        match self {
            Command::Query => Keyword::Query,
            Command::Monitor => Keyword::Monitor,
            Command::Connect => Keyword::Connect,
        }
    }
}

/// The client's second line: a command, options and console patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What the client wants.
    pub command: Command,
    /// `OPTION=QUIET`: suppress informational messages.
    pub quiet: bool,
    /// `OPTION=REGEX`: patterns are one case-insensitive regex, not globs.
    pub regex: bool,
    /// `OPTION=FORCE`: steal the console from its writers.
    pub force: bool,
    /// `OPTION=JOIN`: share the console with its writers.
    pub join: bool,
    /// `OPTION=BROADCAST`: write-only to every matched console.
    pub broadcast: bool,
    /// Console patterns (globs, or regexes with `regex`), lex-decoded.
    pub consoles: Vec<String>,
}

impl Request {
    /// A request for `command` with no options and no patterns.
    pub fn new(command: Command) -> Self {
        Request {
            command,
            quiet: false,
            regex: false,
            force: false,
            join: false,
            broadcast: false,
            consoles: Vec::new(),
        }
    }

    /// Appends the wire form like ConMan's client (`send_req`):
    /// `<CMD>[ OPTION=QUIET][ OPTION=REGEX][ OPTION=FORCE][ OPTION=JOIN][ OPTION=BROADCAST]( CONSOLE='x')*\n`.
    ///
    /// As in ConMan, FORCE, JOIN and BROADCAST are only sent with
    /// [`Command::Connect`]; for other commands those flags are ignored.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(self.command.keyword().as_str().as_bytes());
        let connect = self.command == Command::Connect;
        let options = [
            (self.quiet, Keyword::Quiet),
            (self.regex, Keyword::Regex),
            (connect && self.force, Keyword::Force),
            (connect && self.join, Keyword::Join),
            (connect && self.broadcast, Keyword::Broadcast),
        ];
        for (_, opt) in options.iter().filter(|(on, _)| *on) {
            put_option(out, *opt);
        }
        for c in &self.consoles {
            put_pair(out, Keyword::Console, c);
        }
        out.put_u8(b'\n');
    }

    /// The wire form as a new vector (see [`Request::encode`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Decodes a request line the way ConMan's server does.
    ///
    /// Tokens before the first command keyword are ignored; the command's options
    /// and consoles are read up to the end of the line and later command keywords
    /// are ignored. Every option is accepted with every command. Empty
    /// `CONSOLE=''` values are skipped.
    ///
    /// # Errors
    /// [`RequestError::NoConsoles`] (error 5) when the line has no command
    /// keyword: ConMan then collects no consoles and answers with that error.
    pub fn parse(line: &[u8]) -> Result<Request, RequestError> {
        let mut req: Option<Request> = None;
        let mut l = Lexer::new(line);
        loop {
            let command = match l.next_token() {
                Token::Keyword(Keyword::Connect) => Command::Connect,
                Token::Keyword(Keyword::Monitor) => Command::Monitor,
                Token::Keyword(Keyword::Query) => Command::Query,
                Token::Eof | Token::Eol => break,
                _ => continue,
            };
            // Only reachable again after a CR ended the options loop early; ConMan
            // then overwrites the command and keeps the flags and consoles.
            let r = req.get_or_insert_with(|| Request::new(command));
            r.command = command;
            r.decode_options(&mut l);
        }
        req.ok_or(RequestError::NoConsoles)
    }

    /// `parse_cmd_opts`: reads options and consoles up to the end of the line.
    fn decode_options(&mut self, l: &mut Lexer<'_>) {
        loop {
            match l.next_token() {
                Token::Keyword(Keyword::Console) => {
                    if let Some(v) = assigned_str(l).filter(|v| !v.is_empty()) {
                        self.consoles.push(decode_value(v));
                    }
                }
                Token::Keyword(Keyword::Option) => match assigned_keyword(l) {
                    Some(Keyword::Broadcast) => self.broadcast = true,
                    Some(Keyword::Force) => self.force = true,
                    Some(Keyword::Join) => self.join = true,
                    Some(Keyword::Quiet) => self.quiet = true,
                    Some(Keyword::Regex) => self.regex = true,
                    _ => {}
                },
                Token::Eof | Token::Eol => return,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    // ---- greeting ----

    #[test]
    fn greeting_encodes_like_the_observed_client() {
        assert_eq!(
            Greeting::new("root", None).to_bytes(),
            b"HELLO USER='root'\n"
        );
        assert_eq!(
            Greeting::new("root", Some("pts/3".into())).to_bytes(),
            b"HELLO USER='root' TTY='pts/3'\n"
        );
        assert_eq!(
            Greeting::new("o'neil", None).to_bytes(),
            b"HELLO USER='o\xa7neil'\n"
        );
    }

    #[test]
    fn greeting_decodes_user_and_tty() {
        let g = Greeting::parse(b"HELLO USER='alice' TTY='pts/9'\n").unwrap();
        assert_eq!(g, Greeting::new("alice", Some("pts/9".into())));
        // Unquoted words and double quotes are strings too.
        let g = Greeting::parse(b"hello user=bob tty=\"x\"\n").unwrap();
        assert_eq!(g, Greeting::new("bob", Some("x".into())));
    }

    #[test]
    fn greeting_user_only_after_hello() {
        assert_eq!(
            Greeting::parse(b"USER='a' HELLO\n"),
            Err(RequestError::NoUser)
        );
        assert_eq!(Greeting::parse(b"USER='a'\n"), Err(RequestError::NoUser));
        let g = Greeting::parse(b"junk 12 = HELLO USER='a'\n").unwrap();
        assert_eq!(g.user.as_deref(), Some("a"));
    }

    #[test]
    fn greeting_last_value_wins_and_empty_is_skipped() {
        let g = Greeting::parse(b"HELLO USER='a' HELLO USER='b' TTY='t' TTY=''\n").unwrap();
        assert_eq!(g, Greeting::new("b", Some("t".into())));
        assert_eq!(
            Greeting::parse(b"HELLO USER=''\n"),
            Err(RequestError::NoUser)
        );
    }

    #[test]
    fn greeting_value_is_decoded_to_7_bits() {
        let g = Greeting::parse(b"HELLO USER='o\xa7n\xa2\xc3\xa9'\n").unwrap();
        assert_eq!(g.user.as_deref(), Some("o'n\"C)"));
    }

    #[test]
    fn greeting_pairs_consume_tokens_like_conman() {
        // `USER USER='x'`: the second USER is eaten as the would-be '='.
        assert_eq!(
            Greeting::parse(b"HELLO USER USER='x'\n"),
            Err(RequestError::NoUser)
        );
        // `USER = =` eats both '=' tokens; then 'x' is a lone string.
        assert_eq!(
            Greeting::parse(b"HELLO USER==x\n"),
            Err(RequestError::NoUser)
        );
        // A CR ends parse_greeting; USER after it is outside HELLO.
        assert_eq!(
            Greeting::parse(b"HELLO\rUSER='x'\n"),
            Err(RequestError::NoUser)
        );
        // ...but a HELLO after the CR starts a new greeting scan.
        let g = Greeting::parse(b"HELLO USER='a'\rHELLO TTY='t'\n").unwrap();
        assert_eq!(g, Greeting::new("a", Some("t".into())));
        // A comment hides the rest; NUL ends the input.
        assert_eq!(
            Greeting::parse(b"HELLO # USER='x'\n"),
            Err(RequestError::NoUser)
        );
        assert_eq!(
            Greeting::parse(b"HELLO \0USER='x'\n"),
            Err(RequestError::NoUser)
        );
    }

    #[test]
    fn no_user_error_line_is_exact() {
        assert_eq!(
            RequestError::NoUser.to_response().to_bytes(),
            b"ERROR CODE=2 MESSAGE='Invalid greeting: no user specified'\n"
        );
    }

    // ---- request ----

    #[test]
    fn request_encodes_like_the_observed_client() {
        let mut r = Request::new(Command::Connect);
        r.join = true;
        r.broadcast = true;
        r.consoles = strings(&["n1", "n2"]);
        assert_eq!(
            r.to_bytes(),
            b"CONNECT OPTION=JOIN OPTION=BROADCAST CONSOLE='n1' CONSOLE='n2'\n"
        );

        let mut q = Request::new(Command::Query);
        q.quiet = true;
        q.regex = true;
        q.consoles = strings(&["a", "b", "c"]);
        assert_eq!(
            q.to_bytes(),
            b"QUERY OPTION=QUIET OPTION=REGEX CONSOLE='a' CONSOLE='b' CONSOLE='c'\n"
        );
        assert_eq!(Request::new(Command::Query).to_bytes(), b"QUERY\n");
    }

    #[test]
    fn request_encodes_all_options_in_order() {
        let mut r = Request::new(Command::Connect);
        r.quiet = true;
        r.regex = true;
        r.force = true;
        r.join = true;
        r.broadcast = true;
        r.consoles = strings(&["na'me"]);
        assert_eq!(
            r.to_bytes(),
            b"CONNECT OPTION=QUIET OPTION=REGEX OPTION=FORCE OPTION=JOIN OPTION=BROADCAST CONSOLE='na\xa7me'\n"
        );
        // FORCE/JOIN/BROADCAST only go with CONNECT.
        r.command = Command::Monitor;
        assert_eq!(
            r.to_bytes(),
            b"MONITOR OPTION=QUIET OPTION=REGEX CONSOLE='na\xa7me'\n"
        );
    }

    #[test]
    fn request_decode_roundtrip() {
        let mut r = Request::new(Command::Connect);
        r.force = true;
        r.broadcast = true;
        r.consoles = strings(&["x*", "it's"]);
        assert_eq!(Request::parse(&r.to_bytes()), Ok(r));
    }

    #[test]
    fn request_accepts_every_option_with_every_command() {
        let r = Request::parse(b"MONITOR OPTION=force OPTION=Join option=BROADCAST\n").unwrap();
        assert_eq!(r.command, Command::Monitor);
        assert!(r.force && r.join && r.broadcast && !r.quiet && !r.regex);
    }

    #[test]
    fn request_first_command_wins_and_earlier_tokens_are_ignored() {
        let r = Request::parse(b"CONSOLE='a' QUERY CONSOLE='b' CONNECT CONSOLE='c'\n").unwrap();
        assert_eq!(r.command, Command::Query);
        assert_eq!(r.consoles, strings(&["b", "c"]));
    }

    #[test]
    fn request_without_command_is_error_5() {
        let e = Request::parse(b"CONSOLE='a' OPTION=QUIET\n").unwrap_err();
        assert_eq!(e, RequestError::NoConsoles);
        assert_eq!(
            e.to_response().to_bytes(),
            b"ERROR CODE=5 MESSAGE='Found no matching consoles'\n"
        );
    }

    #[test]
    fn request_skips_empty_consoles_comments_and_junk() {
        let r =
            Request::parse(b"QUERY CONSOLE='' CONSOLE 'x' = CONSOLE='y' # CONSOLE='z'\n").unwrap();
        assert_eq!(r.consoles, strings(&["y"]));
    }

    #[test]
    fn request_after_cr_a_later_command_overrides() {
        let r = Request::parse(b"QUERY OPTION=QUIET CONSOLE='a'\rCONNECT CONSOLE='b'\n").unwrap();
        assert_eq!(r.command, Command::Connect);
        assert!(r.quiet);
        assert_eq!(r.consoles, strings(&["a", "b"]));
    }

    #[test]
    fn request_long_pattern_is_cut_at_1023_bytes() {
        let mut line = b"QUERY CONSOLE='".to_vec();
        line.extend(std::iter::repeat_n(b'n', 1100));
        line.extend_from_slice(b"'\n");
        let r = Request::parse(&line).unwrap();
        assert_eq!(r.consoles[0].len(), 1023);
    }
}
