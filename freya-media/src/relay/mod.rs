//! The media relay: every call's RTP goes through freya (`direct_media=no`).
//!
//! Two sans-IO parts, no sockets or clocks inside:
//!
//! - the RTP port pool ([`PortPool`]): which even UDP port (RTP, with RTCP on the odd port
//!   above it, RFC 3550 §11) a new call leg gets, and when a port may be handed out again.
//!   Binding the sockets is the tokio shell's job; when a bind fails the shell marks the port
//!   bad ([`PortPool::mark_bad`]) and asks for another;
//! - the symmetric relay of one call ([`Relay`]): two legs, each latched onto its peer's
//!   source with RTP-bleed protection ([`LatchPolicy`]), hold, re-INVITE updates, the no-RTP
//!   timeout, per-leg counters ([`LegStats`]) and per-SSRC statistics.
//!
//! And the tokio shell around them: [`spawn_relay`] (a B2BUA call: two SIP legs) and
//! [`spawn_endpoint`] (one SIP leg whose media in-process code terminates through a
//! [`MediaEndpoint`]) bind each leg's sockets from a [`SharedPortPool`], run one task per call
//! that feeds the core, and hand back a [`RelayHandle`] (local addresses for the SDP,
//! `update_remote` for re-INVITEs, stats, tap, close) and the call's [`RelayEvents`].
//!
//! ```
//! use freya_media::relay::{PortPool, PortError};
//!
//! let mut pool = PortPool::new(10_000..=10_003)?; // two pairs: 10000/10001, 10002/10003
//! let a = pool.allocate()?;
//! let b = pool.allocate()?;
//! assert_eq!((a.rtp, a.rtcp, b.rtp), (10_000, 10_001, 10_002));
//! assert!(matches!(pool.allocate(), Err(PortError::Exhausted { .. })));
//! pool.release(a.rtp)?;
//! assert_eq!(pool.allocate()?.rtp, 10_000);
//! # Ok::<(), freya_media::relay::PortError>(())
//! ```

mod core;
mod driver;
mod endpoint;
mod latch;
mod leg;
pub mod ports;
#[cfg(target_os = "linux")]
mod ring;
mod shell;
mod sockets;
mod udp;
mod wake;

pub use self::core::{
    PacketKind, PacketOutcome, Relay, RelayConfig, RelayError, RelayEvent, Transmit,
};
pub use endpoint::{
    EndpointReceiver, EndpointSender, MediaEndpoint, MediaPacket, RtpSink, TappedPacket,
};
pub use latch::{LatchPolicy, LatchReason};
pub use leg::{Direction, DropCounts, DropReason, LegConfig, LegId, LegStats, RemoteMedia};
pub use ports::{PortError, PortPair, PortPool, PortPoolStats, DEFAULT_PORT_RANGE};
#[cfg(target_os = "linux")]
pub use ring::{RingOptions, RingRelays};
pub use shell::{
    spawn_endpoint, spawn_relay, IoStats, LegAddrs, LegReport, LegSetup, RelayEvents, RelayHandle,
    RelayStats, ShellConfig, ShellError, ShellEvent, IN_PROCESS_ADDR,
};
pub use sockets::SharedPortPool;
