//! Settings of one bridged leg: the wire protocol of its agent slot and the queue, silence
//! and limit knobs of [`BridgeSession`](super::BridgeSession).

use std::time::Duration;

use super::asterisk::{AsteriskFormat, ControlFormat};
use super::session::FRAME;
use super::{BridgeError, ProtocolKind};
use crate::codec::SampleRate;

/// The wire protocol of an agent slot and its per-protocol settings.
///
/// ```
/// use freya_media::bridge::{Protocol, ProtocolKind};
/// use freya_media::codec::SampleRate;
///
/// let p = Protocol::Jambonz { sample_rate: SampleRate::Hz16000 };
/// assert_eq!(p.kind(), ProtocolKind::Jambonz);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// Twilio Media Streams; μ-law 8 kHz both ways.
    Twilio {
        /// `accountSid` written in `start` and `stop` (any string; pipecat ignores it).
        account_sid: String,
    },
    /// jambonz `listen`; L16 at `sample_rate` both ways (caller audio is resampled from
    /// 8 kHz, agent audio back to 8 kHz).
    Jambonz {
        /// `sampleRate` of the preamble and of the audio in both directions.
        sample_rate: SampleRate,
    },
    /// Asterisk `chan_websocket`.
    Asterisk {
        /// The channel codec (`MEDIA_START format`).
        format: AsteriskFormat,
        /// Plain-text or JSON control messages.
        control: ControlFormat,
    },
}

impl Protocol {
    /// Which protocol this is.
    pub fn kind(&self) -> ProtocolKind {
        match self {
            Protocol::Twilio { .. } => ProtocolKind::Twilio,
            Protocol::Jambonz { .. } => ProtocolKind::Jambonz,
            Protocol::Asterisk { .. } => ProtocolKind::Asterisk,
        }
    }

    /// The protocol with its default settings (Twilio account `freya`, jambonz 8 kHz,
    /// Asterisk ulaw with JSON control).
    pub fn default_for(kind: ProtocolKind) -> Self {
        match kind {
            ProtocolKind::Twilio => Protocol::Twilio {
                account_sid: "freya".into(),
            },
            ProtocolKind::Jambonz => Protocol::Jambonz {
                sample_rate: SampleRate::Hz8000,
            },
            ProtocolKind::Asterisk => Protocol::Asterisk {
                format: AsteriskFormat::Ulaw,
                control: ControlFormat::Json,
            },
        }
    }
}

/// Settings of one bridged leg.
///
/// ```
/// use std::time::Duration;
/// use freya_media::bridge::BridgeConfig;
///
/// let mut c = BridgeConfig::twilio();
/// c.max_queue = Duration::from_millis(10);
/// assert!(c.validate().is_err()); // less than one frame
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// The wire protocol.
    pub protocol: Protocol,
    /// Most agent audio held for playout (default 1 s, 20 ms to 60 s); beyond it the oldest
    /// audio is dropped and counted in [`BridgeStats::overflow_dropped_samples`](super::BridgeStats::overflow_dropped_samples).
    pub max_queue: Duration,
    /// Emit a silent [`CallerFrame`](super::CallerFrame) on ticks without agent audio (default true), so the
    /// caller side gets exactly one frame per 20 ms.
    pub emit_silence: bool,
    /// When the call side has given no caller audio for this long, send a silence frame to the
    /// agent every 20 ms until it resumes (ws-media §7 rule 2); `None` disables. Default 100 ms.
    pub caller_gap_fill: Option<Duration>,
    /// Most outstanding marks (default 64); more are refused with [`BridgeError::Limit`].
    pub max_marks: usize,
    /// Most [`BridgeEvent::Error`](super::BridgeEvent::Error) events per leg (default 16); later refusals are only
    /// counted and logged.
    pub max_error_events: usize,
}

impl BridgeConfig {
    /// Defaults for `protocol`.
    pub fn new(protocol: Protocol) -> Self {
        BridgeConfig {
            protocol,
            max_queue: Duration::from_secs(1),
            emit_silence: true,
            caller_gap_fill: Some(Duration::from_millis(100)),
            max_marks: 64,
            max_error_events: 16,
        }
    }

    /// Twilio Media Streams with defaults.
    pub fn twilio() -> Self {
        Self::new(Protocol::default_for(ProtocolKind::Twilio))
    }

    /// jambonz `listen` at `sample_rate`, with defaults.
    pub fn jambonz(sample_rate: SampleRate) -> Self {
        Self::new(Protocol::Jambonz { sample_rate })
    }

    /// Asterisk `chan_websocket` with `format` and `control`, with defaults.
    pub fn asterisk(format: AsteriskFormat, control: ControlFormat) -> Self {
        Self::new(Protocol::Asterisk { format, control })
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`BridgeError::BadConfig`] naming the setting: `max_queue` outside 20 ms..=60 s,
    /// `max_marks` of 0, `caller_gap_fill` under 20 ms.
    pub fn validate(&self) -> Result<(), BridgeError> {
        if self.max_queue < FRAME || self.max_queue > Duration::from_secs(60) {
            return Err(BridgeError::BadConfig {
                setting: "max_queue",
                value: format!("{} ms", self.max_queue.as_millis()),
                reason: "must be 20 ms to 60 s",
            });
        }
        if self.max_marks == 0 {
            return Err(BridgeError::BadConfig {
                setting: "max_marks",
                value: "0".into(),
                reason: "must be at least 1",
            });
        }
        if let Some(g) = self.caller_gap_fill.filter(|g| *g < FRAME) {
            return Err(BridgeError::BadConfig {
                setting: "caller_gap_fill",
                value: format!("{} ms", g.as_millis()),
                reason: "must be at least 20 ms",
            });
        }
        Ok(())
    }
}
