//! The tokio shell of one bridged leg: a task that owns the WebSocket and a
//! [`BridgeSession`], and the [`BridgeLeg`] handle the call side holds (audio, DTMF and
//! hang-up in; caller-bound frames and events out). Shared by client and server mode.
//!
//! Every socket operation is bounded in time, so a dead or stalled agent ends the leg with a
//! [`BridgeEvent::Closed`] carrying the reason; it never hangs the call side.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::link::{Control, Input, Link, Refused};
use super::{
    BridgeError, BridgeEvent, BridgeSession, BridgeStats, CallerFrame, CloseReason, WsMessage,
};

/// Settings of the async shell, common to client and server mode.
///
/// ```
/// use freya_media::bridge::ShellOptions;
/// let o = ShellOptions::default();
/// assert_eq!(o.write_timeout.as_millis(), 2000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellOptions {
    /// Longest a WebSocket write may take before the leg fails (default 2 s): an agent that
    /// stops reading cannot stall the call (Asterisk #2140, ws-media §7 rule 25).
    pub write_timeout: Duration,
    /// Longest the closing handshake may take (default 1 s).
    pub close_timeout: Duration,
    /// Caller audio chunks that may wait for the shell (default 50, i.e. 1 s of 20 ms
    /// frames); beyond it [`LegSender::send_audio`] refuses and counts.
    pub audio_capacity: usize,
    /// Frames and events that may wait for the call side (default 500 = 10 s of frames);
    /// frames beyond it are dropped and counted, events are kept.
    pub output_capacity: usize,
    /// Largest WebSocket message accepted, in bytes (default 1 MiB).
    pub max_message_size: usize,
}

impl Default for ShellOptions {
    fn default() -> Self {
        ShellOptions {
            write_timeout: Duration::from_secs(2),
            close_timeout: Duration::from_secs(1),
            audio_capacity: 50,
            output_capacity: 500,
            max_message_size: 1 << 20,
        }
    }
}

impl ShellOptions {
    pub(super) fn ws_config(&self) -> WebSocketConfig {
        // tungstenite's default 128 KiB read buffer is zero-filled, so all of it is
        // resident: per leg that was ~190 KB of the bridge's memory (BENCHMARKS.md). It
        // also zero-fills up to this size of free buffer before every read, ready or not,
        // so the size is what each read costs. A 20 ms media message is ~380 bytes and
        // pipecat's 40 ms chunks ~600: 1 KiB holds either, and a larger message still
        // arrives whole (the frame's length is reserved from its header, up to
        // `max_message_size`), only in more reads. (The opening handshake is ours,
        // `bridge/upgrade`: tungstenite's kept its 4 KiB head buffer as the read buffer.)
        //
        // Writes: messages are buffered and written by the flush that ends each batch, so
        // a batch (a late tick's frames, audio that queued while the task waited) is one
        // syscall; past 4 KiB tungstenite writes early, which bounds the resident buffer.
        WebSocketConfig::default()
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size))
            .read_buffer_size(1024)
            .write_buffer_size(4 * 1024)
    }
}

