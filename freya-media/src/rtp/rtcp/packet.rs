//! The RTCP packet enum and compound packets (RFC 3550 §6.1, §6.4.1 common header).

#![deny(clippy::indexing_slicing)]

use bytes::{BufMut, Bytes, BytesMut};

use super::report::{parse_blocks, REPORT_BLOCK_LEN, SENDER_INFO_LEN};
use super::sdes::SdesProblem;
use super::{
    Bye, ReceiverReport, RtcpError, Sdes, SenderInfo, SenderReport, PT_BYE, PT_RR, PT_SDES, PT_SR,
};

/// Longest packet the 16-bit length field can describe, in bytes.
const MAX_PACKET_LEN: usize = 4 * 65_536;

/// An RTCP packet type freya does not interpret (APP, RTPFB/PSFB feedback, XR, …), kept as
/// received so it can be logged or relayed.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use freya_media::rtp::rtcp::{parse_compound, write_compound, OtherPacket, RtcpPacket};
///
/// let app = OtherPacket { packet_type: 204, count: 0, padding: false, body: Bytes::from_static(b"\0\0\0\x01ABCD") };
/// let mut out = BytesMut::new();
/// write_compound(&[RtcpPacket::Other(app.clone())], &mut out)?;
/// assert_eq!(parse_compound(out.freeze())?, [RtcpPacket::Other(app)]);
/// # Ok::<(), freya_media::rtp::rtcp::RtcpError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OtherPacket {
    /// The packet type (PT).
    pub packet_type: u8,
    /// The 5-bit count/subtype field.
    pub count: u8,
    /// Whether the packet was received padded; `body` excludes the padding. Informational:
    /// packets are written without padding.
    pub padding: bool,
    /// Everything after the 4-byte header (a whole number of 32-bit words when written).
    pub body: Bytes,
}

/// One RTCP packet of a compound.
///
/// ```
/// use freya_media::rtp::rtcp::{Bye, RtcpPacket};
///
/// let p = RtcpPacket::Goodbye(Bye::new(1, None));
/// assert_eq!(p.packet_type(), 203);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket {
    /// SR, PT 200 (§6.4.1).
    SenderReport(SenderReport),
    /// RR, PT 201 (§6.4.2).
    ReceiverReport(ReceiverReport),
    /// SDES, PT 202 (§6.5).
    SourceDescription(Sdes),
    /// BYE, PT 203 (§6.6).
    Goodbye(Bye),
    /// Any other packet type, uninterpreted.
    Other(OtherPacket),
}

impl RtcpPacket {
    /// The packet type (PT) this packet is written with.
    pub fn packet_type(&self) -> u8 {
        match self {
            RtcpPacket::SenderReport(_) => PT_SR,
            RtcpPacket::ReceiverReport(_) => PT_RR,
            RtcpPacket::SourceDescription(_) => PT_SDES,
            RtcpPacket::Goodbye(_) => PT_BYE,
            RtcpPacket::Other(o) => o.packet_type,
        }
    }

    /// Appends this packet to `out`.
    ///
    /// # Errors
    /// [`RtcpError::TooMany`], [`RtcpError::TextTooLong`] or [`RtcpError::BadLength`]; `out`
    /// is untouched then.
    ///
    /// ```
    /// use freya_media::rtp::rtcp::{Bye, RtcpPacket};
    ///
    /// let mut out = bytes::BytesMut::new();
    /// RtcpPacket::Goodbye(Bye::new(0x01020304, Some("bye"))).write(&mut out)?;
    /// assert_eq!(&out[..], &[0x81, 203, 0, 2, 1, 2, 3, 4, 3, b'b', b'y', b'e']);
    /// # Ok::<(), freya_media::rtp::rtcp::RtcpError>(())
    /// ```
    pub fn write(&self, out: &mut BytesMut) -> Result<(), RtcpError> {
        let (count, body_len) = self.check()?;
        let words = (4 + body_len) / 4 - 1;
        out.reserve(4 + body_len);
        out.put_u8(0x80 | count);
        out.put_u8(self.packet_type());
        out.put_u16(words as u16);
        match self {
            RtcpPacket::SenderReport(sr) => {
                out.put_u32(sr.ssrc);
                sr.info.write(out);
                sr.reports.iter().for_each(|b| b.write(out));
                out.put_slice(&sr.extension);
            }
            RtcpPacket::ReceiverReport(rr) => {
                out.put_u32(rr.ssrc);
                rr.reports.iter().for_each(|b| b.write(out));
                out.put_slice(&rr.extension);
            }
            RtcpPacket::SourceDescription(sdes) => sdes.write_body(out)?,
            RtcpPacket::Goodbye(bye) => bye.write_body(out)?,
            RtcpPacket::Other(other) => out.put_slice(&other.body),
        }
        Ok(())
    }

