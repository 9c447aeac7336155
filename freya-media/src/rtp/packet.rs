//! The RTP packet (RFC 3550 §5.1) and its header extension (§5.3.1), parsed as a view over
//! the received `Bytes`.

#![deny(clippy::indexing_slicing)]

use bytes::Bytes;

use super::{RtpError, RtpHeader};

/// Length of the fixed RTP header, in bytes (RFC 3550 §5.1).
pub const RTP_HEADER_LEN: usize = 12;

/// A parsed RTP packet: the header fields plus zero-copy views of the payload and of the
/// header extension into the received buffer.
///
/// Parsing checks the version (2), the CSRC list, the header extension and the padding
/// (RFC 3550 §5.1, A.1's validity checks on the packet itself); it does not look at the
/// payload type — demultiplexing RTCP (RFC 5761) and choosing a codec is the caller's job.
/// [`payload`](Self::payload) excludes the padding.
///
/// ```
/// use bytes::Bytes;
/// use freya_media::rtp::RtpPacket;
///
/// let wire = Bytes::from_static(&[
///     0x80, 0x80 | 8, 0x12, 0x34, // V=2, M=1, PT=8 (PCMA), sequence 0x1234
///     0, 0, 0x03, 0x20,           // timestamp 800
///     0xDE, 0xAD, 0xBE, 0xEF,     // SSRC
///     0xD5, 0xD5,                 // payload: two A-law samples
/// ]);
/// let packet = RtpPacket::parse(wire)?;
/// assert!(packet.marker());
/// assert_eq!(packet.payload_type(), 8);
/// assert_eq!(packet.sequence(), 0x1234);
/// assert_eq!(packet.timestamp(), 800);
/// assert_eq!(packet.ssrc(), 0xDEAD_BEEF);
/// assert_eq!(&packet.payload()[..], &[0xD5, 0xD5]);
/// # Ok::<(), freya_media::rtp::RtpError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    raw: Bytes,
    marker: bool,
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    csrc_count: u8,
    padding_len: u8,
    extension: Option<RtpExtension>,
    payload: Bytes,
}

impl RtpPacket {
    /// Parses `raw` without copying it: the payload and the extension are slices of `raw`.
    ///
    /// # Errors
    /// [`RtpError::TooShort`], [`RtpError::BadVersion`], [`RtpError::CsrcListTruncated`],
    /// [`RtpError::ExtensionTruncated`] or [`RtpError::BadPadding`], each with the values found.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use freya_media::rtp::{RtpError, RtpPacket};
    ///
    /// // CC = 2 but no CSRCs follow.
    /// let err = RtpPacket::parse(Bytes::from_static(&[0x82, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    /// assert_eq!(err, Err(RtpError::CsrcListTruncated { csrc_count: 2, needed: 20, len: 12 }));
    /// ```
    pub fn parse(raw: Bytes) -> Result<Self, RtpError> {
        let len = raw.len();
        let fixed: [u8; RTP_HEADER_LEN] = raw
            .get(..RTP_HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(RtpError::TooShort { len })?;
        let [b0, b1, q0, q1, t0, t1, t2, t3, s0, s1, s2, s3] = fixed;

        let version = b0 >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion { version });
        }
        let has_padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let csrc_count = b0 & 0x0F;
        let marker = b1 & 0x80 != 0;
        let payload_type = b1 & 0x7F;

        let mut header_len = RTP_HEADER_LEN + 4 * usize::from(csrc_count);
        if header_len > len {
            return Err(RtpError::CsrcListTruncated {
                csrc_count,
                needed: header_len,
                len,
            });
        }

        let extension = if has_extension {
            let ext_header: [u8; 4] = raw
                .get(header_len..header_len + 4)
                .and_then(|s| s.try_into().ok())
                .ok_or(RtpError::ExtensionTruncated {
                    length_words: 0,
                    needed: header_len + 4,
                    len,
                })?;
            let [p0, p1, l0, l1] = ext_header;
            let length_words = u16::from_be_bytes([l0, l1]);
            let body_start = header_len + 4;
            let body_end = body_start + 4 * usize::from(length_words);
            if body_end > len {
                return Err(RtpError::ExtensionTruncated {
                    length_words,
                    needed: body_end,
                    len,
                });
            }
            header_len = body_end;
            Some(RtpExtension {
                profile: u16::from_be_bytes([p0, p1]),
                data: raw.slice(body_start..body_end),
            })
        } else {
            None
        };

