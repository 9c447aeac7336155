//! `rtp-relay`: a standalone symmetric RTP relay between two peers, with freya-media's relay
//! (latching, RTP-bleed protection, rtcp-mux, per-leg statistics). Allocates one RTP/RTCP
//! port pair per leg from `--ports`, prints them, relays until `--duration` has passed (or
//! forever), and prints per-leg statistics as JSON lines. All logic is in
//! `freya_media::relay`; this file parses arguments and prints.
//!
//! ```text
//! rtp-relay --a 127.0.0.1:40000 --b 127.0.0.1:40002 [--ports 10000-10499]
//!           [--bind 127.0.0.1] [--stats-interval 1] [--rtp-timeout 30] [--duration SECS]
//!           [--io tokio|io_uring]
//! ```
//!
//! `--io io_uring` relays on freya-media's io_uring thread (`RingRelays`, Linux) instead of a
//! tokio task: the same relay, less CPU per packet.
//!
//! Output, one JSON object per line: `{"event":"listening",…}` with each leg's local RTP/RTCP
//! addresses (peer A sends to leg A's, peer B to leg B's), then `{"event":"relay",…}` for
//! latching, drops and timeouts, `{"event":"stats","leg":"A",…}` per leg every interval, and
//! `{"event":"closed","leg":…}` with the final statistics. Exit status 2 on a usage error, 1
//! when the relay cannot start.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use freya::media::relay::{
    spawn_relay, DropReason, LegId, LegReport, LegSetup, PortPool, RelayConfig, RelayStats,
    RemoteMedia, SharedPortPool, ShellConfig, ShellEvent,
};
use serde_json::{json, Value};

const USAGE: &str = "usage: rtp-relay --a ADDR:PORT --b ADDR:PORT [--ports FIRST-LAST] \
    [--bind IP] [--stats-interval SECS] [--rtp-timeout SECS] [--duration SECS] [--io tokio|io_uring]";

