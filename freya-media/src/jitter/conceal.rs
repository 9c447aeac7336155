//! Packet-loss concealment on decoded 16-bit PCM: what to play in place of a frame the
//! jitter buffer reports as [`Playout::Lost`](super::Playout::Lost) or
//! [`Playout::Filler`](super::Playout::Filler).

/// How a missing frame is replaced.
///
/// ```
/// use freya_media::jitter::ConcealMode;
///
/// assert_eq!(ConcealMode::default(), ConcealMode::RepeatFade { fade_frames: 2 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcealMode {
    /// Play silence (zero samples).
    Silence,
    /// Repeat the last good frame once at full level, then keep repeating it while fading
    /// linearly to silence over `fade_frames` more frames; silence after that. A single lost
    /// 20 ms frame is then barely audible, and a long gap does not buzz. A `fade_frames` of 0
    /// repeats once and then plays silence.
    RepeatFade {
        /// Frames over which the repetition fades out after the first full-level repeat.
        fade_frames: u32,
    },
}

impl Default for ConcealMode {
    /// Repeat once, then fade out over two frames (60 ms of concealment at 20 ms frames).
    fn default() -> Self {
        ConcealMode::RepeatFade { fade_frames: 2 }
    }
}

/// Fills missing frames of one decoded stream (see [`ConcealMode`]).
///
/// Feed it every good frame after decoding ([`good_frame`](Self::good_frame)); ask it for a
/// replacement ([`conceal`](Self::conceal)) for each `Lost` or `Filler` the jitter buffer
/// hands out. Units: samples of mono 16-bit PCM at the stream's rate (160 per 20 ms frame at
/// 8 kHz).
///
/// ```
/// use freya_media::jitter::{ConcealMode, Concealer};
///
/// let mut c = Concealer::new(ConcealMode::RepeatFade { fade_frames: 1 });
/// c.good_frame(&[1000; 4]);
/// let mut out = Vec::new();
/// c.conceal(4, &mut out); // full-level repeat
/// c.conceal(4, &mut out); // fading over one frame
/// c.conceal(4, &mut out); // silence
/// assert_eq!(out, [1000, 1000, 1000, 1000, 1000, 750, 500, 250, 0, 0, 0, 0]);
/// ```
#[derive(Debug, Clone)]
pub struct Concealer {
    mode: ConcealMode,
    last: Vec<i16>,
    /// Frames concealed since the last good frame.
    run: u32,
}

impl Concealer {
    /// A concealer in `mode`, with no good frame yet (so it conceals with silence at first).
    pub fn new(mode: ConcealMode) -> Self {
        Concealer {
            mode,
            last: Vec::new(),
            run: 0,
        }
    }

    /// The mode it was built with.
    pub fn mode(&self) -> ConcealMode {
        self.mode
    }

    /// Remembers a good (received, decoded) frame and ends a run of concealment.
    pub fn good_frame(&mut self, pcm: &[i16]) {
        self.last.clear();
        self.last.extend_from_slice(pcm);
        self.run = 0;
    }

    /// Frames concealed since the last good frame.
    pub fn run_length(&self) -> u32 {
        self.run
    }

    /// Appends `samples` samples of concealment for one missing frame to `out`.
    pub fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        let run = self.run;
        self.run = self.run.saturating_add(1);
        let fade_frames = match self.mode {
            ConcealMode::RepeatFade { fade_frames } if !self.last.is_empty() => fade_frames,
            _ => {
                out.resize(out.len() + samples, 0);
                return;
            }
        };
        if run > fade_frames {
            out.resize(out.len() + samples, 0);
            return;
        }
        // Gain at the start and the end of this frame: 1 for the first repeat, then a
        // linear ramp from 1 to 0 across `fade_frames` frames.
        let (start, end) = if run == 0 {
            (1.0, 1.0)
        } else {
            let n = f64::from(fade_frames);
            (1.0 - f64::from(run - 1) / n, 1.0 - f64::from(run) / n)
        };
        let source = self.last.iter().copied().cycle().take(samples);
        out.extend(source.enumerate().map(|(i, s)| {
            let gain = start + (end - start) * (i as f64 / samples as f64);
            (f64::from(s) * gain).round() as i16
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_mode_and_no_history_give_zeros() {
        let mut out = Vec::new();
        Concealer::new(ConcealMode::Silence).conceal(3, &mut out);
        let mut c = Concealer::new(ConcealMode::default());
        c.conceal(2, &mut out); // no good frame yet
        assert_eq!(out, [0; 5]);
        let mut c = Concealer::new(ConcealMode::Silence);
        c.good_frame(&[5; 3]);
        c.conceal(3, &mut out);
        assert_eq!(out, [0; 8]);
    }

    #[test]
    fn fade_is_monotonic_and_ends_in_silence() {
        let mut c = Concealer::new(ConcealMode::RepeatFade { fade_frames: 2 });
        c.good_frame(&[16_000; 160]);
        let mut out = Vec::new();
        for _ in 0..4 {
            c.conceal(160, &mut out);
        }
        assert!(out[..160].iter().all(|&s| s == 16_000));
        assert!(out[160..480].windows(2).all(|w| w[1] <= w[0]));
        assert!(out[470..].iter().all(|&s| s.abs() < 1_000));
        assert!(out[480..].iter().all(|&s| s == 0));
        assert_eq!(c.run_length(), 4);
        c.good_frame(&[1; 160]);
        assert_eq!(c.run_length(), 0);
    }

    #[test]
    fn shorter_history_is_cycled() {
        let mut c = Concealer::new(ConcealMode::RepeatFade { fade_frames: 0 });
        c.good_frame(&[1, 2]);
        let mut out = Vec::new();
        c.conceal(5, &mut out);
        c.conceal(2, &mut out);
        assert_eq!(out, [1, 2, 1, 2, 1, 0, 0]);
    }
}