        let available = len - header_len;
        let padding_len = if has_padding {
            // The count is the last byte, which must lie after the header.
            let padding = if available == 0 {
                0
            } else {
                raw.last().copied().unwrap_or(0)
            };
            if padding == 0 || usize::from(padding) > available {
                return Err(RtpError::BadPadding { padding, available });
            }
            padding
        } else {
            0
        };

        let payload = raw.slice(header_len..len - usize::from(padding_len));
        Ok(RtpPacket {
            raw,
            marker,
            payload_type,
            sequence: u16::from_be_bytes([q0, q1]),
            timestamp: u32::from_be_bytes([t0, t1, t2, t3]),
            ssrc: u32::from_be_bytes([s0, s1, s2, s3]),
            csrc_count,
            padding_len,
            extension,
            payload,
        })
    }

    /// The whole packet as received.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The marker bit (M). For audio, set on the first packet of a talkspurt (RFC 3551 §4.1);
    /// for RFC 4733 events, on the first packet of an event.
    pub fn marker(&self) -> bool {
        self.marker
    }

    /// The payload type (PT, 0..=127), e.g. 0 = PCMU, 8 = PCMA, or a dynamic type (96..=127)
    /// negotiated in SDP such as telephone-event.
    pub fn payload_type(&self) -> u8 {
        self.payload_type
    }

    /// The 16-bit sequence number; see [`SequenceTracker`](super::SequenceTracker) to extend it.
    pub fn sequence(&self) -> u16 {
        self.sequence
    }

    /// The RTP timestamp, in ticks of the payload format's clock (8000 Hz for G.711 and
    /// telephone-event at 8 kHz).
    pub fn timestamp(&self) -> u32 {
        self.timestamp
    }

    /// The synchronisation source identifier.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The CSRC count (CC, 0..=15).
    pub fn csrc_count(&self) -> u8 {
        self.csrc_count
    }

    /// The contributing source identifiers, in packet order.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use freya_media::rtp::{RtpHeader, RtpPacket};
    ///
    /// let mut header = RtpHeader::new(0, 1, 2, 3);
    /// header.csrcs = vec![10, 20];
    /// let mut wire = BytesMut::new();
    /// header.write(b"", &mut wire)?;
    /// let packet = RtpPacket::parse(wire.freeze())?;
    /// assert_eq!(packet.csrcs().collect::<Vec<_>>(), [10, 20]);
    /// # Ok::<(), freya_media::rtp::RtpError>(())
    /// ```
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + '_ {
        let end = RTP_HEADER_LEN + 4 * usize::from(self.csrc_count);
        self.raw
            .get(RTP_HEADER_LEN..end)
            .unwrap_or_default()
            .chunks_exact(4)
            .filter_map(|c| <[u8; 4]>::try_from(c).ok().map(u32::from_be_bytes))
    }

    /// The header extension (X bit), if present, as a blob; RFC 8285 elements are not parsed.
    pub fn extension(&self) -> Option<&RtpExtension> {
        self.extension.as_ref()
    }

    /// Whether the padding bit (P) is set.
    pub fn has_padding(&self) -> bool {
        self.padding_len > 0
    }

    /// Bytes of padding at the end of the packet, including the count byte (0 without P).
    pub fn padding_len(&self) -> u8 {
        self.padding_len
    }

    /// Length of the header: fixed part, CSRC list and extension, in bytes.
    pub fn header_len(&self) -> usize {
        self.raw.len() - self.payload.len() - usize::from(self.padding_len)
    }

    /// The payload, without padding: a slice of [`raw`](Self::raw), no copy. Clone it (a
    /// reference-count increment) to keep it beyond the packet.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The header fields as an [`RtpHeader`], to rewrite and re-send the packet.
    ///
    /// Writing the result with [`payload`](Self::payload) reproduces [`raw`](Self::raw) byte
    /// for byte, except the contents of padding bytes other than the count (written as zero).
    ///
    /// ```
    /// use bytes::{Bytes, BytesMut};
    /// use freya_media::rtp::RtpPacket;
    ///
    /// let wire = Bytes::from_static(&[0x80, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xAA]);
    /// let packet = RtpPacket::parse(wire.clone())?;
    /// let mut header = packet.to_header();
    /// let mut out = BytesMut::new();
    /// header.write(packet.payload(), &mut out)?;
    /// assert_eq!(out.freeze(), wire);
    /// header.ssrc = 42; // e.g. the relay rewriting the SSRC
    /// # Ok::<(), freya_media::rtp::RtpError>(())
    /// ```
    pub fn to_header(&self) -> RtpHeader {
        RtpHeader {
            marker: self.marker,
            payload_type: self.payload_type,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            csrcs: self.csrcs().collect(),
            extension: self.extension.clone(),
            padding: self.padding_len,
        }
    }
}

