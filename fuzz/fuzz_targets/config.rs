//! libFuzzer target `config`: the body is `conman_fuzz::config::run` (see `fuzz/harness/config.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| conman_fuzz::config::run(data));
