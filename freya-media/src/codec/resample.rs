//! Sample-rate conversion between the telephony rates (8, 16, 24, 48 kHz), mono, streaming.
//!
//! Built on `rubato`'s synchronous FFT resampler (`rubato::Fft`, fixed input and output
//! chunk sizes of 20 ms each): every pair of supported rates has an exact integer ratio, so a
//! synchronous resampler fits, and 20 ms is the RTP packetisation the media path uses anyway.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _};

use super::CodecError;

/// A sample rate the media path handles: narrowband 8 kHz (G.711), wideband 16 kHz, 24 kHz
/// (common TTS output) and 48 kHz (Opus, WebRTC).
///
/// ```
/// use freya_media::codec::SampleRate;
///
/// let rate = SampleRate::from_hz(16_000)?;
/// assert_eq!(rate, SampleRate::Hz16000);
/// assert_eq!(rate.samples_per_ms(), 16);
/// # Ok::<(), freya_media::codec::CodecError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SampleRate {
    /// 8000 Hz.
    Hz8000,
    /// 16000 Hz.
    Hz16000,
    /// 24000 Hz.
    Hz24000,
    /// 48000 Hz.
    Hz48000,
}

impl SampleRate {
    /// Every supported rate, slowest first.
    pub const ALL: [SampleRate; 4] = [
        SampleRate::Hz8000,
        SampleRate::Hz16000,
        SampleRate::Hz24000,
        SampleRate::Hz48000,
    ];

    /// The rate in Hz (samples per second).
    ///
    /// ```
    /// # use freya_media::codec::SampleRate;
    /// assert_eq!(SampleRate::Hz24000.hz(), 24_000);
    /// ```
    pub const fn hz(self) -> u32 {
        match self {
            SampleRate::Hz8000 => 8_000,
            SampleRate::Hz16000 => 16_000,
            SampleRate::Hz24000 => 24_000,
            SampleRate::Hz48000 => 48_000,
        }
    }

    /// Samples in one millisecond (8, 16, 24 or 48).
    ///
    /// ```
    /// # use freya_media::codec::SampleRate;
    /// assert_eq!(SampleRate::Hz8000.samples_per_ms() * 20, 160); // one 20 ms frame
    /// ```
    pub const fn samples_per_ms(self) -> usize {
        (self.hz() / 1000) as usize
    }

    /// The rate for a number of Hz.
    ///
    /// # Errors
    /// [`CodecError::UnsupportedSampleRate`] for anything but 8000, 16000, 24000 or 48000.
    ///
    /// ```
    /// # use freya_media::codec::SampleRate;
    /// assert!(SampleRate::from_hz(48_000).is_ok());
    /// assert!(SampleRate::from_hz(44_100).is_err());
    /// ```
    pub const fn from_hz(hz: u32) -> Result<Self, CodecError> {
        match hz {
            8_000 => Ok(SampleRate::Hz8000),
            16_000 => Ok(SampleRate::Hz16000),
            24_000 => Ok(SampleRate::Hz24000),
            48_000 => Ok(SampleRate::Hz48000),
            _ => Err(CodecError::UnsupportedSampleRate { hz }),
        }
    }
}

