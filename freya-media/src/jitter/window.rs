//! Minimum and maximum over the last `len` values in O(1) amortised time per value
//! (monotonic queues), for the jitter buffer's delay spread.

use std::collections::VecDeque;

/// The extremes of the last `len` values pushed. Memory: at most `len` entries per queue.
#[derive(Debug, Clone)]
pub(crate) struct SlidingExtrema {
    len: u64,
    pushed: u64,
    /// (index, value), values increasing from the front: the front is the minimum.
    mins: VecDeque<(u64, i64)>,
    /// (index, value), values decreasing from the front: the front is the maximum.
    maxs: VecDeque<(u64, i64)>,
}

impl SlidingExtrema {
    /// A window over the last `len` values (at least 1).
    pub(crate) fn new(len: usize) -> Self {
        SlidingExtrema {
            len: len.max(1) as u64,
            pushed: 0,
            mins: VecDeque::new(),
            maxs: VecDeque::new(),
        }
    }

    pub(crate) fn push(&mut self, value: i64) {
        let index = self.pushed;
        self.pushed += 1;
        while self.mins.back().is_some_and(|&(_, v)| v >= value) {
            self.mins.pop_back();
        }
        self.mins.push_back((index, value));
        while self.maxs.back().is_some_and(|&(_, v)| v <= value) {
            self.maxs.pop_back();
        }
        self.maxs.push_back((index, value));
        let oldest = self.pushed.saturating_sub(self.len);
        while self.mins.front().is_some_and(|&(i, _)| i < oldest) {
            self.mins.pop_front();
        }
        while self.maxs.front().is_some_and(|&(i, _)| i < oldest) {
            self.maxs.pop_front();
        }
    }

    pub(crate) fn min(&self) -> Option<i64> {
        self.mins.front().map(|&(_, v)| v)
    }

    pub(crate) fn max(&self) -> Option<i64> {
        self.maxs.front().map(|&(_, v)| v)
    }

    pub(crate) fn clear(&mut self) {
        self.mins.clear();
        self.maxs.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn matches_a_naive_scan(len in 1usize..20, values in proptest::collection::vec(-1000i64..1000, 1..200)) {
            let mut w = SlidingExtrema::new(len);
            for (i, &v) in values.iter().enumerate() {
                w.push(v);
                let start = (i + 1).saturating_sub(len);
                let window = &values[start..=i];
                prop_assert_eq!(w.min(), window.iter().copied().min());
                prop_assert_eq!(w.max(), window.iter().copied().max());
                prop_assert!(w.mins.len() <= len && w.maxs.len() <= len);
            }
        }
    }
}
