//! The receive buffers every socket of the ring shares: an io_uring *provided buffer ring*
//! (`IORING_REGISTER_PBUF_RING`, Linux 5.19), from which each multishot `RECVMSG` takes a
//! buffer per datagram and into which the thread gives it back once the datagram is handled.
//!
//! Why: with one armed single-shot receive per socket, every datagram cost a new submission,
//! a failed first attempt (the socket was empty when the receive was armed) and a poll arm
//! before the attempt that succeeds, and every socket held a 4 KiB buffer of its own
//! (16 KiB per B2BUA call). A multishot receive stays armed, and the buffers are shared:
//! memory no longer grows with the calls. When the ring runs dry a receive ends with
//! `ENOBUFS`, the datagram stays queued in its socket, and the thread re-arms it once
//! buffers are back: nothing is lost.
//!
//! Each buffer holds, as the kernel writes it for a multishot `RECVMSG`: an
//! `io_uring_recvmsg_out` header, the source address (room for a `sockaddr_in6`), then the
//! payload (up to [`MAX_DATAGRAM`] bytes; a longer one is flagged `MSG_TRUNC`).

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::Submitter;

use crate::relay::udp::MAX_DATAGRAM;

/// The buffer group id of the ring (one group per io_uring).
pub(super) const GROUP: u16 = 0;
/// Room for the source address in each buffer (`msg_namelen` of the multishot receive).
pub(super) const NAME_LEN: usize = std::mem::size_of::<libc::sockaddr_in6>();
/// `io_uring_recvmsg_out`: four `u32`s.
const HEADER_LEN: usize = 16;
/// One buffer, rounded up to 64 bytes.
const BUF_LEN: usize = (HEADER_LEN + NAME_LEN + MAX_DATAGRAM).div_ceil(64) * 64;
const PAGE: usize = 4096;

/// The provided buffer ring: the entries the kernel reads (page-aligned, as it requires)
/// and the buffers they point at.
pub(super) struct BufRing {
    entries: *mut BufRingEntry,
    entries_layout: Layout,
    bufs: Box<[u8]>,
    /// Buffers (a power of two): datagrams received and not yet handled, across all
    /// sockets, between two turns of the thread.
    count: u16,
    /// Our copy of the ring's tail: entries up to it are written, published by
    /// [`commit`](Self::commit).
    tail: u16,
}

// SAFETY: the raw pointer is to memory this struct owns; the ring is used by one thread.
unsafe impl Send for BufRing {}

impl BufRing {
    /// Allocates `count` buffers (a power of two, checked by the caller), all of them in
    /// the ring.
    pub(super) fn new(count: u16) -> io::Result<BufRing> {
        let size = usize::from(count) * std::mem::size_of::<BufRingEntry>();
        let entries_layout = Layout::from_size_align(size.max(PAGE), PAGE)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: the layout has a non-zero size.
        let entries = unsafe { alloc_zeroed(entries_layout) }.cast::<BufRingEntry>();
        if entries.is_null() {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "io_uring buffer ring",
            ));
        }
        let mut ring = BufRing {
            entries,
            entries_layout,
            bufs: vec![0u8; usize::from(count) * BUF_LEN].into_boxed_slice(),
            count,
            tail: 0,
        };
        for bid in 0..count {
            ring.recycle(bid);
        }
        ring.commit();
        Ok(ring)
    }

    /// An empty stand-in, swapped in for a ring that must be leaked (the kernel may still
    /// write into its buffers).
    pub(super) fn leaked() -> BufRing {
        BufRing {
            entries: std::ptr::null_mut(),
            entries_layout: Layout::new::<u8>(),
            bufs: Box::new([]),
            count: 0,
            tail: 0,
        }
    }

    /// Hands the ring to the kernel as buffer group [`GROUP`].
    pub(super) fn register(&mut self, submitter: &Submitter<'_>) -> io::Result<()> {
        // SAFETY: the entries stay allocated, at this address, until `self` is dropped,
        // and the worker drops its io_uring (which releases the group) before `self`.
        unsafe {
            submitter.register_buf_ring_with_flags(self.entries as u64, self.count, GROUP, 0)?;
        }
        Ok(())
    }

    /// The first `len` bytes of buffer `bid`, as the kernel filled them; `None` for a
    /// buffer id or length that is not ours.
    pub(super) fn get(&self, bid: u16, len: usize) -> Option<&[u8]> {
        if bid >= self.count || len > BUF_LEN {
            return None;
        }
        let start = usize::from(bid) * BUF_LEN;
        self.bufs.get(start..start + len)
    }

    /// Gives buffer `bid` back (seen by the kernel after the next [`commit`](Self::commit)).
    pub(super) fn recycle(&mut self, bid: u16) {
        if bid >= self.count {
            return;
        }
        let at = usize::from(self.tail & (self.count - 1));
        let addr = self.bufs[usize::from(bid) * BUF_LEN..].as_mut_ptr() as u64;
        // SAFETY: `at` < count, inside the entries allocation. Entry 0's last field is the
        // ring's tail (the kernel's layout): set_* write only addr, len and bid.
        unsafe {
            let e = &mut *self.entries.add(at);
            e.set_addr(addr);
            e.set_len(BUF_LEN as u32);
            e.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes the buffers given back since the last commit.
    pub(super) fn commit(&self) {
        // SAFETY: the tail field lives in entry 0, inside our allocation, and is read by
        // the kernel with acquire semantics: the release store orders the entries before it.
        unsafe {
            let tail = BufRingEntry::tail(self.entries).cast_mut();
            (*tail.cast::<AtomicU16>()).store(self.tail, Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        if !self.entries.is_null() {
            // SAFETY: allocated in `new` with this layout.
            unsafe { dealloc(self.entries.cast(), self.entries_layout) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_buffer_starts_in_the_ring_and_fits_the_largest_datagram() {
        const COUNT: u16 = 64;
        let ring = BufRing::new(COUNT).unwrap();
        assert_eq!(ring.tail, COUNT);
        const { assert!(BUF_LEN >= HEADER_LEN + NAME_LEN + MAX_DATAGRAM) };
        const { assert!(BUF_LEN.is_multiple_of(64)) };
        // Buffers do not overlap, and an id past the end is refused.
        assert_eq!(ring.get(COUNT - 1, BUF_LEN).map(<[u8]>::len), Some(BUF_LEN));
        assert!(ring.get(COUNT, 1).is_none());
        assert!(ring.get(0, BUF_LEN + 1).is_none());
        // SAFETY: reading entries this test's ring owns.
        let bids: Vec<u16> = (0..usize::from(COUNT))
            .map(|i| unsafe { (*ring.entries.add(i)).bid() })
            .collect();
        assert_eq!(bids, (0..COUNT).collect::<Vec<_>>());
    }
}
