//! Bridge load: RTP-in → WebSocket-out latency and memory per bridged call for freya-media's
//! WebSocket bridge (media issue, point 11). Goals: p99 < 1 ms; < 50 KB per bridged call.
//!
//! `bridge_load [N] [SECONDS] [--drain-tasks] [--tokio-sink] [--rtp-in [--ring] [--no-drain]]
//! [--tick-us US] [--tap] [--sink-nap-us US]`
//! (defaults 1000, 20; `--help` prints this usage) starts a
//! sink in a child process (this same binary, `bridge_load sink ADDR WARMUP_FRAMES
//! [--tokio-sink]`): a minimal Twilio-Media-Streams agent that reads every message and, for
//! each `media` one, decodes the start of the μ-law payload. The load side then opens `N`
//! legs with [`connect`] ([`BridgeConfig::twilio`], the protocol pipecat uses by default),
//! and feeds each leg one 20 ms frame (160 samples) every 20 ms through
//! `LegSender::send_audio`, the legs spread evenly over the 20 ms (N/20 legs per 1 ms
//! tick). Each frame carries, in its first 32 samples, its leg number, its sequence number and
//! the wall-clock time (ns, `CLOCK_REALTIME`, shared by both processes) taken right before
//! `send_audio`: one 4-bit nibble per sample, as the sample whose μ-law code is `0x20 + nibble`
//! (G.711 encode∘decode is the identity on those codes, so they survive the bridge's μ-law
//! encoding bit for bit). The sink's latency is its arrival time minus that stamp, i.e.
//! `send_audio` → shell task → session encode → JSON + base64 → WebSocket write → TCP
//! loopback → the agent's WebSocket read and message scan. Frames of the first `WARMUP`
//! seconds (2 s) are left out.
//!
//! Three arrival times, three figures: `p99_us` (the sink's clock after its read, so the
//! sink's own wake-up is in it); `wire_p99_us` (the epoll sink only: the kernel's receive
//! stamp of the read, `SO_TIMESTAMPNS`, i.e. the bytes reaching the agent's socket; as TCP
//! gives the newest segment's stamp for a whole read, a frame read together with a later
//! one is stamped late: an upper bound); `tap_p99_us` (`--tap`, `tap.rs`: each segment
//! stamped by the kernel as loopback delivers it, read from a packet ring: WebSocket out,
//! whatever the sink does). The goal's "RTP in → WebSocket out" is the third; the second
//! equals it while the sink keeps up (measured: within a few µs at p99).
//!
//! The caller-bound frames (silence, 50/s per leg) are taken as the stack takes them
//! (`src/stack/media_sinks.rs`): by a `freya_media::bridge::FrameSink` installed with
//! `LegReceiver::set_frame_sink`, which runs in the leg's own task and here only counts
//! (`caller_frames_drained`); the receiver is read for events at the end only.
//! `--drain-tasks` instead spawns a task per leg that reads them from `LegReceiver::recv`
//! (the bench before session 8): one more task wake per frame.
//!
//! The sink stands for an agent on another host, so it is made cheap, to leave the box's
//! CPU to the bridge: ONE thread, an epoll loop (level-triggered, `libc`) over a
//! nonblocking listener and every connection. It does the opening handshake with
//! freya-media's own sans-IO `bridge::upgrade` (`HeadReader`, `parse_request`,
//! `accept_response`), then reads up to 64 KiB per readable socket per wake and parses
//! the WebSocket frames by hand (RFC 6455 §5.2; the bridge is the client, so its frames
//! are masked, §5.3): 7/16/64-bit lengths, frames split across reads, fragmented text
//! (§5.4); Close is answered with a Close echoing the status code (§5.5.1) and the socket
//! closed, Ping with a Pong, other frames ignored. Every byte is read, so the bridge's TCP
//! window never fills. `--tokio-sink` runs the sink as before session 8: a tokio
//! current-thread runtime with tokio-tungstenite and a task per connection
//! (`SINK_READ_BUF=<bytes>` sets its tungstenite read buffer). Both sinks find the payload
//! with the same string scan and decode its first 44 base64 characters (the 32-code stamp),
//! and print the same JSON summary (`sink_kind` says which ran).
//!
//! Memory: VmRSS of the load process (the bridge side only; the sink is another process)
//! before the first leg, after all legs are connected, and at the end of the feed;
//! per call = (end − before) / N.
//!
//! CPU: the load process's user + system time (`/proc/self/stat`) at the end of the feed,
//! divided by the frames the bridge sent to the agent (`cpu_us_per_frame`). It includes the
//! feeder, the frame sinks (or drain tasks) and the connects, so it is an upper bound of the
//! bridge's own cost. `feed_cpu_pct` and `sink_feed_cpu_pct` are each process's CPU over
//! the feed alone (`/proc/<pid>/stat` read at its start and end), in % of one core;
//! `workers_feed_cpu_pct` is the bridge's runtime threads' alone (`tokio-rt-worker`, from
//! `/proc/self/task`) and `feeder_thread_cpu_pct` the `--tick-us` feeder thread's.
//!
//! `--rtp-in`: the caller's audio arrives as RTP over UDP through a relay endpoint per leg,
//! decoded in the relay's task and handed to the leg, and the caller-bound frames go back as
//! RTP, as in the stack (`rtp_in.rs`); the stamp is then taken right before the feeder's
//! `sendto`, so the latency is RTP in → WebSocket out. Without it the feeder calls
//! `send_audio` directly (the bridge alone).
//!
//! `--ring` (with `--rtp-in`): the relay endpoints run on freya-media's io_uring relay
//! thread (`RingRelays::spawn_endpoint`). The stack does not do this for agent calls
//! (`relay_io` is for B2BUA calls): measured here, it gained nothing (BENCHMARKS.md).
//!
//! `--no-drain` (with `--rtp-in`): the feeder does not read the caller-bound RTP coming back
//! (its sockets' receive buffers at the minimum, the kernel drops the rest), as the carrier's
//! side of a deployment costs this box nothing; `rtp_returned_to_feeder` is then 0.
//!
//! `--tick-us US` (dividing 20,000): the feeder runs on a thread of its own and wakes every
//! `US` µs (absolute `clock_nanosleep`), sending the frames of the legs due in that slot, so
//! the frames are spread over each 20 ms as independent callers' packets are, not sent 50 at
//! a time on 1 ms ticks (the default, a tokio interval, kept for comparison with earlier
//! runs). With `--rtp-in`, that thread also reads the caller-bound RTP coming back, once a
//! millisecond (until session 10 a task per feeder socket did, on the bridge's runtime).
//!
//! `bridge_load encode [FRAMES]` times the sans-IO part alone, with no sockets and no
//! threads: one Twilio session's `send_audio` (160 samples) + `poll_transmit`, against the
//! same message built the way the bridge used to (μ-law into a `Vec`, a `serde_json` tree,
//! `to_string`); best of 5 rounds, ns per frame.
//!
//! ```text
//! cargo build --release -p freya-benches --example bridge_load
//! target/release/examples/bridge_load 1000 20
//! target/release/examples/bridge_load 1000 20 --rtp-in       # RTP in, through the relay
//! chrt -f 10 target/release/examples/bridge_load 1000 10 --rtp-in --tick-us 100 --tap
//! target/release/examples/bridge_load 1000 20 --drain-tasks --tokio-sink   # as before
//! target/release/examples/bridge_load encode 200000
//! ```
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use freya_media::bridge::{
    connect, BridgeConfig, CallMetadata, CallerFrame, ClientConfig, Direction, LegOutput,
    LegReceiver, LegSender,
};
use freya_media::codec::{ulaw_decode, ulaw_encode};
use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};

