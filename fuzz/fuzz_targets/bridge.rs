//! libFuzzer entry point; the checks live in `freya_fuzz::bridge::check_bridge` so that the
//! stable replay test (`tests/replay.rs`) runs exactly the same code.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    freya_fuzz::bridge::check_bridge(data);
});