/// Why a leg could not be set up, or a call-side request was refused.
///
/// ```
/// use freya_media::bridge::LegError;
/// let e = LegError::Timeout { what: "connect", ms: 5000 };
/// assert_eq!(e.to_string(), "connect timed out after 5000 ms");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegError {
    /// The TCP connection or WebSocket handshake to the agent failed.
    #[error("cannot connect to agent {url}: {reason}")]
    Connect {
        /// The agent's URL.
        url: String,
        /// The underlying error.
        reason: String,
    },
    /// The extra trust anchor for `wss://` agents
    /// ([`ClientConfig::with_root_ca_pem`](super::ClientConfig::with_root_ca_pem)) is not
    /// usable: not PEM, no `CERTIFICATE` section, or a certificate that does not parse.
    #[error("bad agent root CA (PEM): {reason}")]
    RootCa {
        /// What is wrong, naming the certificate (1-based) or the offending line.
        reason: String,
    },
    /// The TLS client settings for `wss://` could not be built
    /// ([`ClientTls::new`](super::ClientTls::new); only a crypto provider without any TLS
    /// version's cipher suites does this, never the built-in ring one).
    #[error("TLS client settings: {reason}")]
    Tls {
        /// rustls' error.
        reason: String,
    },
    /// An operation took too long.
    #[error("{what} timed out after {ms} ms")]
    Timeout {
        /// What timed out.
        what: &'static str,
        /// The limit, in ms.
        ms: u64,
    },
    /// The server could not listen.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: String,
        /// The underlying error.
        reason: String,
    },
    /// A call id is already expected by the server.
    #[error("call {call_id} is already expected")]
    DuplicateCall {
        /// The call id.
        call_id: String,
    },
    /// The agent's connection for an expected call failed during its handshake.
    #[error("agent connection for call {call_id} failed: {reason}")]
    Handshake {
        /// The call id.
        call_id: String,
        /// The underlying error.
        reason: String,
    },
    /// The leg's queue toward the shell is full; the request was dropped and counted.
    #[error("bridge leg {what} queue is full")]
    Full {
        /// `"audio"` or `"control"`.
        what: &'static str,
    },
    /// The leg has ended (or its server is gone).
    #[error("bridge leg is closed")]
    Closed,
    /// A host agent ([`host_leg`](super::host_leg)) asked for with a protocol other than
    /// jambonz, whose framing the host side speaks.
    #[error("a host agent speaks jambonz framing, not {protocol}")]
    NotHostable {
        /// The protocol asked for.
        protocol: String,
    },
    /// The bridge settings or a DTMF digit were refused.
    #[error(transparent)]
    Bridge(#[from] BridgeError),
}

/// What the leg delivers to the call side, in order: caller-bound frames (one per 20 ms
/// while open) interleaved with events; [`BridgeEvent::Closed`] is last.
///
/// ```
/// use freya_media::bridge::{BridgeEvent, LegOutput};
/// fn handle(out: LegOutput) -> bool {
///     match out {
///         LegOutput::Frame(f) => !f.is_silence(), // encode and send as RTP
///         LegOutput::Event(BridgeEvent::Closed { .. }) => false,
///         LegOutput::Event(_) => true,
///     }
/// }
/// # let _ = handle;
/// ```
// Frames are nearly every item (50 a second) and are the large variant: boxing them would
// allocate per frame to save room on the rare events.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegOutput {
    /// 20 ms of audio for the caller.
    Frame(CallerFrame),
    /// Something happened.
    Event(BridgeEvent),
}

/// The call side's sending half: caller audio, DTMF, hang-up, stats. Cheap to clone.
/// See [`BridgeLeg`] for a complete example.
///
/// ```
/// # fn feed(sender: &freya_media::bridge::LegSender) {
/// // In the RTP receive loop: decoded 20 ms of caller audio.
/// if let Err(e) = sender.send_audio(&[0i16; 160]) {
///     eprintln!("bridge: {e}"); // Full (counted) or Closed
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct LegSender {
    link: Arc<Link>,
    protocol: super::ProtocolKind,
}

impl Clone for LegSender {
    fn clone(&self) -> Self {
        self.link.add_sender();
        LegSender {
            link: self.link.clone(),
            protocol: self.protocol,
        }
    }
}

impl Drop for LegSender {
    fn drop(&mut self) {
        self.link.drop_sender();
    }
}

impl LegSender {
    /// Caller audio: 8 kHz mono PCM samples (normally one 20 ms frame of 160). Never waits.
    ///
    /// # Errors
    /// [`LegError::Full`] when the shell is over a second behind (the chunk is dropped and
    /// counted in [`BridgeStats::input_dropped_frames`]); [`LegError::Closed`] after the end.
    pub fn send_audio(&self, samples: &[i16]) -> Result<(), LegError> {
        self.link.push_audio(samples).map_err(|e| match e {
            Refused::Full => LegError::Full { what: "audio" },
            Refused::Closed => LegError::Closed,
        })
    }

    /// One caller key press, held `duration_ms`.
    ///
    /// # Errors
    /// [`LegError::Bridge`] for a character that is not a DTMF key; [`LegError::Full`],
    /// [`LegError::Closed`].
    pub fn send_dtmf(&self, digit: char, duration_ms: u32) -> Result<(), LegError> {
        crate::dtmf::EventCode::from_char(digit).map_err(|e| BridgeError::BadField {
            protocol: self.protocol,
            field: "digit",
            value: digit.to_string(),
            reason: e.to_string(),
        })?;
        self.control(Control::Dtmf(digit, duration_ms))
    }