/// A streaming mono resampler from one [`SampleRate`] to another, on 16-bit samples.
///
/// Feed it any number of samples at a time with [`process`](Self::process); it converts in
/// 20 ms chunks and keeps the remainder for the next call, so the output lags the input by
/// up to one chunk plus the filter delay ([`delay`](Self::delay), 10 ms of output). When the
/// two rates are equal it passes samples through unchanged. Processing allocates only when the
/// caller's output `Vec` grows; the chunk buffers are allocated once in [`new`](Self::new).
///
/// ```
/// use freya_media::codec::{Resampler, SampleRate};
///
/// let mut up = Resampler::new(SampleRate::Hz8000, SampleRate::Hz48000)?;
/// let mut out = Vec::new();
/// up.process(&[0; 100], &mut out)?; // less than 20 ms: kept for later
/// assert!(out.is_empty());
/// up.process(&[0; 60], &mut out)?; // 160 samples = one 20 ms chunk
/// assert_eq!(out.len(), 960);
/// # Ok::<(), freya_media::codec::CodecError>(())
/// ```
pub struct Resampler {
    from: SampleRate,
    to: SampleRate,
    /// `None` when `from == to`.
    inner: Option<Fft<f32>>,
    /// Input samples (as f32 in [-1, 1)) not yet converted: fewer than one chunk between calls.
    pending: Vec<f32>,
    /// One chunk of output.
    scratch: Vec<f32>,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Resampler {
    /// A resampler from `from` to `to`.
    ///
    /// # Errors
    /// [`CodecError::Resampler`] if `rubato` refuses the configuration (not expected for the
    /// supported rates).
    ///
    /// ```
    /// # use freya_media::codec::{Resampler, SampleRate};
    /// let r = Resampler::new(SampleRate::Hz16000, SampleRate::Hz24000)?;
    /// assert_eq!(r.input_chunk(), 320);
    /// assert_eq!(r.output_chunk(), 480);
    /// # Ok::<(), freya_media::codec::CodecError>(())
    /// ```
    pub fn new(from: SampleRate, to: SampleRate) -> Result<Self, CodecError> {
        let chunk_in = from.samples_per_ms() * 20;
        let chunk_out = to.samples_per_ms() * 20;
        let inner = if from == to {
            None
        } else {
            let fft = Fft::<f32>::new(
                from.hz() as usize,
                to.hz() as usize,
                chunk_in,
                1,
                FixedSync::Both,
            )
            .map_err(|e| rubato_error(from, to, e))?;
            if fft.input_frames_next() != chunk_in || fft.output_frames_next() != chunk_out {
                return Err(CodecError::Resampler {
                    from_hz: from.hz(),
                    to_hz: to.hz(),
                    reason: format!(
                        "rubato chose chunks of {} -> {} samples instead of {chunk_in} -> {chunk_out}",
                        fft.input_frames_next(),
                        fft.output_frames_next()
                    ),
                });
            }
            Some(fft)
        };
        Ok(Resampler {
            from,
            to,
            inner,
            pending: Vec::with_capacity(chunk_in),
            scratch: vec![0.0; chunk_out],
        })
    }

    /// The input rate.
    pub fn from_rate(&self) -> SampleRate {
        self.from
    }

    /// The output rate.
    pub fn to_rate(&self) -> SampleRate {
        self.to
    }

    /// Input samples converted at a time (20 ms at the input rate).
    pub fn input_chunk(&self) -> usize {
        self.from.samples_per_ms() * 20
    }

    /// Output samples produced per input chunk (20 ms at the output rate).
    pub fn output_chunk(&self) -> usize {
        self.to.samples_per_ms() * 20
    }

    /// The filter delay, in output samples: a signal fed in at input sample `n` appears at
    /// output sample `n * to / from + delay()`. Zero when the rates are equal.
    ///
    /// ```
    /// # use freya_media::codec::{Resampler, SampleRate};
    /// let r = Resampler::new(SampleRate::Hz8000, SampleRate::Hz16000)?;
    /// assert_eq!(r.delay(), 160); // 10 ms at 16 kHz
    /// # Ok::<(), freya_media::codec::CodecError>(())
    /// ```
    pub fn delay(&self) -> usize {
        self.inner.as_ref().map_or(0, |fft| fft.output_delay())
    }

    /// Input samples held back, waiting for a full chunk (always fewer than
    /// [`input_chunk`](Self::input_chunk)).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Converts `input` and appends whatever complete chunks are ready to `out`; returns the
    /// number of samples appended (a multiple of [`output_chunk`](Self::output_chunk)).
    ///
    /// # Errors
    /// [`CodecError::Resampler`] if `rubato` fails on a chunk (not expected: the buffers are
    /// sized by this type). Samples already appended stay appended.
    ///
    /// ```
    /// # use freya_media::codec::{Resampler, SampleRate};
    /// let mut down = Resampler::new(SampleRate::Hz48000, SampleRate::Hz8000)?;
    /// let mut out = Vec::new();
    /// assert_eq!(down.process(&[0; 2000], &mut out)?, 320); // two chunks of 960 in
    /// assert_eq!(down.pending(), 80);
    /// # Ok::<(), freya_media::codec::CodecError>(())
    /// ```
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) -> Result<usize, CodecError> {
        let (from, to) = (self.from, self.to);
        let Some(fft) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            return Ok(input.len());
        };
        let chunk_in = from.samples_per_ms() * 20;
        let chunk_out = self.scratch.len();
        self.pending
            .extend(input.iter().map(|&s| f32::from(s) / 32768.0));
        let mut consumed = 0;
        let mut produced = 0;
        while let Some(chunk) = self.pending.get(consumed..consumed + chunk_in) {
            let adapter_in =
                InterleavedSlice::new(chunk, 1, chunk_in).map_err(|e| rubato_error(from, to, e))?;
            let mut adapter_out = InterleavedSlice::new_mut(&mut self.scratch, 1, chunk_out)
                .map_err(|e| rubato_error(from, to, e))?;
            let (_, written) = fft
                .process_into_buffer(&adapter_in, &mut adapter_out, None)
                .map_err(|e| rubato_error(from, to, e))?;
            let written = written.min(chunk_out);
            out.extend(self.scratch.iter().take(written).map(|&s| to_i16(s)));
            produced += written;
            consumed += chunk_in;
        }
        self.pending.drain(..consumed);
        Ok(produced)
    }

    /// Pads the held-back input with silence to a full chunk and converts it, appending the
    /// result to `out` (nothing when no input is held back). Call at the end of a stream; the
    /// last [`delay`](Self::delay) output samples of the real signal come out only if the
    /// caller then feeds another chunk of silence.
    ///
    /// # Errors
    /// As [`process`](Self::process).
    ///
    /// ```
    /// # use freya_media::codec::{Resampler, SampleRate};
    /// let mut r = Resampler::new(SampleRate::Hz8000, SampleRate::Hz16000)?;
    /// let mut out = Vec::new();
    /// r.process(&[0; 10], &mut out)?;
    /// assert_eq!(r.flush(&mut out)?, 320);
    /// assert_eq!(r.pending(), 0);
    /// # Ok::<(), freya_media::codec::CodecError>(())
    /// ```
    pub fn flush(&mut self, out: &mut Vec<i16>) -> Result<usize, CodecError> {
        if self.pending.is_empty() || self.inner.is_none() {
            return Ok(0);
        }
        let missing = self.input_chunk() - self.pending.len();
        let silence = vec![0i16; missing];
        self.process(&silence, out)
    }

    /// Forgets the held-back input and the filter state, as for a new stream.
    pub fn reset(&mut self) {
        self.pending.clear();
        if let Some(fft) = self.inner.as_mut() {
            fft.reset();
        }
    }
}

