//! The default sink: one thread, one epoll loop, WebSocket frames parsed by hand. It stands
//! for an agent on another host, so it should take as little of this box's CPU as it can.

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use freya_media::bridge::upgrade::{accept_response, parse_request, HeadKind, HeadReader};

use super::{now_ns, rss_kb, Tally};

/// Bytes read per readable socket per wake.
const READ: usize = 64 * 1024;
/// Largest frame accepted (the bridge's own `max_message_size`).
const MAX_FRAME: u64 = 1 << 20;
const LISTENER: u64 = u64::MAX;
/// The sink gives up after this long without any event (the load side died).
const IDLE: Duration = Duration::from_secs(60);

/// An epoll instance (level-triggered interest in readability).
struct Epoll(RawFd);

impl Epoll {
    fn new() -> std::io::Result<Epoll> {
        // SAFETY: no pointers; the fd is owned by the returned value.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Epoll(fd))
    }

    fn add(&self, fd: RawFd, token: u64) -> std::io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
            u64: token,
        };
        // SAFETY: `ev` outlives the call; both fds are open.
        if unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout_ms` for events; how many were written to `events`.
    fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> usize {
        let max = events.len().min(i32::MAX as usize) as i32;
        // SAFETY: the kernel writes at most `max` events into `events`.
        let n = unsafe { libc::epoll_wait(self.0, events.as_mut_ptr(), max, timeout_ms) };
        n.max(0) as usize // EINTR: no events this turn
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: the fd is ours and closed once.
        unsafe { libc::close(self.0) };
    }
}

/// A frame's header, read from the start of a buffer (RFC 6455 §5.2).
#[derive(Debug, PartialEq, Eq)]
struct Frame {
    fin: bool,
    opcode: u8,
    /// The payload's place in the buffer (unmasked in place).
    payload: Range<usize>,
}

/// The frame at the start of `data` once all of it is there (`None` while it is not);
/// a masked payload (every client frame, §5.3) is unmasked in place.
fn frame(data: &mut [u8]) -> Result<Option<Frame>, String> {
    let Some(&[b0, b1]) = data.get(..2) else {
        return Ok(None);
    };
    let (len, mut at) = match b1 & 0x7F {
        126 => match data.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match data.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            Some(b) => (u64::from_be_bytes(b), 10),
            None => return Ok(None),
        },
        l => (u64::from(l), 2),
    };
    if len > MAX_FRAME {
        return Err(format!("frame of {len} bytes, over {MAX_FRAME}"));
    }
    let mask = if b1 & 0x80 != 0 {
        let Some(m) = data
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
        else {
            return Ok(None);
        };
        at += 4;
        Some(m)
    } else {
        None
    };
    let end = at + len as usize;
    let Some(payload) = data.get_mut(at..end) else {
        return Ok(None);
    };
    if let Some(m) = mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= m[i & 3];
        }
    }
    Ok(Some(Frame {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0F,
        payload: at..end,
    }))
}

enum Phase {
    Head(HeadReader),
    Open,
}

struct Conn {
    tcp: TcpStream,
    phase: Phase,
    /// Bytes of a frame not yet whole, kept for the next read.
    pending: Vec<u8>,
    /// A text message arriving in fragments (§5.4).
    fragments: Option<Vec<u8>>,
    last_seq: Option<u32>,
    /// The kernel's receive time (ns, `CLOCK_REALTIME`) of the last read's newest bytes.
    wire: Option<u64>,
}

/// Asks the kernel to stamp what arrives on `socket` (`SO_TIMESTAMPNS`, software, at the
/// loopback's receive: the moment the sender's write reached this socket). Set on the
/// listener, so that every accepted connection inherits it before its first byte.
fn stamp_arrivals(socket: &impl AsRawFd) -> std::io::Result<()> {
    super::sockopt(
        socket,
        libc::SOL_SOCKET,
        libc::SO_TIMESTAMPNS,
        &(1 as libc::c_int),
    )
}

/// One `recvmsg` into `buf`: the bytes read and, when the socket stamps arrivals, the
/// kernel's receive time of the newest of them (TCP gives the last segment's stamp, so
/// for older bytes in the same read it is late: the latency it gives is an upper bound).
fn read_stamped(tcp: &TcpStream, buf: &mut [u8]) -> std::io::Result<(usize, Option<u64>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; 16]; // 128 bytes, aligned for cmsghdr
                                  // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` points at `iov` (into `buf`) and `control`, both live and writable.
    let n = unsafe { libc::recvmsg(tcp.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut wire = None;
    // SAFETY: the CMSG_* walk stays within `msg.msg_control`/`msg_controllen`, which the
    // kernel filled; SCM_TIMESTAMPNS carries one timespec.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                wire = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, wire))
}

impl Conn {
    /// One read (at most `buf.len()` bytes) and everything it completes; false when
    /// the connection is over.
    fn readable(&mut self, buf: &mut [u8], tally: &mut Tally, warmup: u32) -> bool {
        let n = match read_stamped(&self.tcp, buf) {
            Ok((0, _)) => return false,
            Ok((n, wire)) => {
                self.wire = wire;
                n
            }
            Err(e) => return matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted),
        };
        if matches!(self.phase, Phase::Head(_)) {
            return self.head(&buf[..n], tally, warmup);
        }
        if self.pending.is_empty() {
            // The usual case: the read ends on a message boundary, nothing is copied.
            let Some(used) = self.frames(&mut buf[..n], tally, warmup) else {
                return false;
            };
            self.pending.extend_from_slice(&buf[used..n]);
        } else {
            let mut data = std::mem::take(&mut self.pending);
            data.extend_from_slice(&buf[..n]);
            let Some(used) = self.frames(&mut data, tally, warmup) else {
                return false;
            };
            data.drain(..used);
            self.pending = data;
        }
        true
    }

    /// Opening handshake bytes (RFC 6455 §4.2): the 101 once the request is whole,
    /// then the frames that came with it.
    fn head(&mut self, bytes: &[u8], tally: &mut Tally, warmup: u32) -> bool {
        let Phase::Head(reader) = &mut self.phase else {
            return false;
        };
        let mut bytes = bytes;
        let head = loop {
            let Ok(space) = reader.space() else {
                return false;
            };
            let k = space.len().min(bytes.len());
            space[..k].copy_from_slice(&bytes[..k]);
            bytes = &bytes[k..];
            match reader.filled(k) {
                Ok(Some(head)) => break head,
                Ok(None) if bytes.is_empty() => return true,
                Ok(None) => {}
                Err(_) => return false,
            }
        };
        let Ok(req) = parse_request(&head.bytes) else {
            return false;
        };
        // ~130 bytes into a fresh socket's empty send buffer: written whole or not at all.
        let answer = accept_response(&req.key, None);
        if !matches!(self.tcp.write(&answer), Ok(k) if k == answer.len()) {
            return false;
        }
        self.phase = Phase::Open;
        let mut rest = head.leftover;
        rest.extend_from_slice(bytes);
        let Some(used) = self.frames(&mut rest, tally, warmup) else {
            return false;
        };
        rest.drain(..used);
        self.pending = rest;
        true
    }

    /// The whole frames at the start of `data`: how many bytes they took, `None` when
    /// the connection is over (Close, or a frame it cannot take).
    fn frames(&mut self, data: &mut [u8], tally: &mut Tally, warmup: u32) -> Option<usize> {
        let mut at = 0;
        loop {
            let f = match frame(&mut data[at..]) {
                Ok(Some(f)) => f,
                Ok(None) => return Some(at),
                Err(_) => return None,
            };
            let payload = &data[at + f.payload.start..at + f.payload.end];
            match (f.opcode, f.fin) {
                (0x1, true) => self.text(payload, tally, warmup),
                (0x1, false) => self.fragments = Some(payload.to_vec()),
                (0x0, fin) => {
                    if let Some(m) = &mut self.fragments {
                        m.extend_from_slice(payload);
                    }
                    if fin {
                        if let Some(m) = self.fragments.take() {
                            self.text(&m, tally, warmup);
                        }
                    }
                }
                (0x8, _) => {
                    // §5.5.1: answer with a Close echoing the status code; then the
                    // server closes the TCP connection first (§7.1.1).
                    let reply = match payload.get(..2) {
                        Some(code) => vec![0x88, 2, code[0], code[1]],
                        None => vec![0x88, 0],
                    };
                    let _ = self.tcp.write(&reply);
                    return None;
                }
                (0x9, _) if payload.len() <= 125 => {
                    let mut pong = vec![0x8A, payload.len() as u8];
                    pong.extend_from_slice(payload);
                    let _ = self.tcp.write(&pong);
                }
                _ => {} // binary, pong: not what a Twilio agent is sent
            }
            at += f.payload.end;
        }
    }

    fn text(&mut self, payload: &[u8], tally: &mut Tally, warmup: u32) {
        let arrived = now_ns();
        match std::str::from_utf8(payload) {
            Ok(t) => tally.text(t, arrived, self.wire, &mut self.last_seq, warmup),
            Err(_) => tally.other += 1,
        }
    }
}