    /// The caller hung up: the agent is told (Twilio `stop`), the socket closed, and the leg
    /// ends with [`CloseReason::CallerHangup`].
    ///
    /// # Errors
    /// [`LegError::Closed`] when the leg has already ended.
    pub fn hangup(&self) -> Result<(), LegError> {
        self.control(Control::Hangup)
    }

    fn control(&self, c: Control) -> Result<(), LegError> {
        self.link.push_control(c).map_err(|e| match e {
            Refused::Full => LegError::Full { what: "control" },
            Refused::Closed => LegError::Closed,
        })
    }

    /// The leg's counters, as of its last loop turn.
    pub fn stats(&self) -> BridgeStats {
        self.link.stats()
    }

    /// True once the leg's task has ended.
    pub fn is_closed(&self) -> bool {
        self.link.is_closed()
    }
}

/// Code that takes the leg's caller-bound frames inside the leg's task, in place of the
/// [`LegReceiver`]'s queue: installed with [`LegReceiver::set_frame_sink`].
///
/// Why: the call side of a bridged call only encodes each 20 ms frame as RTP and hands it to
/// the relay; a task of its own woken 50 times a second for that is a wake-up and a
/// ~350-byte copy per frame that a sink saves. [`take`](Self::take) runs in the leg's task
/// at each 20 ms slot, so it must not block: encode, queue, return. Events still come out of
/// [`LegReceiver::recv`].
///
/// Any `FnMut(&CallerFrame) + Send` closure is a sink.
///
/// ```
/// use std::time::Instant;
/// use freya_media::bridge::{CallerFrame, FrameSink};
///
/// let mut played = 0u64;
/// let mut sink = move |f: &CallerFrame| {
///     if !f.is_silence() {
///         played += 1; // G.711-encode f.samples (8 kHz PCM) and send as RTP here
///     }
/// };
/// sink.take(&CallerFrame { samples: [0; 160], audio_samples: 0, at: Instant::now() });
/// ```
pub trait FrameSink: Send + 'static {
    /// Takes one 20 ms caller-bound frame (160 samples of 8 kHz PCM), at its slot.
    fn take(&mut self, frame: &CallerFrame);
}

impl<F> FrameSink for F
where
    F: FnMut(&CallerFrame) + Send + 'static,
{
    fn take(&mut self, frame: &CallerFrame) {
        self(frame)
    }
}

/// The call side's receiving half. See [`BridgeLeg`] for a complete example.
///
/// ```
/// # async fn drain(mut rx: freya_media::bridge::LegReceiver) {
/// while let Some(out) = rx.recv().await {
///     // frames and events, in order; the last is BridgeEvent::Closed
/// #   let _ = out;
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct LegReceiver {
    link: Arc<Link>,
}

impl LegReceiver {
    /// The next frame or event; `None` after [`BridgeEvent::Closed`] was delivered.
    /// Cancel-safe (usable in `select!`): nothing is taken unless it is returned.
    pub async fn recv(&mut self) -> Option<LegOutput> {
        std::future::poll_fn(|cx| self.link.poll_recv(cx)).await
    }

    /// The next frame or event if one is ready.
    pub fn try_recv(&mut self) -> Option<LegOutput> {
        self.link.try_recv()
    }

    /// From now on, caller-bound frames go to `sink` in the leg's task, in order, and only
    /// events come out of [`recv`](Self::recv). Frames already queued are handed to `sink`
    /// first (here, in this call). Replaces an earlier sink; the sink is dropped when the leg
    /// ends or this receiver is dropped.
    pub fn set_frame_sink(&mut self, sink: Box<dyn FrameSink>) {
        self.link.set_sink(sink);
    }
}

impl Drop for LegReceiver {
    fn drop(&mut self) {
        self.link.drop_receiver();
    }
}

