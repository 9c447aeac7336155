//! A sans-IO RTCP session for one RTP stream pair: when to report (RFC 3550 §6.2, §6.3),
//! what to put in the compound (§6.1, §6.4), BYE on close (§6.6), RTT (§6.4.1).

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};

use super::{
    parse_compound, round_trip_time, write_compound, Bye, NtpTime, PacketClass, ReceiverReport,
    ReportBlock, RtcpError, RtcpPacket, Sdes, SenderInfo, SenderReport, StreamStats,
};
use crate::rtp::RtpPacket;

/// Settings of an [`RtcpSession`].
///
/// ```
/// use freya_media::rtp::rtcp::RtcpConfig;
///
/// let config = RtcpConfig::new(0x1234, "freya@192.0.2.1");
/// assert_eq!(config.interval.as_secs(), 5);
/// assert!(config.randomize);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpConfig {
    /// Our SSRC (the one our RTP packets carry).
    pub ssrc: u32,
    /// Our canonical name for SDES CNAME (§6.5.1), e.g. `user@host`; at most 255 bytes.
    pub cname: String,
    /// The media clock rate of our RTP stream, in Hz (8000 for G.711), for the SR's RTP
    /// timestamp.
    pub clock_rate: u32,
    /// Mean report interval (default 5 s, RFC 3550's minimum). Must be at least 100 ms.
    pub interval: Duration,
    /// Randomise each interval to 0.5–1.5 times its mean (§6.2, §6.3.1), so participants do
    /// not synchronise. Default on; off makes the schedule exact (for tests).
    pub randomize: bool,
    /// Seed of the randomisation (e.g. from the SSRC or the OS); the session itself holds no
    /// global random source.
    pub seed: u64,
    /// Remote sources tracked at once (default 4): the least recently heard is forgotten
    /// beyond that, so a peer cycling SSRCs cannot grow memory.
    pub max_sources: usize,
}

impl RtcpConfig {
    /// The defaults for our `ssrc` and `cname`: 8 kHz clock, 5 s randomised interval, seed
    /// from the SSRC, 4 remote sources.
    pub fn new(ssrc: u32, cname: &str) -> Self {
        RtcpConfig {
            ssrc,
            cname: cname.to_owned(),
            clock_rate: 8000,
            interval: Duration::from_secs(5),
            randomize: true,
            seed: u64::from(ssrc) | 1 << 40,
            max_sources: 4,
        }
    }
}

/// What the session learned from the peer's RTCP, drained with [`RtcpSession::poll_event`].
///
/// ```
/// use freya_media::rtp::rtcp::RtcpEvent;
///
/// let e = RtcpEvent::Bye { ssrc: 5, reason: Some("done".into()) };
/// assert!(matches!(e, RtcpEvent::Bye { ssrc: 5, .. }));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum RtcpEvent {
    /// The peer reported on our stream: its loss and jitter figures, and the round-trip time
    /// when it echoed one of our SRs (LSR ≠ 0).
    Report {
        /// The reporter's SSRC.
        from: u32,
        /// Its block about our SSRC.
        block: ReportBlock,
        /// A − LSR − DLSR (§6.4.1), if computable.
        rtt: Option<Duration>,
    },
    /// A source said goodbye (it left the session: hang-up, or SSRC change).
    Bye {
        /// The source leaving.
        ssrc: u32,
        /// Its reason, invalid UTF-8 replaced.
        reason: Option<String>,
    },
}

/// Counters of an [`RtcpSession`].
///
/// ```
/// use freya_media::rtp::rtcp::RtcpSessionStats;
///
/// assert_eq!(RtcpSessionStats::default().reports_sent, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtcpSessionStats {
    /// Compound reports sent (SR or RR first).
    pub reports_sent: u64,
    /// Of those, with an SR.
    pub sender_reports_sent: u64,
    /// BYE compounds sent.
    pub byes_sent: u64,
    /// RTCP datagrams handled.
    pub received: u64,
    /// RTCP datagrams refused as malformed.
    pub malformed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// Closed; the BYE has not been sent yet.
    ByePending,
    Done,
}