    /// Validates the packet for writing: (count field, body length). Packets are written
    /// without padding.
    fn check(&self) -> Result<(u8, usize), RtcpError> {
        let count = |what, n: usize| {
            u8::try_from(n)
                .ok()
                .filter(|&c| c <= 31)
                .ok_or(RtcpError::TooMany { what, count: n })
        };
        let words = |what, len: usize| {
            if len.is_multiple_of(4) {
                Ok(())
            } else {
                Err(RtcpError::BadLength { what, len })
            }
        };
        let (count, body_len) = match self {
            RtcpPacket::SenderReport(sr) => {
                words("SR profile extension", sr.extension.len())?;
                (
                    count("report blocks", sr.reports.len())?,
                    4 + SENDER_INFO_LEN + REPORT_BLOCK_LEN * sr.reports.len() + sr.extension.len(),
                )
            }
            RtcpPacket::ReceiverReport(rr) => {
                words("RR profile extension", rr.extension.len())?;
                (
                    count("report blocks", rr.reports.len())?,
                    4 + REPORT_BLOCK_LEN * rr.reports.len() + rr.extension.len(),
                )
            }
            RtcpPacket::SourceDescription(sdes) => {
                let items = sdes.chunks.iter().flat_map(|c| &c.items);
                if let Some(item) = items.into_iter().find(|i| i.text.len() > 255) {
                    return Err(RtcpError::TextTooLong {
                        what: "SDES item",
                        len: item.text.len(),
                    });
                }
                (count("SDES chunks", sdes.chunks.len())?, sdes.body_len())
            }
            RtcpPacket::Goodbye(bye) => {
                if let Some(reason) = bye.reason.as_ref().filter(|r| r.len() > 255) {
                    return Err(RtcpError::TextTooLong {
                        what: "BYE reason",
                        len: reason.len(),
                    });
                }
                (count("BYE sources", bye.sources.len())?, bye.body_len())
            }
            RtcpPacket::Other(o) => {
                words("RTCP packet body", o.body.len())?;
                (o.count & 0x1F, o.body.len())
            }
        };
        if 4 + body_len > MAX_PACKET_LEN {
            return Err(RtcpError::BadLength {
                what: "RTCP packet",
                len: 4 + body_len,
            });
        }
        Ok((count, body_len))
    }

