//! libFuzzer target `telnet`: the body is `conman_fuzz::telnet::run` (see `fuzz/harness/telnet.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| conman_fuzz::telnet::run(data));
