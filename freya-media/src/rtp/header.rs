//! Writing an RTP packet (RFC 3550 §5.1) into a `BytesMut`.

#![deny(clippy::indexing_slicing)]

use bytes::{BufMut, BytesMut};

use super::{RtpError, RtpExtension, RTP_HEADER_LEN};

/// RTP header fields to write a packet (RFC 3550 §5.1).
///
/// ```
/// use bytes::BytesMut;
/// use freya_media::rtp::RtpHeader;
///
/// let mut header = RtpHeader::new(0, 7, 160, 0xCAFE);
/// header.marker = true;
/// let mut out = BytesMut::new();
/// header.write(&[0xFF; 160], &mut out)?;
/// assert_eq!(out.len(), header.encoded_len(160));
/// assert_eq!(&out[..4], &[0x80, 0x80, 0, 7]);
/// # Ok::<(), freya_media::rtp::RtpError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpHeader {
    /// The marker bit (M).
    pub marker: bool,
    /// Payload type, 0..=127.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp, in ticks of the payload format's clock.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Contributing sources, at most 15.
    pub csrcs: Vec<u32>,
    /// Header extension; its `data` must be a whole number of 32-bit words.
    pub extension: Option<RtpExtension>,
    /// Bytes of padding to append including the count byte (sets P); 0 for none.
    pub padding: u8,
}

impl RtpHeader {
    /// A header with no marker, CSRCs, extension or padding.
    ///
    /// ```
    /// # use freya_media::rtp::RtpHeader;
    /// let header = RtpHeader::new(8, 1, 160, 99);
    /// assert_eq!(header.encoded_len(0), 12);
    /// ```
    pub fn new(payload_type: u8, sequence: u16, timestamp: u32, ssrc: u32) -> Self {
        RtpHeader {
            marker: false,
            payload_type,
            sequence,
            timestamp,
            ssrc,
            csrcs: Vec::new(),
            extension: None,
            padding: 0,
        }
    }

    /// Bytes the packet will take with a payload of `payload_len` bytes.
    pub fn encoded_len(&self, payload_len: usize) -> usize {
        RTP_HEADER_LEN
            + 4 * self.csrcs.len()
            + self.extension.as_ref().map_or(0, |e| 4 + e.data.len())
            + payload_len
            + usize::from(self.padding)
    }

    /// Appends the packet — header, `payload`, padding — to `out`.
    ///
    /// # Errors
    /// [`RtpError::PayloadTypeOutOfRange`], [`RtpError::TooManyCsrcs`] or
    /// [`RtpError::BadExtensionLength`]; `out` is untouched then.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use freya_media::rtp::{RtpError, RtpHeader};
    ///
    /// let mut out = BytesMut::new();
    /// let err = RtpHeader::new(200, 0, 0, 0).write(b"", &mut out);
    /// assert_eq!(err, Err(RtpError::PayloadTypeOutOfRange { payload_type: 200 }));
    /// assert!(out.is_empty());
    /// ```
    pub fn write(&self, payload: &[u8], out: &mut BytesMut) -> Result<(), RtpError> {
        if self.payload_type > 127 {
            return Err(RtpError::PayloadTypeOutOfRange {
                payload_type: self.payload_type,
            });
        }
        let csrc_count = u8::try_from(self.csrcs.len())
            .ok()
            .filter(|&n| n <= 15)
            .ok_or(RtpError::TooManyCsrcs {
                count: self.csrcs.len(),
            })?;
        let extension_words = match &self.extension {
            Some(ext) => Some(
                u16::try_from(ext.data.len() / 4)
                    .ok()
                    .filter(|_| ext.data.len().is_multiple_of(4))
                    .ok_or(RtpError::BadExtensionLength {
                        len: ext.data.len(),
                    })?,
            ),
            None => None,
        };

        out.reserve(self.encoded_len(payload.len()));
        let mut b0 = 0x80 | csrc_count;
        if self.padding > 0 {
            b0 |= 0x20;
        }
        if self.extension.is_some() {
            b0 |= 0x10;
        }
        out.put_u8(b0);
        out.put_u8(if self.marker { 0x80 } else { 0 } | self.payload_type);
        out.put_u16(self.sequence);
        out.put_u32(self.timestamp);
        out.put_u32(self.ssrc);
        for &csrc in &self.csrcs {
            out.put_u32(csrc);
        }
        if let (Some(ext), Some(words)) = (&self.extension, extension_words) {
            out.put_u16(ext.profile);
            out.put_u16(words);
            out.put_slice(&ext.data);
        }
        out.put_slice(payload);
        if self.padding > 0 {
            out.put_bytes(0, usize::from(self.padding) - 1);
            out.put_u8(self.padding);
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rtp::RtpPacket;
    use bytes::Bytes;
    use proptest::prelude::*;

    pub(crate) fn arb_header() -> impl Strategy<Value = RtpHeader> {
        (
            any::<bool>(),
            0u8..=127,
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            proptest::collection::vec(any::<u32>(), 0..=15),
            proptest::option::of((
                any::<u16>(),
                proptest::collection::vec(any::<[u8; 4]>(), 0..8),
            )),
            any::<u8>(),
        )
            .prop_map(
                |(marker, payload_type, sequence, timestamp, ssrc, csrcs, ext, padding)| {
                    RtpHeader {
                        marker,
                        payload_type,
                        sequence,
                        timestamp,
                        ssrc,
                        csrcs,
                        extension: ext.map(|(profile, words)| RtpExtension {
                            profile,
                            data: Bytes::from(words.concat()),
                        }),
                        padding,
                    }
                },
            )
    }

    proptest! {
        /// Writing then parsing gives back every header field and the payload.
        #[test]
        fn write_then_parse_round_trips(
            header in arb_header(),
            payload in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut out = BytesMut::new();
            header.write(&payload, &mut out).unwrap();
            prop_assert_eq!(out.len(), header.encoded_len(payload.len()));
            let packet = RtpPacket::parse(out.freeze()).unwrap();
            prop_assert_eq!(&packet.payload()[..], &payload[..]);
            prop_assert_eq!(packet.to_header(), header);
        }

    }

    #[test]
    fn write_refuses_what_does_not_fit() {
        let mut out = BytesMut::new();
        let mut h = RtpHeader::new(0, 0, 0, 0);
        h.csrcs = vec![0; 16];
        assert_eq!(
            h.write(b"", &mut out),
            Err(RtpError::TooManyCsrcs { count: 16 })
        );
        let mut h = RtpHeader::new(0, 0, 0, 0);
        h.extension = Some(RtpExtension {
            profile: 0xBEDE,
            data: Bytes::from_static(&[1, 2, 3]),
        });
        assert_eq!(
            h.write(b"", &mut out),
            Err(RtpError::BadExtensionLength { len: 3 })
        );
        h.extension = Some(RtpExtension {
            profile: 0xBEDE,
            data: Bytes::from(vec![0u8; 4 * 65536]),
        });
        assert_eq!(
            h.write(b"", &mut out),
            Err(RtpError::BadExtensionLength { len: 4 * 65536 })
        );
        assert!(out.is_empty());
    }
}
