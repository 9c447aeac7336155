//! libFuzzer entry point; the checks live in `freya_fuzz::upgrade::check_upgrade` so that the
//! stable replay test (`tests/replay.rs`) runs exactly the same code.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    freya_fuzz::upgrade::check_upgrade(data);
});
