//! libFuzzer target `ipmi_wire`: the body is `conman_fuzz::ipmi_wire::run` (see `fuzz/harness/ipmi_wire.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| conman_fuzz::ipmi_wire::run(data));
