//! An agent in the host process: the program that runs the stack (a Rust service, a Python
//! pipecat process through freya-py) takes a call's audio itself, with no socket between.
//!
//! [`host_leg`] makes both ends of one bridged leg joined by an in-memory pipe: the
//! [`BridgeLeg`] the call side drives, exactly as for a dialled agent (the same session,
//! pacing, bounded playout queue, barge-in, counters), and the [`HostAgent`] the host reads
//! and writes. The pipe carries the jambonz `listen` framing (ws-media §2): L16 (signed 16-bit
//! little-endian mono) at the leg's sample rate both ways, JSON for DTMF and control — so
//! what the host gets is what a jambonz agent would, minus the network.
//!
//! Units: audio is **16-bit linear PCM samples at [`HostAgent::sample_rate`]** (8, 16, 24
//! or 48 kHz, as the leg's [`Protocol::Jambonz`] says), mono; DTMF durations in ms.
//!
//! ```
//! use freya_media::bridge::{host_leg, BridgeConfig, CallMetadata, Direction, HostInput, ShellOptions};
//! use freya_media::codec::SampleRate;
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let meta = CallMetadata::new("0b6f7f52-0000-4000-8000-000000000001", Direction::Inbound, "+15550001", "+15550002");
//! let (leg, agent) = host_leg(BridgeConfig::jambonz(SampleRate::Hz8000), meta, ShellOptions::default()).await.unwrap();
//! let (mut from_caller, mut to_caller) = agent.split();
//! leg.send_audio(&[1000i16; 160]).unwrap();             // 20 ms of caller audio
//! let Some(HostInput::Audio(samples)) = from_caller.recv().await else { panic!() };
//! assert_eq!(samples.len(), 160);                        // 8 kHz: 160 samples
//! to_caller.send_audio(&samples).await.unwrap();         // the host answers; paced to the caller
//! # }
//! ```

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::DuplexStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::jambonz::{JambonzFromAgent, JambonzToAgent};
use super::leg::{spawn_leg, BridgeLeg, LegError, ShellOptions};
use super::{BridgeConfig, BridgeSession, CallMetadata, Protocol, WsMessage};

/// Bytes the in-memory pipe buffers each way: about a second of 48 kHz L16, so a host that
/// reads late does not stall the leg's writes (its own queue bounds what waits).
const PIPE_BYTES: usize = 96 * 1024;

type Pipe = WebSocketStream<DuplexStream>;

/// Makes a bridged leg whose agent is the host process: the [`BridgeLeg`] for the call
/// side and the [`HostAgent`] for the host. `bridge` must use [`Protocol::Jambonz`] (its
/// sample rate is the host's); its metadata is sent first, as to any agent, and the host
/// may ignore it (it has [`HostAgent::metadata`]).
///
/// # Errors
/// [`LegError::NotHostable`] for another protocol; the session's refusal of `bridge` (a
/// queue limit below one frame…).
pub async fn host_leg(
    bridge: BridgeConfig,
    metadata: CallMetadata,
    shell: ShellOptions,
) -> Result<(BridgeLeg, HostAgent), LegError> {
    let Protocol::Jambonz { sample_rate } = bridge.protocol else {
        return Err(LegError::NotHostable {
            protocol: bridge.protocol.kind().to_string(),
        });
    };
    let now = tokio::time::Instant::now().into_std();
    let session = BridgeSession::new(bridge, metadata.clone(), now)?;
    let (ours, theirs) = tokio::io::duplex(PIPE_BYTES);
    let ws = WebSocketStream::from_raw_socket(ours, Role::Client, Some(shell.ws_config())).await;
    let agent_ws =
        WebSocketStream::from_raw_socket(theirs, Role::Server, Some(shell.ws_config())).await;
    let leg = spawn_leg(ws, session, shell);
    Ok((
        leg,
        HostAgent {
            metadata,
            sample_rate: sample_rate.hz(),
            ws: agent_ws,
        },
    ))
}

/// The host's end of one call's audio: what the caller says and presses, and a way to
/// speak to the caller. [`split`](Self::split) it to read and write from two tasks.
#[derive(Debug)]
pub struct HostAgent {
    metadata: CallMetadata,
    sample_rate: u32,
    ws: Pipe,
}

impl HostAgent {
    /// The call: freya call UUID, direction, caller, callee, workflow id, X- headers.
    pub fn metadata(&self) -> &CallMetadata {
        &self.metadata
    }