    /// Parses the packet at `offset` of `raw` (whose common header was checked): `header` is
    /// (padding, count, packet type), `body` the bytes after the header without padding.
    fn parse_body(offset: usize, header: (bool, u8, u8), body: Bytes) -> Result<Self, RtcpError> {
        let (padding, count, packet_type) = header;
        let truncated = |needed: usize| RtcpError::Truncated {
            offset,
            packet_type,
            count,
            needed,
            len: body.len(),
        };
        let problem = |p: SdesProblem, what| match p {
            SdesProblem::Truncated { needed } => truncated(needed),
            SdesProblem::Text { declared } => RtcpError::TextTruncated {
                offset,
                packet_type,
                what,
                declared,
            },
        };
        let ssrc = |b: &Bytes| {
            b.get(..4)
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
                .map(u32::from_be_bytes)
        };
        Ok(match packet_type {
            PT_SR => {
                let needed = 4 + SENDER_INFO_LEN + REPORT_BLOCK_LEN * usize::from(count);
                let (Some(ssrc), Some(info), Some((reports, extension))) = (
                    ssrc(&body),
                    body.get(4..).and_then(SenderInfo::parse),
                    body.get(4 + SENDER_INFO_LEN..)
                        .and_then(|_| parse_blocks(&body.slice(4 + SENDER_INFO_LEN..), count)),
                ) else {
                    return Err(truncated(needed));
                };
                RtcpPacket::SenderReport(SenderReport {
                    ssrc,
                    info,
                    reports,
                    extension,
                })
            }
            PT_RR => {
                let needed = 4 + REPORT_BLOCK_LEN * usize::from(count);
                let (Some(ssrc), Some((reports, extension))) = (
                    ssrc(&body),
                    body.get(4..)
                        .and_then(|_| parse_blocks(&body.slice(4..), count)),
                ) else {
                    return Err(truncated(needed));
                };
                RtcpPacket::ReceiverReport(ReceiverReport {
                    ssrc,
                    reports,
                    extension,
                })
            }
            PT_SDES => RtcpPacket::SourceDescription(
                Sdes::parse(&body, count).map_err(|p| problem(p, "SDES item"))?,
            ),
            PT_BYE => {
                RtcpPacket::Goodbye(Bye::parse(&body, count).map_err(|p| problem(p, "BYE reason"))?)
            }
            _ => RtcpPacket::Other(OtherPacket {
                packet_type,
                count,
                padding,
                body,
            }),
        })
    }
}

/// Parses a compound RTCP packet (RFC 3550 §6.1): one or more packets back to back, each with
/// version 2 and a length that fits; only the last may be padded. SR, RR, SDES and BYE are
/// interpreted, other types kept as [`OtherPacket`]. Text and extensions are slices of `raw`,
/// not copies.
///
/// Liberal where it costs nothing: a compound that does not start with SR/RR (a lone BYE, or
/// RFC 5506 reduced-size feedback) is accepted.
///
/// # Errors
/// The first structural problem, with its byte offset: [`RtcpError::TooShort`],
/// [`RtcpError::BadVersion`], [`RtcpError::LengthMismatch`], [`RtcpError::BadPadding`],
/// [`RtcpError::Truncated`] or [`RtcpError::TextTruncated`].
///
/// ```
/// use bytes::Bytes;
/// use freya_media::rtp::rtcp::{parse_compound, RtcpPacket};
///
/// // An RR without report blocks, then a BYE for the same SSRC.
/// let wire = Bytes::from_static(&[0x80, 201, 0, 1, 0, 0, 0, 9, 0x81, 203, 0, 1, 0, 0, 0, 9]);
/// let packets = parse_compound(wire)?;
/// assert!(matches!(&packets[1], RtcpPacket::Goodbye(bye) if bye.sources == [9]));
/// # Ok::<(), freya_media::rtp::rtcp::RtcpError>(())
/// ```
pub fn parse_compound(raw: Bytes) -> Result<Vec<RtcpPacket>, RtcpError> {
    let mut packets = Vec::new();
    let mut offset = 0;
    loop {
        let rest = raw.get(offset..).unwrap_or_default();
        let [b0, packet_type, l0, l1] = match rest.get(..4) {
            Some(&[a, b, c, d]) => [a, b, c, d],
            _ => {
                return Err(RtcpError::TooShort {
                    offset,
                    len: rest.len(),
                })
            }
        };
        let version = b0 >> 6;
        if version != 2 {
            return Err(RtcpError::BadVersion { offset, version });
        }
        let padding = b0 & 0x20 != 0;
        let count = b0 & 0x1F;
        let declared = 4 * (usize::from(u16::from_be_bytes([l0, l1])) + 1);
        if declared > rest.len() {
            return Err(RtcpError::LengthMismatch {
                offset,
                declared,
                available: rest.len(),
            });
        }
        let end = offset + declared;
        let is_last = end == raw.len();
        let mut body_end = end;
        if padding {
            let pad = rest.get(declared - 1).copied().unwrap_or(0);
            let reason = if !is_last {
                Some("only the last packet of a compound may be padded")
            } else if pad == 0 || usize::from(pad) > declared - 4 {
                Some("count must be 1..=body length")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(RtcpError::BadPadding {
                    offset,
                    padding: pad,
                    reason,
                });
            }
            body_end -= usize::from(pad);
        }
        let body = raw.slice(offset + 4..body_end);
        packets.push(RtcpPacket::parse_body(
            offset,
            (padding, count, packet_type),
            body,
        )?);
        offset = end;
        if is_last {
            return Ok(packets);
        }
    }
}