/// An RTP header extension (RFC 3550 §5.3.1): a 16-bit profile-defined identifier and a body
/// of whole 32-bit words, kept as an opaque blob.
///
/// ```
/// use bytes::Bytes;
/// use freya_media::rtp::{ExtensionKind, RtpExtension};
///
/// let ext = RtpExtension { profile: 0xBEDE, data: Bytes::from_static(&[0x10, 0xAB, 0, 0]) };
/// assert_eq!(ext.kind(), ExtensionKind::OneByte);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpExtension {
    /// "defined by profile": 0xBEDE for RFC 8285 one-byte elements, 0x100X for two-byte.
    pub profile: u16,
    /// The extension body, without its 4-byte header; a multiple of 4 bytes long.
    pub data: Bytes,
}

impl RtpExtension {
    /// Which RFC 8285 form the `profile` field announces.
    ///
    /// ```
    /// # use bytes::Bytes;
    /// # use freya_media::rtp::{ExtensionKind, RtpExtension};
    /// let ext = RtpExtension { profile: 0x1003, data: Bytes::new() };
    /// assert_eq!(ext.kind(), ExtensionKind::TwoByte { appbits: 3 });
    /// ```
    pub fn kind(&self) -> ExtensionKind {
        match self.profile {
            0xBEDE => ExtensionKind::OneByte,
            p if p & 0xFFF0 == 0x1000 => ExtensionKind::TwoByte {
                appbits: (p & 0x0F) as u8,
            },
            p => ExtensionKind::Other(p),
        }
    }
}