const FRAME: usize = 160;
const STAMP_NIBBLES: usize = 32; // leg u32, seq u32, time u64 = 16 bytes
const WARMUP_S: u64 = 2;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn rss_kb() -> u64 {
    status_kb("VmRSS:")
}

/// A `kB` line of /proc/self/status (`VmRSS:` resident now, `VmHWM:` its peak).
fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The stamp as μ-law codes (`--rtp-in`: the feeder sends G.711, not samples).
fn stamp_codes(codes: &mut [u8; FRAME], leg: u32, seq: u32, t: u64) {
    let mut frame = [0i16; FRAME];
    stamp(&mut frame, leg, seq, t);
    for (c, s) in codes.iter_mut().zip(&frame[..STAMP_NIBBLES]) {
        *c = ulaw_encode(*s);
    }
}

fn stamp(frame: &mut [i16; FRAME], leg: u32, seq: u32, t: u64) {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&leg.to_be_bytes());
    bytes[4..8].copy_from_slice(&seq.to_be_bytes());
    bytes[8..].copy_from_slice(&t.to_be_bytes());
    for (i, b) in bytes.iter().enumerate() {
        frame[2 * i] = ulaw_decode(0x20 + (b >> 4));
        frame[2 * i + 1] = ulaw_decode(0x20 + (b & 0x0F));
    }
}

/// (leg, seq, time ns) from a media payload's μ-law codes, or `None` when unstamped
/// (e.g. the bridge's gap-fill silence).
fn unstamp(codes: &[u8]) -> Option<(u32, u32, u64)> {
    if codes.len() < STAMP_NIBBLES {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, b) in bytes.iter_mut().enumerate() {
        let (hi, lo) = (codes[2 * i], codes[2 * i + 1]);
        if !(0x20..0x30).contains(&hi) || !(0x20..0x30).contains(&lo) {
            return None;
        }
        *b = ((hi - 0x20) << 4) | (lo - 0x20);
    }
    let leg = u32::from_be_bytes(bytes[..4].try_into().ok()?);
    let seq = u32::from_be_bytes(bytes[4..8].try_into().ok()?);
    let t = u64::from_be_bytes(bytes[8..].try_into().ok()?);
    Some((leg, seq, t))
}

const USAGE: &str = "usage: bridge_load [N] [SECONDS] [--drain-tasks] [--tokio-sink] \
[--rtp-in [--ring] [--no-drain]] [--tick-us US] [--tap] [--sink-nap-us US]   (defaults 1000 legs, 20 s; see the header of \
benches/examples/bridge_load/main.rs)\n       bridge_load encode|decode [FRAMES]";

