//! The stack's campaigns by id, with bounded memory for the ended ones: running and paused
//! campaigns are always kept; of the ended ones (finished or cancelled, their task done)
//! only the `keep` that ended last are, the oldest-ended forgotten first
//! (`[control] keep_ended_campaigns`). Plain data, no clock, no I/O: the stack holds it
//! under its lock and logs what it forgets.

use std::collections::{HashMap, VecDeque};

use super::runner::Entry;

/// Campaigns by id; `E` is the stack's [`Entry`] (anything in the tests).
pub(crate) struct Registry<E = Entry> {
    entries: HashMap<String, E>,
    /// The ids of the ended campaigns still kept, oldest-ended first.
    ended: VecDeque<String>,
}

impl<E> Default for Registry<E> {
    fn default() -> Self {
        Registry {
            entries: HashMap::new(),
            ended: VecDeque::new(),
        }
    }
}

impl<E> Registry<E> {
    /// Adds a campaign just started (not ended).
    pub(crate) fn insert(&mut self, id: String, entry: E) {
        self.entries.insert(id, entry);
    }

    /// The campaign `id`, unless unknown or forgotten.
    pub(crate) fn get(&self, id: &str) -> Option<&E> {
        self.entries.get(id)
    }

    /// Every campaign kept, in no order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &E> {
        self.entries.values()
    }

    /// Records that campaign `id` has ended (now: it is the newest-ended), then forgets the
    /// oldest-ended ones past `keep`; returns the ids forgotten, oldest-ended first. An id
    /// not kept, or already recorded as ended, changes nothing but the forgetting.
    pub(crate) fn ended(&mut self, id: &str, keep: usize) -> Vec<String> {
        if self.entries.contains_key(id) && !self.ended.iter().any(|e| e == id) {
            self.ended.push_back(id.to_owned());
        }
        self.forget_past(keep)
    }

    /// Forgets the oldest-ended campaigns until at most `keep` ended ones are left (a limit
    /// lowered by a reload); returns their ids, oldest-ended first.
    pub(crate) fn forget_past(&mut self, keep: usize) -> Vec<String> {
        let excess = self.ended.len().saturating_sub(keep);
        let forgotten: Vec<String> = self.ended.drain(..excess).collect();
        for id in &forgotten {
            self.entries.remove(id);
        }
        forgotten
    }
}

#[cfg(test)]
mod tests {
    use super::Registry;

    fn registry(ids: &[&str]) -> Registry<u32> {
        let mut r = Registry::default();
        for (i, id) in ids.iter().enumerate() {
            r.insert((*id).to_owned(), i as u32);
        }
        r
    }

    fn kept(r: &Registry<u32>) -> Vec<u32> {
        let mut v: Vec<u32> = r.values().copied().collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn nothing_is_forgotten_within_the_limit() {
        let mut r = registry(&["a", "b", "c"]);
        assert!(r.ended("a", 2).is_empty());
        assert!(r.ended("b", 2).is_empty());
        assert_eq!(kept(&r), [0, 1, 2]);
    }

    #[test]
    fn the_oldest_ended_go_first_not_the_oldest_started() {
        let mut r = registry(&["a", "b", "c", "d"]);
        // Ended in the order c, a, d: c is the oldest-ended though a started first.
        assert!(r.ended("c", 2).is_empty());
        assert!(r.ended("a", 2).is_empty());
        assert_eq!(r.ended("d", 2), ["c"]);
        assert!(r.get("c").is_none());
        assert_eq!((r.get("a"), r.get("d")), (Some(&0), Some(&3)));
        assert_eq!(r.ended("b", 2), ["a"]);
        assert_eq!(kept(&r), [1, 3]);
    }

    #[test]
    fn running_campaigns_are_never_forgotten() {
        let mut r = registry(&["run1", "run2", "x", "y"]);
        assert_eq!(r.ended("x", 0), ["x"]);
        assert_eq!(r.ended("y", 0), ["y"]);
        assert_eq!(r.forget_past(0), Vec::<String>::new());
        // Only the two never ended are left, however low the limit.
        assert_eq!(kept(&r), [0, 1]);
    }

    #[test]
    fn a_limit_of_one_keeps_the_last_ended_only() {
        let mut r = registry(&["a", "b", "c"]);
        assert!(r.ended("a", 1).is_empty());
        assert_eq!(r.ended("b", 1), ["a"]);
        assert_eq!(r.ended("c", 1), ["b"]);
        assert_eq!(kept(&r), [2]);
    }

    #[test]
    fn ending_twice_or_an_unknown_id_records_nothing() {
        let mut r = registry(&["a", "b"]);
        assert!(r.ended("a", 1).is_empty());
        // A second end of `a` does not push it again (and so does not evict it).
        assert!(r.ended("a", 1).is_empty());
        assert_eq!(kept(&r), [0, 1]);
        // An id never inserted (or already forgotten) is not recorded.
        assert!(r.ended("ghost", 1).is_empty());
        assert_eq!(r.ended("b", 1), ["a"]);
        assert!(r.ended("a", 1).is_empty());
        assert_eq!(kept(&r), [1]);
        // A campaign started after is kept while it runs.
        r.insert("c".into(), 2);
        assert!(r.forget_past(1).is_empty());
        assert_eq!(kept(&r), [1, 2]);
    }

    #[test]
    fn a_lowered_limit_forgets_the_excess_oldest_first() {
        let mut r = registry(&["a", "b", "c", "d", "e"]);
        for id in ["b", "d", "a", "e"] {
            assert!(r.ended(id, 10).is_empty());
        }
        assert_eq!(r.forget_past(1), ["b", "d", "a"]);
        assert_eq!(kept(&r), [2, 4]);
        // Raising it again brings nothing back and forgets nothing.
        assert!(r.forget_past(100).is_empty());
        assert_eq!(kept(&r), [2, 4]);
    }
}
