//! Audio codecs for telephony: G.711 μ-law and A-law ([`G711Law`], bit-exact with the ITU-T
//! G.191 reference implementation), L16 sample packing ([`l16`]), and a sample-rate converter
//! between 8, 16, 24 and 48 kHz ([`Resampler`], built on the `rubato` crate).
//!
//! Units: a *sample* is one `i16` of linear PCM (mono); a G.711 *code* is one byte and carries
//! exactly one sample, so at 8 kHz 20 ms is 160 samples, 160 G.711 bytes or 320 L16 bytes.
//!
//! ```
//! use freya_media::codec::{G711Law, Resampler, SampleRate};
//!
//! // Caller audio arrives as PCMU; the agent wants 16 kHz linear PCM.
//! let mut pcm8k = Vec::new();
//! G711Law::Ulaw.decode_into(&[0xFF; 160], &mut pcm8k);
//! let mut resampler = Resampler::new(SampleRate::Hz8000, SampleRate::Hz16000)?;
//! let mut pcm16k = Vec::new();
//! resampler.process(&pcm8k, &mut pcm16k)?;
//! assert_eq!(pcm16k.len(), 320);
//! # Ok::<(), freya_media::codec::CodecError>(())
//! ```

mod g711;
pub mod l16;
mod resample;

pub use g711::{alaw_decode, alaw_encode, ulaw_decode, ulaw_encode, G711Law};
pub use resample::{Resampler, SampleRate};

/// Why a codec operation was refused.
///
/// ```
/// use freya_media::codec::{l16, CodecError, SampleRate};
///
/// assert_eq!(
///     SampleRate::from_hz(44_100),
///     Err(CodecError::UnsupportedSampleRate { hz: 44_100 })
/// );
/// let err = l16::decode_le(&[1, 2, 3], &mut Vec::new()).unwrap_err();
/// assert_eq!(err.to_string(), "L16 payload of 3 bytes is not a whole number of 2-byte samples");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The sample rate is not one of 8000, 16000, 24000 or 48000 Hz.
    #[error("sample rate {hz} Hz is not supported (8000, 16000, 24000 or 48000)")]
    UnsupportedSampleRate {
        /// The refused rate, in Hz.
        hz: u32,
    },
    /// An L16 byte buffer has an odd length, so its last sample is cut in half.
    #[error("L16 payload of {len} bytes is not a whole number of 2-byte samples")]
    OddL16Length {
        /// The buffer's length, in bytes.
        len: usize,
    },
    /// The `rubato` resampler refused to be built or to process a chunk.
    #[error("resampler {from_hz} Hz -> {to_hz} Hz: {reason}")]
    Resampler {
        /// Input rate, in Hz.
        from_hz: u32,
        /// Output rate, in Hz.
        to_hz: u32,
        /// rubato's own message.
        reason: String,
    },
}