/// One bridged leg, as handed back by [`connect`](super::connect) or
/// [`PendingLeg::wait`](super::PendingLeg::wait). Dropping both halves ends the leg
/// ([`CloseReason::HandleDropped`]).
///
/// ```
/// use std::time::Duration;
/// use freya_media::bridge::{connect, echo, BridgeConfig, BridgeEvent, CallMetadata, ClientConfig, Direction, LegOutput};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// // An echo agent on a loopback port.
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let url = format!("ws://{}/telephony/ws", listener.local_addr().unwrap());
/// tokio::spawn(echo::serve_echo(listener, None, None));
///
/// let meta = CallMetadata::new("c-42", Direction::Inbound, "+1555", "+1666");
/// let mut leg = connect(&ClientConfig::new(url), BridgeConfig::twilio(), meta).await.unwrap();
/// leg.send_audio(&echo::tone(1000.0, 8000, 160)).unwrap();
/// let echoed = tokio::time::timeout(Duration::from_secs(2), async {
///     loop {
///         if let Some(LegOutput::Frame(f)) = leg.recv().await {
///             if !f.is_silence() { return f; }
///         }
///     }
/// }).await.unwrap();
/// assert_eq!(echoed.audio_samples, 160);
/// leg.hangup().unwrap();
/// while let Some(out) = leg.recv().await {
///     if let LegOutput::Event(BridgeEvent::Closed { reason }) = out {
///         assert_eq!(reason.to_string(), "caller hung up");
///     }
/// }
/// # });
/// ```
#[derive(Debug)]
pub struct BridgeLeg {
    /// Audio, DTMF, hang-up in.
    pub sender: LegSender,
    /// Frames and events out.
    pub receiver: LegReceiver,
    /// The call this leg carries.
    pub call_id: String,
}

impl BridgeLeg {
    /// Splits the handle so that two tasks can feed and drain it.
    pub fn split(self) -> (LegSender, LegReceiver) {
        (self.sender, self.receiver)
    }

    /// See [`LegSender::send_audio`].
    ///
    /// # Errors
    /// As [`LegSender::send_audio`].
    pub fn send_audio(&self, samples: &[i16]) -> Result<(), LegError> {
        self.sender.send_audio(samples)
    }

    /// See [`LegSender::send_dtmf`].
    ///
    /// # Errors
    /// As [`LegSender::send_dtmf`].
    pub fn send_dtmf(&self, digit: char, duration_ms: u32) -> Result<(), LegError> {
        self.sender.send_dtmf(digit, duration_ms)
    }

    /// See [`LegSender::hangup`].
    ///
    /// # Errors
    /// As [`LegSender::hangup`].
    pub fn hangup(&self) -> Result<(), LegError> {
        self.sender.hangup()
    }

    /// See [`LegReceiver::recv`].
    pub async fn recv(&mut self) -> Option<LegOutput> {
        self.receiver.recv().await
    }

    /// See [`LegSender::stats`].
    pub fn stats(&self) -> BridgeStats {
        self.sender.stats()
    }

    /// See [`LegReceiver::set_frame_sink`].
    pub fn set_frame_sink(&mut self, sink: Box<dyn FrameSink>) {
        self.receiver.set_frame_sink(sink);
    }
}

/// Starts the task of a leg on an open WebSocket.
pub(super) fn spawn_leg<S>(
    ws: WebSocketStream<S>,
    session: BridgeSession,
    opts: ShellOptions,
) -> BridgeLeg
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let link = Arc::new(Link::new(
        opts.audio_capacity,
        opts.output_capacity,
        session.stats(),
    ));
    let call_id = session.metadata().call_id.clone();
    let protocol = session.config().protocol.kind();
    let shell = Shell {
        session,
        opts,
        link: link.clone(),
        output_dropped: 0,
        audio: Vec::new(),
        control: Vec::new(),
        outs: Vec::new(),
    };
    tokio::spawn(shell.run(ws));
    BridgeLeg {
        sender: LegSender {
            link: link.clone(),
            protocol,
        },
        receiver: LegReceiver { link },
        call_id,
    }
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

struct Shell {
    session: BridgeSession,
    opts: ShellOptions,
    link: Arc<Link>,
    output_dropped: u64,
    /// Caller audio taken from the link in one go (buffer kept between turns).
    audio: Vec<i16>,
    /// Control requests taken from the link in one go.
    control: Vec<Control>,
    /// Frames and events of this turn, handed to the link in one go.
    outs: Vec<LegOutput>,
}

/// The end of the caller-bound timer's range when the session has no deadline (the branch is
/// disabled then; this only gives the pinned `Sleep` a value).
const FAR: Duration = Duration::from_secs(86_400);

