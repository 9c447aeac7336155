//! Voice-agent slots (sans-IO): N identical agents per pool, a call takes an idle one
//! and gives it back when it ends. A slot is never handed to two calls.

use std::collections::HashMap;

/// One pool's slots.
///
/// ```
/// use freya::slots::SlotPool;
/// let mut p = SlotPool::new("echo", 2);
/// assert_eq!(p.take("call-a"), Some(0));
/// assert_eq!(p.take("call-b"), Some(1));
/// assert_eq!(p.take("call-c"), None);
/// assert_eq!(p.free("call-a"), Some(0));
/// assert_eq!(p.take("call-c"), Some(0));
/// assert_eq!(p.busy(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct SlotPool {
    name: String,
    /// The call holding each slot.
    held: Vec<Option<String>>,
    by_call: HashMap<String, usize>,
    /// Where the next search starts, so load spreads over the slots.
    next: usize,
}

impl SlotPool {
    /// A pool of `n` idle slots.
    pub fn new(name: impl Into<String>, n: usize) -> SlotPool {
        SlotPool {
            name: name.into(),
            held: vec![None; n],
            by_call: HashMap::new(),
            next: 0,
        }
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many slots.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether the pool has no slots.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// How many slots are taken.
    pub fn busy(&self) -> usize {
        self.by_call.len()
    }

    /// Takes an idle slot for `call`; `None` when all are busy. A call holding a slot
    /// gets the same one back.
    pub fn take(&mut self, call: &str) -> Option<usize> {
        if let Some(&i) = self.by_call.get(call) {
            return Some(i);
        }
        let n = self.held.len();
        let i = (0..n)
            .map(|k| (self.next + k) % n)
            .find(|&i| self.held[i].is_none())?;
        self.held[i] = Some(call.to_owned());
        self.by_call.insert(call.to_owned(), i);
        self.next = (i + 1) % n;
        Some(i)
    }

    /// The slot `call` holds, if any.
    pub fn held_by(&self, call: &str) -> Option<usize> {
        self.by_call.get(call).copied()
    }

    /// Gives back `call`'s slot; returns it (`None` if the call held none).
    pub fn free(&mut self, call: &str) -> Option<usize> {
        let i = self.by_call.remove(call)?;
        self.held[i] = None;
        Some(i)
    }

    /// The call on each slot (`None` = idle), for `ctl show slots`.
    pub fn slots(&self) -> &[Option<String>] {
        &self.held
    }

    /// Resizes to `n` slots (hot reload). Busy slots beyond `n` stay until their call
    /// frees them; they are then dropped.
    pub fn resize(&mut self, n: usize) {
        if n >= self.held.len() {
            self.held.resize(n, None);
        } else {
            while self.held.len() > n && self.held.last().is_some_and(Option::is_none) {
                self.held.pop();
            }
        }
        self.next %= self.held.len().max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_two_calls_on_one_slot() {
        let mut p = SlotPool::new("x", 3);
        let mut taken = std::collections::HashSet::new();
        for i in 0..3 {
            assert!(taken.insert(p.take(&format!("c{i}")).unwrap()));
        }
        assert_eq!(p.take("c9"), None);
        assert_eq!(
            p.take("c1"),
            Some(
                p.slots()
                    .iter()
                    .position(|s| s.as_deref() == Some("c1"))
                    .unwrap()
            )
        );
        assert_eq!(p.free("nobody"), None);
    }

    #[test]
    fn shrinking_keeps_busy_slots_until_freed() {
        let mut p = SlotPool::new("x", 3);
        p.take("a");
        p.take("b");
        p.take("c");
        p.resize(1);
        assert_eq!(p.len(), 3, "busy slots stay");
        p.free("c");
        p.resize(1);
        assert_eq!(p.len(), 2);
        p.resize(5);
        assert_eq!(p.len(), 5);
        assert_eq!(p.busy(), 2);
    }
}
