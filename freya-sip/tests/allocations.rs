//! The parser allocates the span index and nothing else: no String per header, no copy of
//! the bytes. Counted with a global allocator wrapper (this test binary only).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Only the test's own thread counts: the harness's threads allocate too.
    static ON: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    if ON.try_with(|c| c.get()).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn one_allocation_per_message_plus_typed_access_for_free() {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/data/invite.sip");
    let raw = std::fs::read(path).unwrap();
    // An exactly-sized Vec, as a socket read into a fresh buffer gives.
    let data = Bytes::from(raw.into_boxed_slice());
    ON.with(|c| c.set(true));
    let before = ALLOCS.load(Ordering::SeqCst);
    let m = freya_sip::message::parse(data).unwrap();
    let after_parse = ALLOCS.load(Ordering::SeqCst);
    let branch = m.top_via().and_then(|v| v.branch()).map(str::len);
    let tag = m.from().and_then(|f| f.tag()).map(str::len);
    let seq = m.cseq().map(|c| c.seq);
    let names: usize = m.headers().map(|h| h.name().len() + h.value().len()).sum();
    let after_access = ALLOCS.load(Ordering::SeqCst);
    ON.with(|c| c.set(false));
    assert!(m.header_count() > 20);
    assert_eq!(
        after_parse - before,
        1,
        "parse allocated more than the span index"
    );
    assert_eq!(after_access - after_parse, 0, "typed access allocated");
    assert!(branch.is_some() && tag.is_some() && seq.is_some() && names > 0);
}