/// The run's options: positional arguments and the `--` flags, which may come anywhere.
struct Args {
    pos: Vec<String>,
    drain_tasks: bool,
    tokio_sink: bool,
    rtp_in: bool,
    ring: bool,
    no_drain: bool,
    tick_us: Option<u64>,
    tap: bool,
    sink_nap_us: u64,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let mut a = Args {
            pos: Vec::new(),
            drain_tasks: false,
            tokio_sink: false,
            rtp_in: false,
            ring: false,
            no_drain: false,
            tick_us: None,
            tap: false,
            sink_nap_us: 0,
        };
        let mut argv = std::env::args().skip(1);
        while let Some(arg) = argv.next() {
            match arg.as_str() {
                "--tick-us" => {
                    let v = argv.next().ok_or("--tick-us US")?;
                    let us: u64 = v
                        .parse()
                        .map_err(|_| format!("--tick-us: not a number: {v}"))?;
                    if us < 20 || 20_000 % us != 0 {
                        return Err(format!("--tick-us {us}: from 20 up, dividing 20000"));
                    }
                    a.tick_us = Some(us);
                }
                "--drain-tasks" => a.drain_tasks = true,
                "--tokio-sink" => a.tokio_sink = true,
                "--rtp-in" => a.rtp_in = true,
                "--ring" => a.ring = true,
                "--no-drain" => a.no_drain = true,
                "--tap" => a.tap = true,
                "--sink-nap-us" => {
                    let v = argv.next().ok_or("--sink-nap-us US")?;
                    a.sink_nap_us = v
                        .parse()
                        .map_err(|_| format!("--sink-nap-us: not a number: {v}"))?;
                }
                f if f.starts_with("--") => {
                    return Err(format!(
                        "unknown flag {f} (--drain-tasks, --tokio-sink, --rtp-in, --ring, --no-drain, --tick-us US, --tap, --sink-nap-us US)"
                    ))
                }
                _ => a.pos.push(arg),
            }
        }
        if (a.ring || a.no_drain) && !a.rtp_in {
            return Err("--ring and --no-drain are ways to run --rtp-in: give it too".into());
        }
        if (a.tap || a.sink_nap_us > 0) && a.tokio_sink {
            return Err(
                "--tap and --sink-nap-us are the epoll sink's: not with --tokio-sink".into(),
            );
        }
        if a.rtp_in && a.drain_tasks {
            return Err(
                "--rtp-in sends the caller-bound frames as RTP: not with --drain-tasks".into(),
            );
        }
        Ok(a)
    }

    fn num<T: std::str::FromStr>(&self, i: usize, default: T) -> Result<T, String> {
        match self.pos.get(i) {
            Some(s) => s
                .parse()
                .map_err(|_| format!("argument {i}: not a number: {s}")),
            None => Ok(default),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let args = Args::parse()?;
    match args.pos.first().map(String::as_str) {
        Some("sink") => {
            let addr: SocketAddr = args.pos.get(1).ok_or("sink ADDR")?.parse()?;
            let warmup: u32 = args.pos.get(2).ok_or("sink WARMUP_FRAMES")?.parse()?;
            if !args.tokio_sink {
                let nap = Duration::from_micros(args.sink_nap_us);
                return epoll_sink::run(addr, warmup, args.tap, nap);
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            return rt.block_on(sink(addr, warmup));
        }
        Some("encode") => return encode(args.num(1, 200_000)?),
        Some("decode") => return decode(args.num(1, 200_000)?),
        _ => {}
    }
    let n: u32 = args.num(0, 1000)?;
    let secs: u64 = args.num(1, 20)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(load(n, secs, &args))
}

/// ns per message of decoding a 20 ms Twilio `media` message, both directions, with the
/// borrowed fast path (`decode`) and through a `serde_json::Value` tree (`decode_general`);
/// both checked to give the same value. Best of 5 rounds.
fn decode(frames: u32) -> Result<(), Box<dyn std::error::Error>> {
    use freya_media::bridge::twilio::{TwilioFromAgent, TwilioToAgent};
    use std::time::Instant;
    let payload: Vec<u8> = (0..FRAME)
        .map(|i| ulaw_encode(((i as f64 * 0.7).sin() * 12000.0) as i16))
        .collect();
    let to_agent = TwilioToAgent::Media {
        sequence: 4711,
        stream_sid: "MZ00000000000040008000000000000001".into(),
        chunk: 4710,
        timestamp_ms: 94_180,
        payload: payload.clone(),
    };
    let text = to_agent.encode();
    if TwilioToAgent::decode(&text)? != to_agent
        || TwilioToAgent::decode_general(&text)? != to_agent
        || TwilioFromAgent::decode(&text)? != TwilioFromAgent::decode_general(&text)?
    {
        return Err(format!("the two paths differ on {text}").into());
    }
    let time = |f: &dyn Fn() -> usize| {
        let mut best = f64::MAX;
        let mut sink = 0usize;
        for _round in 0..5 {
            let start = Instant::now();
            for _ in 0..frames {
                sink = sink.wrapping_add(f());
            }
            best = best.min(start.elapsed().as_nanos() as f64 / frames as f64);
        }
        (best, sink)
    };
    let len = |r: Result<TwilioToAgent, _>| match r {
        Ok(TwilioToAgent::Media { payload, .. }) => payload.len(),
        _ => 0,
    };
    let flen = |r: Result<TwilioFromAgent, _>| match r {
        Ok(TwilioFromAgent::Media { payload }) => payload.len(),
        _ => 0,
    };
    let to_fast = time(&|| len(TwilioToAgent::decode(std::hint::black_box(&text))));
    let to_general = time(&|| len(TwilioToAgent::decode_general(std::hint::black_box(&text))));
    let from_fast = time(&|| flen(TwilioFromAgent::decode(std::hint::black_box(&text))));
    let from_general = time(&|| flen(TwilioFromAgent::decode_general(std::hint::black_box(&text))));
    println!(
        "decode_ns_per_msg message_bytes={} to_agent_fast={:.0} to_agent_general={:.0} from_agent_fast={:.0} from_agent_general={:.0} (checksum {})",
        text.len(),
        to_fast.0,
        to_general.0,
        from_fast.0,
        from_general.0,
        to_fast.1 ^ to_general.1 ^ from_fast.1 ^ from_general.1
    );
    Ok(())
}

/// ns per frame of the session's caller-audio path, and of the old way of building the same
/// Twilio `media` message; both checked to give the same bytes.
fn encode(frames: u32) -> Result<(), Box<dyn std::error::Error>> {
    use freya_media::bridge::{BridgeSession, WsMessage};
    use std::time::Instant;
    let mut frame = [0i16; FRAME];
    for (i, s) in frame.iter_mut().enumerate() {
        *s = ((i as f64 * 0.7).sin() * 12000.0) as i16;
    }
    let old_way = |seq: u64, sid: &str, chunk: u64| -> String {
        let mut payload = Vec::with_capacity(FRAME);
        payload.extend(frame.iter().map(|&s| ulaw_encode(s)));
        serde_json::json!({
            "event": "media",
            "sequenceNumber": seq.to_string(),
            "streamSid": sid,
            "media": {
                "track": "inbound",
                "chunk": chunk.to_string(),
                "timestamp": ((chunk - 1) * 20).to_string(),
                "payload": base64::engine::general_purpose::STANDARD.encode(&payload),
            },
        })
        .to_string()
    };
    let t0 = Instant::now();
    let meta = CallMetadata::new(
        "00000000-0000-4000-8000-000000000001",
        Direction::Inbound,
        "+1",
        "+2",
    );
    let sid = "MZ00000000000040008000000000000001";
    let mut best = (f64::MAX, f64::MAX);
    let mut bytes = 0usize;
    for _round in 0..5 {
        let mut s = BridgeSession::new(BridgeConfig::twilio(), meta.clone(), t0)?;
        while s.poll_transmit().is_some() {}
        let start = Instant::now();
        for _ in 0..frames {
            s.send_audio(t0, &frame);
            if let Some(WsMessage::Text(t)) = s.poll_transmit() {
                bytes += t.len();
            }
        }
        best.0 = best
            .0
            .min(start.elapsed().as_nanos() as f64 / frames as f64);
        let start = Instant::now();
        for k in 0..frames as u64 {
            bytes += old_way(k + 2, sid, k + 1).len();
        }
        best.1 = best
            .1
            .min(start.elapsed().as_nanos() as f64 / frames as f64);
    }
    // Same bytes both ways.
    let mut s = BridgeSession::new(BridgeConfig::twilio(), meta, t0)?;
    while s.poll_transmit().is_some() {}
    s.send_audio(t0, &frame);
    let Some(WsMessage::Text(new)) = s.poll_transmit() else {
        return Err("no media message".into());
    };
    if new != old_way(2, sid, 1) {
        return Err(format!("bytes differ:\n{new}\n{}", old_way(2, sid, 1)).into());
    }
    println!(
        "{}",
        serde_json::json!({
            "frames": frames, "session_ns_per_frame": best.0.round(),
            "old_way_ns_per_frame": best.1.round(), "same_bytes": true, "bytes": bytes,
        })
    );
    Ok(())
}

/// One `setsockopt(2)` on `socket` with `value` (an option value of its exact C type).
fn sockopt<T>(
    socket: &impl std::os::fd::AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> std::io::Result<()> {
    // SAFETY: an open socket, and `value` a live `T` of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// CPU seconds (user + system) so far of this process's threads, summed by thread name
/// (`/proc/self/task/*/stat`): the bridge's runtime workers (`tokio-rt-worker`) apart from
/// the feeder (`feeder`), which stands for the carrier.
fn thread_cpu_s() -> std::collections::BTreeMap<String, f64> {
    let mut by_name = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return by_name;
    };
    for t in tasks.flatten() {
        let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let cpu = proc_cpu_s_at(&t.path().join("stat").to_string_lossy());
        *by_name.entry(name.trim().to_owned()).or_insert(0.0) += cpu;
    }
    by_name
}

/// User + system CPU seconds of a process so far (`/proc/<pid>/stat`, fields 14 and 15, in
/// USER_HZ = 100 ticks a second); `None` = this process. 0 when unreadable.
fn proc_cpu_s(pid: Option<u32>) -> f64 {
    proc_cpu_s_at(&pid.map_or("/proc/self/stat".to_owned(), |p| format!("/proc/{p}/stat")))
}

/// User + system CPU seconds in a `/proc/.../stat` file (a process's or a thread's).
fn proc_cpu_s_at(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let cpu = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (cpu(11) + cpu(12)) / 100.0
}

/// What a sink saw, one connection's or all of them.
#[derive(Default)]
struct Tally {
    lat_us: Vec<u32>,
    /// Latency to the kernel's receive timestamp of the bytes at the agent's socket
    /// (`SO_TIMESTAMPNS`, epoll sink only): the frame leaving freya onto the loopback wire,
    /// without the sink's own wake-up and read.
    wire_us: Vec<u32>,
    unstamped: u64,
    media: u64,
    other: u64,
    bad_order: u64,
}

impl Tally {
    /// One text message `t` that arrived at `arrived` (ns, `CLOCK_REALTIME`) on the
    /// connection whose last stamped sequence number is `last_seq`.
    /// `wire`: the kernel's receive time of the read that completed it, when known.
    fn text(
        &mut self,
        t: &str,
        arrived: u64,
        wire: Option<u64>,
        last_seq: &mut Option<u32>,
        warmup: u32,
    ) {
        // Cheap scan, not a JSON tree: the sink must not be the bottleneck at 50,000
        // messages/s. Only the payload's first 44 base64 chars (the 32-code stamp) are
        // decoded.
        if !t.contains("\"event\":\"media\"") {
            self.other += 1;
            return;
        }
        self.media += 1;
        let codes = t
            .find("\"payload\":\"")
            .and_then(|at| t.get(at + 11..at + 11 + 44))
            .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
            .unwrap_or_default();
        match unstamp(&codes) {
            Some((_leg, seq, sent)) => {
                if last_seq.is_some_and(|l| seq != l + 1) {
                    self.bad_order += 1;
                }
                *last_seq = Some(seq);
                if seq >= warmup {
                    self.lat_us
                        .push((arrived.saturating_sub(sent) / 1000) as u32);
                    if let Some(w) = wire {
                        self.wire_us.push((w.saturating_sub(sent) / 1000) as u32);
                    }
                }
            }
            None => self.unstamped += 1,
        }
    }

    fn merge(&mut self, o: Tally) {
        self.lat_us.extend_from_slice(&o.lat_us);
        self.wire_us.extend_from_slice(&o.wire_us);
        self.media += o.media;
        self.unstamped += o.unstamped;
        self.other += o.other;
        self.bad_order += o.bad_order;
    }

    /// The sink's one-line JSON summary, the last thing it prints.
    fn report(
        &mut self,
        kind: &str,
        opened: u64,
        read_buf: Option<usize>,
        rss_start: u64,
        tap: Option<tap::TapTally>,
    ) {
        self.lat_us.sort_unstable();
        self.wire_us.sort_unstable();
        let mut tap = tap.unwrap_or_default();
        tap.out_us.sort_unstable();
        let t = &tap.out_us;
        let pct = |l: &[u32], p: f64| -> u32 {
            if l.is_empty() {
                return 0;
            }
            l[((l.len() as f64 * p).ceil() as usize).clamp(1, l.len()) - 1]
        };
        let (l, w) = (&self.lat_us, &self.wire_us);
        println!(
            "{}",
            serde_json::json!({
                "sink_kind": kind, "sink_cpu_s_total": proc_cpu_s(None), "connections": opened,
                "sink_read_buf": read_buf, "sink_rss_start_kb": rss_start, "sink_rss_peak_kb": status_kb("VmHWM:"), "media_messages": self.media, "measured": l.len(),
                "unstamped_media": self.unstamped, "other_messages": self.other, "out_of_order": self.bad_order,
                "p50_us": pct(l, 0.50), "p90_us": pct(l, 0.90), "p99_us": pct(l, 0.99), "p999_us": pct(l, 0.999),
                "max_us": l.last().copied().unwrap_or(0),
                "wire_measured": w.len(),
                "wire_p50_us": pct(w, 0.50), "wire_p90_us": pct(w, 0.90), "wire_p99_us": pct(w, 0.99), "wire_p999_us": pct(w, 0.999),
                "wire_max_us": w.last().copied().unwrap_or(0),
                "tap_measured": t.len(), "tap_segments": tap.segments, "tap_unaligned": tap.unaligned, "tap_drops": tap.drops,
                "tap_p50_us": pct(t, 0.50), "tap_p90_us": pct(t, 0.90), "tap_p99_us": pct(t, 0.99), "tap_p999_us": pct(t, 0.999),
                "tap_max_us": t.last().copied().unwrap_or(0),
            })
        );
    }
}

#[derive(Default)]
struct SinkState {
    tally: Tally,
    open: i64,
    opened: u64,
}

/// The sink before session 8 (`--tokio-sink`): tokio-tungstenite, a task per connection.
async fn sink(addr: SocketAddr, warmup: u32) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    // SINK_READ_BUF=<bytes>: the sink's tungstenite read buffer (default 128 KiB, which
    // tungstenite zero-fills, so it is resident). Lets the run show what that default costs
    // per connection, on the sink side, where the config is ours to set.
    let read_buf: Option<usize> = std::env::var("SINK_READ_BUF")
        .ok()
        .and_then(|v| v.parse().ok());
    let rss_start = rss_kb();
    println!("ready {}", listener.local_addr()?);
    let state = Arc::new(Mutex::new(SinkState::default()));
    let done = Arc::new(tokio::sync::Notify::new());
    let accept = {
        let state = state.clone();
        let done = done.clone();
        async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let _ = tcp.set_nodelay(true);
                let state = state.clone();
                let done = done.clone();
                tokio::spawn(async move {
                    let cfg = read_buf.map(|n| {
                        tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                            .read_buffer_size(n)
                    });
                    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(tcp, cfg).await
                    else {
                        return;
                    };
                    {
                        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                        s.open += 1;
                        s.opened += 1;
                    }
                    let mut last_seq: Option<u32> = None;
                    let mut local = Tally {
                        lat_us: Vec::with_capacity(1024),
                        ..Tally::default()
                    };
                    while let Some(Ok(m)) = ws.next().await {
                        let arrived = now_ns();
                        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
                            local.text(t.as_str(), arrived, None, &mut last_seq, warmup);
                        }
                    }
                    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                    s.tally.merge(local);
                    s.open -= 1;
                    if s.open == 0 {
                        done.notify_one();
                    }
                });
            }
        }
    };
    tokio::spawn(accept);
    done.notified().await;
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    let opened = s.opened;
    s.tally.report("tokio", opened, read_buf, rss_start, None);
    Ok(())
}

