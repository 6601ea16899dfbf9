//! `access`: the ACL file parser (`server acl=`) and the SSH exec command parser.
//!
//! Input: a selector byte, then text. Even selectors: the text is an ACL file;
//! odd: an SSH exec command.
//!
//! Invariants: nothing panics; an error names a line that exists; whatever the
//! file, every user's rights on every console include what they need (no write
//! without monitor, no monitor without query); a user no line can name has no
//! rights; an exec command's request is one the daemon's own parser reads back.

use conmand_core::access::{Acl, Rights};
use conmand_core::protocol::Request;
use conmand_core::sshcmd;

const USERS: [&str; 4] = ["alice", "bob", "ops", "zz-nobody-zz"];
const CONSOLES: [&str; 4] = ["server-0", "db-1", "gpu7", ""];

/// The target body.
pub fn run(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if sel % 2 == 0 {
        acl(&text);
    } else {
        exec(&text);
    }
}

fn acl(text: &str) {
    match Acl::parse("fuzz.acl", text) {
        Err(e) => {
            let lines = text.lines().count();
            assert!(
                e.line >= 1 && e.line <= lines,
                "error on line {} of {lines}",
                e.line
            );
        }
        Ok(acl) => {
            let anyone = text.lines().any(|l| {
                let l = l.split('#').next().unwrap_or_default();
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|s| s.split(',').any(|x| x == "*"))
            });
            for u in USERS {
                for c in CONSOLES {
                    let r = acl.rights(u, c);
                    assert_eq!(r, r.with_needed(), "{u} on {c:?}: {r}");
                    if u == "zz-nobody-zz" && !anyone && !text.contains(u) {
                        assert_eq!(r, Rights::NONE, "an unnamed user got {r}");
                    }
                }
            }
        }
    }
}

fn exec(text: &str) {
    let Ok(cmd) = sshcmd::parse(text) else {
        return;
    };
    let line = cmd.request.to_bytes();
    if line.len() <= conmand_core::protocol::MAX_WIRE_LINE {
        let back = Request::parse(&line[..line.len() - 1]);
        if let Ok(back) = back {
            assert_eq!(back.command, cmd.request.command);
        }
    }
}
