//! libFuzzer target `handshake`: the body is `conman_fuzz::handshake::run` (see `fuzz/harness/handshake.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| conman_fuzz::handshake::run(data));
