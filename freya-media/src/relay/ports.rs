//! The RTP port pool: even UDP ports from a configured range, RTCP on the odd port above each
//! (RFC 3550 §11), handed out least-recently-released first.
//!
//! Sans-IO: the pool only books port numbers. The shell binds the sockets, and on a bind
//! failure (another process holds the port) calls [`PortPool::mark_bad`] and allocates again.

use std::collections::VecDeque;
use std::ops::RangeInclusive;

/// The RTP port range of the seed deployment (and Asterisk's `rtp.conf` habit): 10000–10499,
/// that is 250 RTP/RTCP pairs.
pub const DEFAULT_PORT_RANGE: RangeInclusive<u16> = 10_000..=10_499;

/// Why the pool refused a request, naming the port and the pool's bounds.
///
/// ```
/// use freya_media::relay::{PortError, PortPool};
///
/// let mut pool = PortPool::new(10_000..=10_001)?;
/// assert_eq!(pool.release(10_000), Err(PortError::NotAllocated { port: 10_000 }));
/// assert_eq!(
///     pool.release(20_000).unwrap_err().to_string(),
///     "port 20000 is outside the RTP port range 10000..=10001"
/// );
/// # Ok::<(), PortError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// The configured range holds no even port `p` with `p + 1` also in the range, or starts
    /// at port 0 (which means "any port" to the OS, not a port).
    #[error("RTP port range {start}..={end} is unusable: {reason}")]
    BadRange {
        /// First port of the configured range.
        start: u16,
        /// Last port of the configured range (inclusive).
        end: u16,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Every usable pair is in use (or marked bad). Counted in [`PortPoolStats::exhausted`].
    #[error("no free RTP port: {in_use} pair(s) in use, {bad} marked bad, of {capacity}")]
    Exhausted {
        /// Pairs allocated and not released.
        in_use: usize,
        /// Pairs taken out of rotation by [`PortPool::mark_bad`].
        bad: usize,
        /// Pairs in the range.
        capacity: usize,
    },
    /// The port lies outside the pool's range (first RTP port to last RTCP port).
    #[error("port {port} is outside the RTP port range {first}..={last}")]
    NotInPool {
        /// The refused port.
        port: u16,
        /// First RTP port of the pool (even).
        first: u16,
        /// Last RTCP port of the pool (odd).
        last: u16,
    },
    /// The port is odd: an RTCP port; the pool is addressed by the pair's even RTP port.
    #[error("port {port} is an RTCP (odd) port; address the pair by its RTP port {rtp}")]
    NotAnRtpPort {
        /// The refused (odd) port.
        port: u16,
        /// The RTP port of its pair.
        rtp: u16,
    },
    /// Releasing a port that is not allocated: released twice, never allocated, or marked bad.
    #[error("port {port} is not allocated (released twice, never allocated, or marked bad)")]
    NotAllocated {
        /// The refused port.
        port: u16,
    },
    /// [`PortPool::restore_bad`] on a port that was not marked bad.
    #[error("port {port} is not marked bad")]
    NotBad {
        /// The refused port.
        port: u16,
    },
}

/// One allocated RTP/RTCP port pair (RFC 3550 §11: RTP on an even port, RTCP on the next).
/// With rtcp-mux (RFC 5761) the RTCP port stays booked but unused.
///
/// ```
/// use freya_media::relay::PortPool;
///
/// let pair = PortPool::default().allocate()?;
/// assert_eq!(pair.rtcp, pair.rtp + 1);
/// assert_eq!(pair.rtp % 2, 0);
/// # Ok::<(), freya_media::relay::PortError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortPair {
    /// The RTP port (even).
    pub rtp: u16,
    /// The RTCP port (`rtp + 1`).
    pub rtcp: u16,
}

/// Counters of a [`PortPool`], for metrics.
///
/// ```
/// use freya_media::relay::PortPool;
///
/// let mut pool = PortPool::new(10_000..=10_001)?;
/// pool.allocate()?;
/// assert!(pool.allocate().is_err());
/// let stats = pool.stats();
/// assert_eq!((stats.allocations, stats.exhausted, stats.peak_in_use), (1, 1, 1));
/// # Ok::<(), freya_media::relay::PortError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortPoolStats {
    /// Successful allocations.
    pub allocations: u64,
    /// Successful releases.
    pub releases: u64,
    /// Allocations refused because no pair was free.
    pub exhausted: u64,
    /// Ports marked bad (bind failures).
    pub marked_bad: u64,
    /// Bad pairs put back for another try ([`PortPool::restore_all_bad`]).
    pub restored_bad: u64,
    /// Releases refused (unknown, odd, or not allocated port).
    pub refused_releases: u64,
    /// The most pairs in use at once.
    pub peak_in_use: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Free,
    InUse,
    Bad,
}

