//! An echo agent for all three wire protocols: the agent side of the bridge, built from the
//! same protocol modules. It sends caller audio straight back, reads the call metadata back
//! from the start message, and answers DTMF so that tests (and a person with a phone) can
//! drive barge-in and flooding:
//!
//! | digit | reply |
//! | --- | --- |
//! | any | a mark named `dtmf-<digit>` (Twilio/jambonz `mark`, Asterisk `MARK_MEDIA`) |
//! | `*` | a burst: 2 s of a 600 Hz tone in one message (Asterisk: inside `START`/`STOP_MEDIA_BUFFERING`) |
//! | `#` | barge-in: `clear` / `killAudio` / `FLUSH_MEDIA` |
//! | `0` | hang up: close the socket (Twilio) / `disconnect` / `HANGUP` |
//!
//! [`EchoAgent`] is sans-IO; [`serve_echo`] is its tokio server (the `echo-agent` example)
//! and [`echo_over`] runs it on any open WebSocket (`echo-agent --dial`).
//!
//! ```
//! use freya_media::bridge::echo::{EchoAgent, EchoNote};
//! use freya_media::bridge::{ProtocolKind, WsMessage};
//!
//! let mut agent = EchoAgent::new(None);
//! let r = agent.handle(&WsMessage::Text("MEDIA_START connection_id:c channel:x channel_id:c format:ulaw optimal_frame_size:160 ptime:20".into()));
//! assert!(matches!(r.notes[0], EchoNote::Started { protocol: ProtocolKind::Asterisk, .. }));
//! let r = agent.handle(&WsMessage::Binary(bytes::Bytes::from_static(&[0xFF; 160])));
//! assert_eq!(r.send, vec![WsMessage::Binary(bytes::Bytes::from_static(&[0xFF; 160]))]);
//! ```

use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::asterisk::{self, AsteriskCommand, AsteriskEvent, AsteriskFormat, ControlFormat};
use super::jambonz::{self, JambonzFromAgent, JambonzToAgent};
use super::twilio::{self, TwilioFromAgent, TwilioToAgent};
use super::upgrade;
use super::{BridgeError, CallMetadata, ProtocolKind, WsMessage};
use crate::codec::{l16, G711Law};

/// Frequency of the `*` burst, Hz.
pub const BURST_HZ: f64 = 600.0;
/// Length of the `*` burst, ms.
pub const BURST_MS: u32 = 2000;

/// What the echo agent noticed (for logs and tests).
///
/// ```
/// use freya_media::bridge::echo::{EchoAgent, EchoNote};
/// use freya_media::bridge::{ProtocolKind, WsMessage};
/// let mut a = EchoAgent::new(Some(ProtocolKind::Jambonz));
/// let r = a.handle(&WsMessage::Text(r#"{"event":"dtmf","dtmf":"7","duration":800}"#.into()));
/// assert_eq!(r.notes, [EchoNote::Dtmf("7".into())]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EchoNote {
    /// The start message arrived; `metadata` is what it carried (`None` when it was not
    /// written by freya, e.g. a real Twilio).
    Started {
        /// The protocol spoken.
        protocol: ProtocolKind,
        /// The call metadata read back.
        metadata: Option<CallMetadata>,
    },
    /// A caller key press arrived.
    Dtmf(String),
    /// The telephony side said the call ended (Twilio `stop`).
    Stopped,
    /// A message was refused or not understood (the agent goes on).
    Ignored(BridgeError),
}

/// The agent's answer to one message.
///
/// ```
/// use freya_media::bridge::echo::EchoAgent;
/// use freya_media::bridge::{ProtocolKind, WsMessage};
/// let mut a = EchoAgent::new(Some(ProtocolKind::Twilio));
/// let r = a.handle(&WsMessage::Text(r#"{"event":"stop","sequenceNumber":"9","streamSid":"MZ","stop":{}}"#.into()));
/// assert!(r.close && r.send.is_empty());
/// ```
#[derive(Debug, Default, Clone, PartialEq)]
pub struct EchoReply {
    /// Messages to send back, in order.
    pub send: Vec<WsMessage>,
    /// What happened.
    pub notes: Vec<EchoNote>,
    /// Close the socket after sending.
    pub close: bool,
}

/// The sans-IO echo agent of one connection.
///
/// ```
/// use freya_media::bridge::echo::EchoAgent;
/// use freya_media::bridge::{ProtocolKind, WsMessage};
/// let mut a = EchoAgent::new(None);
/// a.handle(&WsMessage::Text(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#.into()));
/// assert_eq!(a.protocol(), Some(ProtocolKind::Twilio));
/// ```
#[derive(Debug)]
pub struct EchoAgent {
    protocol: Option<ProtocolKind>,
    stream_sid: String,
    control: ControlFormat,
    format: AsteriskFormat,
    rate: u32,
}

