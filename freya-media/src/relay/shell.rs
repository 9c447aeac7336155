//! The tokio shell of the relay: the sockets, the clock and the channels around one sans-IO
//! [`Relay`].
//!
//! One tokio task per call owns that call's sockets and its [`Relay`]. Why one task per call
//! rather than a few tasks each serving many calls: tokio wakes a task when one of *its*
//! sockets is readable, so a per-call task does O(1) work per packet (one wake, one receive
//! syscall — `recvmmsg` on Linux, which also clears the edge-triggered readiness, see the
//! `udp` module — and one `sendto`), while a task serving many calls must find out which of
//! its sockets woke it — either by polling all of them, O(calls) per wake, or by
//! re-implementing the reactor's per-socket wakers. Within the task, each source (command
//! channel, four sockets, endpoint channel, timer) has its own waker, so a wake polls only
//! the source that fired. Packets per second per core is then set by the two syscalls per
//! packet, whatever the number of calls; a multi-thread runtime spreads the tasks over the
//! cores. The per-call task does not allocate per packet either: datagrams are received into
//! one growing buffer and forwarded as `Bytes` slices of it.
//!
//! Two modes, one handle ([`RelayHandle`]):
//! - [`spawn_relay`]: a B2BUA call, two SIP legs, each with its own RTP/RTCP sockets;
//! - [`spawn_endpoint`]: one SIP leg (A) whose media freya terminates: the other side (B) is
//!   a pair of channels to in-process code ([`MediaEndpoint`]: the WebSocket agent bridge,
//!   an echo, a player).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::driver::{Command, Driver, EndpointSide, LegIo};
use super::endpoint::{EndpointLink, MediaEndpoint, TappedPacket};
use super::sockets::{SharedPortPool, SocketPair};
use super::{
    LegConfig, LegId, LegStats, PortError, PortPair, Relay, RelayConfig, RelayError, RelayEvent,
    RemoteMedia,
};
use crate::rtp::rtcp::StreamStatsSnapshot;

/// Where the in-process side of a [`spawn_endpoint`] relay "is" for the sans-IO core: the
/// source its injected packets carry and the address the core sends to. Never used for I/O.
pub const IN_PROCESS_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9);

/// Settings of the shell around one call's [`Relay`].
///
/// ```
/// use std::time::Duration;
/// use freya_media::relay::ShellConfig;
///
/// let config = ShellConfig { stats_interval: Some(Duration::from_secs(1)), ..ShellConfig::default() };
/// assert_eq!(config.bind_ip.to_string(), "0.0.0.0");
/// assert_eq!(config.event_capacity, 256);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShellConfig {
    /// Latching, bleed protection and the RTP timeout of the core.
    pub relay: RelayConfig,
    /// The local IP the sockets bind to (default `0.0.0.0`: every interface). What goes in the
    /// SDP `c=` line is the stack's business; the ports come from [`RelayHandle::local`].
    pub bind_ip: IpAddr,
    /// Emit [`ShellEvent::Stats`] this often; `None` (default) for never.
    pub stats_interval: Option<Duration>,
    /// Events buffered for the reader of [`RelayEvents`]; more are dropped and counted in
    /// [`IoStats::events_lost`] (the relay never waits for a slow reader). Default 256.
    pub event_capacity: usize,
    /// Packets buffered each way between the relay and a [`MediaEndpoint`] (default 64, that
    /// is 1.28 s of 20 ms packets); more are dropped and counted in
    /// [`IoStats::endpoint_overflow`].
    pub endpoint_capacity: usize,
}

impl Default for ShellConfig {
    fn default() -> Self {
        ShellConfig {
            relay: RelayConfig::default(),
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            stats_interval: None,
            event_capacity: 256,
            endpoint_capacity: 64,
        }
    }
}

/// How one leg of a relayed call starts: what its peer signaled so far (often nothing yet:
/// the local ports are needed for our own SDP first) and how freya sends to it. The ports
/// come from the pool.
///
/// ```
/// use freya_media::relay::{LegSetup, RemoteMedia};
///
/// let before_sdp = LegSetup::default(); // peer unknown: learn it with update_remote
/// assert!(before_sdp.remote.addr.is_none() && before_sdp.rtp_symmetric);
/// let known = LegSetup::new(RemoteMedia::new("198.51.100.7:4000".parse()?));
/// assert_eq!(known.clock_rate, 8000);
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegSetup {
    /// What the peer signaled; [`RemoteMedia::default`] when its SDP is not known yet.
    pub remote: RemoteMedia,
    /// Asterisk's `rtp_symmetric` (default yes): send where the peer's packets come from.
    pub rtp_symmetric: bool,
    /// The media clock rate in Hz, for the jitter statistics (8000 for G.711).
    pub clock_rate: u32,
}

