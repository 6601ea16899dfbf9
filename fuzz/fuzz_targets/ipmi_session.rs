//! libFuzzer target `ipmi_session`: the body is `conman_fuzz::ipmi_session::run` (see `fuzz/harness/ipmi_session.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| conman_fuzz::ipmi_session::run(data));
