//! libFuzzer target `sol`: the body is `conman_fuzz::sol::run` (see `fuzz/harness/sol.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| conman_fuzz::sol::run(data));
