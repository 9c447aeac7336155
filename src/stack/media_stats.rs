//! A call's media counters at its end ([`CallMediaStats`], the `media` of the hangup
//! event), gathered from the relay's final statistics, the agent bridge's counters and the
//! call's own media loop ([`PumpCounters`]). Pure code: the numbers in, the event's
//! structs out.

use freya_media::bridge::BridgeStats;
use freya_media::relay::{DropReason, LegId, LegReport, RelayStats};

use crate::event::{AgentMediaStats, CallMediaStats, RtpDrops, RtpLegStats};

/// Samples per ms at 8 kHz.
const SAMPLES_PER_MS: u64 = 8;

/// What the media loop of an agent call counts itself, beside the relay and the bridge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PumpCounters {
    /// 20 ms caller-bound frames taken from the bridge.
    pub(crate) frames_from_agent: u64,
    /// Of those, packets the relay's queue refused (full): dropped.
    pub(crate) endpoint_full: u64,
    /// RTP packets from the peer with a payload type the SDP did not agree.
    pub(crate) foreign_payload: u64,
    /// DTMF digits (RFC 4733 or SIP INFO) the bridge refused to take.
    pub(crate) dtmf_refused: u64,
}

/// Which role the SIP peer of an agent call has: `caller` (inbound) or `callee` (originate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerRole {
    Caller,
    Callee,
}

impl PeerRole {
    /// The role in the events' words (`hold`'s `by`, the media legs' keys).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PeerRole::Caller => "caller",
            PeerRole::Callee => "callee",
        }
    }
}

/// One relay leg as the event reports it: its counters, and its peer's RTP streams summed
/// (loss, reordering, duplicates) with the worst jitter.
pub(crate) fn rtp_leg(report: &LegReport) -> RtpLegStats {
    let c = &report.counters;
    let d = |r: DropReason| c.dropped.get(r);
    let streams = &report.streams;
    RtpLegStats {
        packets_in: c.packets_in,
        bytes_in: c.bytes_in,
        rtcp_in: c.rtcp_in,
        packets_out: c.packets_out,
        bytes_out: c.bytes_out,
        rtcp_out: c.rtcp_out,
        // Never negative in freya-media (duplicates are not counted as received).
        lost: streams.iter().map(|s| s.lost.max(0) as u64).sum(),
        late: streams.iter().map(|s| s.late).sum(),
        duplicates: streams.iter().map(|s| s.duplicates).sum(),
        jitter_ms: streams.iter().map(|s| s.jitter_ms).fold(0.0, f64::max),
        dropped: RtpDrops {
            malformed: d(DropReason::Malformed),
            unverified: d(DropReason::Unverified),
            foreign_source: d(DropReason::ForeignSource),
            direction_forbids: d(DropReason::DirectionForbids),
            peer_on_hold: d(DropReason::PeerOnHold),
            no_destination: d(DropReason::NoDestination),
        },
        foreign_payload: 0,
        endpoint_overflow: 0,
        endpoint_full: 0,
    }
}

/// The bridge's counters as the event reports them (queue depths in ms).
pub(crate) fn agent(bridge: &BridgeStats, pump: &PumpCounters) -> AgentMediaStats {
    AgentMediaStats {
        caller_frames_sent: bridge.caller_frames_sent,
        caller_gap_frames: bridge.caller_gap_frames,
        input_dropped_frames: bridge.input_dropped_frames,
        dtmf_sent: bridge.dtmf_sent,
        dtmf_refused: pump.dtmf_refused,
        messages_received: bridge.messages_received,
        rejected_messages: bridge.rejected_messages,
        agent_samples_received: bridge.agent_samples_received,
        frames_from_agent: pump.frames_from_agent,
        frames_played: bridge.frames_played,
        silent_ticks: bridge.silent_ticks,
        late_ticks_skipped: bridge.late_ticks_skipped,
        output_dropped_frames: bridge.output_dropped_frames,
        overflow_dropped_samples: bridge.overflow_dropped_samples,
        cleared_samples: bridge.cleared_samples,
        clears: bridge.clears,
        queued_ms: bridge.queue_samples as u64 / SAMPLES_PER_MS,
        queue_peak_ms: bridge.queue_peak_samples as u64 / SAMPLES_PER_MS,
    }
}

