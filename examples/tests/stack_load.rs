//! `freya-stack` under load, end to end: SIPp places 100 concurrent calls with RTP (a pcap
//! of an 800 Hz PCMA tone this test generates, played by `play_pcap_audio`) to built-in
//! echo agents, while one `sip-ua` call with a 1000 Hz tone goes through too.
//!
//! It checks, all on loopback within 60 s:
//! - SIPp: 100 successful calls, none failed (`uac_pcap_echo.xml`);
//! - `GET /calls` lists ≥ 100 live calls at once;
//! - a `POST /reload` (a new trunk, a renamed route) and a SIGHUP reload (one more trunk)
//!   while those calls are live both take effect, and drop none: every call's hangup event
//!   says `hangup_by = "remote"` (the caller's BYE) after the planned 8 s (± 1.5 s);
//! - audio by content: each SIPp call's stereo recording holds 800 Hz on the caller
//!   channel and the agent's 800 Hz echo on the other; the `sip-ua` caller hears its own
//!   1000 Hz back (± 5 Hz) in its recording.
//!
//! Run it optimized (`cargo test --release -p freya-examples --test stack_load`): in a
//! debug build it is ignored, see the note on the test.

mod common;
// The SIPp helpers; this file uses some of them.
#[allow(dead_code)]
mod sipp;

use std::collections::HashMap;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{channel_tone, config_full, events, http, start, tone_call, tone_hz};

/// SIPp's concurrent calls, and the echo slots for them (plus the `sip-ua` call, plus spare).
const CALLS: usize = 100;
const SLOTS: usize = 110;
/// How long each SIPp call stays up after its ACK, before its BYE.
const PAUSE_MS: u64 = 8000;
/// The tone in the pcap SIPp plays, and how long it lasts (shorter than the pause).
const PCAP_HZ: f64 = 800.0;
const PCAP_MS: u32 = 7000;

/// A classic pcap file (Ethernet/IPv4/UDP) of an RTP stream: PCMA (payload type 8),
/// 20 ms packets, a `hz` tone for `ms` milliseconds. SIPp's `play_pcap_audio` keeps the
/// RTP bytes and timing and replaces addresses and ports with the call's.
fn tone_pcap(hz: f64, ms: u32) -> Vec<u8> {
    let mut out = Vec::new();
    // Global header: magic, version 2.4, GMT offset 0, accuracy 0, snaplen, LINKTYPE_ETHERNET.
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 65535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for n in 0..ms / 20 {
        let mut rtp = vec![0x80, if n == 0 { 0x80 | 8 } else { 8 }];
        rtp.extend_from_slice(&(n as u16).to_be_bytes());
        rtp.extend_from_slice(&(n * 160).to_be_bytes());
        rtp.extend_from_slice(&0x5eed_0001u32.to_be_bytes());
        for i in 0..160 {
            let t = f64::from(n * 160 + i) / 8000.0;
            let s = (8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16;
            rtp.push(freya::media::codec::alaw_encode(s));
        }
        let udp_len = 8 + rtp.len() as u16;
        let ip_len = 20 + udp_len;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&ip_len.to_be_bytes());
        ip.extend_from_slice(&(n as u16).to_be_bytes());
        ip.extend_from_slice(&[0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        let sum = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum::<u32>();
        let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        let mut frame = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00];
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&6000u16.to_be_bytes());
        frame.extend_from_slice(&6002u16.to_be_bytes());
        frame.extend_from_slice(&udp_len.to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&rtp);
        let us = n * 20_000;
        for v in [
            us / 1_000_000,
            us % 1_000_000,
            frame.len() as u32,
            frame.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&frame);
    }
    out
}

/// The first of `n` consecutive UDP ports free on loopback, below freya's RTP range
/// (which starts at 30000): SIPp's media ports (`-mp`, `[auto_media_port]` steps by 4).
fn free_udp_block(n: u16) -> u16 {
    (20000..29000)
        .step_by(usize::from(n))
        .find(|&p| (0..n).all(|i| UdpSocket::bind(("127.0.0.1", p + i)).is_ok()))
        .expect("a free block of UDP ports on loopback")
}

