//! The agent side of [`BridgeSession`]: decoding what the agent sends, per protocol, into
//! playout-queue operations, replies and events. Nothing here fails the leg: a refused message
//! is counted, logged and reported as [`BridgeEvent::Error`] (ws-media §7 rule 5).

use std::time::Instant;

use bytes::Bytes;

use super::asterisk::{AsteriskCommand, AsteriskEvent, AsteriskFormat};
use super::jambonz::{ClipFormat, JambonzFromAgent, JambonzToAgent, MarkOutcome};
use super::session::{BridgeSession, Marker, State, Wire};
use super::twilio::{TwilioFromAgent, TwilioToAgent};
use super::{BridgeError, ProtocolKind, WsMessage};
use super::{BridgeEvent, CloseReason};
use crate::codec::{l16, G711Law, Resampler, SampleRate};
use crate::dtmf::EventCode;

impl BridgeSession {
    /// One data message from the agent, at `now`. Audio goes to the playout queue (at most
    /// [`max_queue`](super::BridgeConfig::max_queue), oldest dropped first); marks are placed
    /// after it; barge-in (`clear`, `killAudio`, `FLUSH_MEDIA`) empties the queue at once and
    /// reports [`BridgeEvent::Cleared`]; hang-up requests report [`BridgeEvent::AgentHangup`]
    /// and start closing. Ignored once closing.
    pub fn handle_message(&mut self, now: Instant, msg: WsMessage) {
        if !self.is_open() {
            return;
        }
        self.last_agent_activity = now;
        self.stats.messages_received += 1;
        let result = match self.config.protocol.kind() {
            ProtocolKind::Twilio => self.on_twilio(&msg),
            ProtocolKind::Jambonz => self.on_jambonz(&msg),
            ProtocolKind::Asterisk => self.on_asterisk(&msg),
        };
        match result {
            Ok(()) => {}
            Err(BridgeError::UnknownMessage { name, .. }) => {
                self.stats.ignored_messages += 1;
                tracing::debug!(call_id = %self.meta.call_id, %name, "bridge: unknown agent message ignored");
            }
            Err(error) => self.reject(error),
        }
        self.after_queue_change();
    }

    fn reject(&mut self, error: BridgeError) {
        self.stats.rejected_messages += 1;
        tracing::warn!(call_id = %self.meta.call_id, %error, "bridge: agent message refused");
        if self.errors_reported < self.config.max_error_events {
            self.errors_reported += 1;
            self.events.push_back(BridgeEvent::Error { error });
        }
    }

    fn on_twilio(&mut self, msg: &WsMessage) -> Result<(), BridgeError> {
        let WsMessage::Text(text) = msg else {
            return Err(BridgeError::UnexpectedFrame {
                protocol: ProtocolKind::Twilio,
                kind: "binary",
                len: msg.len(),
            });
        };
        match TwilioFromAgent::decode(text)? {
            TwilioFromAgent::Media { payload } => {
                self.push_agent_codes(G711Law::Ulaw, &payload);
                Ok(())
            }
            TwilioFromAgent::Mark { name } => self.add_marker(Marker::Twilio(name)),
            TwilioFromAgent::Clear => {
                self.clear();
                Ok(())
            }
            TwilioFromAgent::Hangup { reason } => {
                self.agent_hangup(reason);
                Ok(())
            }
            TwilioFromAgent::SendDtmf { digits } => {
                if let Some(bad) = digits.chars().find(|c| EventCode::from_char(*c).is_err()) {
                    return Err(BridgeError::BadField {
                        protocol: ProtocolKind::Twilio,
                        field: "digits",
                        value: super::excerpt(&digits),
                        reason: format!("{bad:?} is not a DTMF digit"),
                    });
                }
                self.events.push_back(BridgeEvent::Dtmf { digits });
                Ok(())
            }
        }
    }

    fn on_jambonz(&mut self, msg: &WsMessage) -> Result<(), BridgeError> {
        match JambonzFromAgent::decode(msg)? {
            JambonzFromAgent::Audio(bytes) => self.push_wire_l16(&bytes),
            JambonzFromAgent::KillAudio => {
                self.clear();
                Ok(())
            }
            JambonzFromAgent::Mark { name } => self.add_marker(Marker::Jambonz(name)),
            JambonzFromAgent::ClearMarks => {
                let n = self
                    .playout
                    .retain_markers(|m| !matches!(m, Marker::Jambonz(_)));
                tracing::debug!(call_id = %self.meta.call_id, marks = n, "bridge: jambonz clearMarks");
                Ok(())
            }
            JambonzFromAgent::Disconnect => {
                self.agent_hangup(None);
                Ok(())
            }
            JambonzFromAgent::PlayAudio {
                audio,
                format,
                sample_rate,
                queue,
                id,
            } => {
                let pcm = clip_to_8k(&audio, format, sample_rate)?;
                if !queue {
                    self.clear();
                }
                self.push_agent_audio(&pcm);
                self.playout.release_partial();
                self.add_marker(Marker::PlayDone(id))
            }
            JambonzFromAgent::AppEvent { kind, .. } => {
                self.stats.ignored_messages += 1;
                tracing::info!(call_id = %self.meta.call_id, %kind, "bridge: jambonz application event ignored");
                Ok(())
            }
        }
    }

