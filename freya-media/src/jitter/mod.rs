//! The adaptive jitter buffer (sans-IO): RTP packets in, in arrival order and at arrival
//! time; frames out, in sequence order, one every frame duration on the receiver's clock.
//!
//! - [`JitterBuffer`] reorders by extended sequence number (RFC 3550 A.1), holds each frame
//!   for an adaptive delay (default 20–200 ms) and hands out one [`Playout`] per frame
//!   period: a received [`JitterFrame`], a [`Playout::Lost`] marker for a frame that did not
//!   arrive in time, or a [`Playout::Filler`] when the buffer grows its delay.
//! - The buffer is codec-agnostic: payloads stay `Bytes` (G.711 codes, L16, …). Concealment
//!   happens after decoding, with a [`Concealer`] on 16-bit PCM (repeat-then-fade or silence,
//!   [`ConcealMode`]).
//!
//! Units: delays are [`Duration`]s on the receiver's clock; one packet carries one frame of
//! [`JitterConfig::frame`] (20 ms by default, 160 samples at 8 kHz); sequence numbers in the
//! output are extended (`u64`, RFC 3550 A.1), not the 16-bit wire values.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bytes::Bytes;
//! use freya_media::jitter::{JitterBuffer, JitterConfig, PacketInfo, Playout};
//!
//! let t0 = Instant::now();
//! let mut jb = JitterBuffer::new(JitterConfig::default())?;
//! let info = |sequence: u16| PacketInfo { ssrc: 7, sequence, timestamp: u32::from(sequence) * 160, marker: false };
//! // Packets 1 and 0 arrive swapped.
//! jb.push(t0, info(1), Bytes::from_static(b"one"));
//! jb.push(t0 + Duration::from_millis(5), info(0), Bytes::from_static(b"zero"));
//! let mut out = Vec::new();
//! while let Some(due) = jb.poll_timeout().filter(|&d| d <= t0 + Duration::from_millis(200)) {
//!     match jb.pop(due) {
//!         Some(Playout::Frame(frame)) => out.push(frame.payload),
//!         Some(_) | None => {}
//!     }
//! }
//! assert_eq!(out, [Bytes::from_static(b"zero"), Bytes::from_static(b"one")]);
//! # Ok::<(), freya_media::jitter::JitterError>(())
//! ```

mod buffer;
mod conceal;
mod window;

use std::time::Duration;

pub use buffer::{JitterBuffer, JitterFrame, JitterStats, PacketInfo, Playout, PushOutcome};
pub use conceal::{ConcealMode, Concealer};

