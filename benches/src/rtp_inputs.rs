//! RTP bench inputs (built in code: exact bytes, deterministic) and the one call per parser the
//! `rtp_parse` bench times: freya-media's `RtpPacket::parse` and webrtc-rs `rtp` 0.17's
//! `Packet::unmarshal` (through webrtc-util's `Unmarshal` trait).

use bytes::Bytes;
use webrtc_util::marshal::Unmarshal;

/// One RTP bench packet: a short name (the criterion group) and its bytes.
#[derive(Debug, Clone)]
pub struct RtpInput {
    /// Group name.
    pub name: &'static str,
    /// The datagram.
    pub bytes: Bytes,
}

fn header(first: u8, pt_marker: u8, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut v = vec![first, pt_marker];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v
}

/// The packets of the bench:
/// - `pcmu_20ms` (172 B): what a carrier call carries, PT 0, 160 bytes of μ-law;
/// - `opus_ext` (132 B): PT 111, marker, an RFC 8285 one-byte extension block with
///   ssrc-audio-level (id 1) and abs-send-time (id 3), 108 bytes of payload;
/// - `csrc_padding` (192 B): two CSRCs (a mixer's output), 160 bytes of payload and 12 bytes
///   of padding (RFC 3550 §5.1).
pub fn rtp_inputs() -> Vec<RtpInput> {
    let mut pcmu = header(0x80, 0, 4711, 160 * 4711, 0x1234_5678);
    pcmu.extend((0..160u32).map(|i| (i * 37 % 251) as u8));

    let mut opus = header(0x90, 0x80 | 111, 9, 960 * 9, 0xCAFE_BABE);
    // Extension header: profile 0xBEDE, 2 words; elements: id 1 len 1, id 3 len 3, padding.
    opus.extend_from_slice(&[0xBE, 0xDE, 0, 2]);
    opus.extend_from_slice(&[0x10, 0x85, 0x32, 0x12, 0x34, 0x56, 0, 0]);
    opus.extend((0..108u32).map(|i| (i * 11 % 256) as u8));

    let mut mixed = header(0xA2, 8, 65_535, 0xFFFF_FF00, 0xDEAD_BEEF);
    mixed.extend_from_slice(&0x1111_1111u32.to_be_bytes());
    mixed.extend_from_slice(&0x2222_2222u32.to_be_bytes());
    mixed.extend((0..160u32).map(|i| (i * 7 % 256) as u8));
    mixed.extend_from_slice(&[0; 11]);
    mixed.push(12);

    vec![
        RtpInput {
            name: "pcmu_20ms",
            bytes: Bytes::from(pcmu),
        },
        RtpInput {
            name: "opus_ext",
            bytes: Bytes::from(opus),
        },
        RtpInput {
            name: "csrc_padding",
            bytes: Bytes::from(mixed),
        },
    ]
}

/// freya-media: a view over `raw` (no copy); header fields decoded, payload and extension
/// sliced.
pub fn freya_rtp_parse(
    raw: Bytes,
) -> Result<freya_media::rtp::RtpPacket, freya_media::rtp::RtpError> {
    freya_media::rtp::RtpPacket::parse(raw)
}

/// webrtc-rs `rtp` 0.17: `Packet::unmarshal(&mut Bytes)`. From `Bytes` its payload is a
/// slice too (`copy_to_bytes` on `Bytes` does not copy); it decodes the CSRC list into a
/// `Vec` and each RFC 8285 extension element into a `Vec<Extension>`.
pub fn webrtc_rtp_unmarshal(mut raw: Bytes) -> Result<rtp::packet::Packet, webrtc_util::Error> {
    rtp::packet::Packet::unmarshal(&mut raw)
}