impl Shell {
    /// The leg's task. Not an `async fn`: its future would keep the shell and the socket
    /// twice (the arguments, and the locals the body moves them into: rust-lang/rust#62958),
    /// and a task's future is allocated, and resident, at its full size for the whole call.
    // Deliberately not `async fn` (see above), which is what this lint asks for.
    #[allow(clippy::manual_async_fn)]
    fn run<S>(mut self, mut ws: WebSocketStream<S>) -> impl std::future::Future<Output = ()> + Send
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        async move { self.run_loop(&mut ws).await }
    }

    async fn run_loop<S>(&mut self, ws: &mut WebSocketStream<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut dropped = false;
        // The start message(s) go out before anything else can happen.
        if let Err(reason) = self.write_out(ws).await {
            return self.finish(reason);
        }
        // One timer for the leg's life, moved only when the session's deadline moves (a new
        // `Sleep` per loop turn cost a timer-wheel insert and removal per wake-up).
        let sleep = tokio::time::sleep(FAR);
        tokio::pin!(sleep);
        let mut armed: Option<std::time::Instant> = None;
        let reason = loop {
            let deadline = self.session.poll_timeout();
            if deadline != armed {
                if let Some(d) = deadline {
                    sleep.as_mut().reset(tokio::time::Instant::from_std(d));
                }
                armed = deadline;
            }
            let (link, audio, control) = (&self.link, &mut self.audio, &mut self.control);
            tokio::select! {
                biased;
                input = std::future::poll_fn(|cx| link.poll_input(cx, audio, control)) => {
                    if input == Input::Gone {
                        dropped = true;
                    }
                    self.take_input();
                },
                m = ws.next() => match m {
                    Some(Ok(Message::Text(t))) => self.session.handle_message(now(), WsMessage::Text(t.to_string())),
                    Some(Ok(Message::Binary(b))) => self.session.handle_message(now(), WsMessage::Binary(b)),
                    Some(Ok(Message::Close(frame))) => {
                        // tungstenite queued the close reply; send it, bounded.
                        let _ = tokio::time::timeout(self.opts.close_timeout, ws.flush()).await;
                        break match frame {
                            Some(f) => CloseReason::AgentClosed { code: Some(u16::from(f.code)), reason: f.reason.to_string() },
                            None => CloseReason::AgentClosed { code: None, reason: String::new() },
                        };
                    }
                    Some(Ok(_)) => {
                        // Ping: tungstenite queued the pong; flush it now (ws-media §7 rule 25).
                        if let Err(reason) = bounded(self.opts.write_timeout, ws.flush(), "write").await {
                            break reason;
                        }
                    }
                    Some(Err(e)) => break CloseReason::Failed { error: format!("read: {e}") },
                    None => break CloseReason::AgentClosed { code: None, reason: "connection ended without a close frame".into() },
                },
                _ = &mut sleep, if armed.is_some() => {
                    // Re-arm next turn even if the deadline did not move.
                    armed = None;
                }
            }
            if !self.pump() {
                dropped = true;
            }
            if dropped {
                self.session.hangup();
            }
            if let Err(reason) = self.write_out(ws).await {
                break reason;
            }
            if let Some(reason) = self.session.closing().cloned() {
                self.close_socket(ws).await;
                break if dropped {
                    CloseReason::HandleDropped
                } else {
                    reason
                };
            }
        };
        self.finish(reason);
    }

    /// Feeds what the call side queued to the session: the audio first (in order, as one
    /// run of samples: the session cuts it into 20 ms units), then DTMF and hang-up.
    fn take_input(&mut self) {
        if !self.audio.is_empty() {
            self.session.send_audio(now(), &self.audio);
            self.audio.clear();
            if self.audio.capacity() > 8 * super::FRAME_SAMPLES {
                // A burst does not keep its room for the rest of the call.
                self.audio.shrink_to(2 * super::FRAME_SAMPLES);
            }
        }
        for c in self.control.drain(..) {
            match c {
                Control::Dtmf(d, ms) => {
                    if let Err(e) = self.session.send_dtmf(d, ms) {
                        tracing::warn!(error = %e, "bridge: DTMF refused");
                    }
                }
                Control::Hangup => self.session.hangup(),
            }
        }
    }

    /// Sends what the session queued and flushes once, the whole batch bounded by
    /// `write_timeout`.
    async fn write_out<S>(&mut self, ws: &mut WebSocketStream<S>) -> Result<(), CloseReason>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let Some(first) = self.session.poll_transmit() else {
            return Ok(());
        };
        let session = &mut self.session;
        let batch = async move {
            let mut next = Some(first);
            while let Some(msg) = next {
                let m = match msg {
                    WsMessage::Text(t) => Message::Text(t.into()),
                    WsMessage::Binary(b) => Message::Binary(b),
                };
                ws.feed(m).await?;
                next = session.poll_transmit();
            }
            ws.flush().await
        };
        bounded(self.opts.write_timeout, batch, "write").await
    }

    /// Close frame (1000), then wait (bounded) for the agent's close or the end of the stream.
    async fn close_socket<S>(&mut self, ws: &mut WebSocketStream<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        let limit = self.opts.close_timeout;
        let _ = tokio::time::timeout(limit, ws.send(Message::Close(Some(frame)))).await;
        let _ = tokio::time::timeout(limit, async {
            while let Some(Ok(m)) = ws.next().await {
                if m.is_close() {
                    break;
                }
            }
        })
        .await;
    }

    /// Moves the session's due frames and events to the call side, in order (events raised
    /// by a frame's slot follow that frame), with the counters; false when the receiving
    /// half is gone.
    fn pump(&mut self) -> bool {
        self.collect_events();
        let t = now();
        let link = Arc::clone(&self.link);
        // Locked at the first frame only: most turns (agent messages, caller audio) have none.
        let mut sink = None;
        while let Some(frame) = self.session.poll_frame(t) {
            let sink = sink.get_or_insert_with(|| link.sink());
            match sink.as_mut() {
                Some(sink) => sink.take(&frame),
                None => {
                    // A `LegOutput` holds 20 ms of samples inline (~350 bytes), and a turn
                    // usually yields one: start with one slot, not `Vec`'s first capacity of
                    // 4 (past that it grows by doubling as usual).
                    if self.outs.capacity() == 0 {
                        self.outs.reserve_exact(1);
                    }
                    self.outs.push(LegOutput::Frame(frame));
                }
            }
            while let Some(ev) = self.session.poll_event() {
                self.outs.push(LegOutput::Event(ev));
            }
        }
        let stats = self.stats();
        let (dropped, alive) = self.link.publish(&mut self.outs, stats);
        // Held until the frames of this turn are queued: a sink installed meanwhile would
        // miss the frames made before it (it takes the queued ones when installed).
        drop(sink);
        if dropped > 0 {
            let before = self.output_dropped;
            self.output_dropped += dropped;
            if before == 0 || before / 500 != self.output_dropped / 500 {
                tracing::warn!(call_id = %self.session.metadata().call_id, dropped = self.output_dropped, "bridge: call side is not reading frames, dropping");
            }
        }
        alive
    }

    fn collect_events(&mut self) {
        while let Some(ev) = self.session.poll_event() {
            self.outs.push(LegOutput::Event(ev));
        }
    }

    fn stats(&self) -> BridgeStats {
        let mut stats = self.session.stats();
        stats.output_dropped_frames = self.output_dropped;
        stats
    }

    /// Reports the end and delivers the remaining events; the receiver then gets `None`.
    fn finish(&mut self, reason: CloseReason) {
        self.session.handle_closed(reason);
        self.collect_events();
        let stats = self.stats();
        self.link.publish(&mut self.outs, stats);
        self.link.shell_done();
    }
}