    fn on_asterisk(&mut self, msg: &WsMessage) -> Result<(), BridgeError> {
        let text = match msg {
            WsMessage::Binary(bytes) => {
                let Wire::Asterisk { format, .. } = &self.wire else {
                    return Ok(());
                };
                return match format {
                    AsteriskFormat::Ulaw | AsteriskFormat::Alaw => {
                        let law = if *format == AsteriskFormat::Ulaw {
                            G711Law::Ulaw
                        } else {
                            G711Law::Alaw
                        };
                        self.push_agent_codes(law, bytes);
                        Ok(())
                    }
                    AsteriskFormat::Slin | AsteriskFormat::Slin16 => self.push_wire_l16(bytes),
                };
            }
            WsMessage::Text(t) => t,
        };
        let cmd = AsteriskCommand::decode(text)?;
        let Wire::Asterisk {
            control,
            bulk,
            drained_report,
            down,
            odd,
            ..
        } = &mut self.wire
        else {
            return Ok(());
        };
        let control = *control;
        let channel_id = self.meta.call_id.clone();
        match cmd {
            AsteriskCommand::Answer => {}
            AsteriskCommand::Hangup => self.agent_hangup(None),
            AsteriskCommand::StartMediaBuffering => *bulk = true,
            AsteriskCommand::StopMediaBuffering { correlation_id } => {
                *bulk = false;
                self.playout.release_partial();
                return self.add_marker(Marker::AsteriskBuffering(correlation_id));
            }
            AsteriskCommand::MarkMedia { correlation_id } => {
                return self.add_marker(Marker::AsteriskMark(correlation_id))
            }
            AsteriskCommand::FlushMedia => {
                *bulk = false;
                *odd = None;
                down.reset();
                self.playout.paused = false;
                self.clear();
            }
            AsteriskCommand::PauseMedia => self.playout.paused = true,
            AsteriskCommand::ContinueMedia => self.playout.paused = false,
            AsteriskCommand::GetStatus => {
                let (max_frames, bulk_media) = (self.playout.max() / 160, *bulk);
                let status = AsteriskEvent::Status {
                    channel_id,
                    queue_length: self.playout.len().div_ceil(160),
                    xon_level: max_frames * 8 / 10,
                    xoff_level: max_frames * 9 / 10,
                    queue_full: self.playout.len() >= self.playout.max(),
                    bulk_media,
                    media_paused: self.playout.paused,
                };
                self.out.push_back(WsMessage::Text(status.encode(control)));
            }
            AsteriskCommand::ReportQueueDrained => *drained_report = true,
            AsteriskCommand::SetMediaDirection { direction } => {
                let err = AsteriskEvent::Error {
                    channel_id,
                    error_text: format!("SET_MEDIA_DIRECTION {direction} is not supported"),
                };
                self.out.push_back(WsMessage::Text(err.encode(control)));
            }
        }
        Ok(())
    }

    /// L16 little-endian at the wire rate (jambonz, Asterisk slin): an odd trailing byte is
    /// kept for the next message (ws-media §2.4), then resampled to 8 kHz and queued.
    fn push_wire_l16(&mut self, bytes: &Bytes) -> Result<(), BridgeError> {
        let mut pcm = std::mem::take(&mut self.scratch);
        pcm.clear();
        let result = match &mut self.wire {
            Wire::Jambonz { down, odd, .. } | Wire::Asterisk { down, odd, .. } => {
                let joined: Vec<u8>;
                let mut data: &[u8] = bytes;
                if let Some(b) = odd.take() {
                    joined = [&[b][..], bytes].concat();
                    data = &joined;
                }
                if data.len() % 2 == 1 {
                    *odd = data.last().copied();
                    data = &data[..data.len() - 1];
                }
                let mut wire = Vec::with_capacity(data.len() / 2);
                l16::decode_le(data, &mut wire)
                    .map_err(BridgeError::from)
                    .and_then(|()| down.process(&wire, &mut pcm).map_err(BridgeError::from))
            }
            Wire::Twilio { .. } => Ok(0),
        };
        self.push_agent_audio(&pcm);
        self.scratch = pcm;
        result.map(|_| ())
    }

