//! Per-call WAV recording (the `hound` crate): 16-bit PCM, stereo with the caller on the left
//! and the agent on the right, or both mixed to mono like Asterisk's MixMonitor.
//!
//! Each side's audio is fed as it flows, with its position on the recording's timeline; the
//! [`CallRecorder`] keeps the two channels aligned (silence where a side sent nothing) and
//! writes to disk incrementally, updating the WAV header at least every
//! [`flush_interval`](RecordConfig::flush_interval) of audio, so a crash loses at most that
//! much. The file is `<dir>/<call id>.wav`.
//!
//! Units: positions and lengths are in samples per channel at
//! [`sample_rate`](RecordConfig::sample_rate) (8000 by default: 160 samples = 20 ms).
//!
//! ```
//! use freya_media::record::{CallRecorder, RecordConfig, Side};
//!
//! let dir = tempfile::tempdir()?;
//! let config = RecordConfig::new(dir.path());
//! let mut rec = CallRecorder::create(&config, "2f1c9a5e-6b1d-4c7e-9a55-0d4f3b2e1a00")?;
//! rec.write(Side::Caller, 0, &[1000; 160])?;  // 0–20 ms from the caller
//! rec.write(Side::Agent, 160, &[-500; 160])?; // 20–40 ms from the agent
//! let summary = rec.finalize()?;
//! assert_eq!(summary.frames, 320);
//!
//! let mut wav = hound::WavReader::open(&summary.path)?;
//! let samples: Vec<i16> = wav.samples().collect::<Result<_, _>>()?;
//! assert_eq!(&samples[..2], &[1000, 0]);          // left = caller, right = silence
//! assert_eq!(&samples[320..322], &[0, -500]);     // the agent, 20 ms in
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod recorder;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use recorder::{CallRecorder, RecordStats, RecordingSummary};

/// Which party a frame comes from.
///
/// ```
/// use freya_media::record::Side;
///
/// assert_eq!(Side::Caller.to_string(), "caller");
/// assert_eq!(Side::Agent.channel(), 1); // right
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The telephone side (carrier leg): the left channel in stereo.
    Caller,
    /// The voice agent side (WebSocket bridge): the right channel in stereo.
    Agent,
}

impl Side {
    /// The stereo channel index: 0 (left) for the caller, 1 (right) for the agent.
    pub fn channel(self) -> usize {
        match self {
            Side::Caller => 0,
            Side::Agent => 1,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Caller => "caller",
            Side::Agent => "agent",
        })
    }
}

/// How the two sides are laid out in the file.
///
/// ```
/// use freya_media::record::Layout;
///
/// assert_eq!(Layout::default(), Layout::Stereo);
/// assert_eq!(Layout::Mono.channels(), 1);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Two channels: caller left, agent right (each side can be analysed on its own).
    #[default]
    Stereo,
    /// One channel: caller + agent, summed with saturation (MixMonitor's default).
    Mono,
}

impl Layout {
    /// Channels in the WAV file.
    pub fn channels(self) -> u16 {
        match self {
            Layout::Stereo => 2,
            Layout::Mono => 1,
        }
    }
}

/// Where and how to record.
///
/// ```
/// use std::time::Duration;
/// use freya_media::record::{Layout, RecordConfig};
///
/// let mut config = RecordConfig::new("/var/spool/freya/recordings");
/// config.layout = Layout::Mono;
/// config.sample_rate = 16_000;
/// assert!(config.validate().is_ok());
/// assert_eq!(config.flush_interval, Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordConfig {
    /// Directory of the recordings; it must exist.
    pub dir: PathBuf,
    /// Samples per second per channel (default 8000). 8000–48000.
    pub sample_rate: u32,
    /// Stereo (default) or mixed mono.
    pub layout: Layout,
    /// At most this much audio is held unwritten or written but not yet in the WAV header
    /// (default 1 s): the most a crash can lose. At least 2 × `align_window`.
    pub flush_interval: Duration,
    /// How long to wait for the other side before writing one side's audio with silence on
    /// the other (default 200 ms). Audio that arrives later than that for an already written
    /// stretch is dropped and counted ([`RecordStats::late_samples`]).
    pub align_window: Duration,
    /// How far ahead of a side's end a new frame may start; the gap is filled with silence
    /// (default 1 hour). A bigger jump (a bogus timestamp) is refused with
    /// [`RecordError::GapTooLarge`] rather than written as hours of silence.
    pub max_gap: Duration,
    /// [`CallRecorder::write_at`]: a frame whose arrival-time position is within this of
    /// where its side's audio ends is taken as contiguous (default 60 ms), so network jitter
    /// does not punch gaps or overlaps into the recording.
    pub snap_tolerance: Duration,
    /// [`CallRecorder::write_rtp`]: how far a frame's RTP-timestamp position may stray
    /// from its arrival-time position before the side is re-anchored at the arrival time
    /// (default 1 s). Within it, network bursts and reordering keep each frame at its
    /// timestamp's place; beyond it the sender's clock jumped (or drifted that far), and
    /// arrival time is the better guess.
    pub rtp_resync: Duration,
}

