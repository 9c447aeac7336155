//! Source latching with RTP-bleed protection: which source address a leg accepts media from
//! and, with `rtp_symmetric=yes`, sends media to.
//!
//! A leg latches onto a source either at once, when the packet's source IP is the one its
//! SDP signaled, or — for a peer behind NAT — after `nat_packets` packets in sequence of one
//! SSRC from one source. Once latched it never moves to another source unless the new source
//! keeps the latched SSRC and the latched source has been quiet for `relatch_quiet`.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::leg::DropReason;

/// Sources tracked at once while a leg waits for a NAT latch; the oldest is forgotten.
const MAX_CANDIDATES: usize = 8;

/// How a leg latches onto the source of its peer's media.
///
/// ```
/// use std::time::Duration;
/// use freya_media::relay::LatchPolicy;
///
/// let policy = LatchPolicy::default();
/// assert_eq!(policy.nat_packets, 5);
/// assert_eq!(policy.relatch_quiet, Duration::from_secs(2));
/// let strict = LatchPolicy { nat_packets: 0, ..LatchPolicy::default() }; // SDP address only
/// assert_eq!(strict.nat_packets, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatchPolicy {
    /// Packets in sequence (consecutive sequence numbers) of one SSRC from one source that
    /// latch a source whose IP is not the signaled one (a peer behind NAT). 0 disables NAT
    /// latching: only the signaled IP is ever accepted. Default 5.
    pub nat_packets: u32,
    /// How long the latched source must have been quiet before another source that keeps the
    /// latched SSRC may take over (the peer's NAT binding changed). Default 2 s.
    pub relatch_quiet: Duration,
}

impl Default for LatchPolicy {
    fn default() -> Self {
        LatchPolicy {
            nat_packets: 5,
            relatch_quiet: Duration::from_secs(2),
        }
    }
}

/// Why a leg latched onto a source, in [`RelayEvent::Latched`](super::RelayEvent::Latched).
///
/// ```
/// use freya_media::relay::LatchReason;
///
/// let reason = LatchReason::Nat { packets: 5 };
/// assert_ne!(reason, LatchReason::SignaledAddress);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LatchReason {
    /// The packet came from the IP address the peer's SDP signaled.
    SignaledAddress,
    /// The source sent this many packets in sequence of one SSRC (peer behind NAT).
    Nat {
        /// The policy's `nat_packets` reached.
        packets: u32,
    },
}

/// What the latch made of one RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LatchDecision {
    /// From the latched source, same SSRC.
    Accept,
    /// The leg just latched onto this source.
    Latched(LatchReason),
    /// The leg moved from `from` to this source (same SSRC, `from` quiet long enough).
    Relatched { from: SocketAddr },
    /// From the latched source with a new SSRC; the latch now follows the new one.
    SsrcChanged { old: u32 },
    /// Refused.
    Drop(DropReason),
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    source: SocketAddr,
    ssrc: u32,
    next_seq: u16,
    count: u32,
    seen: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Latched {
    addr: SocketAddr,
    ssrc: u32,
    last_seen: Instant,
}

/// The latch of one leg (sans-IO: the arrival time is passed in).
#[derive(Debug, Clone)]
pub(crate) struct Latch {
    policy: LatchPolicy,
    latched: Option<Latched>,
    candidates: Vec<Candidate>,
}

impl Latch {
    pub(crate) fn new(policy: LatchPolicy) -> Self {
        Latch {
            policy,
            latched: None,
            candidates: Vec::new(),
        }
    }

    /// The latched source, if any.
    pub(crate) fn addr(&self) -> Option<SocketAddr> {
        self.latched.map(|l| l.addr)
    }

    /// The SSRC the latch follows, if latched.
    pub(crate) fn ssrc(&self) -> Option<u32> {
        self.latched.map(|l| l.ssrc)
    }

    /// Forgets the latch (the peer's signaled address changed).
    pub(crate) fn reset(&mut self) -> Option<SocketAddr> {
        self.candidates.clear();
        self.latched.take().map(|l| l.addr)
    }

    /// Decides on an RTP packet of `ssrc`/`seq` from `source`; `signaled` is the IP the
    /// peer's SDP gave (unspecified addresses never match).
    pub(crate) fn on_rtp(
        &mut self,
        now: Instant,
        source: SocketAddr,
        ssrc: u32,
        seq: u16,
        signaled: Option<IpAddr>,
    ) -> LatchDecision {
        if let Some(latched) = &mut self.latched {
            if source == latched.addr {
                latched.last_seen = now;
                if ssrc != latched.ssrc {
                    let old = latched.ssrc;
                    latched.ssrc = ssrc;
                    return LatchDecision::SsrcChanged { old };
                }
                return LatchDecision::Accept;
            }
            let quiet = now.saturating_duration_since(latched.last_seen);
            if ssrc == latched.ssrc && quiet >= self.policy.relatch_quiet {
                let from = latched.addr;
                latched.addr = source;
                latched.last_seen = now;
                return LatchDecision::Relatched { from };
            }
            return LatchDecision::Drop(DropReason::ForeignSource);
        }
        if signaled.is_some_and(|ip| !ip.is_unspecified() && ip == source.ip()) {
            self.latch(now, source, ssrc);
            return LatchDecision::Latched(LatchReason::SignaledAddress);
        }
        if self.policy.nat_packets == 0 {
            return LatchDecision::Drop(DropReason::Unverified);
        }
        let count = self.count_candidate(now, source, ssrc, seq);
        if count >= self.policy.nat_packets {
            self.latch(now, source, ssrc);
            return LatchDecision::Latched(LatchReason::Nat { packets: count });
        }
        LatchDecision::Drop(DropReason::Unverified)
    }