/// Accepts on `addr` until every WebSocket that opened has closed, then prints the
/// summary.
///
/// `nap`: after each round of reads, the sink sleeps that long before it looks again
/// (`--sink-nap-us`): an agent host's wake-ups are its own, and a sink asleep is not woken by
/// each segment the bridge sends (no wake-up in the bridge's send path). The kernel's stamps
/// (`wire_*`, `tap_*`) do not depend on when the sink reads; its own clock (`p*_us`) then
/// includes the nap.
pub fn run(
    addr: SocketAddr,
    warmup: u32,
    tap: bool,
    nap: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind(addr)?;
    let tap = match tap {
        true => Some(super::tap::Tap::start(
            listener.local_addr()?.port(),
            warmup,
        )?),
        false => None,
    };
    listener.set_nonblocking(true)?;
    stamp_arrivals(&listener)?;
    let rss_start = rss_kb();
    println!("ready {}", listener.local_addr()?);
    let epoll = Epoll::new()?;
    epoll.add(listener.as_raw_fd(), LISTENER)?;
    let mut conns: Vec<Option<Conn>> = Vec::new(); // by fd
    let mut tally = Tally::default();
    let (mut open, mut opened) = (0u64, 0u64);
    let mut buf = vec![0u8; READ];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut last_event = Instant::now();
    while opened == 0 || open > 0 {
        if !nap.is_zero() {
            std::thread::sleep(nap);
        }
        let n = epoll.wait(&mut events, 1000);
        if n == 0 {
            if last_event.elapsed() > IDLE {
                eprintln!("sink: no event for {IDLE:?}, {open} connections open; giving up");
                break;
            }
            continue;
        }
        last_event = Instant::now();
        for ev in &events[..n] {
            let token = ev.u64;
            if token == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((tcp, _)) => {
                            let fd = tcp.as_raw_fd();
                            if tcp.set_nonblocking(true).is_err()
                                || tcp.set_nodelay(true).is_err()
                                || epoll.add(fd, fd as u64).is_err()
                            {
                                continue;
                            }
                            let fd = fd as usize;
                            if conns.len() <= fd {
                                conns.resize_with(fd + 1, || None);
                            }
                            conns[fd] = Some(Conn {
                                tcp,
                                phase: Phase::Head(HeadReader::new(HeadKind::Request)),
                                pending: Vec::new(),
                                fragments: None,
                                last_seq: None,
                                wire: None,
                            });
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => break, // WouldBlock: all taken
                    }
                }
                continue;
            }
            let fd = token as usize;
            let Some(conn) = conns.get_mut(fd).and_then(Option::as_mut) else {
                continue;
            };
            let was_open = matches!(conn.phase, Phase::Open);
            let keep = conn.readable(&mut buf, &mut tally, warmup);
            // Counted as the tokio sink counts: from the 101 to the end.
            let is_open = matches!(conn.phase, Phase::Open);
            if is_open && !was_open {
                open += 1;
                opened += 1;
            }
            if !keep {
                if is_open {
                    open -= 1;
                }
                conns[fd] = None; // closing the fd takes it out of the epoll set
            }
        }
    }
    let tap = tap.map(super::tap::Tap::finish).transpose()?;
    tally.report("epoll", opened, Some(READ), rss_start, tap);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{stamp, ulaw_encode, FRAME};
    use super::*;
    use base64::Engine as _;
    use std::io::Read;

    /// A client frame (masked, §5.3) with the 7-, 16- or 64-bit length its size needs.
    fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xFA, 0x21, 0x3D];
        let mut f = vec![b0];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        f
    }

    fn media(seq: u32) -> String {
        let mut samples = [0i16; FRAME];
        stamp(&mut samples, 7, seq, now_ns());
        let codes: Vec<u8> = samples.iter().map(|&s| ulaw_encode(s)).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(codes);
        format!(r#"{{"event":"media","streamSid":"MZ1","media":{{"payload":"{b64}"}}}}"#)
    }

    /// The handshake and frames of every kind, read `step` bytes at a time, so that
    /// the head, every length field and every payload are split across reads.
    #[test]
    fn frames_split_anywhere_are_parsed_and_close_is_answered() {
        for step in [1, 3, 7, 200, 64 * 1024] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            stamp_arrivals(&listener).unwrap();
            let addr = listener.local_addr().unwrap();
            let (m0, m1) = (media(0), media(1));
            let mut bytes = b"GET /media HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
                Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
                .to_vec();
            bytes.extend(client_frame(0x81, br#"{"event":"start"}"#));
            bytes.extend(client_frame(0x81, m0.as_bytes()));
            bytes.extend(client_frame(0x82, &vec![9u8; 70_000])); // binary, 64-bit length
            bytes.extend(client_frame(0x89, b"hi")); // ping
            bytes.extend(client_frame(0x01, &m1.as_bytes()[..100])); // fragments
            bytes.extend(client_frame(0x80, &m1.as_bytes()[100..]));
            bytes.extend(client_frame(0x88, &[0x03, 0xE8])); // close, 1000
            let client = std::thread::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                c.write_all(&bytes).unwrap();
                let mut back = Vec::new();
                c.read_to_end(&mut back).unwrap();
                back
            });
            let (tcp, _) = listener.accept().unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut conn = Conn {
                tcp,
                phase: Phase::Head(HeadReader::new(HeadKind::Request)),
                pending: Vec::new(),
                fragments: None,
                last_seq: None,
                wire: None,
            };
            let (mut tally, mut buf) = (Tally::default(), vec![0u8; step]);
            let mut reads = 0;
            while conn.readable(&mut buf, &mut tally, 0) {
                reads += 1;
                assert!(reads < 200_000, "step {step}: no end");
            }
            drop(conn);
            let back = client.join().unwrap();
            let text = String::from_utf8_lossy(&back);
            assert!(text.starts_with("HTTP/1.1 101 "), "step {step}: {text}");
            assert!(text.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{text}");
            let frames = &back[back.len() - 8..];
            assert_eq!(
                frames,
                [0x8A, 2, b'h', b'i', 0x88, 2, 0x03, 0xE8],
                "step {step}"
            );
            let (media, other) = (tally.media, tally.other);
            assert_eq!((media, other, tally.unstamped), (2, 1, 0), "step {step}");
            assert_eq!((tally.lat_us.len(), tally.bad_order), (2, 0), "step {step}");
            // Every read is stamped by the kernel, no later than the sink's own clock.
            assert_eq!(tally.wire_us.len(), 2, "step {step}");
            assert!(
                tally.wire_us.iter().zip(&tally.lat_us).all(|(w, l)| w <= l),
                "{:?} {:?}",
                tally.wire_us,
                tally.lat_us
            );
            assert!(
                tally.lat_us.iter().all(|&us| us < 5_000_000),
                "{:?}",
                tally.lat_us
            );
        }
    }
}