impl Default for LegSetup {
    fn default() -> Self {
        LegSetup::new(RemoteMedia::default())
    }
}

impl LegSetup {
    /// A symmetric 8 kHz leg towards `remote`.
    pub fn new(remote: RemoteMedia) -> Self {
        LegSetup {
            remote,
            rtp_symmetric: true,
            clock_rate: 8000,
        }
    }

    pub(crate) fn config(self, ports: PortPair) -> LegConfig {
        LegConfig {
            rtp_symmetric: self.rtp_symmetric,
            clock_rate: self.clock_rate,
            ..LegConfig::new(ports, self.remote)
        }
    }
}

/// Why the shell refused a request, with the offending value.
///
/// ```
/// use freya_media::relay::{LegId, ShellError};
///
/// let err = ShellError::NoSocket { leg: LegId::B };
/// assert_eq!(err.to_string(), "leg B is in-process (a MediaEndpoint), it has no socket");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellError {
    /// No tokio runtime to spawn the relay task on (the spawn functions must be called from
    /// inside one).
    #[error("no tokio runtime: call this from inside a tokio runtime")]
    NoRuntime,
    /// The port pool had no pair left.
    #[error(transparent)]
    Ports(#[from] PortError),
    /// Binding a socket failed for a reason other than the port being in use.
    #[error("binding UDP socket {addr} failed ({kind:?}): {message}")]
    Bind {
        /// The address it tried to bind.
        addr: SocketAddr,
        /// The OS error's kind.
        kind: io::ErrorKind,
        /// The OS error's text.
        message: String,
    },
    /// The core refused the configuration.
    #[error(transparent)]
    Relay(#[from] RelayError),
    /// The relay task has ended (closed, or its runtime shut down).
    #[error("the relay task has ended")]
    Closed,
    /// The io_uring relay thread could not start ([`RingRelays`](super::RingRelays)).
    #[error("io_uring relay: {reason}")]
    Ring {
        /// What failed, with the OS error.
        reason: String,
    },
    /// A socket operation on the in-process leg of a [`spawn_endpoint`] relay.
    #[error("leg {leg:?} is in-process (a MediaEndpoint), it has no socket")]
    NoSocket {
        /// The leg asked for.
        leg: LegId,
    },
    /// The [`MediaEndpoint`] channel into the relay is full (`capacity` packets waiting): the
    /// packet was not queued.
    #[error("media endpoint queue full ({capacity} packets): packet not sent")]
    EndpointFull {
        /// The channel's capacity, in packets.
        capacity: usize,
    },
}

/// The local addresses of a leg: what the stack puts in its SDP (`m=` port is `rtp`'s;
/// RFC 3550 §11: RTCP on the next port).
///
/// ```
/// use freya_media::relay::LegAddrs;
///
/// let addrs = LegAddrs { rtp: "0.0.0.0:10000".parse()?, rtcp: "0.0.0.0:10001".parse()? };
/// assert_eq!(addrs.rtcp.port(), addrs.rtp.port() + 1);
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegAddrs {
    /// The RTP socket's address.
    pub rtp: SocketAddr,
    /// The RTCP socket's address (idle when the peer uses rtcp-mux).
    pub rtcp: SocketAddr,
}

/// Counters of the shell itself, beside the core's per-leg [`LegStats`].
///
/// ```
/// use freya_media::relay::IoStats;
///
/// assert_eq!(IoStats::default().send_errors, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IoStats {
    /// Receive (`recvmmsg`/`recvfrom`) failures (logged; the socket is polled again).
    pub recv_errors: u64,
    /// Datagrams longer than the largest RTP packet accepted (4096 bytes): dropped.
    pub oversize: u64,
    /// `sendto` failures, including a full socket buffer: the packet is dropped (waiting for
    /// the buffer would hold up every other packet of the call).
    pub send_errors: u64,
    /// Packets dropped because a [`MediaEndpoint`] or tap reader was too slow (its channel
    /// full) or gone.
    pub endpoint_overflow: u64,
    /// Events dropped because the [`RelayEvents`] reader was too slow.
    pub events_lost: u64,
}

