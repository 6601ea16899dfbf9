//! libFuzzer target `client_escape`: the body is `conman_fuzz::client_escape::run` (see `fuzz/harness/client_escape.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| conman_fuzz::client_escape::run(data));