/// The RTCP side of one RTP session (one local SSRC, a few remote ones), sans-IO.
///
/// Feed it what the media path does ([`on_rtp_sent`](Self::on_rtp_sent),
/// [`on_rtp_received`](Self::on_rtp_received)) and the RTCP datagrams that arrive
/// ([`handle_rtcp`](Self::handle_rtcp)); wake it at [`poll_timeout`](Self::poll_timeout) and
/// send what [`poll_transmit`](Self::poll_transmit) returns. Every compound is SR (if we sent
/// RTP in the last two intervals) or RR, with one report block per remote source heard since
/// the last report, then SDES CNAME; the one after [`close`](Self::close) ends with a BYE.
///
/// Wall-clock time (for NTP timestamps) is `wallclock` at `now` when the session is built,
/// advanced by the monotonic `Instant`s after that: no clock is read inside.
///
/// ```
/// use std::time::{Duration, Instant, SystemTime};
/// use bytes::Bytes;
/// use freya_media::rtp::rtcp::{parse_compound, RtcpConfig, RtcpPacket, RtcpSession};
///
/// let t0 = Instant::now();
/// let mut config = RtcpConfig::new(0xA, "freya@example");
/// config.randomize = false;
/// let mut rtcp = RtcpSession::new(config, t0, SystemTime::now())?;
/// rtcp.on_rtp_sent(t0, 0, 160);
/// // The first report goes out after half an interval (§6.2), then every interval.
/// assert_eq!(rtcp.poll_timeout(), Some(t0 + Duration::from_millis(2500)));
/// let wire = rtcp.poll_transmit(t0 + Duration::from_millis(2500)).unwrap();
/// let packets = parse_compound(wire)?;
/// assert!(matches!(&packets[0], RtcpPacket::SenderReport(sr) if sr.info.packet_count == 1));
/// assert!(matches!(&packets[1], RtcpPacket::SourceDescription(_)));
/// rtcp.close(Some("hangup"));
/// let bye = parse_compound(rtcp.poll_transmit(t0 + Duration::from_secs(3)).unwrap())?;
/// assert!(matches!(bye.last(), Some(RtcpPacket::Goodbye(_))));
/// assert_eq!(rtcp.poll_timeout(), None);
/// # Ok::<(), freya_media::rtp::rtcp::RtcpError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RtcpSession {
    config: RtcpConfig,
    rng: u64,
    epoch: Instant,
    ntp_epoch: NtpTime,
    next_report: Instant,
    state: State,
    bye_reason: Option<String>,
    /// RTP packets and payload octets we sent (SR sender info, wrapping at 2³²).
    sent_packets: u32,
    sent_octets: u32,
    /// RTP timestamp of our last packet and when it was sent, to extrapolate the SR's.
    last_sent: Option<(u32, Instant)>,
    /// Whether we sent RTP in the current and the previous interval ("we_sent", §6.3).
    sent_now: bool,
    sent_before: bool,
    remotes: Vec<StreamStats>,
    rtt: Option<Duration>,
    events: VecDeque<RtcpEvent>,
    stats: RtcpSessionStats,
}

impl RtcpSession {
    /// A session starting at `now`, when the wall clock read `wallclock`.
    ///
    /// # Errors
    /// [`RtcpError::BadConfig`] for a CNAME over 255 bytes, an interval under 100 ms or over
    /// an hour, or `max_sources` outside 1..=31.
    pub fn new(config: RtcpConfig, now: Instant, wallclock: SystemTime) -> Result<Self, RtcpError> {
        let bad = |setting, value: String, reason| RtcpError::BadConfig {
            setting,
            value,
            reason,
        };
        if config.cname.len() > 255 {
            return Err(bad("cname", config.cname.clone(), "longer than 255 bytes"));
        }
        if config.interval < Duration::from_millis(100)
            || config.interval > Duration::from_secs(3600)
        {
            return Err(bad(
                "interval",
                format!("{:?}", config.interval),
                "must be between 100 ms and 1 hour",
            ));
        }
        if !(1..=31).contains(&config.max_sources) {
            return Err(bad(
                "max_sources",
                config.max_sources.to_string(),
                "must be 1..=31 (report blocks per packet)",
            ));
        }
        let mut session = RtcpSession {
            rng: config.seed,
            epoch: now,
            ntp_epoch: NtpTime::from_system_time(wallclock),
            next_report: now,
            state: State::Open,
            bye_reason: None,
            sent_packets: 0,
            sent_octets: 0,
            last_sent: None,
            sent_now: false,
            sent_before: false,
            remotes: Vec::new(),
            rtt: None,
            events: VecDeque::new(),
            stats: RtcpSessionStats::default(),
            config,
        };
        // §6.2: the first report after half the minimum interval (randomised).
        session.next_report = now + session.next_interval() / 2;
        Ok(session)
    }