/// The state of one leg, as reported by [`RelayHandle::stats`] and [`ShellEvent::Stats`].
#[derive(Debug, Clone, PartialEq)]
pub struct LegReport {
    /// The leg.
    pub leg: LegId,
    /// Its sockets' addresses; `None` for the in-process side of an endpoint.
    pub local: Option<LegAddrs>,
    /// The source it is latched onto (`rtp_symmetric`: also where it sends).
    pub latched: Option<SocketAddr>,
    /// What the peer signaled last.
    pub remote: RemoteMedia,
    /// Packets and bytes in and out, drops per reason.
    pub counters: LegStats,
    /// Reception statistics per SSRC of the media received from this leg's peer (loss and
    /// jitter in RTP ticks and ms, RFC 3550 A.3, A.8).
    pub streams: Vec<StreamStatsSnapshot>,
}

/// A snapshot of a relayed call: both legs and the shell's own counters.
///
/// ```
/// use freya_media::relay::{LegId, RelayStats};
///
/// fn dropped_foreign(stats: &RelayStats) -> u64 {
///     use freya_media::relay::DropReason;
///     stats.leg(LegId::A).counters.dropped.get(DropReason::ForeignSource)
/// }
/// # let _ = dropped_foreign;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RelayStats {
    /// Leg A then leg B.
    pub legs: [LegReport; 2],
    /// The shell's counters.
    pub io: IoStats,
    /// When the snapshot was taken.
    pub at: Instant,
}

impl RelayStats {
    /// One leg's report.
    pub fn leg(&self, leg: LegId) -> &LegReport {
        &self.legs[leg.index()]
    }
}

/// What the relay task reports, read from [`RelayEvents`].
#[derive(Debug, Clone, PartialEq)]
pub enum ShellEvent {
    /// An event of the core: latched, relatched, latch reset, SSRC change, the first drop of
    /// a kind from a source, and [`RelayEvent::RtpTimeout`] (no RTP for `rtp_timeout`: the
    /// stack hangs up). On an endpoint's in-process leg B, a timeout means the in-process
    /// side sent nothing.
    Relay(RelayEvent),
    /// Periodic statistics ([`ShellConfig::stats_interval`]).
    Stats(Box<RelayStats>),
    /// The task ended and the ports went back to the pool; the last event.
    Closed(Box<RelayStats>),
}

/// The events of one relayed call. Reading them is optional: when nobody reads, they are
/// dropped and counted, and the relay goes on.
#[derive(Debug)]
// Boxed: a tokio channel allocates its slots 32 at a time, and a `ShellEvent` is ~100 bytes;
// a call has a handful of events, so a box each is cheaper than 3 KB of slots per call.
pub struct RelayEvents(pub(crate) mpsc::Receiver<Box<ShellEvent>>);

impl RelayEvents {
    /// The next event; `None` once the relay has ended and every event was read.
    pub async fn recv(&mut self) -> Option<ShellEvent> {
        self.0.recv().await.map(|b| *b)
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<ShellEvent> {
        self.0.try_recv().ok().map(|b| *b)
    }
}

/// The control of one relayed call, held by the stack for the call's lifetime.
///
/// Dropping it ends the relay task as [`close`](RelayHandle::close) does, without waiting:
/// the sockets close and the ports return to the pool as soon as the task next runs.
#[derive(Debug)]
pub struct RelayHandle {
    commands: CommandTx,
    done: Option<Done>,
    local: [Option<LegAddrs>; 2],
}

/// Where a [`RelayHandle`]'s commands go.
#[derive(Debug)]
pub(crate) enum CommandTx {
    /// The call's own tokio task. Boxed (as the events): a tokio channel keeps 32 slots of
    /// its item's size per call, and commands are a few per call.
    Task(mpsc::UnboundedSender<Box<Command>>),
    /// The io_uring relay thread that serves the call ([`RingRelays`](super::RingRelays)).
    #[cfg(target_os = "linux")]
    Ring(super::ring::CallRef),
}

/// How a [`RelayHandle`] learns the final statistics.
#[derive(Debug)]
pub(crate) enum Done {
    Task(JoinHandle<RelayStats>),
    #[cfg(target_os = "linux")]
    Ring(oneshot::Receiver<RelayStats>),
}

impl RelayHandle {
    /// The local addresses of `leg`'s sockets (for the SDP); `None` for the in-process leg B of
    /// an endpoint.
    pub fn local(&self, leg: LegId) -> Option<LegAddrs> {
        self.local[leg.index()]
    }