    /// The audio's sample rate both ways, in Hz (8,000, 16,000, 24,000 or 48,000).
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The reading half (caller audio and DTMF) and the writing half (audio to the caller,
    /// barge-in, hang-up).
    pub fn split(self) -> (HostReceiver, HostSender) {
        let (sink, stream) = self.ws.split();
        (
            HostReceiver {
                stream,
                sample_rate: self.sample_rate,
            },
            HostSender { sink },
        )
    }
}

/// What the host receives from the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostInput {
    /// Caller audio: 16-bit samples at the leg's sample rate, 20 ms at a time (160 samples
    /// at 8 kHz, 320 at 16 kHz…).
    Audio(Vec<i16>),
    /// A key the caller pressed (RFC 4733 or SIP INFO): `0`–`9`, `*`, `#`, `A`–`D`, and
    /// how long it was held in ms.
    Dtmf {
        /// The key.
        digit: char,
        /// How long it was held, in ms.
        duration_ms: u32,
    },
}

/// Reads the call's audio and DTMF ([`HostAgent::split`]).
#[derive(Debug)]
pub struct HostReceiver {
    stream: SplitStream<Pipe>,
    sample_rate: u32,
}

impl HostReceiver {
    /// The next thing from the caller; `None` once the call has ended (the leg closed the
    /// pipe). Messages that are neither audio nor DTMF (the metadata preamble, mark
    /// replies) are skipped.
    pub async fn recv(&mut self) -> Option<HostInput> {
        loop {
            let m = match self.stream.next().await? {
                Ok(Message::Text(t)) => WsMessage::Text(t.to_string()),
                Ok(Message::Binary(b)) => WsMessage::Binary(b),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            };
            match JambonzToAgent::decode(&m) {
                Ok(JambonzToAgent::Audio(b)) => {
                    let samples = b
                        .chunks_exact(2)
                        .map(|p| i16::from_le_bytes([p[0], p[1]]))
                        .collect();
                    return Some(HostInput::Audio(samples));
                }
                Ok(JambonzToAgent::Dtmf {
                    digit,
                    duration_ticks,
                }) => {
                    let Some(d) = digit.chars().next() else {
                        continue;
                    };
                    return Some(HostInput::Dtmf {
                        digit: d,
                        duration_ms: duration_ticks / 8,
                    });
                }
                Ok(_) => continue,
                Err(error) => {
                    // Our own session wrote it: a bug, not input to refuse.
                    tracing::error!(%error, "bridge: host leg sent an unreadable message; skipped");
                    continue;
                }
            }
        }
    }

    /// The audio's sample rate, in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }
}

/// Speaks to the caller ([`HostAgent::split`]). Audio is queued on the leg and played out
/// at real time in 20 ms frames however fast it is sent (up to the leg's `max_queue`; past
/// it the oldest is dropped and counted).
#[derive(Debug)]
pub struct HostSender {
    sink: SplitSink<Pipe, Message>,
}

impl HostSender {
    /// Queues `samples` (16-bit at the leg's sample rate; any length) for the caller.
    ///
    /// # Errors
    /// [`LegError::Closed`] once the call has ended.
    pub async fn send_audio(&mut self, samples: &[i16]) -> Result<(), LegError> {
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        self.send(JambonzFromAgent::Audio(bytes.into()).encode())
            .await
    }

    /// Barge-in: drops every queued sample at once (jambonz `killAudio`).
    ///
    /// # Errors
    /// [`LegError::Closed`] once the call has ended.
    pub async fn clear(&mut self) -> Result<(), LegError> {
        self.send(JambonzFromAgent::KillAudio.encode()).await
    }

    /// Ends the call from the agent's side (jambonz `disconnect`): the caller is hung up.
    ///
    /// # Errors
    /// [`LegError::Closed`] once the call has ended.
    pub async fn hangup(&mut self) -> Result<(), LegError> {
        self.send(JambonzFromAgent::Disconnect.encode()).await
    }

    async fn send(&mut self, m: WsMessage) -> Result<(), LegError> {
        let m = match m {
            WsMessage::Text(t) => Message::text(t),
            WsMessage::Binary(b) => Message::binary(b),
        };
        self.sink.send(m).await.map_err(|_| LegError::Closed)
    }
}
