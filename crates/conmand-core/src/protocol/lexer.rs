//! The tokenizer for protocol lines, following the "laws" of ConMan's lexer
//! (`lex_next`, reference §1.1 and §3.2).
//!
//! The lexer works on a byte slice and treats it like a C string: a NUL byte is
//! end-of-input, and every call after the end returns [`Token::Eof`] again.
//! That matters because the parsers in [`super::message`] copy ConMan's control
//! flow token for token, including its "read one token too many" habits.
//!
//! Rules, in the order they are tried:
//! - space, TAB, VT and FF are skipped;
//! - `#` starts a comment that runs up to (not including) the next CR, LF or NUL;
//! - CR LF, CR or LF is one [`Token::Eol`];
//! - `'` or `"` opens a string that ends at the next *same* quote; there are no
//!   escapes; a CR, LF or end of input before the closing quote gives
//!   [`Token::Unmatched`]; the text is cut to [`MAX_TOKEN_LEN`] bytes;
//! - a backslash followed by LF (or CR LF) is a line continuation and skipped;
//! - a word `[A-Za-z_][A-Za-z0-9_]*` is a [`Keyword`] when it matches one
//!   case-insensitively, otherwise a [`Token::Str`] (cut to 1023 bytes);
//! - `[-+]?[0-9]+` is a [`Token::Int`];
//! - any other byte (including every byte ≥ 0x80) is a [`Token::Char`].

/// Longest string or word text the lexer keeps (`LEX_MAX_STR - 1`); longer ones
/// are silently cut.
pub const MAX_TOKEN_LEN: usize = 1023;

/// A keyword of ConMan's protocol table (`proto_strs`), matched case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyword {
    /// `BROADCAST`
    Broadcast,
    /// `CODE`
    Code,
    /// `CONNECT`
    Connect,
    /// `CONSOLE`
    Console,
    /// `ERROR`
    Error,
    /// `FORCE`
    Force,
    /// `HELLO`
    Hello,
    /// `JOIN`
    Join,
    /// `MESSAGE`
    Message,
    /// `MONITOR`
    Monitor,
    /// `OK`
    Ok,
    /// `OPTION`
    Option,
    /// `QUERY`
    Query,
    /// `QUIET`
    Quiet,
    /// `REGEX`
    Regex,
    /// `RESET`
    Reset,
    /// `TTY`
    Tty,
    /// `USER`
    User,
}

impl Keyword {
    /// Every keyword, in ConMan's table order (sorted).
    pub const ALL: [Keyword; 18] = [
        Keyword::Broadcast,
        Keyword::Code,
        Keyword::Connect,
        Keyword::Console,
        Keyword::Error,
        Keyword::Force,
        Keyword::Hello,
        Keyword::Join,
        Keyword::Message,
        Keyword::Monitor,
        Keyword::Ok,
        Keyword::Option,
        Keyword::Query,
        Keyword::Quiet,
        Keyword::Regex,
        Keyword::Reset,
        Keyword::Tty,
        Keyword::User,
    ];

    /// The keyword as it is sent on the wire (upper case).
    pub const fn as_str(self) -> &'static str {
        match self {
            Keyword::Broadcast => "BROADCAST",
            Keyword::Code => "CODE",
            Keyword::Connect => "CONNECT",
            Keyword::Console => "CONSOLE",
            Keyword::Error => "ERROR",
            Keyword::Force => "FORCE",
            Keyword::Hello => "HELLO",
            Keyword::Join => "JOIN",
            Keyword::Message => "MESSAGE",
            Keyword::Monitor => "MONITOR",
            Keyword::Ok => "OK",
            Keyword::Option => "OPTION",
            Keyword::Query => "QUERY",
            Keyword::Quiet => "QUIET",
            Keyword::Regex => "REGEX",
            Keyword::Reset => "RESET",
            Keyword::Tty => "TTY",
            Keyword::User => "USER",
        }
    }

    /// Looks a word up case-insensitively. The whole word must match.
    pub fn lookup(word: &[u8]) -> Option<Keyword> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().as_bytes().eq_ignore_ascii_case(word))
    }
}