/// f32 in [-1, 1) back to i16, rounded to nearest and clamped (the filter can overshoot).
fn to_i16(sample: f32) -> i16 {
    (sample * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

fn rubato_error(from: SampleRate, to: SampleRate, error: impl std::fmt::Display) -> CodecError {
    CodecError::Resampler {
        from_hz: from.hz(),
        to_hz: to.hz(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_converts_20_ms_chunks_exactly() {
        for from in SampleRate::ALL {
            for to in SampleRate::ALL {
                let mut r = Resampler::new(from, to).unwrap();
                let mut out = Vec::new();
                // 50 ms of input, fed in uneven pieces.
                let input = vec![100i16; from.samples_per_ms() * 50];
                for piece in input.chunks(37) {
                    r.process(piece, &mut out).unwrap();
                }
                if from == to {
                    assert_eq!(out.len(), input.len());
                } else {
                    assert_eq!(out.len(), to.samples_per_ms() * 40, "{from:?} -> {to:?}");
                    assert_eq!(r.pending(), from.samples_per_ms() * 10);
                    assert_eq!(r.delay(), to.samples_per_ms() * 10);
                }
            }
        }
    }

    #[test]
    fn same_rate_passes_through() {
        let mut r = Resampler::new(SampleRate::Hz16000, SampleRate::Hz16000).unwrap();
        let mut out = Vec::new();
        assert_eq!(r.process(&[1, 2, 3], &mut out).unwrap(), 3);
        assert_eq!(out, [1, 2, 3]);
        assert_eq!(r.delay(), 0);
        assert_eq!(r.flush(&mut out).unwrap(), 0);
    }

    #[test]
    fn full_scale_square_wave_clamps_instead_of_wrapping() {
        // The filter overshoots on a full-scale square wave (Gibbs); output must clamp.
        let input: Vec<i16> = (0..1600u32)
            .map(|i| {
                if (i / 20).is_multiple_of(2) {
                    i16::MAX
                } else {
                    i16::MIN
                }
            })
            .collect();
        let mut r = Resampler::new(SampleRate::Hz8000, SampleRate::Hz48000).unwrap();
        let mut out = Vec::new();
        r.process(&input, &mut out).unwrap();
        assert_eq!(out.len(), 9600);
        // The overshoot reached the rails and was clamped there...
        let clamped = out
            .iter()
            .filter(|&&s| s == i16::MAX || s == i16::MIN)
            .count();
        assert!(clamped > 0, "no sample clamped");
        // ...and did not wrap: a band-limited 200 Hz square at 48 kHz never jumps from one
        // rail to the other between two samples, which a wrapped overshoot would.
        let max_step = out
            .windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap();
        assert!(max_step < 30_000, "step of {max_step} between samples");
    }

    #[test]
    fn reset_forgets_pending_input() {
        let mut r = Resampler::new(SampleRate::Hz8000, SampleRate::Hz16000).unwrap();
        let mut out = Vec::new();
        r.process(&[5; 100], &mut out).unwrap();
        assert_eq!(r.pending(), 100);
        r.reset();
        assert_eq!(r.pending(), 0);
    }
}
