//! libFuzzer target `access`: the body is `conman_fuzz::access::run` (see `fuzz/harness/access.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| conman_fuzz::access::run(data));
