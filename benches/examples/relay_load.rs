//! Load generator for an RTP relay on loopback: N concurrent one-way streams (one call each)
//! of 20 ms, 172-byte PCMU-sized RTP packets at `--pps` packets per second, through
//! - `freya`: freya-media's relay, every call's task on ONE current-thread tokio runtime on
//!   one OS thread (so its CPU time is "one core"), in this process;
//! - `ring`: freya-media's io_uring relay thread (`RingRelays`): every call on one ring
//!   served by one OS thread, in this process;
//! - `rtpengine`: a running Debian `rtpengine` (userspace, `--table=-1`) driven over its ng
//!   control protocol (offer/answer per call, delete at the end);
//! - `bare`: the least a userspace relay can do, as a floor for the others: one thread,
//!   `epoll_wait` over one socket per stream, each datagram read (`recvfrom`) and sent on
//!   (`sendto`) from a second socket per stream to the stream's far end. No RTP parsing,
//!   latching, statistics or timers: whatever CPU it takes per packet is the kernel's UDP
//!   path plus one syscall each way, which every relay on these sockets pays;
//! - `direct`: no relay (the generator's own cost and loopback latency, the baseline).
//!
//! Each packet carries its send time (ns since the run's start) in its first 8 payload bytes,
//! so the receiver measures one-way latency; the relay's *added* latency is the relay run's
//! percentile less the `direct` run's. The relay's CPU time over the measurement window comes
//! from `/proc/.../schedstat` (the relay thread's for freya, every thread of the process for
//! rtpengine), so "packets per second per core" is forwarded packets/s ÷ CPU fraction.
//!
//! `--receiver sleep` (default): the generator is a current-thread tokio runtime whose
//! receivers wait in epoll, so every forwarded packet's `sendto` in the relay also runs the
//! loopback wake-up of the generator (charged to the relay's CPU; on a NIC it would not be).
//! `--receiver poll`: one generator thread with no runtime sends on a spin-timed, evenly spread
//! schedule and busy-polls its receivers between sends, so nobody sleeps on a receiving socket
//! and the relay pays only for its own work, as with a far end on another host. The generator
//! then needs a core of its own: `--gen-cpu 0 --relay-cpu 1` pins the threads (rtpengine:
//! `taskset -c 1`). `late_sends` counts sends more than 100 µs behind their schedule.
//!
//! ```text
//! cargo build --release -p freya-benches --example relay_load
//! target/release/examples/relay_load --target freya --streams 1000 --seconds 10
//! rtpengine --table=-1 --interface=127.0.0.1 --listen-ng=127.0.0.1:2223 --port-min=30000 \
//!     --port-max=39999 --num-threads=1 --foreground --log-stderr --log-level=4 &
//! target/release/examples/relay_load --target rtpengine --ng 127.0.0.1:2223 --rtpengine-pid $!
//! ```
//! Loopback only; every loop is bounded by `--seconds`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::time::{Duration, Instant};

use freya_media::relay::{
    spawn_relay, LegId, LegSetup, PortPool, RemoteMedia, SharedPortPool, ShellConfig,
};
use tokio::net::UdpSocket;

/// Sockets the generator sends from and receives on (streams are spread over them).
const SOCKETS: usize = 8;
const USAGE: &str = "usage: relay_load [--target freya|ring|bare|rtpengine|direct] \
[--streams N] [--pps N] [--seconds S] [--warmup S] [--ports A-B] [--ng ADDR] \
[--rtpengine-pid PID] [--receiver sleep|poll] [--gen-cpu N] [--relay-cpu N]\n\
(freya: the tokio shell; ring: the io_uring thread; see the header of \
benches/examples/relay_load.rs)";
const PACKET: usize = 172;