    /// Applies what `leg`'s peer signaled in a re-INVITE or in its answer: address,
    /// rtcp-mux, direction (hold is `a=sendonly`/`inactive` or a `0.0.0.0` address: freya
    /// stops sending to that peer, the leg stays up). See [`Relay::update_remote`].
    ///
    /// # Errors
    /// [`ShellError::NoSocket`] for the in-process leg of an endpoint; [`ShellError::Closed`]
    /// when the task has ended.
    pub fn update_remote(&self, leg: LegId, remote: RemoteMedia) -> Result<(), ShellError> {
        if self.local(leg).is_none() {
            return Err(ShellError::NoSocket { leg });
        }
        self.send(Command::Update(leg, remote))
    }

    /// A snapshot of both legs' counters, latches and per-SSRC statistics.
    ///
    /// # Errors
    /// [`ShellError::Closed`] when the task has ended.
    pub async fn stats(&self) -> Result<RelayStats, ShellError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Stats(tx))?;
        rx.await.map_err(|_| ShellError::Closed)
    }

    /// A copy of every packet the relay forwards (both directions, RTP and RTCP), for
    /// recording or monitoring a B2BUA call. `capacity` packets are buffered; when the reader
    /// lags, copies are dropped and counted ([`IoStats::endpoint_overflow`]), the call is not
    /// affected. A second tap replaces the first. The copy is a reference-count increment.
    ///
    /// # Errors
    /// [`ShellError::Closed`] when the task has ended.
    pub fn tap(&self, capacity: usize) -> Result<mpsc::Receiver<TappedPacket>, ShellError> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        self.send(Command::Tap(tx))?;
        Ok(rx)
    }

    /// Ends the relay: closes its sockets, gives its ports back to the pool (both done when
    /// this returns) and returns the final statistics.
    ///
    /// # Errors
    /// [`ShellError::Closed`] when the task had already ended without reporting.
    pub async fn close(mut self) -> Result<RelayStats, ShellError> {
        let _ = self.send(Command::Close);
        match self.done.take().ok_or(ShellError::Closed)? {
            Done::Task(task) => task.await.map_err(|_| ShellError::Closed),
            #[cfg(target_os = "linux")]
            Done::Ring(stats) => stats.await.map_err(|_| ShellError::Closed),
        }
    }

    fn send(&self, command: Command) -> Result<(), ShellError> {
        match &self.commands {
            CommandTx::Task(tx) => tx.send(Box::new(command)).map_err(|_| ShellError::Closed),
            #[cfg(target_os = "linux")]
            CommandTx::Ring(call) => call.send(command),
        }
    }

    /// A handle over a call the io_uring relay thread serves.
    #[cfg(target_os = "linux")]
    pub(crate) fn ring(
        call: super::ring::CallRef,
        done: oneshot::Receiver<RelayStats>,
        local: [Option<LegAddrs>; 2],
    ) -> RelayHandle {
        RelayHandle {
            commands: CommandTx::Ring(call),
            done: Some(Done::Ring(done)),
            local,
        }
    }
}

/// A B2BUA call's two socket pairs, bound by `bind` (each shell's kind of socket), and its
/// core; shared by [`spawn_relay`] and the io_uring thread's `spawn_relay`. A pair already
/// bound is released (its lease dropped) when the second bind or the core fails.
pub(crate) fn bind_call<S>(
    config: ShellConfig,
    a: LegSetup,
    b: LegSetup,
    bind: impl Fn(IpAddr) -> Result<SocketPair<S>, ShellError>,
) -> Result<(SocketPair<S>, SocketPair<S>, Relay), ShellError> {
    let pair_a = bind(config.bind_ip)?;
    let pair_b = bind(config.bind_ip)?;
    let relay = Relay::new(
        Instant::now(),
        config.relay,
        a.config(pair_a.ports()),
        b.config(pair_b.ports()),
    )?;
    Ok((pair_a, pair_b, relay))
}

/// Binds an endpoint call's one socket leg with `bind` and builds its core, leg B being
/// the in-process side (both shells).
pub(crate) fn bind_endpoint<S>(
    config: ShellConfig,
    a: LegSetup,
    bind: impl Fn(IpAddr) -> Result<SocketPair<S>, ShellError>,
) -> Result<(SocketPair<S>, Relay), ShellError> {
    let pair_a = bind(config.bind_ip)?;
    let in_process = RemoteMedia {
        rtcp_mux: true,
        ..RemoteMedia::new(IN_PROCESS_ADDR)
    };
    let b = LegSetup {
        remote: in_process,
        rtp_symmetric: false,
        clock_rate: a.clock_rate,
    };
    let relay = Relay::new(
        Instant::now(),
        config.relay,
        a.config(pair_a.ports()),
        b.config(PortPair { rtp: 0, rtcp: 0 }),
    )?;
    Ok((pair_a, relay))
}

