//! L16: uncompressed signed 16-bit linear PCM as bytes, two bytes per sample.
//!
//! The WebSocket media bridge (jambonz `listen`, Asterisk chan_websocket `slin16`, …) carries
//! L16 **little-endian**; L16 inside RTP (RFC 3551 §4.5.11) is **big-endian** (network order).
//! Both are here. Lengths: `n` samples ↔ `2 n` bytes.
//!
//! ```
//! use freya_media::codec::l16;
//!
//! let mut bytes = Vec::new();
//! l16::encode_le(&[1, -2], &mut bytes);
//! assert_eq!(bytes, [0x01, 0x00, 0xFE, 0xFF]);
//! let mut samples = Vec::new();
//! l16::decode_le(&bytes, &mut samples)?;
//! assert_eq!(samples, [1, -2]);
//! # Ok::<(), freya_media::codec::CodecError>(())
//! ```

use super::CodecError;

/// Appends `samples` to `out` as little-endian bytes (2 bytes per sample).
///
/// ```
/// # use freya_media::codec::l16;
/// let mut out = Vec::new();
/// l16::encode_le(&[0x1234], &mut out);
/// assert_eq!(out, [0x34, 0x12]);
/// ```
pub fn encode_le(samples: &[i16], out: &mut Vec<u8>) {
    out.reserve(samples.len() * 2);
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
}

/// Appends the samples of a little-endian L16 buffer to `out`.
///
/// # Errors
/// [`CodecError::OddL16Length`] when `bytes` has an odd length; nothing is appended then.
///
/// ```
/// # use freya_media::codec::{l16, CodecError};
/// let mut out = Vec::new();
/// l16::decode_le(&[0x34, 0x12], &mut out)?;
/// assert_eq!(out, [0x1234]);
/// assert_eq!(l16::decode_le(&[0], &mut out), Err(CodecError::OddL16Length { len: 1 }));
/// # Ok::<(), CodecError>(())
/// ```
pub fn decode_le(bytes: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
    decode(bytes, out, i16::from_le_bytes)
}

/// Appends `samples` to `out` as big-endian (network order) bytes, as RTP L16 carries them.
///
/// ```
/// # use freya_media::codec::l16;
/// let mut out = Vec::new();
/// l16::encode_be(&[0x1234], &mut out);
/// assert_eq!(out, [0x12, 0x34]);
/// ```
pub fn encode_be(samples: &[i16], out: &mut Vec<u8>) {
    out.reserve(samples.len() * 2);
    for s in samples {
        out.extend_from_slice(&s.to_be_bytes());
    }
}

/// Appends the samples of a big-endian (RTP) L16 buffer to `out`.
///
/// # Errors
/// [`CodecError::OddL16Length`] when `bytes` has an odd length; nothing is appended then.
///
/// ```
/// # use freya_media::codec::l16;
/// let mut out = Vec::new();
/// l16::decode_be(&[0x12, 0x34], &mut out)?;
/// assert_eq!(out, [0x1234]);
/// # Ok::<(), freya_media::codec::CodecError>(())
/// ```
pub fn decode_be(bytes: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
    decode(bytes, out, i16::from_be_bytes)
}

fn decode(bytes: &[u8], out: &mut Vec<i16>, from: fn([u8; 2]) -> i16) -> Result<(), CodecError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(CodecError::OddL16Length { len: bytes.len() });
    }
    out.reserve(bytes.len() / 2);
    out.extend(bytes.chunks_exact(2).map(|pair| from([pair[0], pair[1]])));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn le_and_be_round_trip(samples in proptest::collection::vec(any::<i16>(), 0..64)) {
            let mut bytes = Vec::new();
            encode_le(&samples, &mut bytes);
            prop_assert_eq!(bytes.len(), samples.len() * 2);
            let mut back = Vec::new();
            decode_le(&bytes, &mut back).unwrap();
            prop_assert_eq!(&back, &samples);

            let mut bytes = Vec::new();
            encode_be(&samples, &mut bytes);
            let mut back = Vec::new();
            decode_be(&bytes, &mut back).unwrap();
            prop_assert_eq!(&back, &samples);
        }

        #[test]
        fn odd_lengths_are_refused_and_append_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut out = vec![7];
            let result = decode_le(&bytes, &mut out);
            if !bytes.len().is_multiple_of(2) {
                prop_assert_eq!(result, Err(CodecError::OddL16Length { len: bytes.len() }));
                prop_assert_eq!(out, vec![7]);
            } else {
                prop_assert!(result.is_ok());
                prop_assert_eq!(out.len(), 1 + bytes.len() / 2);
            }
        }
    }

    #[test]
    fn byte_order_is_what_the_name_says() {
        let mut le = Vec::new();
        encode_le(&[-32768, 32767, -1], &mut le);
        assert_eq!(le, [0x00, 0x80, 0xFF, 0x7F, 0xFF, 0xFF]);
        let mut be = Vec::new();
        encode_be(&[-32768, 32767, -1], &mut be);
        assert_eq!(be, [0x80, 0x00, 0x7F, 0xFF, 0xFF, 0xFF]);
    }
}