#[derive(Debug, Clone)]
struct Args {
    target: String,
    streams: usize,
    pps: u32,
    seconds: f64,
    warmup: f64,
    ports: (u16, u16),
    ng: SocketAddr,
    rtpengine_pid: Option<u32>,
    /// `sleep`: the generator's receivers wait in tokio (epoll) for each datagram, so the
    /// relay's `sendto` also pays for waking them. `poll`: one generator thread busy-polls its
    /// sockets and sends on a spin-timed schedule, as a far end on another host would cost
    /// the relay nothing to wake.
    receiver: String,
    /// CPU to pin the generator thread to (`poll` needs a core of its own).
    gen_cpu: Option<usize>,
    /// CPU to pin freya's relay thread to.
    relay_cpu: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        target: "freya".into(),
        streams: 1000,
        pps: 50,
        seconds: 10.0,
        warmup: 2.0,
        ports: (20_000, 29_999),
        ng: SocketAddr::from(([127, 0, 0, 1], 2223)),
        rtpengine_pid: None,
        receiver: "sleep".into(),
        gen_cpu: None,
        relay_cpu: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = || format!("bad value for {flag}: {v}");
        match flag.as_str() {
            "--target" => a.target = v,
            "--streams" => a.streams = v.parse().map_err(|_| bad())?,
            "--pps" => a.pps = v.parse().map_err(|_| bad())?,
            "--seconds" => a.seconds = v.parse().map_err(|_| bad())?,
            "--warmup" => a.warmup = v.parse().map_err(|_| bad())?,
            "--ng" => a.ng = v.parse().map_err(|_| bad())?,
            "--rtpengine-pid" => a.rtpengine_pid = Some(v.parse().map_err(|_| bad())?),
            "--receiver" => a.receiver = v,
            "--gen-cpu" => a.gen_cpu = Some(v.parse().map_err(|_| bad())?),
            "--relay-cpu" => a.relay_cpu = Some(v.parse().map_err(|_| bad())?),
            "--ports" => {
                let (x, y) = v.split_once('-').ok_or_else(bad)?;
                a.ports = (x.parse().map_err(|_| bad())?, y.parse().map_err(|_| bad())?);
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if !["freya", "ring", "bare", "rtpengine", "direct"].contains(&a.target.as_str()) || a.pps == 0
    {
        return Err("--target freya|ring|bare|rtpengine|direct, --pps > 0".into());
    }
    if !["sleep", "poll"].contains(&a.receiver.as_str()) {
        return Err(format!("--receiver sleep|poll, not {}", a.receiver));
    }
    Ok(a)
}

/// CPU time in ns of the threads `tasks` (from `/proc/<pid>/task/<tid>/schedstat`).
fn cpu_ns(tasks: &[String]) -> u64 {
    tasks
        .iter()
        .filter_map(|t| std::fs::read_to_string(format!("{t}/schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn all_tasks(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().display().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Pins the calling thread to one CPU (Linux `sched_setaffinity`); other systems ignore it.
fn pin_to(cpu: Option<usize>) -> Result<(), String> {
    let Some(cpu) = cpu else { return Ok(()) };
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `set` is a plain bitmask owned by this frame; 0 = the calling thread.
        let rc = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
        };
        if rc != 0 {
            return Err(format!(
                "pinning to CPU {cpu}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

// ---- rtpengine's ng protocol (bencode over UDP) ----

/// A decoded bencode value; integers and lists are skipped (the replies' fields read here are
/// strings).
enum Ben {
    Bytes(Vec<u8>),
    Skipped,
    Dict(BTreeMap<Vec<u8>, Ben>),
}

fn ben_encode(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut sorted = pairs.to_vec();
    sorted.sort();
    let mut out = b"d".to_vec();
    for (k, v) in sorted {
        out.extend(format!("{}:{}{}:", k.len(), k, v.len()).bytes());
        out.extend(v.bytes());
    }
    out.push(b'e');
    out
}

fn ben_decode(s: &[u8], i: &mut usize) -> Option<Ben> {
    match *s.get(*i)? {
        b'i' => {
            let end = *i + s[*i..].iter().position(|&c| c == b'e')?;
            std::str::from_utf8(&s[*i + 1..end])
                .ok()?
                .parse::<i64>()
                .ok()?;
            *i = end + 1;
            Some(Ben::Skipped)
        }
        b'l' | b'd' => {
            let dict = s[*i] == b'd';
            *i += 1;
            let mut map = BTreeMap::new();
            while *s.get(*i)? != b'e' {
                let item = ben_decode(s, i)?;
                if dict {
                    let Ben::Bytes(k) = item else { return None };
                    map.insert(k, ben_decode(s, i)?);
                }
            }
            *i += 1;
            Some(if dict { Ben::Dict(map) } else { Ben::Skipped })
        }
        _ => {
            let colon = *i + s[*i..].iter().position(|&c| c == b':')?;
            let len: usize = std::str::from_utf8(&s[*i..colon]).ok()?.parse().ok()?;
            let v = s.get(colon + 1..colon + 1 + len)?.to_vec();
            *i = colon + 1 + len;
            Some(Ben::Bytes(v))
        }
    }
}

fn ng(sock: &StdUdpSocket, cookie: usize, pairs: &[(&str, &str)]) -> Result<String, String> {
    // The cookie must be unique across runs: rtpengine answers a cookie it has seen with its
    // cached reply (retransmission handling), stale ports included.
    let mut msg = format!("{}_{cookie} ", std::process::id()).into_bytes();
    msg.extend(ben_encode(pairs));
    sock.send(&msg).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65_536];
    let n = sock.recv(&mut buf).map_err(|e| format!("ng: {e}"))?;
    let space = buf[..n]
        .iter()
        .position(|&c| c == b' ')
        .ok_or("ng: no cookie")?;
    let Some(Ben::Dict(d)) = ben_decode(&buf[..n], &mut (space + 1)) else {
        return Err("ng: bad bencode".into());
    };
    let text = |k: &str| match d.get(k.as_bytes()) {
        Some(Ben::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    if text("result") != "ok" {
        return Err(format!(
            "ng {}: {} {}",
            pairs[0].1,
            text("result"),
            text("error-reason")
        ));
    }
    Ok(text("sdp"))
}

fn sdp(addr: SocketAddr) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
        ip = addr.ip(),
        port = addr.port()
    )
}

fn sdp_media_addr(sdp: &str) -> Option<SocketAddr> {
    let ip = sdp
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))?
        .trim();
    let port = sdp.lines().find_map(|l| l.strip_prefix("m=audio "))?;
    let port = port.split_whitespace().next()?;
    format!("{ip}:{port}").parse().ok()
}

/// Sets up one rtpengine call per stream: A (sender) offers, B (receiver) answers; returns
/// where A must send (rtpengine's port on A's side).
fn rtpengine_calls(
    args: &Args,
    from: &[SocketAddr],
    to: &[SocketAddr],
) -> Result<Vec<SocketAddr>, String> {
    let sock = StdUdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    sock.connect(args.ng).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let mut targets = Vec::new();
    for i in 0..args.streams {
        let call = format!("load-{}-{i}", std::process::id());
        let a = from[i % SOCKETS];
        let b = to[i % SOCKETS];
        let offer = sdp(a);
        ng(
            &sock,
            2 * i,
            &[
                ("command", "offer"),
                ("call-id", &call),
                ("from-tag", "a"),
                ("sdp", &offer),
            ],
        )?;
        let answer = sdp(b);
        let to_a = ng(
            &sock,
            2 * i + 1,
            &[
                ("command", "answer"),
                ("call-id", &call),
                ("from-tag", "a"),
                ("to-tag", "b"),
                ("sdp", &answer),
            ],
        )?;
        targets.push(sdp_media_addr(&to_a).ok_or(format!("no media address in {to_a}"))?);
    }
    Ok(targets)
}

fn rtpengine_delete(args: &Args) {
    let Ok(sock) = StdUdpSocket::bind("127.0.0.1:0") else {
        return;
    };
    if sock.connect(args.ng).is_err()
        || sock.set_read_timeout(Some(Duration::from_secs(2))).is_err()
    {
        return;
    }
    for i in 0..args.streams {
        let call = format!("load-{}-{i}", std::process::id());
        let _ = ng(
            &sock,
            1_000_000 + i,
            &[("command", "delete"), ("call-id", &call), ("from-tag", "a")],
        );
    }
}

// ---- freya's relay: one current-thread runtime on its own thread ----

struct FreyaRelay {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
    /// `/proc/<pid>/task/<tid>` of the relay thread.
    task: String,
}

fn start_freya(
    args: &Args,
    from: &[SocketAddr],
    to: &[SocketAddr],
) -> Result<(FreyaRelay, Vec<SocketAddr>), String> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (streams, ports, from, to) = (args.streams, args.ports, from.to_vec(), to.to_vec());
    let relay_cpu = args.relay_cpu;
    let thread = std::thread::spawn(move || {
        if let Err(e) = pin_to(relay_cpu) {
            return drop(ready_tx.send(Err(e)));
        }
        let task =
            std::fs::read_link("/proc/thread-self").map(|p| format!("/proc/{}", p.display()));
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => return drop(ready_tx.send(Err(e.to_string()))),
        };
        rt.block_on(async move {
            let pool = match PortPool::new(ports.0..=ports.1) {
                Ok(p) => SharedPortPool::new(p),
                Err(e) => return drop(ready_tx.send(Err(e.to_string()))),
            };
            let config = ShellConfig { bind_ip: [127, 0, 0, 1].into(), ..ShellConfig::default() };
            let mut relays = Vec::new();
            let mut targets = Vec::new();
            for i in 0..streams {
                let a = LegSetup::new(RemoteMedia::new(from[i % SOCKETS]));
                let b = LegSetup::new(RemoteMedia::new(to[i % SOCKETS]));
                match spawn_relay(&pool, config, a, b) {
                    Ok((relay, _events)) => {
                        targets.extend(relay.local(LegId::A).map(|l| l.rtp));
                        relays.push(relay);
                    }
                    Err(e) => return drop(ready_tx.send(Err(e.to_string()))),
                }
            }
            let _ = ready_tx.send(task.map(|t| (t, targets)).map_err(|e| e.to_string()));
            let _ = stop_rx.await;
            let (mut io_errors, mut dropped) = (0, 0);
            for relay in relays {
                if let Ok(s) = relay.close().await {
                    io_errors += s.io.send_errors + s.io.recv_errors;
                    dropped += s.legs.iter().map(|l| l.counters.dropped.total()).sum::<u64>();
                }
            }
            println!("freya relays closed: {io_errors} socket errors, {dropped} packets dropped by the relays");
        });
    });
    let (task, targets) = ready_rx.recv().map_err(|e| e.to_string())??;
    Ok((FreyaRelay { stop, thread, task }, targets))
}

// ---- freya's io_uring relay thread (`RingRelays`): every call on one ring, one thread ----

#[cfg(target_os = "linux")]
struct RingRelay {
    ring: freya_media::relay::RingRelays,
    relays: Vec<freya_media::relay::RelayHandle>,
    /// `/proc/<pid>/task/<tid>` of the ring's thread.
    task: String,
}

#[cfg(target_os = "linux")]
fn start_ring(
    args: &Args,
    from: &[SocketAddr],
    to: &[SocketAddr],
) -> Result<(RingRelay, Vec<SocketAddr>), String> {
    let before: Vec<String> = all_tasks(std::process::id());
    let ring = freya_media::relay::RingRelays::start().map_err(|e| e.to_string())?;
    // The ring's thread is the one task of this process that was not there before.
    let task = all_tasks(std::process::id())
        .into_iter()
        .find(|t| !before.contains(t))
        .ok_or("the ring's thread was not found in /proc")?;
    if let Some(cpu) = args.relay_cpu {
        let tid: i32 = task
            .rsplit('/')
            .next()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        // SAFETY: a plain bitmask owned by this frame, applied to the ring's thread id.
        let rc = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set)
        };
        if rc != 0 {
            return Err(format!(
                "pinning the ring to CPU {cpu}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    let pool = PortPool::new(args.ports.0..=args.ports.1)
        .map(SharedPortPool::new)
        .map_err(|e| e.to_string())?;
    let config = ShellConfig {
        bind_ip: [127, 0, 0, 1].into(),
        ..ShellConfig::default()
    };
    let (mut relays, mut targets) = (Vec::new(), Vec::new());
    for i in 0..args.streams {
        let a = LegSetup::new(RemoteMedia::new(from[i % SOCKETS]));
        let b = LegSetup::new(RemoteMedia::new(to[i % SOCKETS]));
        let (relay, _events) = ring
            .spawn_relay(&pool, config, a, b)
            .map_err(|e| e.to_string())?;
        targets.extend(relay.local(LegId::A).map(|l| l.rtp));
        relays.push(relay);
    }
    Ok((RingRelay { ring, relays, task }, targets))
}

#[cfg(target_os = "linux")]
impl RingRelay {
    /// Closes every call and prints what the relays counted.
    fn finish(self) {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => return println!("ring relays not closed: {e}"),
        };
        let (mut io_errors, mut dropped) = (0, 0);
        rt.block_on(async {
            for relay in self.relays {
                if let Ok(s) = relay.close().await {
                    io_errors += s.io.send_errors + s.io.recv_errors;
                    dropped += s
                        .legs
                        .iter()
                        .map(|l| l.counters.dropped.total())
                        .sum::<u64>();
                }
            }
        });
        drop(self.ring);
        println!("ring relays closed: {io_errors} socket errors, {dropped} packets dropped by the relays");
    }
}

// ---- `bare`: the floor (epoll + recvfrom + sendto per datagram, nothing else) ----

#[cfg(target_os = "linux")]
struct BareRelay {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
    task: String,
}

#[cfg(target_os = "linux")]
fn start_bare(args: &Args, to: &[SocketAddr]) -> Result<(BareRelay, Vec<SocketAddr>), String> {
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicBool, Ordering};
    let bind = || -> Result<StdUdpSocket, String> {
        let s = StdUdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok(s)
    };
    let mut legs = Vec::new();
    for i in 0..args.streams {
        legs.push((bind()?, bind()?, to[i % SOCKETS]));
    }
    let targets = legs
        .iter()
        .map(|(a, _, _)| a.local_addr().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    // SAFETY: epoll_create1 returns a new descriptor or -1 (checked).
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(format!(
            "epoll_create1: {}",
            std::io::Error::last_os_error()
        ));
    }
    for (i, (a, _, _)) in legs.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: `ep` and the socket are open descriptors; `ev` lives across the call.
        if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, a.as_raw_fd(), &mut ev) } != 0 {
            return Err(format!("epoll_ctl: {}", std::io::Error::last_os_error()));
        }
    }
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let stop_thread = stop.clone();
    let relay_cpu = args.relay_cpu;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = ready_tx.send(pin_to(relay_cpu).and_then(|()| {
            std::fs::read_link("/proc/thread-self")
                .map(|p| format!("/proc/{}", p.display()))
                .map_err(|e| e.to_string())
        }));
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        let mut buf = [0u8; 2048];
        let mut forwarded = 0u64;
        while !stop_thread.load(Ordering::Relaxed) {
            // SAFETY: `events` has room for 256 entries.
            let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), 256, 100) };
            for ev in events.iter().take(n.max(0) as usize) {
                let (a, b, dest) = &legs[ev.u64 as usize];
                while let Ok((len, _)) = a.recv_from(&mut buf) {
                    if b.send_to(&buf[..len], dest).is_ok() {
                        forwarded += 1;
                    }
                }
            }
        }
        // SAFETY: closing the descriptor this thread created and alone uses.
        unsafe { libc::close(ep) };
        forwarded
    });
    let task = ready_rx.recv().map_err(|e| e.to_string())??;
    Ok((BareRelay { stop, thread, task }, targets))
}