/// Starts relaying a call between two SIP legs (B2BUA, `direct_media=no`): binds an RTP/RTCP
/// socket pair per leg from `pool` and spawns the call's task on the current tokio runtime.
///
/// # Errors
/// [`ShellError::NoRuntime`] outside a runtime, [`ShellError::Ports`] when the pool is
/// exhausted, [`ShellError::Bind`], [`ShellError::Relay`] for a refused [`RelayConfig`].
/// Ports already booked are released on error.
///
/// ```
/// use freya_media::relay::{spawn_relay, LegId, LegSetup, PortPool, ShellConfig, SharedPortPool};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let pool = SharedPortPool::new(PortPool::new(21_000..=21_099)?);
/// let config = ShellConfig { bind_ip: "127.0.0.1".parse()?, ..ShellConfig::default() };
/// // Before either SDP is known: allocate, put the ports in our SDP, update_remote later.
/// let (relay, _events) = spawn_relay(&pool, config, LegSetup::default(), LegSetup::default())?;
/// let a = relay.local(LegId::A).expect("a socket leg");
/// assert_eq!(a.rtcp.port(), a.rtp.port() + 1);
/// assert_eq!(pool.in_use(), 2);
/// relay.close().await?;
/// assert_eq!(pool.in_use(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn spawn_relay(
    pool: &SharedPortPool,
    config: ShellConfig,
    a: LegSetup,
    b: LegSetup,
) -> Result<(RelayHandle, RelayEvents), ShellError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| ShellError::NoRuntime)?;
    let _guard = runtime.enter();
    let (pair_a, pair_b, relay) = bind_call(config, a, b, |ip| pool.bind_pair(ip))?;
    let a_io = LegIo::socket(pair_a);
    let b_io = LegIo::socket(pair_b);
    let local = [a_io.local_addrs(), b_io.local_addrs()];
    Ok(start(&runtime, config, relay, [a_io, b_io], None, local))
}

/// Starts a call whose SIP leg A is relayed to in-process code instead of a second peer:
/// binds one RTP/RTCP socket pair for leg A and returns, beside the handle, the
/// [`MediaEndpoint`] through which the caller receives the peer's media (after latching and
/// bleed protection) and sends its own (whole RTP packets; the core checks and counts them
/// as leg B's). Used for the WebSocket agent bridge and for an echo.
///
/// # Errors
/// As [`spawn_relay`].
///
/// ```
/// use freya_media::relay::{spawn_endpoint, LegId, LegSetup, PortPool, ShellConfig, SharedPortPool};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let pool = SharedPortPool::new(PortPool::new(21_100..=21_199)?);
/// let config = ShellConfig { bind_ip: "127.0.0.1".parse()?, ..ShellConfig::default() };
/// let (relay, endpoint, _events) = spawn_endpoint(&pool, config, LegSetup::default())?;
/// assert!(relay.local(LegId::A).is_some());
/// assert!(relay.local(LegId::B).is_none()); // in-process
/// assert_eq!(pool.in_use(), 1);
/// drop(endpoint);
/// relay.close().await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn spawn_endpoint(
    pool: &SharedPortPool,
    config: ShellConfig,
    a: LegSetup,
) -> Result<(RelayHandle, MediaEndpoint, RelayEvents), ShellError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| ShellError::NoRuntime)?;
    let _guard = runtime.enter();
    let (pair_a, relay) = bind_endpoint(config, a, |ip| pool.bind_pair(ip))?;
    let capacity = config.endpoint_capacity.max(1);
    let link = EndpointLink::new(capacity);
    let a_io = LegIo::socket(pair_a);
    let local = [a_io.local_addrs(), None];
    let side = EndpointSide {
        link: Arc::clone(&link),
        closed: false,
    };
    let b_io = LegIo::InProcess;
    let (handle, events) = start(&runtime, config, relay, [a_io, b_io], Some(side), local);
    let endpoint = MediaEndpoint::new(link);
    Ok((handle, endpoint, events))
}

fn start(
    runtime: &tokio::runtime::Handle,
    config: ShellConfig,
    relay: Relay,
    legs: [LegIo; 2],
    endpoint: Option<EndpointSide>,
    local: [Option<LegAddrs>; 2],
) -> (RelayHandle, RelayEvents) {
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::channel(config.event_capacity.max(1));
    let driver = Driver::new(config, relay, legs, endpoint, command_rx, event_tx, local);
    let task = runtime.spawn(driver.run());
    let handle = RelayHandle {
        commands: CommandTx::Task(commands),
        done: Some(Done::Task(task)),
        local,
    };
    (handle, RelayEvents(event_rx))
}