    /// The settings.
    pub fn config(&self) -> &RtcpConfig {
        &self.config
    }

    /// The NTP time at `now`.
    pub fn ntp_time(&self, now: Instant) -> NtpTime {
        self.ntp_epoch + now.saturating_duration_since(self.epoch)
    }

    /// The mean interval × a factor in 0.5..1.5 (splitmix64) when randomising.
    fn next_interval(&mut self) -> Duration {
        if !self.config.randomize {
            return self.config.interval;
        }
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let factor = 0.5 + (z >> 11) as f64 / (1u64 << 53) as f64;
        self.config.interval.mul_f64(factor)
    }

    /// Records one RTP packet we sent at `now`: its RTP timestamp and payload length in
    /// bytes (for the SR's packet and octet counts, §6.4.1).
    pub fn on_rtp_sent(&mut self, now: Instant, rtp_timestamp: u32, payload_len: usize) {
        self.sent_packets = self.sent_packets.wrapping_add(1);
        self.sent_octets = self.sent_octets.wrapping_add(payload_len as u32);
        self.last_sent = Some((rtp_timestamp, now));
        self.sent_now = true;
    }

    /// Records one RTP packet received at `now` into its source's [`StreamStats`] (created on
    /// first sight; beyond `max_sources` the least recently heard source is forgotten).
    pub fn on_rtp_received(&mut self, now: Instant, packet: &RtpPacket) -> PacketClass {
        match self.source_mut(packet.ssrc(), now) {
            Some(source) => source.record_packet(now, packet),
            None => PacketClass::Probation,
        }
    }