impl EchoAgent {
    /// An agent for `protocol`, or detecting it from the first message when `None`.
    pub fn new(protocol: Option<ProtocolKind>) -> Self {
        EchoAgent {
            protocol,
            stream_sid: String::new(),
            control: ControlFormat::Json,
            format: AsteriskFormat::Ulaw,
            rate: 8000,
        }
    }

    /// The protocol spoken (once known).
    pub fn protocol(&self) -> Option<ProtocolKind> {
        self.protocol
    }

    /// Handles one message from the telephony side.
    pub fn handle(&mut self, msg: &WsMessage) -> EchoReply {
        let mut r = EchoReply::default();
        let protocol = match self.protocol {
            Some(p) => p,
            None => match detect(msg) {
                Some(p) => {
                    self.protocol = Some(p);
                    p
                }
                None => {
                    r.notes.push(EchoNote::Ignored(BridgeError::UnknownMessage {
                        protocol: ProtocolKind::Twilio,
                        name: super::excerpt(&format!("{msg:?}")),
                    }));
                    return r;
                }
            },
        };
        let result = match protocol {
            ProtocolKind::Twilio => self.twilio(msg, &mut r),
            ProtocolKind::Jambonz => self.jambonz(msg, &mut r),
            ProtocolKind::Asterisk => self.asterisk(msg, &mut r),
        };
        if let Err(e) = result {
            r.notes.push(EchoNote::Ignored(e));
        }
        r
    }

    fn twilio(&mut self, msg: &WsMessage, r: &mut EchoReply) -> Result<(), BridgeError> {
        let WsMessage::Text(text) = msg else {
            return Err(BridgeError::UnexpectedFrame {
                protocol: ProtocolKind::Twilio,
                kind: "binary",
                len: msg.len(),
            });
        };
        let sid = self.stream_sid.clone();
        match TwilioToAgent::decode(text)? {
            TwilioToAgent::Connected => {}
            TwilioToAgent::Start {
                stream_sid,
                custom_parameters,
                ..
            } => {
                self.stream_sid = stream_sid;
                let metadata = twilio::metadata_from_parameters(&custom_parameters).ok();
                r.notes.push(EchoNote::Started {
                    protocol: ProtocolKind::Twilio,
                    metadata,
                });
            }
            TwilioToAgent::Media { payload, .. } => {
                r.send.push(WsMessage::Text(
                    TwilioFromAgent::Media { payload }.encode(&sid),
                ));
            }
            TwilioToAgent::Dtmf { digit, .. } => {
                r.send.push(WsMessage::Text(
                    TwilioFromAgent::Mark {
                        name: format!("dtmf-{digit}"),
                    }
                    .encode(&sid),
                ));
                match digit.as_str() {
                    "*" => {
                        let mut payload = Vec::new();
                        G711Law::Ulaw.encode_into(&burst(8000), &mut payload);
                        r.send.push(WsMessage::Text(
                            TwilioFromAgent::Media { payload }.encode(&sid),
                        ));
                    }
                    "#" => r
                        .send
                        .push(WsMessage::Text(TwilioFromAgent::Clear.encode(&sid))),
                    "0" => r.close = true,
                    _ => {}
                }
                r.notes.push(EchoNote::Dtmf(digit));
            }
            TwilioToAgent::Mark { .. } => {}
            TwilioToAgent::Stop { .. } => {
                r.notes.push(EchoNote::Stopped);
                r.close = true;
            }
        }
        Ok(())
    }

    fn jambonz(&mut self, msg: &WsMessage, r: &mut EchoReply) -> Result<(), BridgeError> {
        match JambonzToAgent::decode(msg)? {
            JambonzToAgent::Metadata(m) => {
                self.rate = m
                    .get("sampleRate")
                    .and_then(serde_json::Value::as_u64)
                    .map_or(8000, |r| r as u32);
                let metadata = jambonz::metadata_from_preamble(&m).ok();
                r.notes.push(EchoNote::Started {
                    protocol: ProtocolKind::Jambonz,
                    metadata,
                });
            }
            JambonzToAgent::Audio(b) => r.send.push(JambonzFromAgent::Audio(b).encode()),
            JambonzToAgent::Dtmf { digit, .. } => {
                r.send.push(
                    JambonzFromAgent::Mark {
                        name: format!("dtmf-{digit}"),
                    }
                    .encode(),
                );
                match digit.as_str() {
                    "*" => {
                        let mut bytes = Vec::new();
                        l16::encode_le(&burst(self.rate), &mut bytes);
                        r.send
                            .push(JambonzFromAgent::Audio(Bytes::from(bytes)).encode());
                    }
                    "#" => r.send.push(JambonzFromAgent::KillAudio.encode()),
                    "0" => r.send.push(JambonzFromAgent::Disconnect.encode()),
                    _ => {}
                }
                r.notes.push(EchoNote::Dtmf(digit));
            }
            JambonzToAgent::MarkReply { .. } | JambonzToAgent::PlayDone { .. } => {}
        }
        Ok(())
    }