/// `f` within `limit`; an error or the timeout is the leg's [`CloseReason::Failed`].
async fn bounded<F>(limit: Duration, f: F, what: &str) -> Result<(), CloseReason>
where
    F: std::future::Future<Output = Result<(), tokio_tungstenite::tungstenite::Error>>,
{
    match tokio::time::timeout(limit, f).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(CloseReason::Failed {
            error: format!("{what}: {e}"),
        }),
        Err(_) => Err(CloseReason::Failed {
            error: format!("{what} timed out after {} ms", limit.as_millis()),
        }),
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    type Ws = tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>;

    fn future_size<A, B, Fut, F: FnOnce(A, B) -> Fut>(_: &F) -> usize {
        std::mem::size_of::<Fut>()
    }

    /// A leg task's future holds the shell and the socket once (plus the loop's own
    /// futures): as an `async fn`, `run` held them three times (5,952 bytes in a release
    /// build, against 1,976 for the two), resident for every call.
    #[test]
    fn the_task_future_holds_the_shell_once() {
        let parts = std::mem::size_of::<Shell>() + std::mem::size_of::<WebSocketStream<Ws>>();
        let future = future_size(&Shell::run::<Ws>);
        assert!(
            future < 2 * parts,
            "run future {future} bytes, shell + socket {parts}"
        );
    }
}
