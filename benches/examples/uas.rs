//! Minimal UAS on freya's library for the SIPp call-rate benchmark (`benches/sip/callrate.sh`):
//! binds a [`UserAgent`] on `ADDR` (default `127.0.0.1:5080`, UDP only) with
//! [`UnknownSource::Accept`], and answers every incoming call with 180 then 200 + SDP
//! (PCMU). SIPp's built-in `uac` scenario then ACKs and sends the BYE; each call's task
//! drains its events until `Ended`. Prints the UA's counters to stderr every `STATS_S`
//! seconds (second argument, default 0 = never). Runs until killed (the script sends TERM).
//! `UAS_THREADS` sets the tokio worker threads (default 2, the box's cores).
//!
//! ```text
//! cargo build --release -p freya-benches --example uas
//! target/release/examples/uas 127.0.0.1:5080 5
//! ```
use std::net::SocketAddr;
use std::time::Duration;

use freya_sip::dialog::DialogEvent;
use freya_sip::sdp::Capabilities;
use freya_sip::ua::{UaConfig, UnknownSource, UserAgent};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:5080".into())
        .parse()?;
    let stats_s: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0);
    let threads: usize = std::env::var("UAS_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    rt.block_on(run(addr, stats_s))
}

async fn run(addr: SocketAddr, stats_s: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = UaConfig::new(addr);
    config.tcp = false;
    config.unknown_source = UnknownSource::Accept;
    // SIPp opens calls faster than one task can be scheduled per call at high rates; a
    // deep queue keeps the UA from refusing calls while the answer tasks catch up.
    config.incoming_queue = 65_536;
    let (ua, mut incoming) = UserAgent::bind(config).await?;
    eprintln!("uas: listening on {}", ua.local_addr());
    let media = Capabilities::new(addr.ip(), 40_000);
    if stats_s > 0 {
        let ua = ua.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(stats_s));
            loop {
                tick.tick().await;
                eprintln!("uas: {:?}", ua.stats());
            }
        });
    }
    while let Some(mut call) = incoming.next().await {
        let media = media.clone();
        tokio::spawn(async move {
            if let Err(e) = call.ring().and_then(|()| call.answer(media)) {
                eprintln!("uas: answer failed: {e}");
                return;
            }
            while let Some(ev) = call.next_event().await {
                if matches!(ev, DialogEvent::Ended { .. }) {
                    break;
                }
            }
        });
    }
    Ok(())
}