struct Args {
    a: SocketAddr,
    b: SocketAddr,
    ports: (u16, u16),
    bind: IpAddr,
    stats_interval: f64,
    rtp_timeout: f64,
    duration: Option<f64>,
    /// Relay on the io_uring thread (`--io io_uring`).
    io_uring: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = None;
    let mut b = None;
    let mut args = Args {
        a: SocketAddr::from(([0, 0, 0, 0], 0)),
        b: SocketAddr::from(([0, 0, 0, 0], 0)),
        ports: (10_000, 10_499),
        bind: IpAddr::from([0, 0, 0, 0]),
        stats_interval: 1.0,
        rtp_timeout: 30.0,
        duration: None,
        io_uring: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |what: &str| format!("{flag} {value}: not {what}");
        match flag.as_str() {
            "--a" => a = Some(value.parse().map_err(|_| bad("an address:port"))?),
            "--b" => b = Some(value.parse().map_err(|_| bad("an address:port"))?),
            "--bind" => args.bind = value.parse().map_err(|_| bad("an IP address"))?,
            "--io" => {
                args.io_uring = match value.as_str() {
                    "tokio" => false,
                    "io_uring" => true,
                    _ => return Err(bad("tokio or io_uring")),
                }
            }
            "--ports" => {
                let (first, last) = value.split_once('-').ok_or(bad("FIRST-LAST"))?;
                args.ports = (
                    first.parse().map_err(|_| bad("FIRST-LAST"))?,
                    last.parse().map_err(|_| bad("FIRST-LAST"))?,
                );
            }
            "--stats-interval" | "--rtp-timeout" | "--duration" => {
                let secs: f64 = value.parse().map_err(|_| bad("a number of seconds"))?;
                if !(secs.is_finite() && secs > 0.0) {
                    return Err(bad("a positive number of seconds"));
                }
                match flag.as_str() {
                    "--stats-interval" => args.stats_interval = secs,
                    "--rtp-timeout" => args.rtp_timeout = secs,
                    _ => args.duration = Some(secs),
                }
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    args.a = a.ok_or("--a is required")?;
    args.b = b.ok_or("--b is required")?;
    Ok(args)
}

fn leg_json(event: &str, report: &LegReport) -> Value {
    let c = &report.counters;
    let dropped: serde_json::Map<String, Value> = DropReason::ALL
        .iter()
        .map(|r| (format!("{r:?}"), json!(c.dropped.get(*r))))
        .collect();
    let streams: Vec<Value> = report
        .streams
        .iter()
        .map(|s| {
            json!({"ssrc": s.ssrc, "packets": s.packets, "lost": s.lost,
                   "jitter_ms": (s.jitter_ms * 100.0).round() / 100.0})
        })
        .collect();
    json!({
        "event": event,
        "leg": format!("{:?}", report.leg),
        "local": report.local.map(|l| l.rtp.to_string()),
        "latched": report.latched.map(|a| a.to_string()),
        "packets_in": c.packets_in, "bytes_in": c.bytes_in, "rtcp_in": c.rtcp_in,
        "packets_out": c.packets_out, "bytes_out": c.bytes_out, "rtcp_out": c.rtcp_out,
        "dropped": dropped,
        "streams": streams,
    })
}

fn print_stats(event: &str, stats: &RelayStats) {
    for report in &stats.legs {
        println!("{}", leg_json(event, report));
    }
    let io = &stats.io;
    if io.send_errors + io.recv_errors + io.oversize + io.events_lost > 0 {
        println!(
            "{}",
            json!({"event": "io", "send_errors": io.send_errors, "recv_errors": io.recv_errors,
                   "oversize": io.oversize, "events_lost": io.events_lost})
        );
    }
}

#[cfg(target_os = "linux")]
fn start_ring() -> Result<freya::media::relay::RingRelays, String> {
    freya::media::relay::RingRelays::start().map_err(|e| e.to_string())
}

#[cfg(not(target_os = "linux"))]
fn start_ring() -> Result<NoRing, String> {
    Err("--io io_uring needs Linux".into())
}

/// Stands in for `RingRelays` where io_uring does not exist (never constructed).
#[cfg(not(target_os = "linux"))]
enum NoRing {}

#[cfg(not(target_os = "linux"))]
impl NoRing {
    fn spawn_relay(
        &self,
        _: &SharedPortPool,
        _: ShellConfig,
        _: LegSetup,
        _: LegSetup,
    ) -> Result<
        (
            freya::media::relay::RelayHandle,
            freya::media::relay::RelayEvents,
        ),
        freya::media::relay::ShellError,
    > {
        match *self {}
    }
}

async fn run(args: Args) -> Result<(), String> {
    let pool = PortPool::new(args.ports.0..=args.ports.1).map_err(|e| e.to_string())?;
    let pool = SharedPortPool::new(pool);
    let config = ShellConfig {
        relay: RelayConfig {
            rtp_timeout: Some(Duration::from_secs_f64(args.rtp_timeout)),
            ..RelayConfig::default()
        },
        bind_ip: args.bind,
        stats_interval: Some(Duration::from_secs_f64(args.stats_interval)),
        ..ShellConfig::default()
    };
    let (a, b) = (
        LegSetup::new(RemoteMedia::new(args.a)),
        LegSetup::new(RemoteMedia::new(args.b)),
    );
    // Declared before the relay: dropped after it, once the relay is closed.
    let ring;
    let (relay, mut events) = if args.io_uring {
        ring = start_ring()?;
        ring.spawn_relay(&pool, config, a, b)
    } else {
        spawn_relay(&pool, config, a, b)
    }
    .map_err(|e| e.to_string())?;
    let addrs = |leg| {
        relay
            .local(leg)
            .map(|l| json!({"rtp": l.rtp.to_string(), "rtcp": l.rtcp.to_string()}))
    };
    println!(
        "{}",
        json!({"event": "listening", "a": addrs(LegId::A), "b": addrs(LegId::B),
               "peer_a": args.a.to_string(), "peer_b": args.b.to_string()})
    );
    let deadline = args.duration.map(Duration::from_secs_f64);
    let until = async {
        match deadline {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until);
    loop {
        tokio::select! {
            _ = &mut until => break,
            event = events.recv() => match event {
                Some(ShellEvent::Stats(stats)) => print_stats("stats", &stats),
                Some(ShellEvent::Relay(e)) => println!("{}", json!({"event": "relay", "what": format!("{e:?}")})),
                Some(ShellEvent::Closed(_)) | None => break,
            },
        }
    }
    let last = relay.close().await.map_err(|e| e.to_string())?;
    print_stats("closed", &last);
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("rtp-relay: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rtp-relay: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rtp-relay: {e}");
            ExitCode::from(1)
        }
    }
}
