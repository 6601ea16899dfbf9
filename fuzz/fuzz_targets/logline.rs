//! libFuzzer target `logline`: the body is `conman_fuzz::logline::run` (see `fuzz/harness/logline.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| conman_fuzz::logline::run(data));