    /// Whether an RTCP packet from `source` is from the peer: from the latched source (with
    /// rtcp-mux) or its IP (RTCP on its own port), or, before any latch, from the signaled IP.
    pub(crate) fn accepts_rtcp(
        &self,
        source: SocketAddr,
        rtcp_mux: bool,
        signaled: Option<IpAddr>,
    ) -> Result<(), DropReason> {
        match self.latched {
            Some(l) if rtcp_mux && source == l.addr => Ok(()),
            Some(l) if !rtcp_mux && source.ip() == l.addr.ip() => Ok(()),
            Some(_) => Err(DropReason::ForeignSource),
            None if signaled.is_some_and(|ip| !ip.is_unspecified() && ip == source.ip()) => Ok(()),
            None => Err(DropReason::Unverified),
        }
    }

    fn latch(&mut self, now: Instant, addr: SocketAddr, ssrc: u32) {
        self.candidates.clear();
        self.latched = Some(Latched {
            addr,
            ssrc,
            last_seen: now,
        });
    }

    /// Counts one packet toward a NAT latch and returns the source's run length.
    fn count_candidate(&mut self, now: Instant, source: SocketAddr, ssrc: u32, seq: u16) -> u32 {
        if let Some(c) = self.candidates.iter_mut().find(|c| c.source == source) {
            if c.ssrc == ssrc && c.next_seq == seq {
                c.count = c.count.saturating_add(1);
            } else {
                c.ssrc = ssrc;
                c.count = 1;
            }
            c.next_seq = seq.wrapping_add(1);
            c.seen = now;
            return c.count;
        }
        if self.candidates.len() >= MAX_CANDIDATES {
            if let Some(oldest) = self
                .candidates
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| c.seen)
                .map(|(i, _)| i)
            {
                self.candidates.swap_remove(oldest);
            }
        }
        self.candidates.push(Candidate {
            source,
            ssrc,
            next_seq: seq.wrapping_add(1),
            count: 1,
            seen: now,
        });
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn interleaved_sources_each_count_their_own_run() {
        let mut latch = Latch::new(LatchPolicy::default());
        let t = Instant::now();
        let peer = addr("198.51.100.7:4000");
        let attacker = addr("203.0.113.9:5000");
        for seq in 0..4u16 {
            assert_eq!(
                latch.on_rtp(t, peer, 1, seq, None),
                LatchDecision::Drop(DropReason::Unverified)
            );
            // The attacker's packets are out of sequence: never a run.
            assert_eq!(
                latch.on_rtp(t, attacker, 2, seq * 7, None),
                LatchDecision::Drop(DropReason::Unverified)
            );
        }
        assert_eq!(
            latch.on_rtp(t, peer, 1, 4, None),
            LatchDecision::Latched(LatchReason::Nat { packets: 5 })
        );
        assert_eq!(latch.addr(), Some(peer));
    }

    #[test]
    fn a_gap_or_new_ssrc_restarts_the_run() {
        let mut latch = Latch::new(LatchPolicy {
            nat_packets: 3,
            ..LatchPolicy::default()
        });
        let t = Instant::now();
        let peer = addr("198.51.100.7:4000");
        latch.on_rtp(t, peer, 1, 10, None);
        latch.on_rtp(t, peer, 1, 11, None);
        latch.on_rtp(t, peer, 1, 13, None); // gap: run of 1
        latch.on_rtp(t, peer, 2, 14, None); // new SSRC: run of 1
        latch.on_rtp(t, peer, 2, 15, None);
        assert_eq!(
            latch.on_rtp(t, peer, 2, 16, None),
            LatchDecision::Latched(LatchReason::Nat { packets: 3 })
        );
    }

    #[test]
    fn unspecified_signaled_ip_never_matches() {
        let mut latch = Latch::new(LatchPolicy {
            nat_packets: 0,
            ..LatchPolicy::default()
        });
        let t = Instant::now();
        let zero = addr("0.0.0.0:4000");
        assert_eq!(
            latch.on_rtp(t, zero, 1, 0, Some(zero.ip())),
            LatchDecision::Drop(DropReason::Unverified)
        );
    }
}
