//! [`BridgeSession`]: the sans-IO core of one bridged leg. Caller side in (8 kHz PCM, DTMF,
//! hang-up), WebSocket messages out; agent messages in ([`session_agent`](super::session_agent)),
//! caller-bound 20 ms frames out, paced by one 20 ms clock driven by the `now` the caller
//! passes. No sockets, no sleeps: the shells in `client`/`server` own those.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::asterisk::{self, AsteriskEvent, AsteriskFormat, ControlFormat};
use super::jambonz::{self, JambonzToAgent};
use super::playout::{Playout, Storage};
use super::twilio::{self, TwilioToAgent};
use super::{
    BridgeConfig, BridgeError, BridgeEvent, BridgeStats, CallMetadata, CallerFrame, CloseReason,
    Protocol, WsMessage, FRAME_SAMPLES,
};
use crate::codec::{l16, ulaw_encode, G711Law, Resampler, SampleRate};
use crate::dtmf::EventCode;

/// One frame period (20 ms).
pub(super) const FRAME: Duration = Duration::from_millis(20);
/// How late the caller of [`BridgeSession::poll_frame`] may be before missed slots are
/// skipped instead of played back to back (5 frames).
const MAX_CATCH_UP: Duration = Duration::from_millis(100);

/// A marker in the playout queue, with what to send when it is reached or cleared.
#[derive(Debug)]
pub(super) enum Marker {
    Twilio(String),
    Jambonz(String),
    PlayDone(serde_json::Value),
    AsteriskMark(Option<String>),
    AsteriskBuffering(Option<String>),
}

