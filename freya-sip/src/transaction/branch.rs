//! Branch parameters for new client transactions (RFC 3261 §8.1.1.7).

use std::collections::hash_map::{DefaultHasher, RandomState};
use std::hash::{BuildHasher, Hash, Hasher};

use crate::message::MAGIC_COOKIE;

#[derive(Debug, Clone)]
enum Source {
    /// Keyed by the process's random hash keys: unpredictable.
    Random(RandomState),
    /// Deterministic, for tests and reproducible traces.
    Seeded(u64),
}

/// Makes branch parameters that start with the magic cookie `z9hG4bK` and are unique across
/// space and time (§8.1.1.7): a 64-bit keyed hash of a counter (unpredictable to others,
/// with [`BranchGenerator::new`]) followed by the counter itself (unique per generator).
///
/// ```
/// use freya_sip::transaction::BranchGenerator;
/// let mut g = BranchGenerator::new();
/// let (a, b) = (g.next_branch(), g.next_branch());
/// assert!(a.starts_with("z9hG4bK") && b.starts_with("z9hG4bK"));
/// assert_ne!(a, b);
/// // Seeded generators repeat themselves, for reproducible tests.
/// assert_eq!(BranchGenerator::with_seed(7).next_branch(), BranchGenerator::with_seed(7).next_branch());
/// ```
#[derive(Debug, Clone)]
pub struct BranchGenerator {
    source: Source,
    counter: u64,
}

impl Default for BranchGenerator {
    fn default() -> Self {
        BranchGenerator::new()
    }
}

impl BranchGenerator {
    /// A generator keyed with fresh random keys (from the operating system, through
    /// `std`'s `RandomState`).
    pub fn new() -> BranchGenerator {
        BranchGenerator {
            source: Source::Random(RandomState::new()),
            counter: 0,
        }
    }

    /// A deterministic generator: the same seed gives the same branches.
    pub fn with_seed(seed: u64) -> BranchGenerator {
        BranchGenerator {
            source: Source::Seeded(seed),
            counter: 0,
        }
    }

    /// The next branch: `z9hG4bK` + 16 hex digits + the counter in hex.
    pub fn next_branch(&mut self) -> String {
        self.counter = self.counter.wrapping_add(1);
        let h = match &self.source {
            Source::Random(rs) => rs.hash_one(self.counter),
            Source::Seeded(seed) => {
                let mut h = DefaultHasher::new();
                (seed, self.counter).hash(&mut h);
                h.finish()
            }
        };
        format!("{MAGIC_COOKIE}{h:016x}{:x}", self.counter)
    }
}
