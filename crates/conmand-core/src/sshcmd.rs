//! The command of an SSH `exec` request to the SSH front end:
//! `ssh -p 7822 -t host -- [conman options] [consoles]`.
//!
//! The words are split like a shell would for simple cases (blanks separate
//! words; `'…'` and `"…"` quote, a backslash escapes the next character outside
//! single quotes) and the options are read like the `conman` client's (getopt:
//! grouped flags such as `-fj`, an option's argument attached or as the next word,
//! `--` ends the options, the last of `-m`/`-q`/connect wins). Options that would
//! act on the daemon host rather than the console (`-d`, `-F`, `-l`) are refused.

use crate::protocol::{Command, Request};

/// What an exec request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshCommand {
    /// The request for the daemon (patterns may be empty: see [`SshCommand::help`]
    /// and the front end's default console).
    pub request: Request,
    /// `-e CHAR`: the escape character (default `&`).
    pub escape: u8,
    /// `-h`: print the options instead.
    pub help: bool,
    /// `-V`: print the version instead.
    pub version: bool,
}

/// Most words a command may have.
const MAX_WORDS: usize = 1024;

/// The options text printed for `-h`.
pub const HELP: &str = "\
Usage: ssh -p PORT [-t] [CONSOLE@]HOST -- [OPTIONS] [CONSOLES]

  -b        Broadcast to multiple consoles (write-only).
  -e CHAR   Specify escape character. [&]
  -f        Force connection (console-stealing).
  -h        Display this help.
  -j        Join connection (console-sharing).
  -m        Monitor connection (read-only).
  -q        Query server about specified console(s).
  -Q        Be quiet and suppress informational messages.
  -r        Match console names via regex instead of globbing.
  -v        Be verbose.
  -V        Display version information.

Without CONSOLES the console is the SSH user name (CONSOLE@HOST).
Once a connection is established, enter \"&.\" to exit or \"&?\" for help.
";

/// Splits `line` into words (see the module documentation).
///
/// # Errors
/// An unterminated quote, or too many words.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unterminated ' quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => cur.push(c),
                            None => return Err("unterminated \" quote".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("unterminated \" quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
        if words.len() > MAX_WORDS {
            return Err(format!("more than {MAX_WORDS} words"));
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Parses an exec request's command.
///
/// # Errors
/// A one-line reason (`invalid option -- 'x'`, `option -d is not available over
/// SSH`, …).
pub fn parse(line: &str) -> Result<SshCommand, String> {
    let words = split_words(line)?;
    // A newline in a pattern would end the request line early and the rest would
    // reach the console as typed input (found by the `access` fuzz target).
    if let Some(w) = words.iter().find(|w| w.chars().any(char::is_control)) {
        return Err(format!(
            "control characters are not allowed (in \"{}\")",
            w.escape_debug()
        ));
    }
    let mut cmd = SshCommand {
        request: Request::new(Command::Connect),
        escape: b'&',
        help: false,
        version: false,
    };
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        i += 1;
        if w == "--" {
            break;
        }
        if !w.starts_with('-') || w.len() == 1 {
            cmd.request.consoles.push(w.clone());
            continue;
        }
        let flags: Vec<char> = w[1..].chars().collect();
        let mut j = 0;
        while j < flags.len() {
            let f = flags[j];
            j += 1;
            match f {
                'b' => cmd.request.broadcast = true,
                'f' => {
                    cmd.request.force = true;
                    cmd.request.join = false;
                }
                'j' => {
                    cmd.request.join = true;
                    cmd.request.force = false;
                }
                'm' => cmd.request.command = Command::Monitor,
                'q' => cmd.request.command = Command::Query,
                'Q' => cmd.request.quiet = true,
                'r' => cmd.request.regex = true,
                'v' => {}
                'h' => cmd.help = true,
                'V' => cmd.version = true,
                'e' => {
                    let arg: String = flags[j..].iter().collect();
                    j = flags.len();
                    let arg = if arg.is_empty() {
                        let next = words.get(i).ok_or("option requires an argument -- 'e'")?;
                        i += 1;
                        next.clone()
                    } else {
                        arg
                    };
                    cmd.escape = *arg
                        .as_bytes()
                        .first()
                        .ok_or("option requires an argument -- 'e'")?;
                }
                'd' | 'F' | 'l' | 'L' => {
                    return Err(format!("option -{f} is not available over SSH"));
                }
                other => return Err(format!("invalid option -- '{other}'")),
            }
        }
    }
    cmd.request
        .consoles
        .extend(words[i.min(words.len())..].iter().cloned());
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(
            split_words(r#" -j  'a b' "c\"d" e\ f "#).unwrap(),
            ["-j", "a b", "c\"d", "e f"]
        );
        assert_eq!(split_words("").unwrap(), Vec::<String>::new());
        assert!(split_words("'open").is_err());
    }

    #[test]
    fn options_read_like_the_client() {
        let c = parse("-fQ server-0").unwrap();
        assert_eq!(c.request.command, Command::Connect);
        assert!(c.request.force && c.request.quiet && !c.request.join);
        assert_eq!(c.request.consoles, ["server-0"]);
        let c = parse("-q -r 'gpu[0-9]+'").unwrap();
        assert_eq!(c.request.command, Command::Query);
        assert!(c.request.regex);
        assert_eq!(c.request.consoles, ["gpu[0-9]+"]);
        let c = parse("-m -e ^ a -- -b").unwrap();
        assert_eq!(c.request.command, Command::Monitor);
        assert_eq!(c.escape, b'^');
        assert_eq!(c.request.consoles, ["a", "-b"]);
        assert_eq!(parse("-e#").unwrap().escape, b'#');
        assert!(parse("-b a b").unwrap().request.broadcast);
        assert!(parse("-h").unwrap().help);
        assert!(parse("").unwrap().request.consoles.is_empty());
    }

    #[test]
    fn host_side_options_and_typos_are_refused() {
        assert_eq!(
            parse("-d 10.0.0.1 x").unwrap_err(),
            "option -d is not available over SSH"
        );
        assert_eq!(parse("-x").unwrap_err(), "invalid option -- 'x'");
        assert_eq!(
            parse("'a\nCONNECT' b").unwrap_err(),
            "control characters are not allowed (in \"a\\nCONNECT\")"
        );
        assert_eq!(
            parse("-e").unwrap_err(),
            "option requires an argument -- 'e'"
        );
    }
}
