//! `server alertwebhook="URL"`: the URL's parts, checked.
//!
//! Plain `http://HOST[:PORT][/PATH][?QUERY]` only: the daemon speaks HTTP/1.1 itself
//! and carries no TLS stack. For an `https://` receiver (a chat service, an incident
//! tool), point the webhook at a local relay (see `docs/alerts.md`).

use std::fmt;

/// A webhook target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// Host name or address as written (IPv6 without its brackets).
    pub host: String,
    /// Port (80 when not given).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl HttpUrl {
    /// Parse `http://HOST[:PORT][/PATH]`.
    pub fn parse(url: &str) -> Result<HttpUrl, String> {
        let url = url.trim();
        let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
        if lower.starts_with("https://") {
            return Err(
                "https is not supported: use an http:// URL (a local relay can forward to https)"
                    .into(),
            );
        }
        let Some(rest) = url.get(7..).filter(|_| lower.starts_with("http://")) else {
            return Err("expected http://HOST[:PORT][/PATH]".into());
        };
        if let Some(bad) = rest.chars().find(|c| c.is_control() || c.is_whitespace()) {
            return Err(format!("URL holds a forbidden character {bad:?}"));
        }
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err("user:password@ in the URL is not supported".into());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let Some((h, after)) = v6.split_once(']') else {
                return Err("unclosed [ in the host".into());
            };
            // Brackets hold an IPv6 address, and only a port may follow them.
            if h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("\"[{h}]\" is not an IPv6 address"));
            }
            let port = match after {
                "" => None,
                _ => match after.strip_prefix(':') {
                    Some(p) => Some(p),
                    None => return Err(format!("unexpected \"{after}\" after the host")),
                },
            };
            (h, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.contains([':', '[', ']']) && !authority.starts_with('[') {
            return Err(format!(
                "invalid host \"{host}\" (an IPv6 address goes in brackets: http://[::1]:8080/)"
            ));
        }
        if host.is_empty() {
            return Err("missing host".into());
        }
        let port = match port {
            None => 80,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(format!("invalid port \"{p}\"")),
            },
        };
        Ok(HttpUrl {
            host: host.to_string(),
            port,
            target,
        })
    }

    /// The `Host:` header value.
    pub fn host_header(&self) -> String {
        let h = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            h
        } else {
            format!("{h}:{}", self.port)
        }
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.host_header(), self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn urls_split_into_host_port_and_target() {
        let u = HttpUrl::parse("http://127.0.0.1:9000/hook?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("127.0.0.1", 9000, "/hook?x=1")
        );
        let u = HttpUrl::parse("HTTP://alerts.example").unwrap();
        assert_eq!((u.port, u.target.as_str()), (80, "/"));
        assert_eq!(u.host_header(), "alerts.example");
        let u = HttpUrl::parse("http://[::1]:8080?q").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("::1", 8080, "/?q")
        );
        assert_eq!(u.host_header(), "[::1]:8080");
        assert_eq!(u.to_string(), "http://[::1]:8080/?q");
    }

    #[test]
    fn mistakes_are_named() {
        for (bad, why) in [
            ("https://x/", "https is not supported"),
            ("ftp://x/", "expected http://"),
            ("x:80", "expected http://"),
            ("http://", "missing host"),
            ("http://:80/", "missing host"),
            ("http://h:0/", "invalid port \"0\""),
            ("http://h:99999/", "invalid port"),
            ("http://h:/", "invalid port \"\""),
            ("http://u:p@h/", "user:password@"),
            ("http://[::1/", "unclosed ["),
            ("http://h/a b", "forbidden character ' '"),
            ("http://h/\r\nX: y", "forbidden character '\\r'"),
            // Found by the config fuzz target: text after "]" was dropped.
            (
                "http://[::1]]:7004/",
                "unexpected \"]:7004\" after the host",
            ),
            ("http://[not-v6]:80/", "is not an IPv6 address"),
            ("http://a:b:80/", "an IPv6 address goes in brackets"),
        ] {
            let e = HttpUrl::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    proptest! {
        #[test]
        fn what_parses_prints_back_the_same(
            host in "[a-z][a-z0-9.-]{0,20}|\\[::[0-9]{1,4}\\]",
            port in proptest::option::of(1u16..),
            target in "(/[A-Za-z0-9_./?=&%-]{0,30})?",
        ) {
            let url = match port {
                Some(p) => format!("http://{host}:{p}{target}"),
                None => format!("http://{host}{target}"),
            };
            let u = HttpUrl::parse(&url).unwrap();
            prop_assert!(!u.target.contains(['\r', '\n', ' ']));
            prop_assert_eq!(HttpUrl::parse(&u.to_string()).unwrap(), u);
        }

        #[test]
        fn no_input_panics_or_lets_a_line_break_into_the_request(s in "\\PC{0,60}|http://[\\x00-\\x7f]{0,40}") {
            if let Ok(u) = HttpUrl::parse(&s) {
                prop_assert!(!u.target.contains(['\r', '\n']));
                prop_assert!(!u.host.contains(['\r', '\n']));
                // Whatever parses prints back to itself.
                prop_assert_eq!(HttpUrl::parse(&u.to_string()), Ok(u));
            }
        }
    }
}