// Measured on the 2-core box (with other builds running): an optimized build carries the
// 100 calls with all 7 s of tone in every recording and every BYE within 20 ms of plan;
// an unoptimized (debug) freya-stack saturates a core and falls behind: its pump tasks
// read RTP in bursts, which the recorder (placing audio by arrival time) records with
// gaps, and some BYEs are handled more than 1.5 s late. So this runs optimized only.
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "100 calls of media need an optimized build: cargo test --release -p freya-examples --test stack_load"
)]
fn a_hundred_sipp_calls_with_media_survive_reloads_and_echo_their_audio() {
    let began = Instant::now();
    let rec = tempfile::tempdir().unwrap();
    let text = config_full(
        SLOTS,
        "{ status = 503 }",
        &format!("[recording]\ndir = {:?}\nstereo = true\n", rec.path()),
        None,
        240,
    )
    .replace(
        "name = \"default\"\nagents = \"echo\"",
        "name = \"default\"\nagents = \"echo\"\nrecord = true",
    );
    let s = start(&text);
    let ev = events(&s);

    // SIPp's scenario, with our pcap and pause filled in.
    let work = tempfile::tempdir().unwrap();
    let pcap = work.path().join("tone800.pcap");
    std::fs::write(&pcap, tone_pcap(PCAP_HZ, PCAP_MS)).unwrap();
    let xml = std::fs::read_to_string(sipp::scenario("uac_pcap_echo.xml"))
        .unwrap()
        .replace("PCAP_FILE", pcap.to_str().unwrap())
        .replace("PAUSE_MS", &PAUSE_MS.to_string());
    let xml_path = work.path().join("uac_pcap_echo.xml");
    std::fs::write(&xml_path, xml).unwrap();
    let media_port = free_udp_block(4 * CALLS as u16 + 8).to_string();
    let target = s.sip.to_string();
    let sipp_port = sipp::free_port();
    let sipp_run = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(sipp::sipp(
            sipp_port,
            &[
                "-sf",
                xml_path.to_str().unwrap(),
                "-s",
                "echo",
                "-m",
                &CALLS.to_string(),
                "-l",
                &CALLS.to_string(),
                "-r",
                "50",
                "-rp",
                "1000",
                "-mp",
                &media_port,
                &target,
            ],
        ))
    });

    // One sip-ua call in the middle of the load, its audio checked by content.
    std::thread::sleep(Duration::from_millis(1500));
    let heard = work.path().join("sip-ua.wav");
    let ua = tone_call(&s, 4, 1000, &heard, &["X-Load: sip-ua"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();

    // Wait until the 100 SIPp calls and the sip-ua one are all answered (SIPp's start
    // within 2 s and last 8 s).
    let mut live = 0;
    while live < CALLS + 1 && began.elapsed() < Duration::from_secs(9) {
        std::thread::sleep(Duration::from_millis(200));
        let (status, body) = http(&s, "GET", "/calls", Some("t0ken"));
        assert_eq!(status, 200, "{body}");
        live = serde_json::from_str::<serde_json::Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["state"] == "answered")
            .count();
    }
    assert!(live > CALLS, "GET /calls listed only {live} answered calls");
    let reload_at = began.elapsed();

    // Under those calls: a reload by the API (one more trunk, a renamed route)...
    let text = std::fs::read_to_string(&s.config).unwrap();
    let changed = text.replace("name = \"default\"", "name = \"default-v2\"")
        + "\n[[trunks]]\nname = \"carrier\"\nmatch = [\"198.51.100.0/24\"]\n";
    std::fs::write(&s.config, &changed).unwrap();
    let (status, body) = http(&s, "POST", "/reload", Some("t0ken"));
    assert_eq!(status, 200, "{body}");
    // ... and one by SIGHUP (yet another trunk), seen on /endpoints.
    std::fs::write(
        &s.config,
        changed + "\n[[trunks]]\nname = \"carrier-hup\"\nmatch = [\"203.0.113.0/24\"]\n",
    )
    .unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let mut endpoints = String::new();
    for _ in 0..20 {
        endpoints = http(&s, "GET", "/endpoints", Some("t0ken")).1;
        if endpoints.contains("carrier-hup") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        endpoints.contains("\"carrier\"") && endpoints.contains("carrier-hup"),
        "both reloads in force: {endpoints}"
    );
    let live_after =
        serde_json::from_str::<serde_json::Value>(&http(&s, "GET", "/calls", Some("t0ken")).1)
            .unwrap()
            .as_array()
            .unwrap()
            .len();
    assert!(
        live_after >= CALLS,
        "only {live_after} calls live right after the reloads"
    );

    // SIPp's verdict: all 100 calls succeeded.
    let run = sipp_run.join().unwrap();
    run.assert_all_succeeded(CALLS as u64);
    let out = ua.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");

    // The events: every call started and hung up once; by its caller, at the planned time.
    let mut started: HashMap<String, serde_json::Value> = HashMap::new();
    let mut hangups: HashMap<String, serde_json::Value> = HashMap::new();
    while hangups.len() < CALLS + 1 {
        let Ok(v) = ev.recv_timeout(Duration::from_secs(5)) else {
            break;
        };
        let id = v["call_id"].as_str().unwrap().to_owned();
        match v["event"].as_str().unwrap() {
            "started" => assert!(started.insert(id, v).is_none()),
            "hangup" => assert!(hangups.insert(id, v).is_none()),
            _ => {}
        }
    }
    assert_eq!(started.len(), CALLS + 1, "started events");
    assert_eq!(hangups.len(), CALLS + 1, "hangup events");
    let is_ua = |id: &str| started[id]["headers"] == serde_json::json!([["X-Load", "sip-ua"]]);
    let mut pcap_calls = 0;
    for (id, h) in &hangups {
        assert!(started.contains_key(id), "a hangup without its start: {h}");
        assert_eq!(h["hangup_by"], "remote", "{h}");
        assert_eq!(h["sip_code"], 200, "{h}");
        // Every call was taken before the reload, by the route it had then.
        assert_eq!(started[id]["route"], "default", "{}", started[id]);
        let ms = h["duration_ms"].as_u64().unwrap();
        let path = std::path::Path::new(h["recording"].as_str().expect("a recording"));
        let (planned, hz) = if is_ua(id) {
            (4000, 1000.0)
        } else {
            pcap_calls += 1;
            (PAUSE_MS, PCAP_HZ)
        };
        assert!(
            ms.abs_diff(planned) <= 1500,
            "call {id} lasted {ms} ms, not {planned}: {h}"
        );
        // The caller's tone (left) and the agent's echo of it (right), by content.
        let (left, nl) = channel_tone(path, 0);
        let (right, nr) = channel_tone(path, 1);
        // Nearly all of the caller's tone (7 s from SIPp, 4 s from sip-ua), both ways.
        let tone_ms = if is_ua(id) { 4000 } else { PCAP_MS as usize };
        let min = tone_ms * 8 * 9 / 10;
        assert!(
            (left - hz).abs() < 5.0 && nl > min,
            "call {id}: the caller channel holds {nl} samples at {left} Hz, not {hz}"
        );
        assert!(
            (right - hz).abs() < 5.0 && nr > min,
            "call {id}: the agent channel holds {nr} samples at {right} Hz, not {hz}"
        );
    }
    assert_eq!(pcap_calls, CALLS);
    // The sip-ua caller heard its own tone back through the echo agent.
    let (hz, n) = tone_hz(&heard);
    assert!(n > 16000, "the sip-ua caller heard {n} samples");
    assert!((hz - 1000.0).abs() < 5.0, "the echo came back at {hz} Hz");
    eprintln!(
        "reloads at {:?} under {live} live calls; test took {:?}",
        reload_at,
        began.elapsed()
    );
    assert!(began.elapsed() < Duration::from_secs(60));
}