    fn asterisk(&mut self, msg: &WsMessage, r: &mut EchoReply) -> Result<(), BridgeError> {
        let text = match msg {
            WsMessage::Binary(b) => {
                r.send.push(WsMessage::Binary(b.clone()));
                return Ok(());
            }
            WsMessage::Text(t) => t,
        };
        let cmd = |c: AsteriskCommand, control| WsMessage::Text(c.encode(control));
        match AsteriskEvent::decode(text)? {
            AsteriskEvent::MediaStart {
                format,
                channel_variables,
                ..
            } => {
                self.control = if text.trim_start().starts_with('{') {
                    ControlFormat::Json
                } else {
                    ControlFormat::PlainText
                };
                self.format = AsteriskFormat::parse(&format)?;
                let metadata = asterisk::metadata_from_variables(&channel_variables).ok();
                r.notes.push(EchoNote::Started {
                    protocol: ProtocolKind::Asterisk,
                    metadata,
                });
            }
            AsteriskEvent::DtmfEnd { digit, .. } => {
                let c = self.control;
                r.send.push(cmd(
                    AsteriskCommand::MarkMedia {
                        correlation_id: Some(format!("dtmf-{digit}")),
                    },
                    c,
                ));
                match digit.as_str() {
                    "*" => {
                        let tone = burst(self.format.sample_rate().hz());
                        let mut bytes = Vec::new();
                        match self.format {
                            AsteriskFormat::Ulaw => G711Law::Ulaw.encode_into(&tone, &mut bytes),
                            AsteriskFormat::Alaw => G711Law::Alaw.encode_into(&tone, &mut bytes),
                            AsteriskFormat::Slin | AsteriskFormat::Slin16 => {
                                l16::encode_le(&tone, &mut bytes)
                            }
                        }
                        r.send.push(cmd(AsteriskCommand::StartMediaBuffering, c));
                        r.send.push(WsMessage::Binary(Bytes::from(bytes)));
                        r.send.push(cmd(
                            AsteriskCommand::StopMediaBuffering {
                                correlation_id: Some("burst".into()),
                            },
                            c,
                        ));
                    }
                    "#" => r.send.push(cmd(AsteriskCommand::FlushMedia, c)),
                    "0" => r.send.push(cmd(AsteriskCommand::Hangup, c)),
                    _ => {}
                }
                r.notes.push(EchoNote::Dtmf(digit));
            }
            _ => {}
        }
        Ok(())
    }
}

/// Which protocol a first message belongs to.
fn detect(msg: &WsMessage) -> Option<ProtocolKind> {
    let WsMessage::Text(t) = msg else { return None };
    if t.starts_with("MEDIA_START") {
        return Some(ProtocolKind::Asterisk);
    }
    let v: serde_json::Value = serde_json::from_str(t).ok()?;
    match v.get("event").and_then(|e| e.as_str()) {
        Some("connected") | Some("start") => Some(ProtocolKind::Twilio),
        Some("MEDIA_START") => Some(ProtocolKind::Asterisk),
        None if v.get("sampleRate").is_some() => Some(ProtocolKind::Jambonz),
        _ => None,
    }
}

/// The `*` burst at `rate` Hz: [`BURST_MS`] of [`BURST_HZ`] at -6 dBFS.
pub fn burst(rate: u32) -> Vec<i16> {
    tone(BURST_HZ, rate, (rate * BURST_MS / 1000) as usize)
}

/// `samples` of a sine at `hz`, sampled at `rate` Hz, amplitude 16384 (-6 dBFS).
pub fn tone(hz: f64, rate: u32, samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|i| {
            (16384.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin()).round()
                as i16
        })
        .collect()
}