// ---- the generator: one current-thread runtime on its own thread ----

struct Measured {
    sent: u64,
    received: u64,
    latencies_us: Vec<u32>,
}

async fn generate(
    args: Args,
    senders: Vec<UdpSocket>,
    receivers: Vec<UdpSocket>,
    targets: Vec<SocketAddr>,
    epoch: Instant,
) -> Measured {
    let window = (
        Duration::from_secs_f64(args.warmup),
        Duration::from_secs_f64(args.warmup + args.seconds),
    );
    let in_window = move |t: Duration| t >= window.0 && t < window.1;
    let mut recv_tasks = Vec::new();
    for socket in receivers {
        recv_tasks.push(tokio::spawn(async move {
            let (mut received, mut lat) = (0u64, Vec::new());
            let mut buf = [0u8; 2048];
            let stop =
                tokio::time::Instant::from_std(epoch + window.1 + Duration::from_millis(500));
            while let Ok(Ok((n, _))) =
                tokio::time::timeout_at(stop, socket.recv_from(&mut buf)).await
            {
                let now = epoch.elapsed();
                if n < 20 {
                    continue;
                }
                let sent = Duration::from_nanos(u64::from_be_bytes(
                    buf[12..20].try_into().unwrap_or_default(),
                ));
                if in_window(sent) {
                    received += 1;
                    lat.push(now.saturating_sub(sent).as_micros().min(u32::MAX as u128) as u32);
                }
            }
            (received, lat)
        }));
    }
    // Streams are spread evenly over the packet interval: tick every 1 ms, stream i sends
    // on ticks where tick % ticks_per_packet == i % ticks_per_packet.
    let ticks_per_packet = (1000 / args.pps).max(1) as usize;
    let mut interval = tokio::time::interval(Duration::from_millis(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut seq = vec![0u16; args.streams];
    let mut packet = [0u8; PACKET];
    packet[0] = 0x80;
    let (mut sent, mut tick) = (0u64, 0usize);
    loop {
        interval.tick().await;
        let now = epoch.elapsed();
        if now >= window.1 {
            break;
        }
        for i in (tick % ticks_per_packet..args.streams).step_by(ticks_per_packet) {
            packet[2..4].copy_from_slice(&seq[i].to_be_bytes());
            packet[4..8].copy_from_slice(&(u32::from(seq[i]) * 160).to_be_bytes());
            packet[8..12].copy_from_slice(&(i as u32).to_be_bytes());
            let t = epoch.elapsed();
            packet[12..20].copy_from_slice(&(t.as_nanos() as u64).to_be_bytes());
            seq[i] = seq[i].wrapping_add(1);
            if senders[i % SOCKETS]
                .send_to(&packet, targets[i])
                .await
                .is_ok()
                && in_window(t)
            {
                sent += 1;
            }
        }
        tick += 1;
    }
    let mut m = Measured {
        sent,
        received: 0,
        latencies_us: Vec::new(),
    };
    for t in recv_tasks {
        if let Ok((r, lat)) = t.await {
            m.received += r;
            m.latencies_us.extend(lat);
        }
    }
    m
}

/// `--receiver poll`: one thread, no runtime. Send `n` (stream `n % streams`) is due at
/// `n × interval / streams`, so sends are spread evenly rather than bunched on 1 ms ticks;
/// between sends the thread reads every receiver with nonblocking `recv_from` until it is
/// empty. Nothing ever sleeps on a receiving socket, so a relay's `sendto` delivers into the
/// queue without waking anybody, and arrivals are stamped within one send's time.
fn generate_polling(
    args: &Args,
    senders: &[StdUdpSocket],
    receivers: &[StdUdpSocket],
    targets: &[SocketAddr],
    epoch: Instant,
) -> (Measured, u64) {
    let window = (
        Duration::from_secs_f64(args.warmup),
        Duration::from_secs_f64(args.warmup + args.seconds),
    );
    let in_window = move |t: Duration| t >= window.0 && t < window.1;
    let spacing_ns = 1e9 / f64::from(args.pps) / args.streams as f64;
    let end = window.1 + Duration::from_millis(500);
    let mut seq = vec![0u16; args.streams];
    let mut packet = [0u8; PACKET];
    packet[0] = 0x80;
    let mut buf = [0u8; 2048];
    let mut m = Measured {
        sent: 0,
        received: 0,
        latencies_us: Vec::new(),
    };
    let (mut n, mut late_sends) = (0u64, 0u64);
    loop {
        let now = epoch.elapsed();
        if now >= end {
            break;
        }
        // At most 4 sends between receive passes, so a backlog cannot blur arrival stamps.
        let mut burst = 0;
        while now < window.1 && burst < 4 && (n as f64 * spacing_ns) as u128 <= now.as_nanos() {
            let i = (n % args.streams as u64) as usize;
            let due = Duration::from_nanos((n as f64 * spacing_ns) as u64);
            packet[2..4].copy_from_slice(&seq[i].to_be_bytes());
            packet[4..8].copy_from_slice(&(u32::from(seq[i]) * 160).to_be_bytes());
            packet[8..12].copy_from_slice(&(i as u32).to_be_bytes());
            let t = epoch.elapsed();
            if in_window(t) && t.saturating_sub(due) > Duration::from_micros(100) {
                late_sends += 1;
            }
            packet[12..20].copy_from_slice(&(t.as_nanos() as u64).to_be_bytes());
            seq[i] = seq[i].wrapping_add(1);
            if senders[i % SOCKETS].send_to(&packet, targets[i]).is_ok() && in_window(t) {
                m.sent += 1;
            }
            n += 1;
            burst += 1;
        }
        for socket in receivers {
            while let Ok((len, _)) = socket.recv_from(&mut buf) {
                let now = epoch.elapsed();
                if len < 20 {
                    continue;
                }
                let sent = Duration::from_nanos(u64::from_be_bytes(
                    buf[12..20].try_into().unwrap_or_default(),
                ));
                if in_window(sent) {
                    m.received += 1;
                    m.latencies_us
                        .push(now.saturating_sub(sent).as_micros().min(u32::MAX as u128) as u32);
                }
            }
        }
    }
    (m, late_sends)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<(), String> {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let args = parse_args()
        .map_err(|e| format!("{e}\nsee the header of benches/examples/relay_load.rs"))?;
    let bind = |n| -> Result<Vec<StdUdpSocket>, String> {
        (0..n)
            .map(|_| {
                let s = StdUdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
                s.set_nonblocking(true).map_err(|e| e.to_string())?;
                Ok(s)
            })
            .collect()
    };
    let senders = bind(SOCKETS)?;
    let receivers = bind(SOCKETS)?;
    let from: Vec<SocketAddr> = senders.iter().filter_map(|s| s.local_addr().ok()).collect();
    let to: Vec<SocketAddr> = receivers
        .iter()
        .filter_map(|s| s.local_addr().ok())
        .collect();

    let mut freya = None;
    #[cfg(target_os = "linux")]
    let mut ring_relay = None;
    #[cfg(target_os = "linux")]
    let mut bare = None;
    let (targets, relay_tasks) = match args.target.as_str() {
        "freya" => {
            let (relay, targets) = start_freya(&args, &from, &to)?;
            let tasks = vec![relay.task.clone()];
            freya = Some(relay);
            (targets, tasks)
        }
        #[cfg(target_os = "linux")]
        "ring" => {
            let (relay, targets) = start_ring(&args, &from, &to)?;
            let tasks = vec![relay.task.clone()];
            ring_relay = Some(relay);
            (targets, tasks)
        }
        #[cfg(target_os = "linux")]
        "bare" => {
            let (relay, targets) = start_bare(&args, &to)?;
            let tasks = vec![relay.task.clone()];
            bare = Some(relay);
            (targets, tasks)
        }
        "rtpengine" => {
            let pid = args
                .rtpengine_pid
                .ok_or("--rtpengine-pid is needed for its CPU time")?;
            (rtpengine_calls(&args, &from, &to)?, all_tasks(pid))
        }
        _ => (
            (0..args.streams).map(|i| to[i % SOCKETS]).collect(),
            Vec::new(),
        ),
    };
    let epoch = Instant::now();
    let gen_args = args.clone();
    let generator = std::thread::spawn(move || {
        pin_to(gen_args.gen_cpu)?;
        if gen_args.receiver == "poll" {
            let (m, late) = generate_polling(&gen_args, &senders, &receivers, &targets, epoch);
            return Ok::<_, String>((m, Some(late)));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let wrap = |v: Vec<StdUdpSocket>| {
                v.into_iter()
                    .map(UdpSocket::from_std)
                    .collect::<Result<Vec<_>, _>>()
            };
            let (s, r) = (
                wrap(senders).map_err(|e| e.to_string())?,
                wrap(receivers).map_err(|e| e.to_string())?,
            );
            let m = generate(gen_args, s, r, targets, epoch).await;
            Ok::<_, String>((m, None))
        })
    });
    std::thread::sleep(Duration::from_secs_f64(args.warmup));
    let cpu0 = cpu_ns(&relay_tasks);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(args.seconds));
    let cpu1 = cpu_ns(&relay_tasks);
    let wall = t0.elapsed().as_secs_f64();
    let (mut m, late_sends) = generator.join().map_err(|_| "generator panicked")??;
    if let Some(relay) = freya {
        let _ = relay.stop.send(());
        let _ = relay.thread.join();
    }
    #[cfg(target_os = "linux")]
    if let Some(relay) = ring_relay {
        relay.finish();
    }
    #[cfg(target_os = "linux")]
    if let Some(relay) = bare {
        relay.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let forwarded = relay.thread.join().unwrap_or(0);
        println!("bare relay closed: {forwarded} datagrams forwarded");
    }
    if args.target == "rtpengine" {
        rtpengine_delete(&args);
    }
    m.latencies_us.sort_unstable();
    let cpu = (cpu1 - cpu0) as f64 / 1e9 / wall;
    let pps = m.received as f64 / args.seconds;
    println!(
        "target={} receiver={} streams={} offered={:.0} pps forwarded={:.0} pps loss={:.3}% relay_cpu={:.1}% of one core{} latency_us p50={} p99={} p99.9={} max={}{}",
        args.target,
        args.receiver,
        args.streams,
        m.sent as f64 / args.seconds,
        pps,
        100.0 * (m.sent.saturating_sub(m.received)) as f64 / m.sent.max(1) as f64,
        100.0 * cpu,
        if cpu > 0.0 { format!(" => {:.0} pps per core", pps / cpu) } else { String::new() },
        percentile(&m.latencies_us, 0.5),
        percentile(&m.latencies_us, 0.99),
        percentile(&m.latencies_us, 0.999),
        m.latencies_us.last().copied().unwrap_or(0),
        late_sends.map(|l| format!(" late_sends={l}")).unwrap_or_default(),
    );
    Ok(())
}