    fn source_mut(&mut self, ssrc: u32, now: Instant) -> Option<&mut StreamStats> {
        if !self.remotes.iter().any(|s| s.ssrc() == ssrc) {
            if self.remotes.len() >= self.config.max_sources {
                let oldest = self
                    .remotes
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| s.last_packet().unwrap_or(now))
                    .map(|(i, _)| i);
                if let Some(oldest) = oldest {
                    self.remotes.swap_remove(oldest);
                }
            }
            self.remotes
                .push(StreamStats::new(ssrc, self.config.clock_rate));
        }
        self.remotes.iter_mut().find(|s| s.ssrc() == ssrc)
    }

    /// Handles one RTCP datagram received at `now`: SRs are remembered for LSR/DLSR, report
    /// blocks about our SSRC become [`RtcpEvent::Report`] (with the RTT), BYEs become
    /// [`RtcpEvent::Bye`].
    ///
    /// # Errors
    /// The parse error of a malformed compound (counted in
    /// [`RtcpSessionStats::malformed`]); nothing is changed then.
    pub fn handle_rtcp(&mut self, now: Instant, datagram: Bytes) -> Result<(), RtcpError> {
        self.stats.received += 1;
        let packets = parse_compound(datagram).inspect_err(|_| self.stats.malformed += 1)?;
        let arrival = self.ntp_time(now);
        for packet in packets {
            let (from, blocks) = match &packet {
                RtcpPacket::SenderReport(sr) => {
                    if let Some(source) = self.source_mut(sr.ssrc, now) {
                        source.record_sender_report(now, sr);
                    }
                    (sr.ssrc, sr.reports.as_slice())
                }
                RtcpPacket::ReceiverReport(rr) => (rr.ssrc, rr.reports.as_slice()),
                RtcpPacket::Goodbye(bye) => {
                    let reason = bye.reason_lossy();
                    for &ssrc in &bye.sources {
                        self.events.push_back(RtcpEvent::Bye {
                            ssrc,
                            reason: reason.clone(),
                        });
                    }
                    continue;
                }
                RtcpPacket::SourceDescription(_) | RtcpPacket::Other(_) => continue,
            };
            for block in blocks.iter().filter(|b| b.ssrc == self.config.ssrc) {
                let rtt = round_trip_time(arrival, block);
                if rtt.is_some() {
                    self.rtt = rtt;
                }
                self.events.push_back(RtcpEvent::Report {
                    from,
                    block: *block,
                    rtt,
                });
            }
        }
        Ok(())
    }

    /// When [`poll_transmit`](Self::poll_transmit) next has a packet: the next report, at
    /// once after [`close`](Self::close), `None` once the BYE went out.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Open => Some(self.next_report),
            State::ByePending => Some(self.epoch),
            State::Done => None,
        }
    }

    /// The compound packet to send at `now`, if one is due: a report on schedule, or the
    /// BYE compound after [`close`](Self::close).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Bytes> {
        let bye = match self.state {
            State::Done => return None,
            State::ByePending => true,
            State::Open if now >= self.next_report => false,
            State::Open => return None,
        };
        let mut packets = vec![self.report(now), self.sdes()];
        if bye {
            packets.push(RtcpPacket::Goodbye(Bye::new(
                self.config.ssrc,
                self.bye_reason.as_deref(),
            )));
        }
        let mut out = BytesMut::new();
        // Every part was checked: ≤ 31 blocks (max_sources), CNAME and reason ≤ 255 bytes.
        write_compound(&packets, &mut out).ok()?;
        self.stats.reports_sent += 1;
        if matches!(packets.first(), Some(RtcpPacket::SenderReport(_))) {
            self.stats.sender_reports_sent += 1;
        }
        if bye {
            self.stats.byes_sent += 1;
            self.state = State::Done;
        } else {
            self.next_report = now + self.next_interval();
        }
        Some(out.freeze())
    }

    /// SR if we sent RTP in this or the previous interval, RR otherwise, with a block for
    /// each remote source heard since the last report.
    fn report(&mut self, now: Instant) -> RtcpPacket {
        let reports: Vec<ReportBlock> = self
            .remotes
            .iter_mut()
            .filter(|s| s.has_new_packets())
            .filter_map(|s| s.report_block(now))
            .take(31)
            .collect();
        let we_sent = self.sent_now || self.sent_before;
        self.sent_before = self.sent_now;
        self.sent_now = false;
        if !we_sent {
            return RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: self.config.ssrc,
                reports,
                extension: Bytes::new(),
            });
        }
        let rtp_timestamp = self.last_sent.map_or(0, |(ts, at)| {
            let elapsed = now.saturating_duration_since(at);
            let ticks = elapsed.as_nanos() * u128::from(self.config.clock_rate) / 1_000_000_000;
            ts.wrapping_add(ticks as u32)
        });
        RtcpPacket::SenderReport(SenderReport {
            ssrc: self.config.ssrc,
            info: SenderInfo {
                ntp: self.ntp_time(now),
                rtp_timestamp,
                packet_count: self.sent_packets,
                octet_count: self.sent_octets,
            },
            reports,
            extension: Bytes::new(),
        })
    }

    fn sdes(&self) -> RtcpPacket {
        RtcpPacket::SourceDescription(Sdes::cname(self.config.ssrc, &self.config.cname))
    }

    /// Ends the session: the next [`poll_transmit`](Self::poll_transmit) returns the BYE
    /// compound (report, SDES, BYE with `reason`, truncated to 255 bytes), then nothing.
    pub fn close(&mut self, reason: Option<&str>) {
        if self.state == State::Open {
            self.state = State::ByePending;
            self.bye_reason = reason.map(|r| {
                let mut end = r.len().min(255);
                while !r.is_char_boundary(end) {
                    end -= 1;
                }
                r.get(..end).unwrap_or_default().to_owned()
            });
        }
    }

    /// Whether the BYE went out.
    pub fn is_closed(&self) -> bool {
        self.state == State::Done
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<RtcpEvent> {
        self.events.pop_front()
    }

    /// The last round-trip time measured (§6.4.1), if any.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// The statistics of remote source `ssrc`, if tracked.
    pub fn source(&self, ssrc: u32) -> Option<&StreamStats> {
        self.remotes.iter().find(|s| s.ssrc() == ssrc)
    }

    /// Every tracked remote source.
    pub fn sources(&self) -> impl Iterator<Item = &StreamStats> {
        self.remotes.iter()
    }

    /// The counters.
    pub fn stats(&self) -> RtcpSessionStats {
        self.stats
    }
}