    /// Queues 8 kHz agent audio, counting what the bound drops.
    pub(super) fn push_agent_audio(&mut self, pcm: &[i16]) {
        if pcm.is_empty() {
            return;
        }
        let dropped = self.playout.push(pcm);
        self.count_agent_audio(pcm.len(), dropped);
    }

    /// Queues 8 kHz G.711 agent audio as its codes (decoded when played: the queue holds one
    /// byte per sample), counting what the bound drops.
    fn push_agent_codes(&mut self, law: G711Law, codes: &[u8]) {
        if codes.is_empty() {
            return;
        }
        let dropped = self.playout.push_codes(law, codes);
        self.count_agent_audio(codes.len(), dropped);
    }

    /// Counts `received` samples just queued, of which the bound dropped `dropped` (oldest).
    fn count_agent_audio(&mut self, received: usize, dropped: usize) {
        self.stats.agent_samples_received += received as u64;
        if dropped > 0 {
            self.stats.overflow_dropped_samples += dropped as u64;
            if !self.overflowing {
                self.overflowing = true;
                tracing::warn!(call_id = %self.meta.call_id, dropped, max = self.playout.max(), "bridge: agent audio queue full, dropping the oldest");
            }
        } else if self.playout.len() < self.playout.max() / 2 {
            self.overflowing = false;
        }
        self.stats.queue_peak_samples = self.stats.queue_peak_samples.max(self.playout.len());
    }

    fn add_marker(&mut self, marker: Marker) -> Result<(), BridgeError> {
        if self.playout.markers() >= self.config.max_marks {
            return Err(BridgeError::Limit {
                protocol: self.config.protocol.kind(),
                what: "outstanding marks",
                limit: self.config.max_marks,
            });
        }
        self.playout.mark(marker);
        Ok(())
    }

    /// Barge-in: empties the queue at once; Twilio marks are echoed, jambonz marks reported
    /// `cleared`, Asterisk markers and jambonz clips dropped silently (as Asterisk does).
    pub(super) fn clear(&mut self) {
        let (dropped, markers) = self.playout.clear();
        if let Wire::Jambonz { down, odd, .. } = &mut self.wire {
            down.reset();
            *odd = None;
        }
        for m in markers {
            match m {
                Marker::Twilio(name) => self.twilio_mark_echo(name),
                Marker::Jambonz(name) => {
                    self.out.push_back(
                        JambonzToAgent::MarkReply {
                            name,
                            outcome: MarkOutcome::Cleared,
                        }
                        .encode(),
                    );
                }
                Marker::PlayDone(_) | Marker::AsteriskMark(_) | Marker::AsteriskBuffering(_) => {}
            }
        }
        self.stats.clears += 1;
        self.stats.cleared_samples += dropped as u64;
        tracing::debug!(call_id = %self.meta.call_id, dropped, "bridge: agent cleared its queued audio");
        self.events.push_back(BridgeEvent::Cleared {
            dropped_samples: dropped,
        });
    }

    fn twilio_mark_echo(&mut self, name: String) {
        if let Wire::Twilio {
            stream_sid, seq, ..
        } = &mut self.wire
        {
            *seq += 1;
            let echo = TwilioToAgent::Mark {
                sequence: *seq,
                stream_sid: stream_sid.clone(),
                name,
            };
            self.out.push_back(WsMessage::Text(echo.encode()));
        }
    }

    fn agent_hangup(&mut self, reason: Option<String>) {
        tracing::info!(call_id = %self.meta.call_id, ?reason, "bridge: agent hung up");
        self.events.push_back(BridgeEvent::AgentHangup {
            reason: reason.clone(),
        });
        self.state = State::Closing(CloseReason::AgentHangup { reason });
    }