/// Writes `packets` back to back as one compound packet (RFC 3550 §6.1). The caller orders
/// them: SR or RR first, SDES with CNAME next, BYE last.
///
/// # Errors
/// The first packet's error from [`RtcpPacket::write`]; `out` is untouched then.
pub fn write_compound(packets: &[RtcpPacket], out: &mut BytesMut) -> Result<(), RtcpError> {
    for packet in packets {
        packet.check()?;
    }
    for packet in packets {
        packet.write(out)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::rtp::rtcp::{NtpTime, ReportBlock, SdesChunk, SdesItem};
    use proptest::prelude::*;

    fn round_trip(packets: &[RtcpPacket]) -> Bytes {
        let mut out = BytesMut::new();
        write_compound(packets, &mut out).unwrap();
        let wire = out.freeze();
        assert_eq!(parse_compound(wire.clone()).unwrap(), packets);
        wire
    }

    #[test]
    fn sender_report_bytes_by_hand() {
        let sr = SenderReport {
            ssrc: 0x0102_0304,
            info: SenderInfo {
                ntp: NtpTime(0xE8A4_1234_8000_0000),
                rtp_timestamp: 160,
                packet_count: 2,
                octet_count: 320,
            },
            reports: vec![ReportBlock {
                ssrc: 0xAABB_CCDD,
                fraction_lost: 0x40,
                cumulative_lost: 0x01_0203,
                extended_highest_seq: 0x0001_0005,
                jitter: 0x10,
                last_sr: 0x1234_8000,
                delay_since_last_sr: 0x0001_0000,
            }],
            extension: Bytes::new(),
        };
        let wire = round_trip(&[RtcpPacket::SenderReport(sr)]);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0x81, 200, 0, 12,                // V=2, RC=1, PT=SR, length 13 words - 1
            1, 2, 3, 4,                       // SSRC of sender
            0xE8, 0xA4, 0x12, 0x34, 0x80, 0, 0, 0, // NTP
            0, 0, 0, 160,                     // RTP timestamp
            0, 0, 0, 2,                       // packet count
            0, 0, 1, 64,                      // octet count
            0xAA, 0xBB, 0xCC, 0xDD,           // SSRC_1
            0x40, 0x01, 0x02, 0x03,           // fraction lost, cumulative lost
            0, 1, 0, 5,                       // extended highest sequence number
            0, 0, 0, 0x10,                    // jitter
            0x12, 0x34, 0x80, 0,              // LSR
            0, 1, 0, 0,                       // DLSR
        ];
        assert_eq!(&wire[..], expected);
    }

    #[test]
    fn sdes_padding_and_terminators() {
        // "ab" → 4 (SSRC) + 2 + 2 = 8 bytes of items: 4 null octets follow.
        let sdes = Sdes::cname(7, "ab");
        let wire = round_trip(&[RtcpPacket::SourceDescription(sdes)]);
        assert_eq!(
            &wire[..],
            &[0x81, 202, 0, 3, 0, 0, 0, 7, 1, 2, b'a', b'b', 0, 0, 0, 0]
        );
        // Two chunks, several items, odd lengths.
        let sdes = Sdes {
            chunks: vec![
                SdesChunk {
                    source: 1,
                    items: vec![
                        SdesItem::cname("user@198.51.100.7"),
                        SdesItem {
                            kind: 6,
                            text: Bytes::from_static(b"freya"),
                        },
                    ],
                },
                SdesChunk {
                    source: 2,
                    items: vec![],
                },
            ],
        };
        let wire = round_trip(&[RtcpPacket::SourceDescription(sdes)]);
        assert_eq!(wire.len() % 4, 0);
    }

    #[test]
    fn compound_report_sdes_bye() {
        let rr = ReceiverReport {
            ssrc: 5,
            reports: vec![ReportBlock::default(); 31],
            extension: Bytes::from_static(&[1, 2, 3, 4]),
        };
        round_trip(&[
            RtcpPacket::ReceiverReport(rr),
            RtcpPacket::SourceDescription(Sdes::cname(5, "x")),
            RtcpPacket::Goodbye(Bye {
                sources: vec![5, 6],
                reason: Some(Bytes::from_static("départ".as_bytes())),
            }),
        ]);
        round_trip(&[RtcpPacket::Goodbye(Bye::default())]);
    }

    #[test]
    fn padding_on_the_last_packet_only() {
        // RR (no blocks) padded with 4 bytes: length 2 words - 1... header says 3 words.
        let padded = Bytes::from_static(&[0xA0, 201, 0, 2, 0, 0, 0, 9, 0, 0, 0, 4]);
        assert_eq!(
            parse_compound(padded.clone()).unwrap(),
            [RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: 9,
                ..Default::default()
            })]
        );
        let mut two = BytesMut::from(&padded[..]);
        two.extend_from_slice(&[0x80, 201, 0, 1, 0, 0, 0, 9]);
        assert!(matches!(
            parse_compound(two.freeze()),
            Err(RtcpError::BadPadding {
                offset: 0,
                padding: 4,
                ..
            })
        ));
        let zero = Bytes::from_static(&[0xA0, 201, 0, 2, 0, 0, 0, 9, 0, 0, 0, 0]);
        assert!(matches!(
            parse_compound(zero),
            Err(RtcpError::BadPadding { padding: 0, .. })
        ));
    }

    #[test]
    fn typed_errors() {
        assert_eq!(
            parse_compound(Bytes::new()),
            Err(RtcpError::TooShort { offset: 0, len: 0 })
        );
        assert_eq!(
            parse_compound(Bytes::from_static(&[0x40, 201, 0, 0])),
            Err(RtcpError::BadVersion {
                offset: 0,
                version: 1
            })
        );
        // RC = 1 but no block.
        assert_eq!(
            parse_compound(Bytes::from_static(&[0x81, 201, 0, 1, 0, 0, 0, 1])),
            Err(RtcpError::Truncated {
                offset: 0,
                packet_type: 201,
                count: 1,
                needed: 28,
                len: 4
            })
        );
        // Second packet cut short.
        assert_eq!(
            parse_compound(Bytes::from_static(&[
                0x80, 201, 0, 1, 0, 0, 0, 1, 0x80, 202
            ])),
            Err(RtcpError::TooShort { offset: 8, len: 2 })
        );
        // BYE reason length past the end.
        assert!(matches!(
            parse_compound(Bytes::from_static(&[
                0x81, 203, 0, 2, 0, 0, 0, 1, 9, b'a', 0, 0
            ])),
            Err(RtcpError::TextTruncated {
                what: "BYE reason",
                declared: 9,
                ..
            })
        ));
        let too_many = RtcpPacket::ReceiverReport(ReceiverReport {
            reports: vec![ReportBlock::default(); 32],
            ..Default::default()
        });
        assert_eq!(
            too_many.write(&mut BytesMut::new()),
            Err(RtcpError::TooMany {
                what: "report blocks",
                count: 32
            })
        );
        let long = RtcpPacket::SourceDescription(Sdes::cname(1, &"x".repeat(256)));
        let mut out = BytesMut::new();
        assert_eq!(
            write_compound(&[RtcpPacket::Goodbye(Bye::default()), long], &mut out),
            Err(RtcpError::TextTooLong {
                what: "SDES item",
                len: 256
            })
        );
        assert!(out.is_empty(), "nothing written on error");
    }

    fn arb_block() -> impl Strategy<Value = ReportBlock> + Clone {
        (any::<[u32; 6]>(), any::<u8>(), -0x80_0000i32..=0x7F_FFFF).prop_map(|(w, f, lost)| {
            ReportBlock {
                ssrc: w[0],
                fraction_lost: f,
                cumulative_lost: lost,
                extended_highest_seq: w[1],
                jitter: w[2],
                last_sr: w[3],
                delay_since_last_sr: w[4] ^ w[5],
            }
        })
    }

    fn arb_text() -> impl Strategy<Value = Bytes> + Clone {
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from)
    }

    fn arb_packet() -> impl Strategy<Value = RtcpPacket> {
        let blocks = proptest::collection::vec(arb_block(), 0..5);
        let ext = proptest::collection::vec(any::<u32>(), 0..3)
            .prop_map(|w| Bytes::from(w.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<_>>()));
        prop_oneof![
            (
                any::<u32>(),
                any::<[u32; 3]>(),
                any::<u64>(),
                blocks.clone(),
                ext.clone()
            )
                .prop_map(|(ssrc, w, ntp, reports, extension)| {
                    RtcpPacket::SenderReport(SenderReport {
                        ssrc,
                        info: SenderInfo {
                            ntp: NtpTime(ntp),
                            rtp_timestamp: w[0],
                            packet_count: w[1],
                            octet_count: w[2],
                        },
                        reports,
                        extension,
                    })
                }),
            (any::<u32>(), blocks, ext).prop_map(|(ssrc, reports, extension)| {
                RtcpPacket::ReceiverReport(ReceiverReport {
                    ssrc,
                    reports,
                    extension,
                })
            }),
            proptest::collection::vec(
                (
                    any::<u32>(),
                    proptest::collection::vec((1u8..=8, arb_text()), 0..4)
                ),
                0..4
            )
            .prop_map(|chunks| RtcpPacket::SourceDescription(Sdes {
                chunks: chunks
                    .into_iter()
                    .map(|(source, items)| SdesChunk {
                        source,
                        items: items
                            .into_iter()
                            .map(|(kind, text)| SdesItem { kind, text })
                            .collect()
                    })
                    .collect()
            })),
            (
                proptest::collection::vec(any::<u32>(), 0..5),
                proptest::option::of(arb_text())
            )
                .prop_map(|(sources, reason)| RtcpPacket::Goodbye(Bye { sources, reason })),
        ]
    }

    proptest! {
        /// Every compound written parses back to the same packets.
        #[test]
        fn compound_round_trip(packets in proptest::collection::vec(arb_packet(), 1..5)) {
            round_trip(&packets);
        }

        /// Arbitrary bytes never panic; what parses re-encodes to the same bytes (for packets
        /// without padding and with canonical SDES/BYE padding).
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_compound(Bytes::from(bytes));
        }

        /// Mutating single bytes of a valid compound never panics.
        #[test]
        fn mutated_compounds_never_panic(
            packets in proptest::collection::vec(arb_packet(), 1..4),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        ) {
            let mut out = BytesMut::new();
            write_compound(&packets, &mut out).unwrap();
            for (at, value) in flips {
                let i = at.index(out.len());
                out[i] = value;
            }
            let wire = out.freeze();
            let _ = parse_compound(wire.clone());
            for cut in 0..wire.len() {
                let _ = parse_compound(wire.slice(..cut));
            }
        }
    }
}