mod epoll_sink;
mod rtp_in;
mod tap;

/// The feeder: each leg's next stamped 20 ms frame, by `send_audio` or as RTP.
struct Feed {
    n: u32,
    seq: Vec<u32>,
    senders: Arc<Vec<LegSender>>,
    feeder: Option<Arc<rtp_in::Feeder>>,
    targets: Arc<Vec<SocketAddr>>,
    frame: [i16; FRAME],
    codes: [u8; FRAME],
    wire: bytes::BytesMut,
    send_errors: u64,
}

impl Feed {
    fn new(
        n: u32,
        senders: Arc<Vec<LegSender>>,
        feeder: Option<Arc<rtp_in::Feeder>>,
        targets: Arc<Vec<SocketAddr>>,
    ) -> Feed {
        Feed {
            n,
            seq: vec![0; n as usize],
            senders,
            feeder,
            targets,
            frame: [0; FRAME],
            codes: [0xFF; FRAME],
            wire: bytes::BytesMut::with_capacity(12 + FRAME),
            send_errors: 0,
        }
    }

    /// Slot `k` of `slots` per 20 ms: the legs with `i % slots == k % slots` get their next
    /// frame, stamped right before it is handed over.
    fn slot(&mut self, k: u64, slots: u64) {
        let mut i = (k % slots) as u32;
        while i < self.n {
            let s = &mut self.seq[i as usize];
            if let Some(feeder) = &self.feeder {
                stamp_codes(&mut self.codes, i, *s, now_ns());
                rtp_in::packet(i, *s, &self.codes, &mut self.wire);
                if !feeder.send(i as usize, &self.wire, self.targets[i as usize]) {
                    self.send_errors += 1;
                }
            } else {
                stamp(&mut self.frame, i, *s, now_ns());
                if self.senders[i as usize].send_audio(&self.frame).is_err() {
                    self.send_errors += 1;
                }
            }
            *s += 1;
            i += slots as u32;
        }
    }