    /// After any queue change: reached markers are reported, Asterisk flow control and
    /// `QUEUE_DRAINED` are sent, and a resampler tail left alone for a tick is flushed (so the
    /// end of an utterance is never held back).
    pub(super) fn after_queue_change(&mut self) {
        while let Some(m) = self.playout.pop_reached() {
            self.stats.marks_reached += 1;
            let name = match m {
                Marker::Twilio(name) => {
                    self.twilio_mark_echo(name.clone());
                    name
                }
                Marker::Jambonz(name) => {
                    let reply = JambonzToAgent::MarkReply {
                        name: name.clone(),
                        outcome: MarkOutcome::Playout,
                    };
                    self.out.push_back(reply.encode());
                    name
                }
                Marker::PlayDone(id) => {
                    self.out
                        .push_back(JambonzToAgent::PlayDone { id: id.clone() }.encode());
                    super::json_string(&id)
                }
                Marker::AsteriskMark(cid) => {
                    self.asterisk_event(|channel_id| AsteriskEvent::MediaMarkProcessed {
                        channel_id,
                        correlation_id: cid.clone(),
                    });
                    cid.unwrap_or_default()
                }
                Marker::AsteriskBuffering(cid) => {
                    self.asterisk_event(|channel_id| AsteriskEvent::MediaBufferingCompleted {
                        channel_id,
                        correlation_id: cid.clone(),
                    });
                    format!("buffering:{}", cid.unwrap_or_default())
                }
            };
            self.events.push_back(BridgeEvent::Mark { name });
        }
        let (len, max) = (self.playout.len(), self.playout.max());
        if let Wire::Asterisk {
            xoff,
            drained_report,
            ..
        } = &mut self.wire
        {
            let (was_xoff, report) = (*xoff, *drained_report && len == 0);
            if !was_xoff && len >= max * 9 / 10 {
                *xoff = true;
                self.asterisk_event(|channel_id| AsteriskEvent::MediaXoff { channel_id });
            } else if was_xoff && len < max * 8 / 10 {
                *xoff = false;
                self.asterisk_event(|channel_id| AsteriskEvent::MediaXon { channel_id });
            }
            if report {
                if let Wire::Asterisk { drained_report, .. } = &mut self.wire {
                    *drained_report = false;
                }
                self.asterisk_event(|channel_id| AsteriskEvent::QueueDrained { channel_id });
            }
        }
        self.stats.queue_samples = len;
    }

    /// Flushes a down-resampler that has held a partial chunk since the previous tick while
    /// the queue ran empty (called once per tick).
    pub(super) fn flush_stale_resampler(&mut self) {
        let down = match &mut self.wire {
            Wire::Jambonz { down, .. } | Wire::Asterisk { down, .. } => down,
            Wire::Twilio { .. } => return,
        };
        if down.pending() == 0 || self.playout.len() > 0 {
            self.down_stale = false;
            return;
        }
        if !self.down_stale {
            self.down_stale = true;
            return;
        }
        self.down_stale = false;
        let mut pcm = std::mem::take(&mut self.scratch);
        pcm.clear();
        if let Err(e) = down.flush(&mut pcm) {
            tracing::warn!(call_id = %self.meta.call_id, error = %e, "bridge: resampler flush failed");
        }
        self.push_agent_audio(&pcm);
        self.playout.release_partial();
        self.scratch = pcm;
    }

    fn asterisk_event(&mut self, make: impl FnOnce(String) -> AsteriskEvent) {
        if let Wire::Asterisk { control, .. } = &self.wire {
            let control = *control;
            let ev = make(self.meta.call_id.clone());
            self.out.push_back(WsMessage::Text(ev.encode(control)));
        }
    }
}

/// A jambonz `playAudio` clip as 8 kHz samples.
fn clip_to_8k(
    audio: &[u8],
    format: ClipFormat,
    sample_rate: Option<u32>,
) -> Result<Vec<i16>, BridgeError> {
    let bad = |field: &'static str, value: String, reason: String| BridgeError::BadField {
        protocol: ProtocolKind::Jambonz,
        field,
        value,
        reason,
    };
    let (rate, samples) = match format {
        ClipFormat::Raw => {
            let hz = sample_rate.ok_or_else(|| {
                bad(
                    "data.sampleRate",
                    "none".into(),
                    "raw audio needs a sample rate".into(),
                )
            })?;
            let mut s = Vec::with_capacity(audio.len() / 2);
            l16::decode_le(&audio[..audio.len() & !1], &mut s)?;
            (hz, s)
        }
        ClipFormat::Wav => {
            let reader = hound::WavReader::new(std::io::Cursor::new(audio)).map_err(|e| {
                bad(
                    "data.audioContent",
                    format!("{} bytes", audio.len()),
                    e.to_string(),
                )
            })?;
            let spec = reader.spec();
            if spec.channels != 1
                || spec.bits_per_sample != 16
                || spec.sample_format != hound::SampleFormat::Int
            {
                return Err(bad(
                    "data.audioContent",
                    format!("{spec:?}"),
                    "only 16-bit PCM mono WAV is played".into(),
                ));
            }
            let s: Result<Vec<i16>, _> = reader.into_samples::<i16>().collect();
            (
                spec.sample_rate,
                s.map_err(|e| bad("data.audioContent", "wav".into(), e.to_string()))?,
            )
        }
    };
    let rate = SampleRate::from_hz(rate)?;
    let mut r = Resampler::new(rate, SampleRate::Hz8000)?;
    let mut out = Vec::with_capacity(samples.len());
    r.process(&samples, &mut out)?;
    r.flush(&mut out)?;
    Ok(out)
}