/// One token of a protocol line. Text borrows from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// End of input (end of the slice or a NUL byte). Sticky.
    Eof,
    /// End of line: CR LF, CR or LF.
    Eol,
    /// A protocol keyword.
    Keyword(Keyword),
    /// A quoted string (without its quotes) or a word that is not a keyword.
    /// At most [`MAX_TOKEN_LEN`] bytes; still *lex-encoded* (see
    /// [`super::decode_value`]).
    Str(&'a [u8]),
    /// An integer `[-+]?[0-9]+` (text cut to [`MAX_TOKEN_LEN`] bytes).
    Int(&'a [u8]),
    /// A string whose closing quote is missing on this line (`LEX_ERR`).
    Unmatched,
    /// Any other single byte, e.g. `=`.
    Char(u8),
}

/// A tokenizer over one protocol line (or any byte slice).
#[derive(Debug, Clone)]
pub struct Lexer<'a> {
    /// The input; `pos` indexes into it. A NUL byte ends the input early.
    input: &'a [u8],
    /// Offset of the next byte to look at.
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// Starts tokenizing `input` from its first byte.
    pub fn new(input: &'a [u8]) -> Self {
        Lexer { input, pos: 0 }
    }

    /// The byte at `i`, or NUL past the end (C-string view of the input).
    fn at(&self, i: usize) -> u8 {
        self.input.get(i).copied().unwrap_or(0)
    }

    /// Returns the next token. After the end of input this keeps returning
    /// [`Token::Eof`].
    pub fn next_token(&mut self) -> Token<'a> {
        loop {
            let c = self.at(self.pos);
            match c {
                0 => return Token::Eof,
                b' ' | b'\t' | 0x0B | 0x0C => self.pos += 1,
                b'#' => {
                    self.pos += 1;
                    while !matches!(self.at(self.pos), 0 | b'\n' | b'\r') {
                        self.pos += 1;
                    }
                }
                b'\r' => {
                    self.pos += if self.at(self.pos + 1) == b'\n' { 2 } else { 1 };
                    return Token::Eol;
                }
                b'\n' => {
                    self.pos += 1;
                    return Token::Eol;
                }
                b'"' | b'\'' => return self.quoted(c),
                b'\\' if self.at(self.pos + 1) == b'\n' => self.pos += 2,
                b'\\' if self.at(self.pos + 1) == b'\r' && self.at(self.pos + 2) == b'\n' => {
                    self.pos += 3
                }
                _ => return self.word_or_char(c),
            }
        }
    }

    /// Lexes a string opened by `quote` at `self.pos`.
    fn quoted(&mut self, quote: u8) -> Token<'a> {
        let start = self.pos + 1;
        let mut p = start;
        loop {
            let b = self.at(p);
            if b == quote {
                let len = (p - start).min(MAX_TOKEN_LEN);
                self.pos = p + 1;
                return Token::Str(&self.input[start..start + len]);
            }
            if matches!(b, 0 | b'\r' | b'\n') {
                // The line ends first: leave the CR/LF for the next call.
                self.pos = p;
                return Token::Unmatched;
            }
            p += 1;
        }
    }

    /// Lexes a word, an integer or a single-character token at `self.pos`.
    fn word_or_char(&mut self, c: u8) -> Token<'a> {
        let start = self.pos;
        if c.is_ascii_alphabetic() || c == b'_' {
            let mut p = start + 1;
            while {
                let b = self.at(p);
                b.is_ascii_alphanumeric() || b == b'_'
            } {
                p += 1;
            }
            self.pos = p;
            let word = &self.input[start..p];
            return match Keyword::lookup(word) {
                Some(k) => Token::Keyword(k),
                None => Token::Str(&word[..word.len().min(MAX_TOKEN_LEN)]),
            };
        }
        if c.is_ascii_digit() || (matches!(c, b'-' | b'+') && self.at(start + 1).is_ascii_digit()) {
            let mut p = start + 1;
            while self.at(p).is_ascii_digit() {
                p += 1;
            }
            self.pos = p;
            let len = (p - start).min(MAX_TOKEN_LEN);
            return Token::Int(&self.input[start..start + len]);
        }
        self.pos += 1;
        Token::Char(c)
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    /// Yields tokens up to, not including, [`Token::Eof`].
    fn next(&mut self) -> Option<Token<'a>> {
        match self.next_token() {
            Token::Eof => None,
            t => Some(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(input: &[u8]) -> Vec<Token<'_>> {
        Lexer::new(input).collect()
    }

    #[test]
    fn keywords_are_case_insensitive_and_values_keep_case() {
        assert_eq!(
            toks(b"hello User='Bob'\n"),
            vec![
                Token::Keyword(Keyword::Hello),
                Token::Keyword(Keyword::User),
                Token::Char(b'='),
                Token::Str(b"Bob"),
                Token::Eol,
            ]
        );
    }

    #[test]
    fn keyword_table_roundtrips_and_is_sorted() {
        for k in Keyword::ALL {
            assert_eq!(Keyword::lookup(k.as_str().as_bytes()), Some(k));
            assert_eq!(
                Keyword::lookup(k.as_str().to_lowercase().as_bytes()),
                Some(k)
            );
        }
        let names: Vec<_> = Keyword::ALL.iter().map(|k| k.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert_eq!(Keyword::lookup(b"HELLOX"), None);
        assert_eq!(Keyword::lookup(b"HELL"), None);
    }

    #[test]
    fn unknown_words_are_strings_and_other_bytes_are_chars() {
        assert_eq!(
            toks(b"foo_1 & \xa7"),
            vec![Token::Str(b"foo_1"), Token::Char(b'&'), Token::Char(0xA7)]
        );
    }

    #[test]
    fn quotes_of_either_kind_and_no_escapes() {
        assert_eq!(
            toks(br#""it's" 'say "hi"' 'a\b'"#),
            vec![
                Token::Str(b"it's"),
                Token::Str(br#"say "hi""#),
                Token::Str(br"a\b"),
            ]
        );
    }

    #[test]
    fn unmatched_quote_stops_before_the_line_end() {
        assert_eq!(
            toks(b"'abc\nUSER"),
            vec![Token::Unmatched, Token::Eol, Token::Keyword(Keyword::User)]
        );
        assert_eq!(toks(b"\"abc"), vec![Token::Unmatched]);
    }

    #[test]
    fn comments_run_to_the_line_end_but_not_inside_strings() {
        assert_eq!(
            toks(b"OK # CONSOLE='x'\n'#not'"),
            vec![Token::Keyword(Keyword::Ok), Token::Eol, Token::Str(b"#not")]
        );
        assert_eq!(
            toks(b"#x\rOK"),
            vec![Token::Eol, Token::Keyword(Keyword::Ok)]
        );
    }

    #[test]
    fn line_ends_cr_lf_crlf() {
        assert_eq!(toks(b"\r\n\n\r"), vec![Token::Eol, Token::Eol, Token::Eol]);
    }

    #[test]
    fn whitespace_and_continuations() {
        assert_eq!(
            toks(b" \t\x0b\x0cOK\\\nQUIET\\\r\nREGEX \\x"),
            vec![
                Token::Keyword(Keyword::Ok),
                Token::Keyword(Keyword::Quiet),
                Token::Keyword(Keyword::Regex),
                Token::Char(b'\\'),
                Token::Str(b"x"),
            ]
        );
    }

    #[test]
    fn integers_with_signs() {
        assert_eq!(
            toks(b"CODE=7 -3 +12 - 5x"),
            vec![
                Token::Keyword(Keyword::Code),
                Token::Char(b'='),
                Token::Int(b"7"),
                Token::Int(b"-3"),
                Token::Int(b"+12"),
                Token::Char(b'-'),
                Token::Int(b"5"),
                Token::Str(b"x"),
            ]
        );
    }

    #[test]
    fn nul_is_end_of_input_and_eof_is_sticky() {
        let mut l = Lexer::new(b"OK\0CONSOLE");
        assert_eq!(l.next_token(), Token::Keyword(Keyword::Ok));
        assert_eq!(l.next_token(), Token::Eof);
        assert_eq!(l.next_token(), Token::Eof);
    }

    #[test]
    fn long_strings_and_words_are_cut_at_1023_bytes() {
        let mut line = b"'".to_vec();
        line.extend(std::iter::repeat_n(b'a', 2000));
        line.extend_from_slice(b"' OK");
        let t = toks(&line);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0], Token::Str(&line[1..1024]));
        assert_eq!(t[1], Token::Keyword(Keyword::Ok));

        let word = vec![b'w'; 1500];
        assert_eq!(toks(&word), vec![Token::Str(&word[..1023])]);
    }
}
