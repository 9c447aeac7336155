//! The translation between a call's RTP (G.711 at 8 kHz, RFC 4733 telephone-event) and
//! an agent bridge's 16-bit PCM frames — pure code, one instance per call. The relay
//! (latching, bleed protection) is in front; this only decodes, encodes and numbers.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use freya_media::codec::G711Law;
use freya_media::dtmf::{DtmfEvent, DtmfReceiver};
use freya_media::relay::{Direction as MediaDirection, RemoteMedia};
use freya_media::rtp::{RtpHeader, RtpPacket};
use freya_sip::sdp::{Codec, Direction, Negotiated};

/// What one received RTP packet gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inbound {
    /// The agreed audio. It is decoded by the relay-side sink (`media_sinks::CallerAudio`),
    /// which takes every such packet from its installation on (queued ones included), so
    /// one reaching the call's task means no sink is installed.
    Audio,
    /// Nothing yet (a telephone-event packet mid-digit, a duplicate).
    Nothing,
    /// A payload type the SDP did not agree: dropped, counted.
    Foreign(u8),
}

/// The G.711 law of the agreed codec.
fn law_of(agreed: &Negotiated) -> G711Law {
    match agreed.codec {
        Codec::Pcma => G711Law::Alaw,
        _ => G711Law::Ulaw,
    }
}

/// One call's receiving codec state: the agreed payload types and the RFC 4733 receiver.
pub(crate) struct CallMedia {
    law: G711Law,
    payload_type: u8,
    telephone_event: Option<u8>,
    dtmf: DtmfReceiver,
    pub(crate) foreign: u64,
}

impl CallMedia {
    pub(crate) fn new(agreed: &Negotiated) -> CallMedia {
        CallMedia {
            law: law_of(agreed),
            payload_type: agreed.payload_type,
            telephone_event: agreed.telephone_event,
            dtmf: DtmfReceiver::new(8000),
            foreign: 0,
        }
    }

    /// The agreed audio's law and payload type (for the relay-side decoder).
    pub(crate) fn audio(&self) -> (G711Law, u8) {
        (self.law, self.payload_type)
    }

    /// Takes a received packet.
    pub(crate) fn receive(&mut self, now: Instant, p: &RtpPacket) -> Inbound {
        let pt = p.payload_type();
        if pt == self.payload_type {
            return Inbound::Audio;
        }
        if Some(pt) == self.telephone_event {
            if let Err(error) =
                self.dtmf
                    .handle_payload(now, p.marker(), p.timestamp(), p.payload())
            {
                tracing::debug!(%error, "stack: telephone-event packet refused");
            }
            return Inbound::Nothing;
        }
        self.foreign += 1;
        // Counted for the hangup event's `foreign_payload`; logged at 1, 2, 4 … so a
        // misbehaving peer cannot flood the log.
        if self.foreign.is_power_of_two() {
            tracing::debug!(
                payload_type = pt,
                count = self.foreign,
                "stack: RTP payload type the SDP did not agree, dropped"
            );
        }
        Inbound::Foreign(pt)
    }

    /// When a digit in progress must be ended if no more packets come (RFC 4733 §2.5.1.4:
    /// all three end packets may be lost); `None` when no digit is in progress.
    pub(crate) fn dtmf_deadline(&self) -> Option<Instant> {
        self.dtmf.poll_timeout()
    }

    /// Digits finished so far (RFC 4733: one per event, whatever the end retransmits).
    pub(crate) fn poll_dtmf(&mut self, now: Instant) -> Option<DtmfEvent> {
        self.dtmf.handle_timeout(now);
        self.dtmf.poll_event()
    }
}

/// Our outgoing RTP stream toward the call's peer: the agreed audio payload type and its
/// numbering (RFC 3550 §5.1: random SSRC and initial sequence number and timestamp).
pub(crate) struct RtpOut {
    law: G711Law,
    payload_type: u8,
    ssrc: u32,
    seq: u16,
    ts: u32,
    first: bool,
    /// The G.711 codes of the packet being built (kept between packets).
    payload: Vec<u8>,
}

impl RtpOut {
    pub(crate) fn new(agreed: &Negotiated, seed: u64) -> RtpOut {
        RtpOut {
            law: law_of(agreed),
            payload_type: agreed.payload_type,
            ssrc: seed as u32,
            seq: (seed >> 32) as u16,
            ts: (seed >> 16) as u32,
            first: true,
            payload: Vec::new(),
        }
    }

    /// The RTP timestamp the next audio packet will carry.
    pub(crate) fn timestamp(&self) -> u32 {
        self.ts
    }

    /// Lets `samples` of media time pass without a packet (agent audio held back while an
    /// RFC 4733 tone is on, §2.5.1).
    pub(crate) fn skip(&mut self, samples: usize) {
        self.ts = self.ts.wrapping_add(samples as u32);
    }

    /// A telephone-event packet (RFC 4733 §2.3) in this stream: its payload type `pt`, the
    /// event's timestamp and marker, the stream's SSRC and next sequence number.
    pub(crate) fn event(&mut self, pt: u8, p: &freya_media::dtmf::DtmfPacket) -> Bytes {
        let mut h = RtpHeader::new(pt, self.seq, p.timestamp, self.ssrc);
        h.marker = p.marker;
        self.seq = self.seq.wrapping_add(1);
        let mut out = BytesMut::with_capacity(16);
        let _ = h.write(&p.payload(), &mut out);
        out.freeze()
    }

