//! `--tap`: when each media message leaves the bridge, taken by the kernel, not by the sink.
//!
//! The sink's own clock (`p99_us`) includes its wake-up and read; the kernel's receive stamp
//! on its socket (`wire_p99_us`) is that of the newest segment a read returns, so a sink that
//! reads late stamps older frames late too. Here a packet socket on `lo` (`AF_PACKET`,
//! `SOCK_DGRAM`, a classic BPF filter keeping IPv4 TCP to the sink's port) gets a copy of
//! every segment the bridge sends to the agent, stamped by the kernel when loopback's receive
//! path hands it to packet sockets (`tpacket_rcv`, `PACKET_HOST`: loopback's outgoing copies
//! are not handed to packet sockets), after the per-CPU backlog queue, usually still within
//! the bridge's own send call: "WebSocket out", some 10 µs after the socket's own receive
//! stamp at p50 at light load (measured). The kernel writes the copies into a `TPACKET_V3`
//! ring shared with this thread, which reads the blocks when it gets the CPU (normal
//! priority): its own scheduling changes nothing in the figures. Each segment's WebSocket frames are parsed (RFC 6455 §5.2,
//! unmasked, §5.3) and each `media` message's stamp read as the sink reads it; a segment that
//! does not start on a frame (the opening handshake, a frame split across segments) is
//! counted (`tap_unaligned`), as are the ring's drops (`tap_drops`, `PACKET_STATISTICS`).
//!
//! Needs `CAP_NET_RAW` (the bench's `chrt` needs root anyway).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use base64::Engine as _;

use super::{sockopt, unstamp};

/// Ring geometry: 64 blocks of 1 MiB, a block handed over after at most 4 ms.
const BLOCK_SIZE: u32 = 1 << 20;
const BLOCKS: u32 = 64;
const FRAME_SIZE: u32 = 2048;
const BLOCK_TIMEOUT_MS: u32 = 4;
const TPACKET_V3: libc::c_int = 2;
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_VERSION: libc::c_int = 10;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_HOST: u8 = 0;
const TP_STATUS_USER: u32 = 1;
/// `TPACKET_ALIGN(sizeof(struct tpacket3_hdr))`: where the `sockaddr_ll` follows it.
const SLL_AT: usize = 48;

#[repr(C)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

#[repr(C)]
#[derive(Default)]
struct TpacketStatsV3 {
    packets: u32,
    drops: u32,
    freeze_q_cnt: u32,
}

/// What the tap saw.
#[derive(Default)]
pub struct TapTally {
    /// Latency (µs) from the feeder's stamp to the segment's transmission, per message.
    pub out_us: Vec<u32>,
    pub segments: u64,
    pub unaligned: u64,
    pub drops: u64,
}

/// The running tap: its thread and the flag that stops it.
pub struct Tap {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<io::Result<TapTally>>,
}

impl Tap {
    /// Opens the tap on `lo` for TCP segments to `port` and starts its reader thread, at
    /// normal priority (it needs none: the kernel stamps). `warmup`: messages with a
    /// sequence number below it are left out, as the sink leaves them.
    pub fn start(port: u16, warmup: u32) -> io::Result<Tap> {
        let ring = Ring::open(port)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("tap".into())
            .spawn(move || {
                let param = libc::sched_param { sched_priority: 0 };
                // SAFETY: pid 0 = this thread; `param` lives across the call.
                unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &param) };
                ring.run(&stopping, warmup)
            })?;
        Ok(Tap { stop, thread })
    }

    /// Stops the thread once it has read what the ring holds; what it saw.
    pub fn finish(self) -> io::Result<TapTally> {
        self.stop.store(true, Ordering::Release);
        self.thread
            .join()
            .map_err(|_| io::Error::other("tap thread panicked"))?
    }
}

struct Ring {
    fd: OwnedFd,
    map: *mut u8,
}

