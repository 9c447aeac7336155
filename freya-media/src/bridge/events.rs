//! What a leg hands the call side: caller-bound frames, events, the close reason, counters.

use std::fmt;
use std::time::Instant;

use super::{BridgeError, FRAME_SAMPLES};

/// 20 ms of caller-bound audio (8 kHz, [`FRAME_SAMPLES`] samples), due at `at`.
///
/// ```
/// # use std::time::Instant;
/// use freya_media::bridge::CallerFrame;
/// let f = CallerFrame { samples: [0; 160], audio_samples: 0, at: Instant::now() };
/// assert!(f.is_silence());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallerFrame {
    /// The samples; positions past `audio_samples` are zero.
    pub samples: [i16; FRAME_SAMPLES],
    /// How many samples came from the agent (0 = a silence frame, less than 160 = the tail
    /// of an utterance padded with silence).
    pub audio_samples: usize,
    /// The frame's slot on the leg's 20 ms clock.
    pub at: Instant,
}

impl CallerFrame {
    /// True when no agent audio is in the frame.
    pub fn is_silence(&self) -> bool {
        self.audio_samples == 0
    }
}

/// Why a leg ended.
///
/// ```
/// use freya_media::bridge::CloseReason;
/// let r = CloseReason::AgentClosed { code: Some(1000), reason: String::new() };
/// assert_eq!(r.to_string(), "agent closed the socket (code 1000)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The call side hung up ([`BridgeSession::hangup`](super::BridgeSession::hangup)).
    CallerHangup,
    /// The agent asked to end the call (jambonz `disconnect`, Asterisk `HANGUP`, freya's
    /// `freya.hangup`).
    AgentHangup {
        /// The agent's reason, when it gave one.
        reason: Option<String>,
    },
    /// The agent closed the WebSocket (for Twilio this is how an agent hangs up).
    AgentClosed {
        /// The close code, when the close frame had one.
        code: Option<u16>,
        /// The close reason text.
        reason: String,
    },
    /// The socket failed: connect, handshake, read or write error, or a timeout.
    Failed {
        /// What failed, with the underlying error.
        error: String,
    },
    /// The [`BridgeLeg`](super::BridgeLeg) handle was dropped.
    HandleDropped,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::CallerHangup => f.write_str("caller hung up"),
            CloseReason::AgentHangup { reason: Some(r) } => write!(f, "agent hung up: {r}"),
            CloseReason::AgentHangup { reason: None } => f.write_str("agent hung up"),
            CloseReason::AgentClosed {
                code: Some(c),
                reason,
            } if reason.is_empty() => {
                write!(f, "agent closed the socket (code {c})")
            }
            CloseReason::AgentClosed {
                code: Some(c),
                reason,
            } => write!(f, "agent closed the socket (code {c}: {reason})"),
            CloseReason::AgentClosed { code: None, .. } => f.write_str("agent closed the socket"),
            CloseReason::Failed { error } => write!(f, "agent socket failed: {error}"),
            CloseReason::HandleDropped => f.write_str("bridge handle dropped"),
        }
    }
}

/// What the session reports to the call side ([`BridgeSession::poll_event`](super::BridgeSession::poll_event)).
///
/// ```
/// use freya_media::bridge::BridgeEvent;
/// let e = BridgeEvent::Dtmf { digits: "12#".into() };
/// assert!(matches!(e, BridgeEvent::Dtmf { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeEvent {
    /// The agent asked to end the call; the leg is closing.
    AgentHangup {
        /// The agent's reason, when it gave one.
        reason: Option<String>,
    },
    /// The agent asked to send DTMF to the caller (freya extension `freya.dtmf`).
    Dtmf {
        /// The digits (`0-9`, `*`, `#`, `A-D`), in order.
        digits: String,
    },
    /// The audio before an agent marker has played (Twilio/jambonz mark name, Asterisk
    /// correlation id, `playDone` clip id, `buffering:<id>` for a buffering stop).
    Mark {
        /// The marker's name.
        name: String,
    },
    /// Barge-in: the agent flushed its queued audio; the call side should drop what it
    /// buffered too (partially filled RTP packets, jitter buffer).
    Cleared {
        /// Queued samples (8 kHz) that were discarded.
        dropped_samples: usize,
    },
    /// The leg is over; nothing follows.
    Closed {
        /// Why.
        reason: CloseReason,
    },
    /// A message from the agent was refused (the leg goes on).
    Error {
        /// What was wrong.
        error: BridgeError,
    },
}

/// Counters of one leg. Sample counts are at 8 kHz; frames are 20 ms.
///
/// ```
/// use freya_media::bridge::BridgeStats;
/// assert_eq!(BridgeStats::default().overflow_dropped_samples, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BridgeStats {
    /// Caller audio frames sent to the agent (including gap fill).
    pub caller_frames_sent: u64,
    /// Of those, silence frames sent because the call side gave no audio.
    pub caller_gap_frames: u64,
    /// DTMF digits sent to the agent.
    pub dtmf_sent: u64,
    /// Data messages received from the agent.
    pub messages_received: u64,
    /// Agent messages refused (bad JSON, missing fields, wrong frame type, limits).
    pub rejected_messages: u64,
    /// Agent messages of a kind this bridge does not act on (unknown or event-only).
    pub ignored_messages: u64,
    /// Agent audio received, in samples (after conversion to 8 kHz).
    pub agent_samples_received: u64,
    /// Caller-bound frames that held agent audio.
    pub frames_played: u64,
    /// Caller-bound ticks without agent audio.
    pub silent_ticks: u64,
    /// Agent samples dropped because the queue was full (oldest first).
    pub overflow_dropped_samples: u64,
    /// Agent samples discarded by barge-in (`clear`, `killAudio`, `FLUSH_MEDIA`).
    pub cleared_samples: u64,
    /// Barge-in messages handled.
    pub clears: u64,
    /// Markers reached and reported.
    pub marks_reached: u64,
    /// Ticks skipped because `poll_frame` was called more than 100 ms late.
    pub late_ticks_skipped: u64,
    /// Samples queued now.
    pub queue_samples: usize,
    /// Most samples ever queued.
    pub queue_peak_samples: usize,
    /// Caller audio chunks the async shell refused because it was over a second behind
    /// (set by the shell; 0 in a bare session).
    pub input_dropped_frames: u64,
    /// Caller-bound frames dropped because the call side did not read them (set by the
    /// shell; 0 in a bare session).
    pub output_dropped_frames: u64,
}
