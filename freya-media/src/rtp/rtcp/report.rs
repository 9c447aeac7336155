//! Sender and receiver reports and their report blocks (RFC 3550 §6.4).

#![deny(clippy::indexing_slicing)]

use bytes::{BufMut, Bytes, BytesMut};

use super::NtpTime;

/// Bytes of one report block.
pub(crate) const REPORT_BLOCK_LEN: usize = 24;
/// Bytes of the sender info of an SR (after the sender's SSRC).
pub(crate) const SENDER_INFO_LEN: usize = 20;

/// One reception report block (RFC 3550 §6.4.1): what the reporter received of source
/// `ssrc`.
///
/// ```
/// use freya_media::rtp::rtcp::ReportBlock;
///
/// let block = ReportBlock { fraction_lost: 64, cumulative_lost: -3, ..Default::default() };
/// assert_eq!(block.fraction_lost_ratio(), 0.25);
/// let mut out = bytes::BytesMut::new();
/// block.write(&mut out);
/// assert_eq!(&out[4..8], &[64, 0xFF, 0xFF, 0xFD]); // 24-bit two's complement
/// assert_eq!(ReportBlock::parse(&out), Some(block));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ReportBlock {
    /// The source this block reports on (SSRC_n).
    pub ssrc: u32,
    /// Packets lost since the previous report, over packets expected, as a fixed-point
    /// fraction ×256 (A.3).
    pub fraction_lost: u8,
    /// Packets lost since reception began: expected − received, a signed 24-bit value on the
    /// wire (negative with duplicates), clamped to −8388608..=8388607 when written.
    pub cumulative_lost: i32,
    /// Extended highest sequence number received: wraps × 65536 + highest (A.1), mod 2³².
    pub extended_highest_seq: u32,
    /// Interarrival jitter, in RTP timestamp ticks (§6.4.1, A.8).
    pub jitter: u32,
    /// LSR: the middle 32 bits of the NTP timestamp of the last SR received from the source,
    /// 0 if none.
    pub last_sr: u32,
    /// DLSR: time between receiving that SR and sending this report, in 1/65536 s; 0 if no
    /// SR was received.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    /// Parses one 24-byte block from the start of `bytes`; `None` if shorter.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let b: &[u8; REPORT_BLOCK_LEN] = bytes.get(..REPORT_BLOCK_LEN)?.try_into().ok()?;
        let word = |i: usize| {
            let w = [b.get(i), b.get(i + 1), b.get(i + 2), b.get(i + 3)];
            u32::from_be_bytes(w.map(|x| x.copied().unwrap_or(0)))
        };
        let lost_word = word(4);
        Some(ReportBlock {
            ssrc: word(0),
            fraction_lost: (lost_word >> 24) as u8,
            // Sign-extend the 24-bit field.
            cumulative_lost: ((lost_word << 8) as i32) >> 8,
            extended_highest_seq: word(8),
            jitter: word(12),
            last_sr: word(16),
            delay_since_last_sr: word(20),
        })
    }

    /// Appends the 24-byte block to `out`.
    pub fn write(&self, out: &mut BytesMut) {
        out.put_u32(self.ssrc);
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32 & 0x00FF_FFFF;
        out.put_u32(u32::from(self.fraction_lost) << 24 | lost);
        out.put_u32(self.extended_highest_seq);
        out.put_u32(self.jitter);
        out.put_u32(self.last_sr);
        out.put_u32(self.delay_since_last_sr);
    }

    /// The fraction lost as a ratio, 0.0..=0.996.
    pub fn fraction_lost_ratio(&self) -> f64 {
        f64::from(self.fraction_lost) / 256.0
    }

    /// The jitter in milliseconds, for a media clock of `clock_rate` Hz (0 is taken as 8000).
    ///
    /// ```
    /// # use freya_media::rtp::rtcp::ReportBlock;
    /// let block = ReportBlock { jitter: 80, ..Default::default() };
    /// assert_eq!(block.jitter_ms(8000), 10.0);
    /// ```
    pub fn jitter_ms(&self, clock_rate: u32) -> f64 {
        let rate = if clock_rate == 0 { 8000 } else { clock_rate };
        f64::from(self.jitter) * 1000.0 / f64::from(rate)
    }
}