// SAFETY: the mapping is only touched by the one thread that owns the `Ring`.
unsafe impl Send for Ring {}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Ring {
    fn open(port: u16) -> io::Result<Ring> {
        let proto = (libc::ETH_P_IP as u16).to_be();
        // SAFETY: plain socket(2); the fd is owned below.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, i32::from(proto)) };
        check(raw)?;
        // SAFETY: a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        sockopt(&fd, libc::SOL_PACKET, PACKET_VERSION, &TPACKET_V3)?;
        // Classic BPF on the IP header (SOCK_DGRAM): IPv4 TCP with destination `port`.
        let code = [
            bpf(0x30, 0, 0, 9),               // ldb [9]          protocol
            bpf(0x15, 0, 5, 6),               // jeq #6 (TCP)?    else drop
            bpf(0x28, 0, 0, 6),               // ldh [6]          flags + fragment
            bpf(0x45, 3, 0, 0x1FFF),          // jset #0x1fff     fragment: drop
            bpf(0xB1, 0, 0, 0),               // ldxb 4*([0]&0xf) header length
            bpf(0x48, 0, 0, 2),               // ldh [x+2]        destination port
            bpf(0x15, 1, 0, u32::from(port)), // jeq #port?       accept
            bpf(0x06, 0, 0, 0),               // ret #0           drop
            bpf(0x06, 0, 0, 0xFFFF),          // ret #65535       accept
        ];
        let prog = libc::sock_fprog {
            len: code.len() as u16,
            filter: code.as_ptr() as *mut libc::sock_filter,
        };
        sockopt(&fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)?;
        let req = TpacketReq3 {
            block_size: BLOCK_SIZE,
            block_nr: BLOCKS,
            frame_size: FRAME_SIZE,
            frame_nr: BLOCK_SIZE / FRAME_SIZE * BLOCKS,
            retire_blk_tov: BLOCK_TIMEOUT_MS,
            sizeof_priv: 0,
            feature_req_word: 0,
        };
        sockopt(&fd, libc::SOL_PACKET, PACKET_RX_RING, &req)?;
        let len = (BLOCK_SIZE * BLOCKS) as usize;
        // SAFETY: maps the ring the kernel just allocated for this socket.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_LOCKED,
                fd.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a C string literal.
        let lo = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
        if lo == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = lo as i32;
        // SAFETY: `sll` is a valid sockaddr_ll of the size passed.
        check(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        Ok(Ring {
            fd,
            map: map.cast(),
        })
    }

    /// Reads blocks as the kernel hands them over until `stop`, then what is left.
    fn run(self, stop: &AtomicBool, warmup: u32) -> io::Result<TapTally> {
        let mut tally = TapTally {
            out_us: Vec::with_capacity(1 << 20),
            ..TapTally::default()
        };
        let mut scratch = Vec::with_capacity(4096);
        let mut at = 0u32;
        let mut idle_after_stop = 0;
        loop {
            // SAFETY: block `at` lies within the mapping (at < BLOCKS).
            let block = unsafe { self.map.add((at * BLOCK_SIZE) as usize) };
            // SAFETY: block_status is the aligned u32 at offset 8 of the block descriptor,
            // shared with the kernel: read it atomically.
            let status = unsafe { &*(block.add(8) as *const AtomicU32) };
            if status.load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                if stop.load(Ordering::Acquire) {
                    // One more block timeout for the last partial block, then done.
                    idle_after_stop += 1;
                    if idle_after_stop > 3 {
                        break;
                    }
                }
                let mut pfd = libc::pollfd {
                    fd: self.fd.as_raw_fd(),
                    events: libc::POLLIN | libc::POLLERR,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut pfd, 1, 10) };
                continue;
            }
            fence(Ordering::Acquire);
            // SAFETY: the kernel handed the block over (TP_STATUS_USER): num_pkts at 12 and
            // offset_to_first_pkt at 16, then the packets, each within the block.
            unsafe {
                let num = std::ptr::read(block.add(12) as *const u32);
                let mut off = std::ptr::read(block.add(16) as *const u32) as usize;
                for _ in 0..num {
                    let pkt = block.add(off);
                    let next = std::ptr::read(pkt as *const u32) as usize;
                    let sec = std::ptr::read(pkt.add(4) as *const u32);
                    let nsec = std::ptr::read(pkt.add(8) as *const u32);
                    let snaplen = std::ptr::read(pkt.add(12) as *const u32) as usize;
                    let net = std::ptr::read(pkt.add(26) as *const u16) as usize;
                    let pkttype = *pkt.add(SLL_AT + 10);
                    if pkttype == PACKET_HOST && net + snaplen <= BLOCK_SIZE as usize - off {
                        let bytes = std::slice::from_raw_parts(pkt.add(net), snaplen);
                        let t = u64::from(sec) * 1_000_000_000 + u64::from(nsec);
                        segment(bytes, t, warmup, &mut tally, &mut scratch);
                    }
                    if next == 0 {
                        break;
                    }
                    off += next;
                }
            }
            status.store(0, Ordering::Release); // TP_STATUS_KERNEL: the block goes back
            at = (at + 1) % BLOCKS;
        }
        let mut stats = TpacketStatsV3::default();
        let mut len = std::mem::size_of::<TpacketStatsV3>() as libc::socklen_t;
        // SAFETY: the kernel writes at most `len` bytes into `stats`.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_STATISTICS,
                (&mut stats as *mut TpacketStatsV3).cast(),
                &mut len,
            )
        };
        if rc == 0 {
            tally.drops = u64::from(stats.drops);
        }
        Ok(tally)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `open`, unmapped once.
        unsafe { libc::munmap(self.map.cast(), (BLOCK_SIZE * BLOCKS) as usize) };
    }
}