    /// `--tick-us US`: on a thread of its own, a slot every `us` µs (absolute
    /// `clock_nanosleep` deadlines, so lateness does not accumulate), `20 ms / us` slots:
    /// the legs' frames spread over the 20 ms as independent callers' packets would be,
    /// instead of 1 ms bursts. Late ticks: woken more than two ticks after their time.
    ///
    /// With `--rtp-in`, this thread also reads the caller-bound RTP waiting on the feeder's
    /// sockets, once a millisecond ([`rtp_in::Drain::Thread`]).
    fn spread(mut self, us: u64, secs: u64) -> (Feed, u64) {
        let mut buf = [0u8; 2048];
        let drain_every = (1000 / us).max(1);
        let slots = 20_000 / us;
        let mut late = 0u64;
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec we pass.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let start_ns = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        for k in 0..secs * 1_000_000 / us {
            let due = start_ns + (k + 1) * us * 1000;
            let at = libc::timespec {
                tv_sec: (due / 1_000_000_000) as libc::time_t,
                tv_nsec: (due % 1_000_000_000) as libc::c_long,
            };
            // SAFETY: `at` is a valid absolute time on CLOCK_MONOTONIC; no remainder wanted.
            unsafe {
                libc::clock_nanosleep(
                    libc::CLOCK_MONOTONIC,
                    libc::TIMER_ABSTIME,
                    &at,
                    std::ptr::null_mut(),
                )
            };
            // SAFETY: as above.
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
            let now = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
            if now > due + 2 * us * 1000 {
                late += 1;
            }
            self.slot(k, slots);
            if let (0, Some(f)) = (k % drain_every, &self.feeder) {
                f.drain_now(&mut buf);
            }
        }
        (self, late)
    }
}

