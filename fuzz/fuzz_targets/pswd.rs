//! libFuzzer target `pswd`: the body is `conman_fuzz::pswd::run` (see `fuzz/harness/pswd.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| conman_fuzz::pswd::run(data));