/// Runs `agent` on an open WebSocket, whichever side opened it (freya's [`serve_echo`]
/// accepts, an agent of a server-mode pool dials): every message in, the replies out, each
/// note to `on_note`, until either side closes (a normal close when the agent hangs up).
///
/// # Errors
/// The socket's read or write error; a close from the other side is `Ok`.
pub async fn echo_over<S>(
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
    agent: &mut EchoAgent,
    mut on_note: impl FnMut(EchoNote),
) -> Result<(), tokio_tungstenite::tungstenite::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(m) = ws.next().await {
        let msg = match m? {
            Message::Text(t) => WsMessage::Text(t.to_string()),
            Message::Binary(b) => WsMessage::Binary(b),
            Message::Close(_) => break,
            _ => continue,
        };
        let reply = agent.handle(&msg);
        for out in reply.send {
            let m = match out {
                WsMessage::Text(t) => Message::Text(t.into()),
                WsMessage::Binary(b) => Message::Binary(b),
            };
            ws.send(m).await?;
        }
        for n in reply.notes {
            on_note(n);
        }
        if reply.close {
            let normal = CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            };
            let _ = ws.close(Some(normal)).await;
            // RFC 6455 §7.1.1: wait (bounded) for the other side's Close before dropping
            // the connection. Dropping at once resets it, and audio the bridge writes in the
            // meantime fails as "Broken pipe" instead of ending as a normal agent close.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_close() {
                        break;
                    }
                }
            })
            .await;
            break;
        }
    }
    Ok(())
}

/// Serves echo agents on `listener`, one task per connection, for `protocol` (or detecting
/// it per connection when `None`). Echoes the jambonz subprotocol when offered. Each note is
/// sent to `notes` (when given) with the peer's address. Runs until the listener fails.
///
/// # Errors
/// The listener's accept error.
pub async fn serve_echo(
    listener: TcpListener,
    protocol: Option<ProtocolKind>,
    notes: Option<mpsc::UnboundedSender<(SocketAddr, EchoNote)>>,
) -> std::io::Error {
    loop {
        let (mut tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => return e,
        };
        let notes = notes.clone();
        tokio::spawn(async move {
            // Our own opening handshake (RFC 6455 §4.2, `upgrade`; a bad request is answered
            // and logged there), echoing the jambonz subprotocol when offered.
            let Ok((req, leftover)) = upgrade::read_request(&mut tcp, peer).await else {
                return;
            };
            let subprotocol = req
                .offers(jambonz::SUBPROTOCOL)
                .then_some(jambonz::SUBPROTOCOL);
            if upgrade::write_accept(&mut tcp, &req, subprotocol)
                .await
                .is_err()
            {
                return;
            }
            drop(req);
            // tungstenite's default 128 KiB read buffer is zero-filled and resident: with
            // a built-in echo agent per slot that was 136 KB per call (benches/stack). The
            // echo reads and writes one ~350-byte media message per 20 ms, so 1 KiB holds
            // what a turn sees; both buffers grow for a rare larger message or a backlog.
            // (4 KiB each cost 3 KiB more per call with the built-in agents.)
            let config = WebSocketConfig::default()
                .read_buffer_size(1024)
                .write_buffer_size(1024);
            let mut ws =
                WebSocketStream::from_partially_read(tcp, leftover, Role::Server, Some(config))
                    .await;
            let mut agent = EchoAgent::new(protocol);
            let _ = echo_over(&mut ws, &mut agent, |n| {
                if let Some(tx) = &notes {
                    let _ = tx.send((peer, n));
                }
            })
            .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::{BridgeConfig, BridgeSession, Direction};

    /// The echo agent reads back exactly the metadata the session wrote, for every protocol.
    #[test]
    fn reads_back_the_metadata_of_every_protocol() {
        let meta = CallMetadata::new("5b2e-1", Direction::Inbound, "+15551", "+15552")
            .with_workflow("wf-7")
            .with_header("X-Freya-Workflow-Id", "wf-7")
            .with_header("X-Odd", "  a:b %20 ü ");
        let configs = [
            BridgeConfig::twilio(),
            BridgeConfig::jambonz(crate::codec::SampleRate::Hz16000),
            BridgeConfig::asterisk(AsteriskFormat::Slin16, ControlFormat::Json),
            BridgeConfig::asterisk(AsteriskFormat::Ulaw, ControlFormat::PlainText),
        ];
        for config in configs {
            let kind = config.protocol.kind();
            let mut s =
                BridgeSession::new(config, meta.clone(), std::time::Instant::now()).unwrap();
            let mut agent = EchoAgent::new(None);
            let mut started = None;
            while let Some(m) = s.poll_transmit() {
                for n in agent.handle(&m).notes {
                    if let EchoNote::Started { protocol, metadata } = n {
                        started = Some((protocol, metadata));
                    }
                }
            }
            assert_eq!(started, Some((kind, Some(meta.clone()))), "{kind}");
        }
    }

    #[test]
    fn burst_is_two_seconds() {
        assert_eq!(burst(8000).len(), 16000);
        assert_eq!(burst(16000).len(), 32000);
    }
}
