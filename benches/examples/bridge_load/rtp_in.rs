//! `--rtp-in`: the caller's audio reaches each leg as RTP over UDP, through freya-media's
//! relay, as in the stack (`src/stack/media_sinks.rs`), instead of the feeder calling
//! `LegSender::send_audio` itself.
//!
//! Per leg: a relay endpoint ([`spawn_endpoint`]: one RTP/RTCP socket pair from a port pool,
//! leg A signaled at one of the feeder's sockets, so it latches at once) whose [`RtpSink`]
//! decodes each PCMU packet and hands the samples to the bridge leg in the relay's task
//! (`CallerAudio`); the bridge's caller-bound frames go to a [`FrameSink`] that encodes
//! them as the next packet of an RTP stream and queues it on the endpoint, which sends it
//! back to the feeder's socket (`AgentAudio`). The feeder sends each 20 ms packet with
//! `sendto` from one of [`SOCKETS`] sockets, stamping its payload right before; a task per
//! feeder socket reads and counts the caller-bound packets. So the measured path is
//! `sendto` → loopback → the relay's receive and checks → G.711 decode → the leg's task →
//! JSON + base64 → WebSocket write → TCP loopback → the agent's read: RTP in, WebSocket out.
//! `--ring`: the endpoints are served by freya-media's io_uring relay thread (`RingRelays`)
//! instead of a tokio task each, the sinks running on that thread.

use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use freya_media::bridge::{CallerFrame, LegReceiver, LegSender};
use freya_media::codec::G711Law;
use freya_media::relay::{
    spawn_endpoint, LegSetup, MediaEndpoint, PortPool, RelayHandle, RemoteMedia, SharedPortPool,
    ShellConfig,
};
use freya_media::rtp::{RtpHeader, RtpPacket};

/// Feeder sockets the legs are spread over (each leg signals one as its peer).
pub const SOCKETS: usize = 8;
const PCMU: u8 = 0;

/// Who reads the caller-bound RTP coming back to the feeder (see [`Feeder::start`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Drain {
    Tasks,
    Thread,
    No,
}

/// The feeder's side: its sockets and the tasks counting what comes back.
pub struct Feeder {
    sockets: Vec<StdUdpSocket>,
    /// Caller-bound RTP packets received back, per feeder socket.
    pub returned: Vec<Arc<AtomicU64>>,
}

impl Feeder {
    /// Binds the sockets on loopback and, by `drain`, reads what the legs send back (the
    /// caller-bound frames as RTP), counted and discarded: [`Drain::Tasks`], a task per
    /// socket on the bridge's runtime (with the default 1 ms feed ticks); [`Drain::Thread`]
    /// (`--tick-us`), the feeder's own thread once a millisecond ([`Feeder::drain_now`]),
    /// off the bridge's runtime and its CPU figures, as a carrier is; [`Drain::No`] (`--no-drain`): nobody reads them; each socket's receive buffer is shrunk to its
    /// minimum, so once full the kernel drops what comes (counted nowhere): the carrier's
    /// side, which runs on another host in a deployment, then takes no reads and no
    /// wake-ups of this box, as the agent side's epoll sink takes as little as it can.
    pub fn start(drain: Drain) -> std::io::Result<Feeder> {
        let mut sockets = Vec::new();
        let mut returned = Vec::new();
        for _ in 0..SOCKETS {
            let s = StdUdpSocket::bind("127.0.0.1:0")?;
            s.set_nonblocking(true)?;
            let count = Arc::new(AtomicU64::new(0));
            if drain == Drain::Tasks {
                let reader = tokio::net::UdpSocket::from_std(s.try_clone()?)?;
                let c = count.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    while reader.recv_from(&mut buf).await.is_ok() {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                });
            } else if drain == Drain::No {
                shrink_receive_buffer(&s)?;
            }
            sockets.push(s);
            returned.push(count);
        }
        Ok(Feeder { sockets, returned })
    }

    /// The address leg `i` signals as its peer (and receives from).
    pub fn addr(&self, i: usize) -> std::io::Result<SocketAddr> {
        self.sockets[i % SOCKETS].local_addr()
    }

    /// Reads every caller-bound packet waiting on the sockets (nonblocking), counted and
    /// discarded ([`Drain::Thread`]).
    pub fn drain_now(&self, buf: &mut [u8]) {
        for (s, c) in self.sockets.iter().zip(&self.returned) {
            let mut k = 0;
            while s.recv_from(buf).is_ok() {
                k += 1;
            }
            c.fetch_add(k, Ordering::Relaxed);
        }
    }

    /// Sends leg `i`'s packet to its relay address; false when `sendto` failed.
    pub fn send(&self, i: usize, packet: &[u8], to: SocketAddr) -> bool {
        self.sockets[i % SOCKETS].send_to(packet, to).is_ok()
    }
}