impl RecordConfig {
    /// The defaults, recording into `dir`: 8 kHz stereo, flushed every second.
    pub fn new(dir: impl AsRef<Path>) -> Self {
        RecordConfig {
            dir: dir.as_ref().to_path_buf(),
            sample_rate: 8000,
            layout: Layout::Stereo,
            flush_interval: Duration::from_secs(1),
            align_window: Duration::from_millis(200),
            max_gap: Duration::from_secs(3600),
            snap_tolerance: Duration::from_millis(60),
            rtp_resync: Duration::from_secs(1),
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`RecordError::BadConfig`] naming the first setting that cannot work.
    ///
    /// ```
    /// use freya_media::record::RecordConfig;
    ///
    /// let mut config = RecordConfig::new(".");
    /// config.sample_rate = 44;
    /// assert!(config.validate().unwrap_err().to_string().contains("sample_rate = 44"));
    /// ```
    pub fn validate(&self) -> Result<(), RecordError> {
        let bad = |setting, value: String, reason| RecordError::BadConfig {
            setting,
            value,
            reason,
        };
        if !(8000..=48_000).contains(&self.sample_rate) {
            return Err(bad(
                "sample_rate",
                self.sample_rate.to_string(),
                "must be 8000..=48000 Hz",
            ));
        }
        if self.align_window > Duration::from_secs(10) {
            return Err(bad(
                "align_window",
                format!("{:?}", self.align_window),
                "must be at most 10 s",
            ));
        }
        if self.flush_interval < self.align_window * 2 {
            return Err(bad(
                "flush_interval",
                format!("{:?}", self.flush_interval),
                "must be at least twice align_window",
            ));
        }
        if self.max_gap > Duration::from_secs(24 * 3600) {
            return Err(bad(
                "max_gap",
                format!("{:?}", self.max_gap),
                "must be at most 24 h",
            ));
        }
        Ok(())
    }

    /// Samples per channel in `d` at the configured rate.
    pub(crate) fn samples(&self, d: Duration) -> u64 {
        (d.as_nanos() * u128::from(self.sample_rate) / 1_000_000_000) as u64
    }
}

/// Why recording failed, naming the value, the file and the operation.
///
/// ```
/// use freya_media::record::{CallRecorder, RecordConfig, RecordError};
///
/// let err = CallRecorder::create(&RecordConfig::new("."), "../../etc/passwd").unwrap_err();
/// assert!(matches!(err, RecordError::BadCallId { .. }));
/// assert!(err.to_string().contains("\"../../etc/passwd\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The call id cannot be a file name: empty, over 128 characters, or with characters
    /// other than ASCII letters, digits, `-` and `_` (a UUID qualifies).
    #[error("call id {call_id:?} cannot name a recording: {reason}")]
    BadCallId {
        /// The refused id.
        call_id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A [`RecordConfig`] setting that cannot work.
    #[error("recording setting {setting} = {value} is invalid: {reason}")]
    BadConfig {
        /// The field of [`RecordConfig`].
        setting: &'static str,
        /// Its value, printed.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The file exists already: a recording is never overwritten.
    #[error("recording {path:?} exists already")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The operating system refused an operation on the file.
    #[error("recording {path:?}: {op} failed: {message} ({kind:?})")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done ("create", "write", "flush", "finalize").
        op: &'static str,
        /// The I/O error kind.
        kind: io::ErrorKind,
        /// The I/O error's text.
        message: String,
    },
    /// `hound` refused to write (e.g. the 4 GiB WAV size limit).
    #[error("recording {path:?}: WAV {op} failed: {message}")]
    Wav {
        /// The file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// hound's message.
        message: String,
    },
    /// A frame starts further after its side's end than [`RecordConfig::max_gap`] allows.
    #[error("{side} frame at sample {at} leaves a gap of {gap} samples after {end} (max {max})")]
    GapTooLarge {
        /// The side of the frame.
        side: Side,
        /// Where the frame starts, in samples.
        at: u64,
        /// Where the side's audio ended, in samples.
        end: u64,
        /// The gap, in samples.
        gap: u64,
        /// The largest gap allowed, in samples.
        max: u64,
    },
    /// The recorder was finalized (or failed) already.
    #[error("recording {path:?} is closed")]
    Closed {
        /// The file.
        path: PathBuf,
    },
}

impl RecordError {
    pub(crate) fn from_hound(path: &Path, op: &'static str, err: hound::Error) -> Self {
        match err {
            hound::Error::IoError(e) => RecordError::Io {
                path: path.to_path_buf(),
                op,
                kind: e.kind(),
                message: e.to_string(),
            },
            other => RecordError::Wav {
                path: path.to_path_buf(),
                op,
                message: other.to_string(),
            },
        }
    }
}

/// Checks that `call_id` can name a file: 1–128 ASCII letters, digits, `-` or `_`.
pub(crate) fn check_call_id(call_id: &str) -> Result<(), RecordError> {
    let bad = |reason| RecordError::BadCallId {
        call_id: call_id.to_owned(),
        reason,
    };
    if call_id.is_empty() {
        return Err(bad("it is empty"));
    }
    if call_id.len() > 128 {
        return Err(bad("it is longer than 128 characters"));
    }
    if !call_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(bad("only ASCII letters, digits, '-' and '_' are allowed"));
    }
    Ok(())
}