/// The form of a header extension, from its profile field (RFC 8285 §4.2, §4.3).
///
/// ```
/// use bytes::Bytes;
/// use freya_media::rtp::{ExtensionKind, RtpExtension};
///
/// let ext = RtpExtension { profile: 0xABCD, data: Bytes::new() };
/// assert_eq!(ext.kind(), ExtensionKind::Other(0xABCD));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtensionKind {
    /// RFC 8285 one-byte header elements (profile 0xBEDE).
    OneByte,
    /// RFC 8285 two-byte header elements (profile 0x100 followed by 4 application bits).
    TwoByte {
        /// The 4 application-dependent bits ("appbits").
        appbits: u8,
    },
    /// Any other profile-specific extension.
    Other(u16),
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::rtp::header::tests::arb_header;
    use bytes::BytesMut;
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary bytes never panic; what parses re-encodes to the same bytes (padding
        /// contents aside) and its views lie inside the packet.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(packet) = RtpPacket::parse(Bytes::from(bytes.clone())) {
                let mut out = BytesMut::new();
                packet.to_header().write(packet.payload(), &mut out).unwrap();
                let keep = bytes.len() - usize::from(packet.padding_len());
                prop_assert_eq!(out.len(), bytes.len());
                prop_assert_eq!(&out[..keep], &bytes[..keep]);
                if packet.has_padding() {
                    prop_assert_eq!(out.last(), bytes.last());
                }
                prop_assert!(packet.header_len() + packet.payload().len() <= bytes.len());
            }
        }

        /// Every truncation of a valid packet either parses or fails with a typed error.
        #[test]
        fn truncations_fail_cleanly(header in arb_header(), payload in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut out = BytesMut::new();
            header.write(&payload, &mut out).unwrap();
            let full = out.freeze();
            for cut in 0..full.len() {
                let _ = RtpPacket::parse(full.slice(..cut));
            }
        }
    }

    #[test]
    fn payload_is_a_view_not_a_copy() {
        let mut out = BytesMut::new();
        RtpHeader::new(0, 1, 2, 3)
            .write(&[9; 160], &mut out)
            .unwrap();
        let raw = out.freeze();
        let packet = RtpPacket::parse(raw.clone()).unwrap();
        let payload_ptr = packet.payload().as_ptr();
        assert_eq!(payload_ptr, raw[12..].as_ptr());
    }

    #[test]
    fn errors_name_field_and_value() {
        let parse = |b: &'static [u8]| RtpPacket::parse(Bytes::from_static(b));
        assert_eq!(parse(&[0x80; 11]), Err(RtpError::TooShort { len: 11 }));
        assert_eq!(parse(&[0xC0; 12]), Err(RtpError::BadVersion { version: 3 }));
        assert_eq!(parse(&[0x00; 12]), Err(RtpError::BadVersion { version: 0 }));
        // X set, extension header missing.
        assert_eq!(
            parse(&[0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(RtpError::ExtensionTruncated {
                length_words: 0,
                needed: 16,
                len: 12
            })
        );
        // X set, extension announces 2 words, 1 present.
        assert_eq!(
            parse(&[0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0, 2, 1, 2, 3, 4]),
            Err(RtpError::ExtensionTruncated {
                length_words: 2,
                needed: 24,
                len: 20
            })
        );
        // P set, count 0.
        assert_eq!(
            parse(&[0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
            Err(RtpError::BadPadding {
                padding: 0,
                available: 2
            })
        );
        // P set, count larger than what follows the header.
        assert_eq!(
            parse(&[0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3]),
            Err(RtpError::BadPadding {
                padding: 3,
                available: 2
            })
        );
        // P set with nothing after the header at all.
        assert_eq!(
            parse(&[0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(RtpError::BadPadding {
                padding: 0,
                available: 0
            })
        );
        let msg = RtpError::BadPadding {
            padding: 3,
            available: 2,
        }
        .to_string();
        assert!(
            msg.contains("padding count 3") && msg.contains("2 byte"),
            "{msg}"
        );
    }

    #[test]
    fn padding_and_extension_are_skipped_exactly() {
        // V=2 P X CC=1, M, PT 101; CSRC 0x01020304; one-byte extension with 1 word; payload
        // [0xAA, 0xBB]; 3 bytes of padding.
        let wire: &[u8] = &[
            0xB1, 0xE5, 0x00, 0x10, 0, 0, 0x01, 0x00, 0, 0, 0, 0x2A, // fixed
            1, 2, 3, 4, // CSRC
            0xBE, 0xDE, 0x00, 0x01, 0x10, 0x7F, 0x00, 0x00, // extension
            0xAA, 0xBB, // payload
            0x00, 0x00, 0x03, // padding
        ];
        let p = RtpPacket::parse(Bytes::from_static(wire)).unwrap();
        assert!(p.marker());
        assert_eq!(p.payload_type(), 101);
        assert_eq!(p.sequence(), 16);
        assert_eq!(p.timestamp(), 256);
        assert_eq!(p.ssrc(), 42);
        assert_eq!(p.csrcs().collect::<Vec<_>>(), [0x0102_0304]);
        let ext = p.extension().unwrap();
        assert_eq!(ext.kind(), ExtensionKind::OneByte);
        assert_eq!(&ext.data[..], &[0x10, 0x7F, 0, 0]);
        assert_eq!(&p.payload()[..], &[0xAA, 0xBB]);
        assert_eq!(p.padding_len(), 3);
        assert_eq!(p.header_len(), 24);
    }
}