/// Why a [`JitterConfig`] was refused, naming the setting and its value.
///
/// ```
/// use std::time::Duration;
/// use freya_media::jitter::{JitterBuffer, JitterConfig, JitterError};
///
/// let config = JitterConfig { frame: Duration::ZERO, ..JitterConfig::default() };
/// let err = JitterBuffer::new(config).unwrap_err();
/// assert_eq!(err.to_string(), "jitter buffer setting frame = 0ns is invalid: must be between 1 ms and 1 s");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JitterError {
    /// A configuration value that cannot work.
    #[error("jitter buffer setting {setting} = {value} is invalid: {reason}")]
    BadConfig {
        /// The field of [`JitterConfig`].
        setting: &'static str,
        /// Its value, printed.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Settings of a [`JitterBuffer`]. The defaults suit G.711 at 20 ms packets.
///
/// ```
/// use std::time::Duration;
/// use freya_media::jitter::JitterConfig;
///
/// let c = JitterConfig::default();
/// assert_eq!((c.min_delay, c.max_delay), (Duration::from_millis(20), Duration::from_millis(200)));
/// let c30 = JitterConfig { frame: Duration::from_millis(30), ..c }; // ptime 30
/// assert!(c30.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitterConfig {
    /// Audio carried by one packet (the SDP `ptime`): 20 ms by default. Must be 1 ms–1 s.
    pub frame: Duration,
    /// Lowest target delay (default 20 ms).
    pub min_delay: Duration,
    /// Highest target delay (default 200 ms). Jitter beyond it shows up as late packets.
    pub max_delay: Duration,
    /// Target delay of a new buffer, before any jitter was observed (default 40 ms; clamped
    /// to `min_delay..=max_delay`).
    pub initial_delay: Duration,
    /// Safety added to the observed delay spread to get the target (default 5 ms).
    pub margin: Duration,
    /// Packets over which the delay spread (the jitter to absorb) is measured: default 250,
    /// 5 s at 20 ms.
    pub window: usize,
    /// How fast the target shrinks: by at most one frame per interval, and only after the
    /// observed jitter has stayed below the target for a whole interval (default 1 s). The
    /// target grows at once.
    pub shrink_interval: Duration,
    /// Most frames held at once (default 50, 1 s at 20 ms): the buffer's memory bound. A
    /// packet further ahead than this re-synchronises the buffer on it. Must exceed
    /// `max_delay / frame` and be at most 3000 (RFC 3550 A.1 `MAX_DROPOUT`).
    pub capacity: usize,
    /// After this long with nothing buffered (every frame lost), the stream is taken to have
    /// paused (hold, silence suppression, end of call): [`JitterBuffer::pop`] returns `None`
    /// until the next packet, which restarts playout after the target delay. Default 1 s.
    pub idle_after: Duration,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            frame: Duration::from_millis(20),
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            initial_delay: Duration::from_millis(40),
            margin: Duration::from_millis(5),
            window: 250,
            shrink_interval: Duration::from_secs(1),
            capacity: 50,
            idle_after: Duration::from_secs(1),
        }
    }
}

impl JitterConfig {
    /// Checks the settings against each other.
    ///
    /// # Errors
    /// [`JitterError::BadConfig`] naming the first setting that cannot work.
    ///
    /// ```
    /// use std::time::Duration;
    /// use freya_media::jitter::JitterConfig;
    ///
    /// let c = JitterConfig { min_delay: Duration::from_millis(300), ..JitterConfig::default() };
    /// assert!(c.validate().unwrap_err().to_string().contains("min_delay"));
    /// ```
    pub fn validate(&self) -> Result<(), JitterError> {
        let bad = |setting, value: &dyn std::fmt::Debug, reason| JitterError::BadConfig {
            setting,
            value: format!("{value:?}"),
            reason,
        };
        if self.frame < Duration::from_millis(1) || self.frame > Duration::from_secs(1) {
            return Err(bad("frame", &self.frame, "must be between 1 ms and 1 s"));
        }
        if self.min_delay > self.max_delay {
            return Err(bad(
                "min_delay",
                &self.min_delay,
                "must not exceed max_delay",
            ));
        }
        if self.max_delay > Duration::from_secs(10) {
            return Err(bad("max_delay", &self.max_delay, "must be at most 10 s"));
        }
        if self.margin > self.max_delay {
            return Err(bad("margin", &self.margin, "must not exceed max_delay"));
        }
        if self.window == 0 || self.window > 100_000 {
            return Err(bad("window", &self.window, "must be 1..=100000 packets"));
        }
        let frames_for_max = self.max_delay.as_nanos() / self.frame.as_nanos();
        if (self.capacity as u128) <= frames_for_max || self.capacity > 3000 {
            return Err(bad(
                "capacity",
                &self.capacity,
                "must exceed max_delay / frame and be at most 3000 frames",
            ));
        }
        if self.idle_after < self.frame || self.idle_after > Duration::from_secs(3600) {
            return Err(bad(
                "idle_after",
                &self.idle_after,
                "must be between one frame and one hour",
            ));
        }
        if self.shrink_interval > Duration::from_secs(3600) {
            return Err(bad(
                "shrink_interval",
                &self.shrink_interval,
                "must be at most one hour",
            ));
        }
        Ok(())
    }
}