async fn load(n: u32, secs: u64, args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let (drain_tasks, tokio_sink, rtp_in, ring, no_drain, tick_us) = (
        args.drain_tasks,
        args.tokio_sink,
        args.rtp_in,
        args.ring,
        args.no_drain,
        args.tick_us,
    );
    assert_eq!(ulaw_encode(ulaw_decode(0x2A)), 0x2A);
    let exe = std::env::current_exe()?;
    let warmup_frames = (WARMUP_S * 50) as u32;
    let mut sink_args = vec!["sink", "127.0.0.1:0"];
    let warmup_arg = warmup_frames.to_string();
    sink_args.push(&warmup_arg);
    if tokio_sink {
        sink_args.push("--tokio-sink");
    }
    if args.tap {
        sink_args.push("--tap");
    }
    let nap_arg = args.sink_nap_us.to_string();
    if args.sink_nap_us > 0 {
        sink_args.extend(["--sink-nap-us", &nap_arg]);
    }
    let mut child = tokio::process::Command::new(exe)
        .args(&sink_args)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut out = BufReader::new(child.stdout.take().ok_or("sink stdout")?).lines();
    let ready = out.next_line().await?.ok_or("sink exited")?;
    let sink_addr = ready.trim_start_matches("ready ").to_string();
    let sink_pid = child.id().unwrap_or(0);
    let url = format!("ws://{sink_addr}/media");
    let load0 = std::fs::read_to_string("/proc/loadavg")?;
    let rss0 = rss_kb();
    let (take, sink_kind) = (
        if drain_tasks {
            "drain_tasks"
        } else {
            "frame_sink"
        },
        if tokio_sink { "tokio" } else { "epoll" },
    );
    let input = match (rtp_in, ring) {
        (true, true) => "rtp_ring",
        (true, false) => "rtp",
        _ => "send_audio",
    };
    let ring_relays = if ring {
        Some(freya_media::relay::RingRelays::start()?)
    } else {
        None
    };
    eprintln!("bridge_load: N={n} feed={secs}s caller audio by {input}, caller frames by {take}, {sink_kind} sink={url} (pid {sink_pid}); RSS before {rss0} kB; load {}", load0.trim());
    let feeder = if rtp_in {
        Some(rtp_in::Feeder::start(match (no_drain, tick_us) {
            (true, _) => rtp_in::Drain::No,
            (false, Some(_)) => rtp_in::Drain::Thread,
            (false, None) => rtp_in::Drain::Tasks,
        })?)
    } else {
        None
    };
    let port_pool = if rtp_in { Some(rtp_in::pool(n)?) } else { None };
    let mut rtp_legs: Vec<rtp_in::RtpLeg> = Vec::new();

    let client = ClientConfig::new(url);
    let mut senders: Vec<LegSender> = Vec::with_capacity(n as usize);
    let mut receivers: Vec<LegReceiver> = Vec::new();
    let mut counts: Vec<Arc<AtomicU64>> = Vec::new();
    let mut drains = Vec::new();
    let t_connect = std::time::Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        let mut pending = Vec::new();
        for &i in chunk {
            let meta = CallMetadata::new(
                format!("00000000-0000-4000-8000-{i:012}"),
                Direction::Inbound,
                "+15550001",
                "+15550002",
            );
            let client = client.clone();
            pending.push(tokio::spawn(async move {
                connect(&client, BridgeConfig::twilio(), meta).await
            }));
        }
        for (&i, p) in chunk.iter().zip(pending) {
            let leg = p.await??;
            let (tx, mut rx) = leg.split();
            if let (Some(feeder), Some(pool)) = (&feeder, &port_pool) {
                let c = Arc::new(AtomicU64::new(0));
                counts.push(c.clone());
                let sender = tx.clone();
                let ring = ring_relays.as_ref();
                rtp_legs.push(rtp_in::attach(
                    i as usize, pool, ring, feeder, sender, &mut rx, c,
                )?);
                senders.push(tx);
                receivers.push(rx);
                continue;
            }
            senders.push(tx);
            // The call side must take the caller-bound frames (silence, 50/s) as a real
            // RTP sender would.
            if drain_tasks {
                drains.push(tokio::spawn(async move {
                    let mut frames = 0u64;
                    while let Some(o) = rx.recv().await {
                        if let LegOutput::Frame(_) = o {
                            frames += 1;
                        }
                    }
                    frames
                }));
            } else {
                // As the stack does (`AgentAudio`): in the leg's task, no wake of our own.
                // A counter per leg, so that the two workers do not share a cache line.
                let c = Arc::new(AtomicU64::new(0));
                counts.push(c.clone());
                rx.set_frame_sink(Box::new(move |_f: &CallerFrame| {
                    c.fetch_add(1, Ordering::Relaxed);
                }));
                receivers.push(rx);
            }
        }
    }
    let connect_s = t_connect.elapsed().as_secs_f64();
    let rss1 = rss_kb();
    eprintln!("bridge_load: {n} legs connected in {connect_s:.2} s; RSS {rss1} kB");

    // Feed: tick every 1 ms; on tick k, legs with i % 20 == k % 20 get their next frame.
    let senders = Arc::new(senders);
    let feeder = feeder.map(Arc::new);
    let targets: Arc<Vec<SocketAddr>> = Arc::new(rtp_legs.iter().map(|l| l.target).collect());
    let mut feed = Feed::new(n, senders.clone(), feeder.clone(), targets);
    let (cpu_feed0, sink_cpu_feed0) = (proc_cpu_s(None), proc_cpu_s(Some(sink_pid)));
    let start = tokio::time::Instant::now();
    let workers0 = thread_cpu_s()
        .get("tokio-rt-worker")
        .copied()
        .unwrap_or(0.0);
    let (feed, late_ticks, feeder_cpu_s) = match tick_us {
        None => {
            // Tick every 1 ms; on tick k, legs with i % 20 == k % 20 get their next frame.
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            let mut late_ticks = 0u64;
            for k in 0..secs * 1000 {
                let at = tick.tick().await;
                if at.elapsed() > Duration::from_millis(2) {
                    late_ticks += 1;
                }
                feed.slot(k, 20);
            }
            (feed, late_ticks, None)
        }
        Some(us) => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::thread::Builder::new()
                .name("feeder".into())
                .spawn(move || {
                    let (feed, late) = feed.spread(us, secs);
                    // This thread's CPU, read before it ends (its /proc entry goes with it).
                    let cpu = proc_cpu_s_at("/proc/thread-self/stat");
                    let _ = tx.send((feed, late, Some(cpu)));
                })?;
            rx.await?
        }
    };
    let (seq, send_errors) = (feed.seq, feed.send_errors);
    let feed_s = start.elapsed().as_secs_f64();
    let (cpu_s, sink_cpu_feed1) = (proc_cpu_s(None), proc_cpu_s(Some(sink_pid)));
    let workers_feed_s = thread_cpu_s()
        .get("tokio-rt-worker")
        .copied()
        .unwrap_or(0.0)
        - workers0;
    let rss2 = rss_kb();
    let load1 = std::fs::read_to_string("/proc/loadavg")?;
    for s in senders.iter() {
        let _ = s.hangup();
    }
    // Every leg ends with its Closed event (the close handshake is bounded by 1 s); the
    // deadline only bounds the run should one not.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut caller_frames = 0u64;
    for d in drains {
        if let Ok(Ok(f)) = tokio::time::timeout_at(deadline, d).await {
            caller_frames += f;
        }
    }
    for mut rx in receivers {
        let _ = tokio::time::timeout_at(deadline, async {
            while rx.recv().await.is_some() {} // events only: the frames went to the sink
        })
        .await;
    }
    caller_frames += counts
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum::<u64>();
    // Read once every leg has ended: its last stats are then published (read right after
    // the feed, the frames still in flight were missing).
    let (mut sent, mut in_drop, mut out_drop, mut gap) = (0u64, 0u64, 0u64, 0u64);
    for s in senders.iter() {
        let st = s.stats();
        sent += st.caller_frames_sent;
        in_drop += st.input_dropped_frames;
        out_drop += st.output_dropped_frames;
        gap += st.caller_gap_frames;
    }
    let (mut relay_in, mut relay_dropped, mut relay_io_errors) = (0u64, 0u64, 0u64);
    for leg in rtp_legs {
        if let Ok(Ok(st)) = tokio::time::timeout_at(deadline, leg.relay.close()).await {
            relay_in += st.legs[0].counters.packets_in;
            relay_dropped += st
                .legs
                .iter()
                .map(|l| l.counters.dropped.total())
                .sum::<u64>();
            relay_io_errors += st.io.recv_errors + st.io.send_errors + st.io.endpoint_overflow;
        }
    }
    let rtp_returned: u64 = feeder
        .as_ref()
        .map(|f| f.returned.iter().map(|c| c.load(Ordering::Relaxed)).sum())
        .unwrap_or(0);
    let summary = tokio::time::timeout(Duration::from_secs(30), out.next_line())
        .await
        .ok()
        .and_then(|r| r.ok().flatten())
        .unwrap_or_else(|| "{}".into());
    if tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
    let per_call = (rss2.saturating_sub(rss0)) as f64 / n as f64;
    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    println!(
        "{}",
        serde_json::json!({
            "legs": n, "caller_audio_by": input, "feeder_drains_rtp": rtp_in && !no_drain, "tap": args.tap, "sink_nap_us": args.sink_nap_us, "feed_tick_us": tick_us.unwrap_or(1000), "caller_frames_by": take, "sink_kind": sink_kind,
            "relay_packets_in": relay_in, "relay_dropped": relay_dropped,
            "relay_io_errors": relay_io_errors, "rtp_returned_to_feeder": rtp_returned,
            "feed_s": (feed_s * 100.0).round() / 100.0, "connect_s": (connect_s * 100.0).round() / 100.0,
            "frames_fed": seq.iter().map(|&s| s as u64).sum::<u64>(), "send_errors": send_errors,
            "late_feed_ticks": late_ticks,
            "bridge_frames_sent": sent, "bridge_gap_fill_frames": gap, "input_dropped": in_drop,
            "output_dropped": out_drop, "caller_frames_drained": caller_frames,
            "rss_before_kb": rss0, "rss_connected_kb": rss1, "rss_end_kb": rss2,
            "rss_per_call_kb": r1(per_call),
            "rss_per_call_connected_kb": r1((rss1.saturating_sub(rss0)) as f64 / n as f64),
            "load_cpu_s_total": cpu_s,
            "cpu_us_per_frame": r1(cpu_s * 1e6 / sent.max(1) as f64),
            "feed_cpu_pct": r1((cpu_s - cpu_feed0) * 100.0 / feed_s),
            "sink_feed_cpu_pct": r1((sink_cpu_feed1 - sink_cpu_feed0) * 100.0 / feed_s),
            "workers_feed_cpu_pct": r1(workers_feed_s * 100.0 / feed_s),
            "feeder_thread_cpu_pct": feeder_cpu_s.map(|c| r1(c * 100.0 / feed_s)),
            "loadavg_before": load0.trim(), "loadavg_after": load1.trim(),
            "sink": serde_json::from_str::<serde_json::Value>(&summary).unwrap_or_default(),
        })
    );
    Ok(())
}