/// `SO_RCVBUF` to the kernel's minimum (it doubles and clamps what is asked).
fn shrink_receive_buffer(s: &StdUdpSocket) -> std::io::Result<()> {
    super::sockopt(s, libc::SOL_SOCKET, libc::SO_RCVBUF, &(1 as libc::c_int))
}

/// One leg's RTP side: the relay endpoint the feeder sends to.
pub struct RtpLeg {
    pub relay: RelayHandle,
    /// Kept for the leg's life: dropping it would end the relay's in-process side.
    pub _endpoint: MediaEndpoint,
    /// The relay's RTP address for the feeder.
    pub target: SocketAddr,
}

/// A port pool with a pair per leg.
pub fn pool(legs: u32) -> Result<SharedPortPool, Box<dyn std::error::Error>> {
    let first = 20_000u16;
    let last = first + u16::try_from(legs * 2 + 10)?;
    Ok(SharedPortPool::new(PortPool::new(first..=last)?))
}

/// Puts a relay endpoint in front of leg `i` (see the module docs): a tokio task, or on
/// `ring`'s thread (`--ring`, as the stack with `[media] relay_io = "io_uring"`).
pub fn attach(
    i: usize,
    pool: &SharedPortPool,
    ring: Option<&freya_media::relay::RingRelays>,
    feeder: &Feeder,
    sender: LegSender,
    receiver: &mut LegReceiver,
    caller_frames: Arc<AtomicU64>,
) -> Result<RtpLeg, Box<dyn std::error::Error>> {
    let config = ShellConfig {
        bind_ip: [127, 0, 0, 1].into(),
        ..ShellConfig::default()
    };
    let setup = LegSetup::new(RemoteMedia::new(feeder.addr(i)?));
    let (relay, mut endpoint, _events) = match ring {
        Some(ring) => ring.spawn_endpoint(pool, config, setup)?,
        None => spawn_endpoint(pool, config, setup)?,
    };
    let target = relay
        .local(freya_media::relay::LegId::A)
        .ok_or("the endpoint has no socket")?
        .rtp;
    // Caller → agent, in the relay's task.
    let mut pcm: Vec<i16> = Vec::with_capacity(160);
    endpoint.set_rtp_sink(Box::new(move |p: &RtpPacket| {
        if p.payload_type() != PCMU {
            return false;
        }
        pcm.clear();
        G711Law::Ulaw.decode_into(p.payload(), &mut pcm);
        let _ = sender.send_audio(&pcm); // refusals are the bridge's counters
        true
    }));
    // Agent → caller, in the leg's task.
    let to_caller = endpoint.sender();
    let (mut seq, ssrc) = (0u16, 0x5EED_0000 | i as u32);
    let mut codes = Vec::with_capacity(160);
    receiver.set_frame_sink(Box::new(move |f: &CallerFrame| {
        caller_frames.fetch_add(1, Ordering::Relaxed);
        codes.clear();
        G711Law::Ulaw.encode_into(&f.samples, &mut codes);
        let mut wire = BytesMut::with_capacity(12 + codes.len());
        if RtpHeader::new(PCMU, seq, u32::from(seq).wrapping_mul(160), ssrc)
            .write(&codes, &mut wire)
            .is_ok()
        {
            let _ = to_caller.try_send(wire.freeze());
        }
        seq = seq.wrapping_add(1);
    }));
    Ok(RtpLeg {
        relay,
        _endpoint: endpoint,
        target,
    })
}

/// Leg `leg`'s packet `seq` with `codes` (160 μ-law codes) as payload.
pub fn packet(leg: u32, seq: u32, codes: &[u8], wire: &mut BytesMut) {
    wire.clear();
    let _ = RtpHeader::new(PCMU, seq as u16, seq.wrapping_mul(160), leg).write(codes, wire);
}