    /// One frame of PCM (8 kHz, normally 160 samples = 20 ms) as the next RTP packet.
    pub(crate) fn packet(&mut self, samples: &[i16]) -> Bytes {
        // Reused: one allocation per packet (the packet itself), not two.
        let mut payload = std::mem::take(&mut self.payload);
        payload.clear();
        self.law.encode_into(samples, &mut payload);
        let mut h = RtpHeader::new(self.payload_type, self.seq, self.ts, self.ssrc);
        h.marker = self.first;
        self.first = false;
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(samples.len() as u32);
        let mut out = BytesMut::with_capacity(12 + payload.len());
        // Writing a plain header cannot fail (no CSRCs, no extension).
        let _ = h.write(&payload, &mut out);
        self.payload = payload;
        out.freeze()
    }
}

/// What the relay should know of the peer from the agreed SDP.
pub(crate) fn remote_media(agreed: &Negotiated) -> RemoteMedia {
    let direction = match agreed.direction {
        // Our direction mirrored: if we only send, the peer only receives.
        Direction::SendOnly => MediaDirection::RecvOnly,
        Direction::RecvOnly => MediaDirection::SendOnly,
        Direction::Inactive => MediaDirection::Inactive,
        _ => MediaDirection::SendRecv,
    };
    let addr: Option<SocketAddr> = Some(agreed.remote_rtp);
    RemoteMedia {
        addr,
        rtcp: agreed.remote_rtcp,
        rtcp_mux: agreed.rtcp_mux,
        direction,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreed(codec: Codec) -> Negotiated {
        Negotiated {
            media_index: 0,
            codec,
            payload_type: codec.static_payload_type(),
            telephone_event: Some(101),
            remote_rtp: "127.0.0.1:4000".parse().unwrap(),
            remote_rtcp: None,
            rtcp_mux: false,
            direction: Direction::SendRecv,
            ptime: 20,
            remote_hold: false,
        }
    }

    #[test]
    fn packets_number_and_round_trip() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut m = CallMedia::new(&agreed(codec));
            let mut out = RtpOut::new(&agreed(codec), 0x1234_5678_9abc_def0);
            let tone: Vec<i16> = (0..160)
                .map(|i| (8000.0 * (i as f64 * 0.785).sin()) as i16)
                .collect();
            let a = RtpPacket::parse(out.packet(&tone)).unwrap();
            let b = RtpPacket::parse(out.packet(&tone)).unwrap();
            assert!(a.marker() && !b.marker());
            assert_eq!(b.sequence(), a.sequence().wrapping_add(1));
            assert_eq!(b.timestamp(), a.timestamp().wrapping_add(160));
            assert_eq!(a.payload_type(), codec.static_payload_type());
            assert_eq!(m.receive(Instant::now(), &a), Inbound::Audio);
            let (law, pt) = m.audio();
            assert_eq!(pt, codec.static_payload_type());
            let mut back = Vec::new();
            law.decode_into(a.payload(), &mut back);
            // G.711 keeps 8000-amplitude samples within a few percent.
            for (x, y) in tone.iter().zip(&back) {
                assert!((i32::from(*x) - i32::from(*y)).abs() <= 260, "{x} vs {y}");
            }
        }
    }

    /// A digit whose end packets are all lost still ends, at the deadline the pump's
    /// timer waits for; without a digit in progress there is no deadline (no timer).
    #[test]
    fn a_digit_without_end_packets_ends_at_its_deadline() {
        let mut m = CallMedia::new(&agreed(Codec::Pcmu));
        assert_eq!(m.dtmf_deadline(), None);
        let t0 = Instant::now();
        // RFC 4733 §2.3: event 5, not the end, volume 10, duration 160 ticks.
        let mut out = BytesMut::new();
        let mut h = RtpHeader::new(101, 10, 8000, 9);
        h.marker = true;
        h.write(&[5, 10, 0, 160], &mut out).unwrap();
        let p = RtpPacket::parse(out.freeze()).unwrap();
        assert_eq!(m.receive(t0, &p), Inbound::Nothing);
        let due = m
            .dtmf_deadline()
            .expect("a digit in progress has a deadline");
        assert!(due > t0);
        assert_eq!(m.poll_dtmf(t0), None);
        let d = m.poll_dtmf(due).expect("the digit ends at its deadline");
        assert_eq!(d.code.to_char(), Some('5'));
        assert_eq!(m.dtmf_deadline(), None);
    }

    #[test]
    fn foreign_payload_types_are_counted() {
        let mut m = CallMedia::new(&agreed(Codec::Pcmu));
        let mut out = BytesMut::new();
        RtpHeader::new(18, 1, 1, 1)
            .write(&[0; 20], &mut out)
            .unwrap();
        let p = RtpPacket::parse(out.freeze()).unwrap();
        assert_eq!(m.receive(Instant::now(), &p), Inbound::Foreign(18));
        assert_eq!(m.foreign, 1);
    }
}
