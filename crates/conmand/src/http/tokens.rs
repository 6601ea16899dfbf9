//! `server httptokens=FILE`: bearer tokens for the HTTP API.
//!
//! One `TOKEN : USER` per line; blank lines and lines starting with `#` are
//! ignored. Tokens are at least 16 characters of `[A-Za-z0-9._~+/=-]`; the file
//! must be readable by its owner only (mode 0600 or stricter), like `conman.pswd`.

use std::collections::HashMap;
use std::path::Path;

/// The tokens of one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    by_token: HashMap<String, String>,
}

/// A mistake in a tokens file (`line` 0: the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

/// Shortest token accepted.
pub const MIN_TOKEN: usize = 16;

impl Tokens {
    /// Parse the file's text; every mistake is reported as `FILE:LINE: message`.
    pub fn parse(text: &str, file: &str) -> Result<Tokens, Vec<TokenError>> {
        let mut by_token = HashMap::new();
        let mut errors = Vec::new();
        let mut err = |line: usize, message: String| {
            errors.push(TokenError {
                file: file.to_string(),
                line,
                message,
            })
        };
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let Some((token, user)) = t.split_once(':') else {
                err(n, "expected \"TOKEN : USER\"".into());
                continue;
            };
            let (token, user) = (token.trim(), user.trim());
            if token.len() < MIN_TOKEN
                || !token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._~+/=-".contains(&b))
            {
                err(
                    n,
                    format!(
                        "a token is at least {MIN_TOKEN} characters of A-Z a-z 0-9 . _ ~ + / = -"
                    ),
                );
                continue;
            }
            if user.is_empty() || user.chars().any(char::is_control) {
                err(n, "missing user name".into());
                continue;
            }
            if by_token
                .insert(token.to_string(), user.to_string())
                .is_some()
            {
                err(n, "token given twice".into());
            }
        }
        if errors.is_empty() {
            Ok(Tokens { by_token })
        } else {
            Err(errors)
        }
    }

    /// Read and check a tokens file.
    pub fn load(path: &Path) -> Result<Tokens, Vec<TokenError>> {
        use std::os::unix::fs::MetadataExt as _;
        let name = path.display().to_string();
        let whole = |message: String| {
            vec![TokenError {
                file: name.clone(),
                line: 0,
                message,
            }]
        };
        let unreadable = |e: std::io::Error| {
            whole(format!(
                "Unable to read HTTP tokens: {}",
                conmand_core::oserror::strerror(&e)
            ))
        };
        let meta = std::fs::metadata(path).map_err(unreadable)?;
        if meta.mode() & 0o077 != 0 {
            return Err(whole(format!(
                "HTTP tokens file is readable by others (mode {:04o}): chmod 600 it",
                meta.mode() & 0o7777
            )));
        }
        let text = std::fs::read(path).map_err(unreadable)?;
        Tokens::parse(&String::from_utf8_lossy(&text), &name)
    }

    /// The user a token belongs to. Every known token is compared in full, so the
    /// time taken does not tell how much of a guess was right.
    pub fn user(&self, token: &str) -> Option<&str> {
        let mut found = None;
        for (t, u) in &self.by_token {
            if same(t.as_bytes(), token.as_bytes()) {
                found = Some(u.as_str());
            }
        }
        found
    }

    /// How many tokens.
    pub fn len(&self) -> usize {
        self.by_token.len()
    }

    /// No tokens at all.
    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }
}

/// Constant-time equality for equal lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_map_to_users_and_mistakes_name_their_line() {
        let t = Tokens::parse(
            "# ops\n\nAbcdefghijklmnop1234 : alice\n  s3cr3t-token-for-bob:bob  \n",
            "t",
        )
        .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.user("Abcdefghijklmnop1234"), Some("alice"));
        assert_eq!(t.user("s3cr3t-token-for-bob"), Some("bob"));
        assert_eq!(t.user("Abcdefghijklmnop123"), None);
        assert_eq!(t.user(""), None);
        let e = Tokens::parse(
            "short : x\nno colon here\nAbcdefghijklmnop1234 :\nAbcdefghijklmnop1234 : a\nAbcdefghijklmnop1234 : b\n",
            "t",
        )
        .unwrap_err();
        let lines: Vec<usize> = e.iter().map(|m| m.line).collect();
        assert_eq!(lines, [1, 2, 3, 5], "{e:?}");
        assert_eq!(e[1].to_string(), "t:2: expected \"TOKEN : USER\"");
    }

    #[test]
    fn a_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("http.tokens");
        std::fs::write(&p, "Abcdefghijklmnop1234 : alice\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Tokens::load(&p).unwrap_err();
        assert!(e[0].message.contains("mode 0644"), "{e:?}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(Tokens::load(&p).unwrap().len(), 1);
        let e = Tokens::load(&dir.path().join("none")).unwrap_err();
        assert!(e[0].message.contains("No such file or directory"), "{e:?}");
    }
}