/// The sender information of an SR (RFC 3550 §6.4.1).
///
/// ```
/// use freya_media::rtp::rtcp::{NtpTime, SenderInfo};
///
/// let info = SenderInfo { ntp: NtpTime(1 << 32), rtp_timestamp: 8000, packet_count: 50, octet_count: 8000 };
/// assert_eq!(info.ntp.middle32(), 0x0001_0000);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SenderInfo {
    /// Wall-clock time when the report was sent.
    pub ntp: NtpTime,
    /// The same instant in the media clock's RTP timestamp units.
    pub rtp_timestamp: u32,
    /// RTP data packets sent since the start of transmission (wraps at 2³²).
    pub packet_count: u32,
    /// Payload octets sent (headers and padding excluded; wraps at 2³²).
    pub octet_count: u32,
}

/// A sender report (SR, PT 200): sent by a participant that sent RTP recently.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use freya_media::rtp::rtcp::{parse_compound, write_compound, RtcpPacket, SenderInfo, SenderReport};
///
/// let sr = SenderReport { ssrc: 7, info: SenderInfo::default(), reports: vec![], extension: Bytes::new() };
/// let mut out = BytesMut::new();
/// write_compound(&[RtcpPacket::SenderReport(sr.clone())], &mut out)?;
/// assert_eq!(out.len(), 28);
/// assert_eq!(parse_compound(out.freeze())?, [RtcpPacket::SenderReport(sr)]);
/// # Ok::<(), freya_media::rtp::rtcp::RtcpError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderReport {
    /// SSRC of the sender of this report.
    pub ssrc: u32,
    /// What it sent.
    pub info: SenderInfo,
    /// What it received, one block per source (at most 31).
    pub reports: Vec<ReportBlock>,
    /// Profile-specific extension after the blocks (a whole number of 32-bit words), kept
    /// as received.
    pub extension: Bytes,
}

/// A receiver report (RR, PT 201): sent by a participant that has not sent RTP recently.
///
/// ```
/// use bytes::Bytes;
/// use freya_media::rtp::rtcp::{ReceiverReport, ReportBlock};
///
/// let rr = ReceiverReport { ssrc: 1, reports: vec![ReportBlock::default()], extension: Bytes::new() };
/// assert_eq!(rr.reports.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiverReport {
    /// SSRC of the sender of this report.
    pub ssrc: u32,
    /// What it received, one block per source (at most 31).
    pub reports: Vec<ReportBlock>,
    /// Profile-specific extension (a whole number of 32-bit words).
    pub extension: Bytes,
}

impl SenderInfo {
    pub(crate) fn parse(b: &[u8]) -> Option<Self> {
        let word = |i: usize| -> Option<u32> {
            Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?))
        };
        Some(SenderInfo {
            ntp: NtpTime(u64::from(word(0)?) << 32 | u64::from(word(4)?)),
            rtp_timestamp: word(8)?,
            packet_count: word(12)?,
            octet_count: word(16)?,
        })
    }

    pub(crate) fn write(&self, out: &mut BytesMut) {
        out.put_u64(self.ntp.0);
        out.put_u32(self.rtp_timestamp);
        out.put_u32(self.packet_count);
        out.put_u32(self.octet_count);
    }
}

/// Parses `count` report blocks from `bytes`; the rest is the extension.
pub(crate) fn parse_blocks(bytes: &Bytes, count: u8) -> Option<(Vec<ReportBlock>, Bytes)> {
    let len = usize::from(count) * REPORT_BLOCK_LEN;
    let blocks = bytes
        .get(..len)?
        .chunks_exact(REPORT_BLOCK_LEN)
        .filter_map(ReportBlock::parse)
        .collect();
    Some((blocks, bytes.slice(len..)))
}
