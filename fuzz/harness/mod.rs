//! Fuzz harness bodies: one module per cargo-fuzz target, each with a
//! `run(data: &[u8])` that feeds the bytes to `conmand-core` and panics when an
//! invariant breaks.
//!
//! The same source is compiled twice:
//!
//! - as the library of the `conman-fuzz` crate (`fuzz/Cargo.toml`), which the
//!   libFuzzer binaries in `fuzz/fuzz_targets/` call;
//! - inside `crates/conmand-core/tests/fuzz_regressions.rs` through
//!   `#[path]`, so a plain `cargo test` replays every saved crash in
//!   `fuzz/regressions/<target>/` through exactly the code that found it.
//!
//! Everything here depends on `conmand-core` and `bytes` only, and does no
//! I/O except in [`seeds`]' file helpers used by the seed generator.
#![allow(unreachable_pub)]

pub mod access;
pub mod client_escape;
pub mod config;
pub mod handshake;
pub mod ipmi_session;
pub mod ipmi_wire;
pub mod logline;
pub mod pswd;
pub mod seeds;
pub mod sol;
pub mod telnet;

/// A target body: runs one input, panics when an invariant breaks.
pub type Body = fn(&[u8]);

/// Every target: its name (the file name in `fuzz/fuzz_targets/` and the
/// directory in `fuzz/regressions/`) and its body.
pub const TARGETS: [(&str, Body); 10] = [
    ("config", config::run),
    ("pswd", pswd::run),
    ("handshake", handshake::run),
    ("client_escape", client_escape::run),
    ("telnet", telnet::run),
    ("logline", logline::run),
    ("ipmi_wire", ipmi_wire::run),
    ("sol", sol::run),
    ("ipmi_session", ipmi_session::run),
    ("access", access::run),
];

/// The body of target `name`, if there is one.
pub fn target(name: &str) -> Option<Body> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// A cursor that turns fuzz bytes into structured choices. Reading past the
/// end yields zeros and empty slices, so every input is a valid program.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte (0 at the end).
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next byte's low bit.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 != 0
    }

    /// Two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// Four bytes, little-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// `N` bytes (zero-padded at the end).
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        for b in &mut a {
            *b = self.u8();
        }
        a
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// A length byte (taken modulo `max + 1`) followed by that many bytes.
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = usize::from(self.u8()) % (max + 1);
        self.take(n)
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// Cuts `data` into pieces whose lengths come from `seed` (1 to 16 bytes, with
/// an occasional empty piece), so a parser sees the same stream in an
/// arbitrary split.
pub fn split(data: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state % 17) as usize;
        let (head, tail) = rest.split_at(n.min(rest.len()));
        out.push(head);
        rest = tail;
    }
    out
}