/// Books RTP/RTCP port pairs from a range: allocate, release, mark bad.
///
/// Guarantees:
/// - a pair is never handed out while it is allocated;
/// - reuse is least-recently-released first (a FIFO of free pairs): a released pair goes to
///   the back of the queue, so it is handed out again only after every pair that was free
///   before it. Late packets of a finished call then find its port closed or still unused
///   instead of reaching the next call (RTP bleed through port reuse);
/// - exhaustion, unknown ports and double releases are typed errors and counters, never a
///   panic.
///
/// Memory: one byte per pair plus the free queue (two bytes per pair); 250 pairs by default.
///
/// ```
/// use freya_media::relay::PortPool;
///
/// let mut pool = PortPool::new(10_000..=10_005)?; // pairs 10000, 10002, 10004
/// let a = pool.allocate()?;
/// pool.release(a.rtp)?;
/// // 10000 was just released: 10002 and 10004 come first.
/// assert_eq!(pool.allocate()?.rtp, 10_002);
/// assert_eq!(pool.allocate()?.rtp, 10_004);
/// assert_eq!(pool.allocate()?.rtp, 10_000);
/// # Ok::<(), freya_media::relay::PortError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PortPool {
    /// First RTP port (even).
    first: u16,
    /// State per pair; index `i` is RTP port `first + 2 * i`.
    slots: Vec<Slot>,
    /// Free pairs by index, least recently released first.
    free: VecDeque<usize>,
    in_use: usize,
    bad: usize,
    stats: PortPoolStats,
}

impl Default for PortPool {
    /// The pool over [`DEFAULT_PORT_RANGE`] (10000–10499, 250 pairs).
    fn default() -> Self {
        Self::with_pairs(10_000, 250)
    }
}

impl PortPool {
    /// A pool of every even port `p` in `range` whose `p + 1` is also in `range`, all free,
    /// handed out in ascending order at first.
    ///
    /// # Errors
    /// [`PortError::BadRange`] if that leaves no pair or the range starts at port 0.
    ///
    /// ```
    /// use freya_media::relay::{PortError, PortPool};
    ///
    /// // 10001 is odd and 10006's RTCP port 10007 is outside: pairs 10002 and 10004 remain.
    /// assert_eq!(PortPool::new(10_001..=10_006)?.capacity(), 2);
    /// assert!(matches!(PortPool::new(10_001..=10_002), Err(PortError::BadRange { .. })));
    /// # Ok::<(), PortError>(())
    /// ```
    pub fn new(range: RangeInclusive<u16>) -> Result<Self, PortError> {
        let (start, end) = (*range.start(), *range.end());
        let bad = |reason| PortError::BadRange { start, end, reason };
        if start == 0 {
            return Err(bad("port 0 is not a port"));
        }
        let first = u32::from(start) + u32::from(start) % 2;
        let last_rtcp = u32::from(end);
        if first + 1 > last_rtcp {
            return Err(bad("it holds no even port whose next port is also inside"));
        }
        let pairs = (last_rtcp - first).div_ceil(2) as usize;
        let first = u16::try_from(first).map_err(|_| bad("first even port above 65535"))?;
        Ok(Self::with_pairs(first, pairs))
    }

    fn with_pairs(first: u16, pairs: usize) -> Self {
        PortPool {
            first,
            slots: vec![Slot::Free; pairs],
            free: (0..pairs).collect(),
            in_use: 0,
            bad: 0,
            stats: PortPoolStats::default(),
        }
    }