const fn bpf(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// One captured IPv4 TCP segment to the sink, stamped `t` (ns, `CLOCK_REALTIME`): the
/// `media` messages whose frames it holds from its start.
fn segment(ip: &[u8], t: u64, warmup: u32, tally: &mut TapTally, scratch: &mut Vec<u8>) {
    let Some(&v) = ip.first() else { return };
    let ihl = usize::from(v & 0x0F) * 4;
    let total = ip
        .get(2..4)
        .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    let Some(tcp) = ip.get(ihl..total.min(ip.len())) else {
        return;
    };
    let Some(&off) = tcp.get(12) else { return };
    let Some(mut data) = tcp.get(usize::from(off >> 4) * 4..) else {
        return;
    };
    if data.is_empty() {
        return; // a bare ACK
    }
    tally.segments += 1;
    let mut first = true;
    while !data.is_empty() {
        let Some((opcode, payload, rest)) = ws_frame(data, scratch) else {
            if first {
                tally.unaligned += 1;
            }
            return;
        };
        first = false;
        data = rest;
        if opcode != 1 {
            continue;
        }
        let Ok(text) = std::str::from_utf8(payload) else {
            continue;
        };
        let codes = text
            .find("\"payload\":\"")
            .and_then(|at| text.get(at + 11..at + 11 + 44))
            .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
            .unwrap_or_default();
        if let Some((_leg, seq, sent)) = unstamp(&codes) {
            if seq >= warmup {
                tally.out_us.push((t.saturating_sub(sent) / 1000) as u32);
            }
        }
    }
}

/// The masked client frame at the start of `data` when whole: its opcode, its payload
/// (unmasked into `scratch`) and the bytes after it. `None` when `data` does not start
/// with a plausible client frame or the frame is cut.
fn ws_frame<'d, 's>(data: &'d [u8], scratch: &'s mut Vec<u8>) -> Option<(u8, &'s [u8], &'d [u8])> {
    let (&b0, &b1) = (data.first()?, data.get(1)?);
    let opcode = b0 & 0x0F;
    if b0 & 0x70 != 0 || !matches!(opcode, 0 | 1 | 2 | 8 | 9 | 10) || b1 & 0x80 == 0 {
        return None;
    }
    let (len, mut at) = match b1 & 0x7F {
        126 => (
            usize::from(u16::from_be_bytes([*data.get(2)?, *data.get(3)?])),
            4,
        ),
        127 => (
            usize::try_from(u64::from_be_bytes(data.get(2..10)?.try_into().ok()?)).ok()?,
            10,
        ),
        l => (usize::from(l), 2),
    };
    let mask: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
    at += 4;
    let payload = data.get(at..at.checked_add(len)?)?;
    scratch.clear();
    scratch.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    Some((opcode, scratch.as_slice(), &data[at + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_of_two_masked_frames_gives_both_stamps() {
        let mut samples = [0i16; super::super::FRAME];
        let mut frames = Vec::new();
        for seq in [5u32, 6] {
            super::super::stamp(&mut samples, 3, seq, 1_000_000_000 + u64::from(seq) * 1000);
            let codes: Vec<u8> = samples
                .iter()
                .map(|&s| freya_media::codec::ulaw_encode(s))
                .collect();
            let b64 = base64::engine::general_purpose::STANDARD.encode(codes);
            let text = format!(r#"{{"event":"media","media":{{"payload":"{b64}"}}}}"#);
            let mask = [0x12, 0x34, 0x56, 0x78];
            frames.extend([0x81, 0x80 | 126]);
            frames.extend((text.len() as u16).to_be_bytes());
            frames.extend(mask);
            frames.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        }
        // IPv4 (20 bytes) + TCP (32 bytes, data offset 8) + the frames.
        let mut ip = vec![0u8; 52];
        ip[0] = 0x45;
        let total = (52 + frames.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[20 + 12] = 8 << 4;
        ip.extend(&frames);
        let mut tally = TapTally::default();
        let mut scratch = Vec::new();
        segment(&ip, 1_000_100_000, 0, &mut tally, &mut scratch);
        assert_eq!((tally.segments, tally.unaligned), (1, 0));
        assert_eq!(tally.out_us, vec![95, 94]);
        // A segment starting mid-frame is counted, not guessed at.
        let mut cut = ip[..52].to_vec();
        cut.extend(&frames[10..]);
        let total = cut.len() as u16;
        cut[2..4].copy_from_slice(&total.to_be_bytes());
        segment(&cut, 0, 0, &mut tally, &mut scratch);
        assert_eq!((tally.segments, tally.unaligned), (2, 1));
    }
}
