//! Test-only network emulation shared by the transaction and dialog emulators (after str0m's
//! `tests/common.rs`): a seeded queue that loses, duplicates and delays (so reorders)
//! datagrams in virtual time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::transaction::Reliability;

/// xorshift64*: small, deterministic.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// true with probability `per_mille`/1000.
    pub(crate) fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
    pub(crate) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// How the emulated network treats datagrams.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NetConfig {
    pub(crate) loss_per_mille: u64,
    pub(crate) dup_per_mille: u64,
    pub(crate) min_delay_ms: u64,
    pub(crate) max_delay_ms: u64,
    pub(crate) reliability: Reliability,
}

/// 20 % loss, 10 % duplication, 10–250 ms delay: reorders often.
pub(crate) const LOSSY: NetConfig = NetConfig {
    loss_per_mille: 200,
    dup_per_mille: 100,
    min_delay_ms: 10,
    max_delay_ms: 250,
    reliability: Reliability::Unreliable,
};

/// No loss, 50 ms each way: deterministic races.
pub(crate) const CLEAN: NetConfig = NetConfig {
    loss_per_mille: 0,
    dup_per_mille: 0,
    min_delay_ms: 50,
    max_delay_ms: 50,
    reliability: Reliability::Unreliable,
};

/// A reliable stream transport, 20 ms.
pub(crate) const TCP: NetConfig = NetConfig {
    loss_per_mille: 0,
    dup_per_mille: 0,
    min_delay_ms: 20,
    max_delay_ms: 20,
    reliability: Reliability::Reliable,
};

/// A datagram on its way to node `to`.
pub(crate) struct Datagram {
    pub(crate) to: usize,
    pub(crate) from: SocketAddr,
    pub(crate) bytes: Bytes,
}

/// The emulated network: the in-flight queue and what happened to what was sent.
pub(crate) struct LossyNet {
    pub(crate) cfg: NetConfig,
    rng: Rng,
    queue: Vec<(Instant, u64, Datagram)>,
    seq: u64,
    pub(crate) sent: u64,
    pub(crate) lost: u64,
    pub(crate) duplicated: u64,
    /// Deliveries of a datagram sent before one already delivered to the same node.
    pub(crate) reordered: u64,
    /// Per receiving node, the highest send sequence delivered.
    delivered_seq: HashMap<usize, u64>,
}

impl LossyNet {
    pub(crate) fn new(seed: u64, cfg: NetConfig) -> LossyNet {
        LossyNet {
            cfg,
            rng: Rng::new(seed),
            queue: Vec::new(),
            seq: 0,
            sent: 0,
            lost: 0,
            duplicated: 0,
            reordered: 0,
            delivered_seq: HashMap::new(),
        }
    }

    /// Queues a datagram; returns false when the network lost it. `drop` is asked (after the
    /// random loss, so seeds keep their meaning) whether a test wants this one lost too.
    pub(crate) fn send(&mut self, now: Instant, d: Datagram, drop: impl FnOnce() -> bool) -> bool {
        self.sent += 1;
        if self.rng.chance(self.cfg.loss_per_mille) || drop() {
            self.lost += 1;
            return false;
        }
        let copies = if self.rng.chance(self.cfg.dup_per_mille) {
            self.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self
                .rng
                .between(self.cfg.min_delay_ms, self.cfg.max_delay_ms);
            self.seq += 1;
            let copy = Datagram {
                to: d.to,
                from: d.from,
                bytes: d.bytes.clone(),
            };
            self.queue
                .push((now + Duration::from_millis(delay), self.seq, copy));
        }
        true
    }

    /// When the next datagram arrives.
    pub(crate) fn next_at(&self) -> Option<Instant> {
        self.queue.iter().map(|p| p.0).min()
    }

    /// The earliest datagram due at `now`, in send order among equals.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Datagram> {
        let i = self
            .queue
            .iter()
            .enumerate()
            .filter(|(_, p)| p.0 <= now)
            .min_by_key(|(_, p)| (p.0, p.1))?
            .0;
        let (_, seq, d) = self.queue.swap_remove(i);
        let last = self.delivered_seq.entry(d.to).or_insert(0);
        if seq < *last {
            self.reordered += 1;
        }
        *last = (*last).max(seq);
        Some(d)
    }

    /// Whether nothing is in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}