/// An agent call: relay leg A is the SIP peer (`role`), leg B the in-process side whose
/// queues the relay's `endpoint_overflow` (peer → media loop) and the loop's
/// `endpoint_full` (media loop → peer) count. `relay` is `None` when the relay task had
/// already ended without a report: the SIP leg is then absent, the bridge still reported.
pub(crate) fn agent_call(
    relay: Option<&RelayStats>,
    role: PeerRole,
    bridge: &BridgeStats,
    pump: &PumpCounters,
) -> CallMediaStats {
    let leg = relay.map(|r| RtpLegStats {
        foreign_payload: pump.foreign_payload,
        endpoint_overflow: r.io.endpoint_overflow,
        endpoint_full: pump.endpoint_full,
        ..rtp_leg(r.leg(LegId::A))
    });
    let (caller, callee) = match role {
        PeerRole::Caller => (leg, None),
        PeerRole::Callee => (None, leg),
    };
    CallMediaStats {
        caller,
        callee,
        agent: Some(agent(bridge, pump)),
        send_errors: relay.map_or(0, |r| r.io.send_errors),
        recv_errors: relay.map_or(0, |r| r.io.recv_errors),
        oversize: relay.map_or(0, |r| r.io.oversize),
    }
}

/// A B2BUA call: relay leg A is the caller, leg B the callee.
pub(crate) fn b2bua_call(relay: &RelayStats) -> CallMediaStats {
    CallMediaStats {
        caller: Some(rtp_leg(relay.leg(LegId::A))),
        callee: Some(rtp_leg(relay.leg(LegId::B))),
        agent: None,
        send_errors: relay.io.send_errors,
        recv_errors: relay.io.recv_errors,
        oversize: relay.io.oversize,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use bytes::{Bytes, BytesMut};
    use freya_media::relay::{LegConfig, PortPair, Relay, RelayConfig, RemoteMedia};
    use freya_media::rtp::RtpHeader;

    use super::*;

    fn rtp(seq: u16, ssrc: u32) -> Bytes {
        let mut out = BytesMut::new();
        RtpHeader::new(0, seq, u32::from(seq) * 160, ssrc)
            .write(&[0xD5; 160], &mut out)
            .unwrap();
        out.freeze()
    }

    /// A real relay core fed real packets: 50 in order from the caller with seq 10 missing,
    /// one duplicate, and 3 from a foreign source after the latch. The report says so.
    fn relay_after_traffic() -> RelayStats {
        let t0 = Instant::now();
        let peer_a = "127.0.0.1:4000".parse().unwrap();
        let peer_b = "127.0.0.1:5000".parse().unwrap();
        let bleed = "127.0.0.1:4666".parse().unwrap();
        let mut relay = Relay::new(
            t0,
            RelayConfig::default(),
            LegConfig::new(
                PortPair {
                    rtp: 10_000,
                    rtcp: 10_001,
                },
                RemoteMedia::new(peer_a),
            ),
            LegConfig::new(
                PortPair {
                    rtp: 10_002,
                    rtcp: 10_003,
                },
                RemoteMedia::new(peer_b),
            ),
        )
        .unwrap();
        for seq in (0..50u16).filter(|s| *s != 10) {
            let at = t0 + Duration::from_millis(u64::from(seq) * 20);
            relay.handle_packet(at, LegId::A, peer_a, rtp(seq, 7));
        }
        // The duplicate arrives with the original (a later arrival would add jitter).
        let last = t0 + Duration::from_millis(49 * 20);
        relay.handle_packet(last, LegId::A, peer_a, rtp(49, 7));
        let end = t0 + Duration::from_secs(1);
        for seq in 0..3 {
            relay.handle_packet(end, LegId::A, bleed, rtp(seq, 9));
        }
        while relay.poll_transmit().is_some() {}
        let report = |leg: LegId| LegReport {
            leg,
            local: None,
            latched: relay.latched(leg),
            remote: relay.leg_config(leg).remote,
            counters: *relay.stats(leg),
            streams: relay.streams(leg).iter().map(|s| s.snapshot()).collect(),
        };
        RelayStats {
            legs: [report(LegId::A), report(LegId::B)],
            io: freya_media::relay::IoStats {
                endpoint_overflow: 2,
                send_errors: 1,
                ..Default::default()
            },
            at: end,
        }
    }

    #[test]
    fn a_relay_leg_reports_its_counters_loss_and_bleed() {
        let stats = relay_after_traffic();
        let a = rtp_leg(stats.leg(LegId::A));
        // 49 distinct + 1 duplicate accepted; 172-byte datagrams (12 header + 160).
        assert_eq!((a.packets_in, a.bytes_in, a.rtcp_in), (50, 50 * 172, 0));
        assert_eq!((a.lost, a.duplicates, a.late), (1, 1, 0));
        assert_eq!(a.dropped.foreign_source, 3);
        assert_eq!(a.dropped.total(), 3);
        // Arrivals exactly on the 20 ms grid: no jitter.
        assert!(a.jitter_ms.abs() < 1e-9, "{}", a.jitter_ms);
        // Leg B sent what A accepted.
        let b = rtp_leg(stats.leg(LegId::B));
        assert_eq!((b.packets_out, b.packets_in), (50, 0));
        let call = b2bua_call(&stats);
        assert_eq!(call.caller.as_ref().unwrap().packets_in, 50);
        assert_eq!(call.callee.as_ref().unwrap().packets_out, 50);
        assert_eq!((call.send_errors, call.agent), (1, None));
    }

    #[test]
    fn an_agent_call_puts_the_sip_leg_under_the_peers_role_with_the_queue_drops() {
        let stats = relay_after_traffic();
        let bridge = BridgeStats {
            caller_frames_sent: 49,
            agent_samples_received: 160 * 40,
            frames_played: 40,
            silent_ticks: 9,
            late_ticks_skipped: 3,
            input_dropped_frames: 2,
            queue_samples: 320,
            queue_peak_samples: 4000,
            ..BridgeStats::default()
        };
        let pump = PumpCounters {
            frames_from_agent: 49,
            endpoint_full: 4,
            foreign_payload: 5,
            dtmf_refused: 1,
        };
        let m = agent_call(Some(&stats), PeerRole::Callee, &bridge, &pump);
        assert!(m.caller.is_none());
        let leg = m.callee.as_ref().unwrap();
        assert_eq!(leg.packets_in, 50);
        assert_eq!(
            (
                leg.endpoint_overflow,
                leg.endpoint_full,
                leg.foreign_payload
            ),
            (2, 4, 5)
        );
        let a = m.agent.unwrap();
        assert_eq!((a.caller_frames_sent, a.frames_from_agent), (49, 49));
        assert_eq!(a.dtmf_refused, 1);
        assert_eq!(
            (a.frames_played, a.silent_ticks, a.late_ticks_skipped),
            (40, 9, 3)
        );
        assert_eq!((a.queued_ms, a.queue_peak_ms), (40, 500));
        let h = m.headline();
        assert_eq!(h.rtp_in, Some(50));
        assert_eq!(h.lost, Some(1));
        assert_eq!(h.rtp_dropped, Some(3 + 5));
        assert_eq!(h.queue_dropped, Some(2 + 4 + 2));
        assert_eq!(
            (h.to_agent, h.from_agent, h.late_ticks),
            (Some(49), Some(49), Some(3))
        );

        // No relay report: the bridge still counts, no leg is made up.
        let m = agent_call(None, PeerRole::Caller, &bridge, &pump);
        assert!(m.caller.is_none() && m.callee.is_none());
        assert_eq!(m.headline().queue_dropped, Some(2));
    }
}
