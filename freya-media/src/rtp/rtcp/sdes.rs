//! Source description (SDES, RFC 3550 §6.5) and goodbye (BYE, §6.6) packets.

#![deny(clippy::indexing_slicing)]

use bytes::{BufMut, Bytes, BytesMut};

use super::RtcpError;

/// SDES item type of the canonical name (CNAME, §6.5.1).
pub const SDES_CNAME: u8 = 1;

/// One SDES item: a type (1 = CNAME, 2 = NAME, …, 8 = PRIV) and its text (UTF-8 by the RFC,
/// kept as received bytes, at most 255).
///
/// ```
/// use freya_media::rtp::rtcp::{SdesItem, SDES_CNAME};
///
/// let item = SdesItem::cname("agent@freya");
/// assert_eq!(item.kind, SDES_CNAME);
/// assert_eq!(item.text_lossy(), "agent@freya");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SdesItem {
    /// The item type (1..=8 defined by RFC 3550; never 0, which ends a chunk's item list).
    pub kind: u8,
    /// The item text, as bytes.
    pub text: Bytes,
}

impl SdesItem {
    /// A CNAME item.
    pub fn cname(text: &str) -> Self {
        SdesItem {
            kind: SDES_CNAME,
            text: Bytes::copy_from_slice(text.as_bytes()),
        }
    }

    /// The text as a string, invalid UTF-8 replaced by U+FFFD.
    pub fn text_lossy(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }
}

/// The items describing one source (an SSRC or CSRC) in an SDES packet.
///
/// ```
/// use freya_media::rtp::rtcp::{SdesChunk, SdesItem};
///
/// let chunk = SdesChunk { source: 9, items: vec![SdesItem::cname("x")] };
/// assert_eq!(chunk.cname().as_deref(), Some("x"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SdesChunk {
    /// The SSRC or CSRC described.
    pub source: u32,
    /// Its items, in packet order.
    pub items: Vec<SdesItem>,
}

impl SdesChunk {
    /// The first CNAME item's text, if any.
    pub fn cname(&self) -> Option<String> {
        self.items
            .iter()
            .find(|i| i.kind == SDES_CNAME)
            .map(SdesItem::text_lossy)
    }
}

/// A source description packet (SDES, PT 202): chunks of items per source.
///
/// ```
/// use freya_media::rtp::rtcp::Sdes;
///
/// let sdes = Sdes::cname(0xABCD, "freya@10.0.0.1");
/// assert_eq!(sdes.chunks[0].source, 0xABCD);
/// assert_eq!(sdes.chunks[0].cname().as_deref(), Some("freya@10.0.0.1"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Sdes {
    /// The chunks (at most 31).
    pub chunks: Vec<SdesChunk>,
}

impl Sdes {
    /// An SDES with one chunk: `ssrc`'s CNAME, which every compound packet carries (§6.1).
    pub fn cname(ssrc: u32, cname: &str) -> Self {
        Sdes {
            chunks: vec![SdesChunk {
                source: ssrc,
                items: vec![SdesItem::cname(cname)],
            }],
        }
    }