/// Per-protocol wire state.
#[derive(Debug)]
pub(super) enum Wire {
    Twilio {
        stream_sid: String,
        /// `stream_sid` as a JSON string literal, made once for the `media` writer.
        stream_sid_json: String,
        account_sid: String,
        seq: u64,
        chunk: u64,
    },
    Jambonz {
        up: Resampler,
        down: Resampler,
        odd: Option<u8>,
    },
    Asterisk {
        format: AsteriskFormat,
        control: ControlFormat,
        up: Resampler,
        down: Resampler,
        odd: Option<u8>,
        bulk: bool,
        xoff: bool,
        drained_report: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum State {
    Open,
    /// Hang-up decided (by either side); the shell closes the socket.
    Closing(CloseReason),
    Closed,
}

/// The sans-IO core of one bridged leg.
///
/// Call side: [`send_audio`](Self::send_audio) (8 kHz PCM, any number of samples; sent in
/// 20 ms units), [`send_dtmf`](Self::send_dtmf), [`hangup`](Self::hangup). Agent side:
/// [`handle_message`](Self::handle_message). Outputs: [`poll_transmit`](Self::poll_transmit)
/// (WebSocket messages, the protocol's start message(s) first, queued by [`new`](Self::new)),
/// [`poll_frame`](Self::poll_frame) (caller-bound audio, one frame per 20 ms of `now`),
/// [`poll_event`](Self::poll_event); [`poll_timeout`](Self::poll_timeout) says when to call
/// `poll_frame` next. Once [`closing`](Self::closing) is `Some`, the shell closes the socket
/// and reports the end with [`handle_closed`](Self::handle_closed).
///
/// ```
/// use std::time::{Duration, Instant};
/// use freya_media::bridge::{BridgeConfig, BridgeSession, CallMetadata, Direction, WsMessage};
///
/// let t0 = Instant::now();
/// let meta = CallMetadata::new("c-1", Direction::Outbound, "a", "b");
/// let mut s = BridgeSession::new(BridgeConfig::twilio(), meta, t0)?;
/// // A flood: 3 s of agent audio at once, into a 1 s queue.
/// let flood = format!(r#"{{"event":"media","media":{{"payload":"{}"}}}}"#, "////".repeat(8000));
/// s.handle_message(t0, WsMessage::Text(flood));
/// assert_eq!(s.stats().queue_samples, 8000);
/// assert_eq!(s.stats().overflow_dropped_samples, 16000);
/// // Barge-in empties it at once.
/// s.handle_message(t0, WsMessage::Text(r#"{"event":"clear"}"#.into()));
/// assert_eq!(s.stats().queue_samples, 0);
/// assert!(s.poll_frame(t0 + Duration::from_millis(20)).unwrap().is_silence());
/// # Ok::<(), freya_media::bridge::BridgeError>(())
/// ```
#[derive(Debug)]
pub struct BridgeSession {
    pub(super) config: BridgeConfig,
    pub(super) meta: CallMetadata,
    pub(super) wire: Wire,
    pub(super) out: VecDeque<WsMessage>,
    pub(super) events: VecDeque<BridgeEvent>,
    pub(super) playout: Playout<Marker>,
    pub(super) stats: BridgeStats,
    pub(super) state: State,
    pub(super) errors_reported: usize,
    pub(super) overflowing: bool,
    pub(super) last_agent_activity: Instant,
    pub(super) scratch: Vec<i16>,
    /// The agent-audio resampler held a partial chunk at the previous tick with the queue empty.
    pub(super) down_stale: bool,
    next_tick: Instant,
    caller_pending: Vec<i16>,
    last_caller_audio: Instant,
}

impl BridgeSession {
    /// A session started at `now`: the protocol's first message(s) are queued for
    /// [`poll_transmit`](Self::poll_transmit) (Twilio `connected` + `start`, the jambonz
    /// preamble, Asterisk `MEDIA_START`), all carrying `meta`; the playout clock's first slot
    /// is `now + 20 ms`.
    ///
    /// # Errors
    /// [`BridgeError::BadConfig`] from [`BridgeConfig::validate`]; [`BridgeError::Codec`] if a
    /// resampler cannot be built.
    pub fn new(
        config: BridgeConfig,
        meta: CallMetadata,
        now: Instant,
    ) -> Result<Self, BridgeError> {
        config.validate()?;
        let max = (config.max_queue.as_millis() as usize) * 8;
        let mut out = VecDeque::new();
        let wire = match &config.protocol {
            Protocol::Twilio { account_sid } => {
                let stream_sid = format!("MZ{}", meta.call_id.replace('-', ""));
                out.push_back(WsMessage::Text(TwilioToAgent::Connected.encode()));
                let start = TwilioToAgent::Start {
                    sequence: 1,
                    stream_sid: stream_sid.clone(),
                    call_sid: meta.call_id.clone(),
                    account_sid: account_sid.clone(),
                    custom_parameters: twilio::custom_parameters(&meta),
                };
                out.push_back(WsMessage::Text(start.encode()));
                Wire::Twilio {
                    stream_sid_json: serde_json::Value::String(stream_sid.clone()).to_string(),
                    stream_sid,
                    account_sid: account_sid.clone(),
                    seq: 1,
                    chunk: 0,
                }
            }
            Protocol::Jambonz { sample_rate } => {
                let pre = jambonz::preamble(&meta, sample_rate.hz());
                let msg = JambonzToAgent::Metadata(pre).encode();
                if msg.len() > jambonz::MAX_PREAMBLE {
                    tracing::warn!(call_id = %meta.call_id, bytes = msg.len(), "bridge: jambonz preamble over 8 KiB (real jambonz would truncate it)");
                }
                out.push_back(msg);
                Wire::Jambonz {
                    up: Resampler::new(SampleRate::Hz8000, *sample_rate)?,
                    down: Resampler::new(*sample_rate, SampleRate::Hz8000)?,
                    odd: None,
                }
            }
            Protocol::Asterisk { format, control } => {
                let start = AsteriskEvent::MediaStart {
                    connection_id: meta.call_id.clone(),
                    channel: format!("WebSocket/freya-{}", meta.call_id),
                    channel_id: meta.call_id.clone(),
                    format: format.name().to_owned(),
                    optimal_frame_size: format.optimal_frame_size(),
                    ptime: 20,
                    channel_variables: asterisk::channel_variables(&meta),
                };
                out.push_back(WsMessage::Text(start.encode(*control)));
                Wire::Asterisk {
                    format: *format,
                    control: *control,
                    up: Resampler::new(SampleRate::Hz8000, format.sample_rate())?,
                    down: Resampler::new(format.sample_rate(), SampleRate::Hz8000)?,
                    odd: None,
                    bulk: false,
                    xoff: false,
                    drained_report: false,
                }
            }
        };
        Ok(BridgeSession {
            playout: Playout::new(max, Storage::for_protocol(&config.protocol)),
            config,
            meta,
            wire,
            out,
            events: VecDeque::new(),
            stats: BridgeStats::default(),
            state: State::Open,
            errors_reported: 0,
            overflowing: false,
            last_agent_activity: now,
            scratch: Vec::new(),
            down_stale: false,
            next_tick: now + FRAME,
            caller_pending: Vec::with_capacity(FRAME_SAMPLES),
            last_caller_audio: now,
        })
    }

    /// The call this leg carries.
    pub fn metadata(&self) -> &CallMetadata {
        &self.meta
    }

    /// The settings.
    pub fn config(&self) -> &BridgeConfig {
        &self.config
    }

    /// Counters, with the current queue depth.
    pub fn stats(&self) -> BridgeStats {
        let mut s = self.stats;
        s.queue_samples = self.playout.len();
        s
    }

    /// When the agent last sent a data message (or the session start).
    pub fn last_agent_activity(&self) -> Instant {
        self.last_agent_activity
    }

    /// True until a hang-up (either side) or the socket's end.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// `Some(reason)` once a hang-up was decided: the shell should send what
    /// [`poll_transmit`](Self::poll_transmit) still has, close the socket (code 1000) and call
    /// [`handle_closed`](Self::handle_closed) with this reason.
    pub fn closing(&self) -> Option<&CloseReason> {
        match &self.state {
            State::Closing(r) => Some(r),
            _ => None,
        }
    }

    /// True after [`handle_closed`](Self::handle_closed).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Caller audio: 8 kHz mono PCM samples, any count; sent to the agent in 20 ms
    /// (160-sample) units, the remainder kept for the next call. Ignored once closing.
    pub fn send_audio(&mut self, now: Instant, samples: &[i16]) {
        if !self.is_open() {
            return;
        }
        self.last_caller_audio = now;
        let mut rest = samples;
        while !rest.is_empty() {
            let room = FRAME_SAMPLES - self.caller_pending.len();
            let (take, tail) = rest.split_at(room.min(rest.len()));
            self.caller_pending.extend_from_slice(take);
            rest = tail;
            if self.caller_pending.len() == FRAME_SAMPLES {
                let frame = std::mem::take(&mut self.caller_pending);
                self.send_caller_frame(&frame);
                self.caller_pending = frame;
                self.caller_pending.clear();
            }
        }
    }

    /// One caller key press (`0-9`, `*`, `#`, `A-D`) held `duration_ms`: Twilio `dtmf`,
    /// jambonz `dtmf` (duration in 8 kHz ticks), Asterisk `DTMF_END`. Send it once per key
    /// press (RFC 4733 end packet, de-duplicated: ws-media §7 rule 12).
    ///
    /// # Errors
    /// [`BridgeError::BadField`] (field `digit`) for another character; nothing is sent.
    pub fn send_dtmf(&mut self, digit: char, duration_ms: u32) -> Result<(), BridgeError> {
        let code = EventCode::from_char(digit).map_err(|e| BridgeError::BadField {
            protocol: self.config.protocol.kind(),
            field: "digit",
            value: digit.to_string(),
            reason: e.to_string(),
        })?;
        if !self.is_open() {
            return Ok(());
        }
        let digit = code.to_char().unwrap_or(digit).to_string();
        let msg = match &mut self.wire {
            Wire::Twilio {
                stream_sid, seq, ..
            } => {
                *seq += 1;
                WsMessage::Text(
                    TwilioToAgent::Dtmf {
                        sequence: *seq,
                        stream_sid: stream_sid.clone(),
                        digit,
                    }
                    .encode(),
                )
            }
            Wire::Jambonz { .. } => JambonzToAgent::Dtmf {
                digit,
                duration_ticks: duration_ms.saturating_mul(8),
            }
            .encode(),
            Wire::Asterisk { control, .. } => {
                let ev = AsteriskEvent::DtmfEnd {
                    channel_id: self.meta.call_id.clone(),
                    digit,
                };
                WsMessage::Text(ev.encode(*control))
            }
        };
        self.out.push_back(msg);
        self.stats.dtmf_sent += 1;
        Ok(())
    }

    /// The caller hung up: Twilio gets `stop`; then [`closing`](Self::closing) is
    /// `Some(CallerHangup)`. Does nothing once closing.
    pub fn hangup(&mut self) {
        if !self.is_open() {
            return;
        }
        if let Wire::Twilio {
            stream_sid,
            account_sid,
            seq,
            ..
        } = &mut self.wire
        {
            *seq += 1;
            let stop = TwilioToAgent::Stop {
                sequence: *seq,
                stream_sid: stream_sid.clone(),
                call_sid: self.meta.call_id.clone(),
                account_sid: account_sid.clone(),
            };
            self.out.push_back(WsMessage::Text(stop.encode()));
        }
        self.state = State::Closing(CloseReason::CallerHangup);
    }

    /// The socket is gone (closed by either side, or failed): reports
    /// [`BridgeEvent::Closed`] once; the session is inert afterwards.
    pub fn handle_closed(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        tracing::info!(call_id = %self.meta.call_id, %reason, "bridge: leg closed");
        self.state = State::Closed;
        self.out.clear();
        self.events.push_back(BridgeEvent::Closed { reason });
    }

    /// The next WebSocket message to send, in order.
    pub fn poll_transmit(&mut self) -> Option<WsMessage> {
        self.out.pop_front()
    }

    /// The next event for the call side.
    pub fn poll_event(&mut self) -> Option<BridgeEvent> {
        self.events.pop_front()
    }

    /// When [`poll_frame`](Self::poll_frame) has the next frame: the next 20 ms slot.
    /// `None` once closing.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.is_open().then_some(self.next_tick)
    }

    /// The caller-bound frame of the next due 20 ms slot, or `None` when no slot is due at
    /// `now`. Call it until `None`: a caller up to 100 ms late gets the missed frames back to
    /// back (so a late tick never turns into permanent latency); later than that, the missed
    /// slots are skipped (counted in [`BridgeStats::late_ticks_skipped`]) and the queued audio
    /// plays on from where it was. Each slot also sends caller gap-fill silence when due.
    pub fn poll_frame(&mut self, now: Instant) -> Option<CallerFrame> {
        while self.is_open() && now >= self.next_tick {
            let lag = now - self.next_tick;
            if lag > MAX_CATCH_UP {
                let skip = (lag.as_nanos() / FRAME.as_nanos()) as u32;
                self.next_tick += FRAME * skip;
                self.stats.late_ticks_skipped += u64::from(skip);
                tracing::debug!(
                    call_id = %self.meta.call_id,
                    skipped = skip,
                    lag_ms = lag.as_millis() as u64,
                    total = self.stats.late_ticks_skipped,
                    "bridge: ran late, 20 ms ticks skipped"
                );
            }
            let at = self.next_tick;
            self.next_tick += FRAME;
            self.fill_caller_gap(now);
            self.flush_stale_resampler();
            let mut samples = [0i16; FRAME_SAMPLES];
            let audio_samples = self.playout.take_frame(&mut samples);
            if audio_samples > 0 {
                self.stats.frames_played += 1;
            } else {
                self.stats.silent_ticks += 1;
            }
            self.after_queue_change();
            if audio_samples > 0 || self.config.emit_silence {
                return Some(CallerFrame {
                    samples,
                    audio_samples,
                    at,
                });
            }
        }
        None
    }

    /// Sends a silence frame to the agent when the call side has been quiet too long.
    fn fill_caller_gap(&mut self, now: Instant) {
        let Some(gap) = self.config.caller_gap_fill else {
            return;
        };
        if now.saturating_duration_since(self.last_caller_audio) >= gap {
            self.send_caller_frame(&[0; FRAME_SAMPLES]);
            self.stats.caller_gap_frames += 1;
        }
    }

    /// Encodes 160 caller samples for the wire.
    fn send_caller_frame(&mut self, frame: &[i16]) {
        let msg = match &mut self.wire {
            Wire::Twilio {
                stream_sid_json,
                seq,
                chunk,
                ..
            } => {
                *seq += 1;
                *chunk += 1;
                // μ-law on the stack, base64 and JSON written straight into the message.
                let mut codes = [0u8; FRAME_SAMPLES];
                for (c, &s) in codes.iter_mut().zip(frame) {
                    *c = ulaw_encode(s);
                }
                let head = twilio::MediaHead {
                    sequence: *seq,
                    stream_sid_json,
                    chunk: *chunk,
                    timestamp_ms: (*chunk - 1) * 20,
                };
                WsMessage::Text(head.encode(&codes[..frame.len().min(FRAME_SAMPLES)]))
            }
            Wire::Jambonz { up, .. } => match resample_l16(up, frame, &mut self.scratch) {
                Some(bytes) => WsMessage::Binary(bytes),
                None => return,
            },
            Wire::Asterisk { format, up, .. } => {
                let bytes = match format {
                    AsteriskFormat::Ulaw | AsteriskFormat::Alaw => {
                        let law = if *format == AsteriskFormat::Ulaw {
                            G711Law::Ulaw
                        } else {
                            G711Law::Alaw
                        };
                        let mut b = Vec::with_capacity(FRAME_SAMPLES);
                        law.encode_into(frame, &mut b);
                        Bytes::from(b)
                    }
                    AsteriskFormat::Slin | AsteriskFormat::Slin16 => {
                        match resample_l16(up, frame, &mut self.scratch) {
                            Some(b) => b,
                            None => return,
                        }
                    }
                };
                WsMessage::Binary(bytes)
            }
        };
        self.out.push_back(msg);
        self.stats.caller_frames_sent += 1;
    }
}

/// Resamples 8 kHz samples to the wire rate and packs them as L16 little-endian; `None` when
/// the resampler holds them for its next chunk or refuses (logged).
fn resample_l16(up: &mut Resampler, frame: &[i16], scratch: &mut Vec<i16>) -> Option<Bytes> {
    scratch.clear();
    if let Err(e) = up.process(frame, scratch) {
        tracing::warn!(error = %e, "bridge: caller audio resampling failed");
        return None;
    }
    if scratch.is_empty() {
        return None;
    }
    let mut bytes = Vec::with_capacity(scratch.len() * 2);
    l16::encode_le(scratch, &mut bytes);
    Some(Bytes::from(bytes))
}