    /// Hands out the least recently released free pair.
    ///
    /// # Errors
    /// [`PortError::Exhausted`] when every pair is in use or bad (counted in
    /// [`PortPoolStats::exhausted`]).
    pub fn allocate(&mut self) -> Result<PortPair, PortError> {
        let Some(index) = self.free.pop_front() else {
            self.stats.exhausted += 1;
            return Err(PortError::Exhausted {
                in_use: self.in_use,
                bad: self.bad,
                capacity: self.capacity(),
            });
        };
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Slot::InUse;
        }
        self.in_use += 1;
        self.stats.allocations += 1;
        self.stats.peak_in_use = self.stats.peak_in_use.max(self.in_use);
        Ok(self.pair(index))
    }

    /// Returns an allocated pair, named by its RTP port, to the back of the free queue.
    ///
    /// # Errors
    /// [`PortError::NotInPool`], [`PortError::NotAnRtpPort`], or [`PortError::NotAllocated`]
    /// (double release); each counted in [`PortPoolStats::refused_releases`], the pool
    /// unchanged.
    pub fn release(&mut self, rtp: u16) -> Result<(), PortError> {
        let result = self.index_of(rtp).and_then(|index| match self.slot(index) {
            Slot::InUse => Ok(index),
            Slot::Free | Slot::Bad => Err(PortError::NotAllocated { port: rtp }),
        });
        match result {
            Ok(index) => {
                self.set(index, Slot::Free);
                self.free.push_back(index);
                self.in_use -= 1;
                self.stats.releases += 1;
                Ok(())
            }
            Err(err) => {
                self.stats.refused_releases += 1;
                Err(err)
            }
        }
    }

    /// Takes a pair out of rotation, for when binding its RTP or RTCP socket failed (another
    /// process holds the port). Works on an allocated pair (the usual case: allocate, bind
    /// fails, mark bad, allocate again) and on a free one; marking a bad pair again does
    /// nothing. The pair is not handed out until [`restore_bad`](Self::restore_bad).
    ///
    /// # Errors
    /// [`PortError::NotInPool`] or [`PortError::NotAnRtpPort`].
    ///
    /// ```
    /// use freya_media::relay::PortPool;
    ///
    /// let mut pool = PortPool::new(10_000..=10_003)?;
    /// let pair = pool.allocate()?;
    /// pool.mark_bad(pair.rtp)?; // bind failed
    /// assert_eq!((pool.in_use(), pool.bad(), pool.available()), (0, 1, 1));
    /// assert_eq!(pool.allocate()?.rtp, 10_002);
    /// # Ok::<(), freya_media::relay::PortError>(())
    /// ```
    pub fn mark_bad(&mut self, rtp: u16) -> Result<(), PortError> {
        let index = self.index_of(rtp)?;
        match self.slot(index) {
            Slot::Bad => return Ok(()),
            Slot::InUse => self.in_use -= 1,
            Slot::Free => self.free.retain(|&i| i != index),
        }
        self.set(index, Slot::Bad);
        self.bad += 1;
        self.stats.marked_bad += 1;
        Ok(())
    }

    /// Puts a pair marked bad back at the end of the free queue (e.g. after a periodic retry
    /// found the port bindable again).
    ///
    /// # Errors
    /// [`PortError::NotInPool`], [`PortError::NotAnRtpPort`] or [`PortError::NotBad`].
    ///
    /// ```
    /// use freya_media::relay::PortPool;
    ///
    /// let mut pool = PortPool::new(10_000..=10_001)?;
    /// pool.mark_bad(10_000)?;
    /// assert!(pool.allocate().is_err());
    /// pool.restore_bad(10_000)?;
    /// assert_eq!(pool.allocate()?.rtp, 10_000);
    /// # Ok::<(), freya_media::relay::PortError>(())
    /// ```
    pub fn restore_bad(&mut self, rtp: u16) -> Result<(), PortError> {
        let index = self.index_of(rtp)?;
        if self.slot(index) != Slot::Bad {
            return Err(PortError::NotBad { port: rtp });
        }
        self.set(index, Slot::Free);
        self.free.push_back(index);
        self.bad -= 1;
        Ok(())
    }

    /// Puts every pair marked bad back at the end of the free queue, for another bind
    /// attempt: a port another process held may be free again (its test run or benchmark
    /// ended), and a pool whose bad pairs never came back would refuse calls for good.
    /// Returns how many pairs came back (counted in [`PortPoolStats::restored_bad`]).
    ///
    /// ```
    /// use freya_media::relay::PortPool;
    ///
    /// let mut pool = PortPool::new(10_000..=10_003)?;
    /// pool.mark_bad(10_000)?;
    /// pool.mark_bad(10_002)?;
    /// assert!(pool.allocate().is_err());
    /// assert_eq!(pool.restore_all_bad(), 2);
    /// assert_eq!((pool.bad(), pool.available()), (0, 2));
    /// # Ok::<(), freya_media::relay::PortError>(())
    /// ```
    pub fn restore_all_bad(&mut self) -> usize {
        let mut restored = 0;
        for index in 0..self.slots.len() {
            if self.slot(index) == Slot::Bad {
                self.set(index, Slot::Free);
                self.free.push_back(index);
                restored += 1;
            }
        }
        self.bad -= restored;
        self.stats.restored_bad += restored as u64;
        restored
    }

    /// Whether the pair of this RTP port is currently allocated.
    ///
    /// ```
    /// # use freya_media::relay::PortPool;
    /// let mut pool = PortPool::default();
    /// let pair = pool.allocate()?;
    /// assert!(pool.is_allocated(pair.rtp));
    /// assert!(!pool.is_allocated(pair.rtp + 2));
    /// # Ok::<(), freya_media::relay::PortError>(())
    /// ```
    pub fn is_allocated(&self, rtp: u16) -> bool {
        self.index_of(rtp)
            .is_ok_and(|index| self.slot(index) == Slot::InUse)
    }

    /// Pairs in the range.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Pairs allocated and not yet released.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// Pairs marked bad.
    pub fn bad(&self) -> usize {
        self.bad
    }

    /// Pairs that [`allocate`](Self::allocate) can hand out now.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// First RTP port and last RTCP port of the pool.
    ///
    /// ```
    /// # use freya_media::relay::PortPool;
    /// assert_eq!(PortPool::default().bounds(), (10_000, 10_499));
    /// ```
    pub fn bounds(&self) -> (u16, u16) {
        (self.first, self.last_port())
    }

    /// The counters.
    pub fn stats(&self) -> PortPoolStats {
        self.stats
    }

    fn last_port(&self) -> u16 {
        let span = 2 * self.slots.len() as u32;
        u16::try_from(u32::from(self.first) + span.saturating_sub(1)).unwrap_or(u16::MAX)
    }

    fn pair(&self, index: usize) -> PortPair {
        let rtp = self.first.wrapping_add((2 * index) as u16);
        PortPair {
            rtp,
            rtcp: rtp.wrapping_add(1),
        }
    }

    fn index_of(&self, port: u16) -> Result<usize, PortError> {
        let (first, last) = self.bounds();
        if port < first || port > last {
            return Err(PortError::NotInPool { port, first, last });
        }
        if port % 2 == 1 {
            return Err(PortError::NotAnRtpPort {
                port,
                rtp: port - 1,
            });
        }
        Ok(usize::from((port - first) / 2))
    }

    fn slot(&self, index: usize) -> Slot {
        self.slots.get(index).copied().unwrap_or(Slot::Bad)
    }

    fn set(&mut self, index: usize, state: Slot) {
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = state;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn default_range_has_250_pairs() {
        let mut pool = PortPool::default();
        assert_eq!(pool.capacity(), 250);
        assert_eq!(pool.bounds(), (10_000, 10_499));
        let mut seen = BTreeSet::new();
        for _ in 0..250 {
            let pair = pool.allocate().unwrap();
            assert_eq!(pair.rtp % 2, 0);
            assert_eq!(pair.rtcp, pair.rtp + 1);
            assert!((10_000..=10_498).contains(&pair.rtp));
            assert!(seen.insert(pair.rtp));
        }
        assert_eq!(
            pool.allocate(),
            Err(PortError::Exhausted {
                in_use: 250,
                bad: 0,
                capacity: 250
            })
        );
        assert_eq!(pool.stats().exhausted, 1);
        assert_eq!(pool.stats().peak_in_use, 250);
    }

    #[test]
    fn new_matches_default() {
        let pool = PortPool::new(DEFAULT_PORT_RANGE).unwrap();
        assert_eq!(pool.capacity(), 250);
        assert_eq!(pool.bounds(), PortPool::default().bounds());
    }

    #[test]
    fn ranges_at_the_edges() {
        assert_eq!(PortPool::new(65_534..=65_535).unwrap().capacity(), 1);
        assert_eq!(
            PortPool::new(65_534..=65_535).unwrap().bounds(),
            (65_534, 65_535)
        );
        assert!(matches!(
            PortPool::new(65_535..=65_535),
            Err(PortError::BadRange { .. })
        ));
        assert!(matches!(
            PortPool::new(0..=100),
            Err(PortError::BadRange { start: 0, .. })
        ));
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = PortPool::new(10_010..=10_000);
        assert!(matches!(reversed, Err(PortError::BadRange { .. })));
        assert_eq!(PortPool::new(1..=4).unwrap().bounds(), (2, 3));
    }

    #[test]
    fn typed_release_errors() {
        let mut pool = PortPool::new(10_000..=10_009).unwrap();
        let pair = pool.allocate().unwrap();
        assert_eq!(
            pool.release(pair.rtcp),
            Err(PortError::NotAnRtpPort {
                port: 10_001,
                rtp: 10_000
            })
        );
        assert_eq!(
            pool.release(9_998),
            Err(PortError::NotInPool {
                port: 9_998,
                first: 10_000,
                last: 10_009
            })
        );
        pool.release(pair.rtp).unwrap();
        assert_eq!(
            pool.release(pair.rtp),
            Err(PortError::NotAllocated { port: 10_000 })
        );
        assert_eq!(pool.stats().refused_releases, 3);
        assert_eq!(pool.stats().releases, 1);
        assert_eq!(pool.available(), 5);
    }

    #[test]
    fn released_port_goes_to_the_back() {
        let mut pool = PortPool::new(10_000..=10_499).unwrap();
        let a = pool.allocate().unwrap();
        pool.release(a.rtp).unwrap();
        // All 249 other pairs come before 10000 again.
        for _ in 0..249 {
            assert_ne!(pool.allocate().unwrap().rtp, a.rtp);
        }
        assert_eq!(pool.allocate().unwrap().rtp, a.rtp);
    }

    #[test]
    fn bad_ports_leave_rotation() {
        let mut pool = PortPool::new(10_000..=10_005).unwrap();
        pool.mark_bad(10_002).unwrap(); // free → bad
        pool.mark_bad(10_002).unwrap(); // idempotent
        assert_eq!(pool.stats().marked_bad, 1);
        assert_eq!(pool.allocate().unwrap().rtp, 10_000);
        assert_eq!(pool.allocate().unwrap().rtp, 10_004);
        assert!(pool.allocate().is_err());
        assert_eq!(
            pool.release(10_002),
            Err(PortError::NotAllocated { port: 10_002 })
        );
        assert_eq!(
            pool.restore_bad(10_000),
            Err(PortError::NotBad { port: 10_000 })
        );
        pool.restore_bad(10_002).unwrap();
        assert_eq!(pool.allocate().unwrap().rtp, 10_002);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Allocate,
        /// Release the n-th (mod len) port the model holds.
        ReleaseHeld(usize),
        /// Release any port number at all.
        ReleaseAny(u16),
        /// Mark the n-th held port bad (bind failure).
        MarkHeldBad(usize),
        RestoreAnyBad(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => Just(Op::Allocate),
            3 => any::<usize>().prop_map(Op::ReleaseHeld),
            1 => (9_990u16..10_030).prop_map(Op::ReleaseAny),
            1 => any::<usize>().prop_map(Op::MarkHeldBad),
            1 => any::<usize>().prop_map(Op::RestoreAnyBad),
        ]
    }

    proptest! {
        /// Any sequence of operations behaves like a simple model: a FIFO of free ports, a
        /// set of held ports, a set of bad ports. A held port is never handed out again.
        #[test]
        fn matches_the_model(ops in proptest::collection::vec(op(), 0..400)) {
            let mut pool = PortPool::new(10_000..=10_019).unwrap(); // 10 pairs
            let mut free: VecDeque<u16> = (0..10).map(|i| 10_000 + 2 * i).collect();
            let mut held: Vec<u16> = Vec::new();
            let mut bad: Vec<u16> = Vec::new();
            let mut exhausted = 0;
            for op in ops {
                match op {
                    Op::Allocate => match free.pop_front() {
                        Some(expected) => {
                            let pair = pool.allocate().unwrap();
                            prop_assert_eq!(pair.rtp, expected);
                            prop_assert!(!held.contains(&pair.rtp));
                            held.push(pair.rtp);
                        }
                        None => {
                            exhausted += 1;
                            let is_exhausted = matches!(pool.allocate(), Err(PortError::Exhausted { .. }));
                            prop_assert!(is_exhausted);
                        }
                    },
                    Op::ReleaseHeld(n) if !held.is_empty() => {
                        let port = held.remove(n % held.len());
                        pool.release(port).unwrap();
                        free.push_back(port);
                    }
                    Op::ReleaseHeld(_) => {}
                    Op::ReleaseAny(port) => {
                        let result = pool.release(port);
                        if let Some(at) = held.iter().position(|&p| p == port) {
                            prop_assert_eq!(result, Ok(()));
                            held.remove(at);
                            free.push_back(port);
                        } else {
                            prop_assert!(result.is_err());
                        }
                    }
                    Op::MarkHeldBad(n) if !held.is_empty() => {
                        let port = held.remove(n % held.len());
                        pool.mark_bad(port).unwrap();
                        bad.push(port);
                    }
                    Op::MarkHeldBad(_) => {}
                    Op::RestoreAnyBad(n) if !bad.is_empty() => {
                        let port = bad.remove(n % bad.len());
                        pool.restore_bad(port).unwrap();
                        free.push_back(port);
                    }
                    Op::RestoreAnyBad(_) => {}
                }
                prop_assert_eq!(pool.in_use(), held.len());
                prop_assert_eq!(pool.available(), free.len());
                prop_assert_eq!(pool.bad(), bad.len());
                for &port in &held {
                    prop_assert!(pool.is_allocated(port));
                }
            }
            prop_assert_eq!(pool.stats().exhausted, exhausted);
        }
    }
}