    /// Parses `count` chunks from an SDES body.
    pub(crate) fn parse(body: &Bytes, count: u8) -> Result<Self, SdesProblem> {
        let mut chunks = Vec::with_capacity(usize::from(count));
        let mut at = 0;
        for _ in 0..count {
            let source = body
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes)
                .ok_or(SdesProblem::Truncated { needed: at + 4 })?;
            at += 4;
            let mut items = Vec::new();
            loop {
                let kind = *body
                    .get(at)
                    .ok_or(SdesProblem::Truncated { needed: at + 1 })?;
                if kind == 0 {
                    // End of the list: skip the null octets to the next 32-bit boundary.
                    at = (at + 4) & !3;
                    break;
                }
                let len = usize::from(
                    *body
                        .get(at + 1)
                        .ok_or(SdesProblem::Truncated { needed: at + 2 })?,
                );
                let start = at + 2;
                if start + len > body.len() {
                    return Err(SdesProblem::Text { declared: len });
                }
                items.push(SdesItem {
                    kind,
                    text: body.slice(start..start + len),
                });
                at = start + len;
            }
            chunks.push(SdesChunk { source, items });
        }
        Ok(Sdes { chunks })
    }

    /// Appends the body (chunks, each null-terminated and padded to 32 bits).
    pub(crate) fn write_body(&self, out: &mut BytesMut) -> Result<(), RtcpError> {
        for chunk in &self.chunks {
            if let Some(item) = chunk.items.iter().find(|i| i.text.len() > 255) {
                return Err(RtcpError::TextTooLong {
                    what: "SDES item",
                    len: item.text.len(),
                });
            }
        }
        for chunk in &self.chunks {
            out.put_u32(chunk.source);
            let mut len = 0;
            for item in &chunk.items {
                out.put_u8(item.kind);
                out.put_u8(item.text.len() as u8);
                out.put_slice(&item.text);
                len += 2 + item.text.len();
            }
            // At least one null octet, then up to the next 32-bit boundary.
            out.put_bytes(0, 4 - len % 4);
        }
        Ok(())
    }

    pub(crate) fn body_len(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| {
                let items: usize = c.items.iter().map(|i| 2 + i.text.len()).sum();
                4 + items + (4 - items % 4)
            })
            .sum()
    }
}

/// What went wrong inside an SDES or BYE body (mapped to an [`RtcpError`] by the caller,
/// which knows the offset).
pub(crate) enum SdesProblem {
    Truncated { needed: usize },
    Text { declared: usize },
}

/// A goodbye packet (BYE, PT 203): these sources are leaving, optionally saying why.
///
/// ```
/// use freya_media::rtp::rtcp::Bye;
///
/// let bye = Bye::new(0x1234, Some("call ended"));
/// assert_eq!(bye.sources, [0x1234]);
/// assert_eq!(bye.reason_lossy().as_deref(), Some("call ended"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Bye {
    /// The SSRCs/CSRCs leaving (at most 31).
    pub sources: Vec<u32>,
    /// The reason for leaving (UTF-8 by the RFC, kept as bytes, at most 255).
    pub reason: Option<Bytes>,
}

impl Bye {
    /// A BYE for one source.
    pub fn new(ssrc: u32, reason: Option<&str>) -> Self {
        Bye {
            sources: vec![ssrc],
            reason: reason.map(|r| Bytes::copy_from_slice(r.as_bytes())),
        }
    }

    /// The reason as a string, invalid UTF-8 replaced by U+FFFD.
    pub fn reason_lossy(&self) -> Option<String> {
        self.reason
            .as_ref()
            .map(|r| String::from_utf8_lossy(r).into_owned())
    }

    pub(crate) fn parse(body: &Bytes, count: u8) -> Result<Self, SdesProblem> {
        let ids_len = 4 * usize::from(count);
        let ids = body
            .get(..ids_len)
            .ok_or(SdesProblem::Truncated { needed: ids_len })?;
        let sources = ids
            .chunks_exact(4)
            .filter_map(|c| <[u8; 4]>::try_from(c).ok().map(u32::from_be_bytes))
            .collect();
        let reason = match body.get(ids_len) {
            None => None,
            Some(&len) => {
                let len = usize::from(len);
                let start = ids_len + 1;
                if start + len > body.len() {
                    return Err(SdesProblem::Text { declared: len });
                }
                Some(body.slice(start..start + len))
            }
        };
        Ok(Bye { sources, reason })
    }

    pub(crate) fn write_body(&self, out: &mut BytesMut) -> Result<(), RtcpError> {
        if let Some(reason) = self.reason.as_ref().filter(|r| r.len() > 255) {
            return Err(RtcpError::TextTooLong {
                what: "BYE reason",
                len: reason.len(),
            });
        }
        for &source in &self.sources {
            out.put_u32(source);
        }
        if let Some(reason) = &self.reason {
            out.put_u8(reason.len() as u8);
            out.put_slice(reason);
            out.put_bytes(0, (4 - (1 + reason.len()) % 4) % 4);
        }
        Ok(())
    }

    pub(crate) fn body_len(&self) -> usize {
        4 * self.sources.len()
            + self
                .reason
                .as_ref()
                .map_or(0, |r| (1 + r.len()).div_ceil(4) * 4)
    }
}
