//! Emits the linker settings a Node.js addon needs (undefined N-API symbols resolved at load time).

fn main() {
    napi_build::setup();
}
