//! Helpers shared by the end-to-end tests (`stack.rs`, `stack_load.rs`, `sip_ua.rs`):
//! starting the server from a TOML text, its control API and event stream, `sip-ua`
//! calls, and the frequency of a recorded tone.
// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `freya-stack` (killed when dropped) and where to reach it.
pub struct Server {
    pub child: Child,
    /// Its SIP address (UDP and TCP).
    pub sip: SocketAddr,
    /// Its control API.
    pub api: SocketAddr,
    _dir: tempfile::TempDir,
    /// The config file it runs (rewrite it, then reload).
    pub config: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port with `n` free ports after it, found by binding (the OS may reuse it later, but
/// not within a test's lifetime in practice).
pub fn free_base(n: u16) -> u16 {
    loop {
        let p = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if p < 60000 && (0..n).all(|i| TcpListener::bind(("127.0.0.1", p + i)).is_ok()) {
            return p;
        }
    }
}

/// A stack that dials itself through trunk "self" (numbers under +1415 reach its `slots`
/// built-in echo agents, every other number is refused 404), with `extra` TOML appended;
/// also the agents' first port (slot i listens on it + i).
pub fn self_dialing(slots: u16, extra: &str) -> (String, u16) {
    let sip = free_base(1);
    let rtp = 2 * (free_base(1) / 2).min(30000);
    let agents = free_base(slots);
    let text = format!(
        r#"
[sip]
bind = "127.0.0.1:{sip}"
t1_ms = 100
[[trunks]]
name = "self"
match = ["127.0.0.0/8"]
host = "127.0.0.1:{sip}"
[media]
address = "127.0.0.1"
rtp_port_start = {rtp}
rtp_port_end = {rtp_end}
[[agents]]
name = "echo"
slots = {slots}
base_port = {agents}
url = "ws://127.0.0.1:{{port}}/telephony/ws"
protocol = "twilio"
builtin_echo = true
busy = {{ status = 503 }}
[[routes]]
name = "sales"
called = "+1415*"
agents = "echo"
{extra}"#,
        rtp_end = rtp + 2 * 40 - 1,
    );
    (text, agents)
}

/// A config with `slots` built-in echo agents, pool answer `busy` when all are taken,
/// and `extra` TOML appended.
pub fn config(slots: usize, busy: &str, extra: &str) -> String {
    config_with_agent(slots, busy, extra, None)
}

/// `agent`: the port of an external agent (slot 0); `None` starts built-in echo agents.
pub fn config_with_agent(slots: usize, busy: &str, extra: &str, agent: Option<u16>) -> String {
    config_full(slots, busy, extra, agent, 200)
}

/// [`config_with_agent`] with `rtp_pairs` RTP/RTCP port pairs in `[media]`.
pub fn config_full(
    slots: usize,
    busy: &str,
    extra: &str,
    agent: Option<u16>,
    rtp_pairs: u16,
) -> String {
    let base = agent.unwrap_or_else(|| free_base(slots as u16));
    let builtin = agent.is_none();
    let rtp = 2 * (free_base(1) / 2).min(30000);
    format!(
        r#"
[sip]
bind = "127.0.0.1:0"
t1_ms = 100
[[trunks]]
name = "local"
match = ["127.0.0.0/8"]
[media]
address = "127.0.0.1"
rtp_port_start = {rtp}
rtp_port_end = {rtp_end}
[[agents]]
name = "echo"
slots = {slots}
base_port = {base}
builtin_echo = {builtin}
busy = {busy}
[[routes]]
name = "default"
agents = "echo"
[control]
listen = "127.0.0.1:0"
token = "t0ken"
{extra}
"#,
        rtp_end = rtp + 2 * rtp_pairs - 1,
    )
}

/// Starts `freya-stack` on `config_text` and waits for its "ready" line.
pub fn start(config_text: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("freya.toml");
    std::fs::write(&config, config_text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_freya-stack"))
        .args(["--config", config.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run freya-stack");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("ready"), "{line}");
    let sip = line
        .split("SIP on ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    let api = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    Server {
        child,
        sip,
        api,
        _dir: dir,
        config,
    }
}

/// One control API request; returns the status and the body.
pub fn http(s: &Server, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut c = TcpStream::connect(s.api).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        c,
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    (status, out.split_once("\r\n\r\n").unwrap().1.to_owned())
}

/// `POST path` with the JSON `body` and the test token; returns the status and the body's
/// JSON (`null` when it is none).
pub fn post(s: &Server, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let body = body.to_string();
    let mut c = TcpStream::connect(s.api).unwrap();
    write!(
        c,
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0ken\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    let status = resp.split(' ').nth(1).unwrap().parse().unwrap();
    let json = serde_json::from_str(resp.split_once("\r\n\r\n").unwrap().1)
        .unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// Reads the event stream (SSE) in a thread; returns the events' JSON as they come.
pub fn events(s: &Server) -> std::sync::mpsc::Receiver<serde_json::Value> {
    let mut c = TcpStream::connect(s.api).unwrap();
    write!(
        c,
        "GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0ken\r\n\r\n"
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(c).lines().map_while(Result::ok) {
            if let Some(data) = line.strip_prefix("data:") {
                if let Ok(v) = serde_json::from_str(data.trim()) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    rx
}

/// A `sip-ua call` to the server, with `args`.
pub fn call(s: &Server, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sip-ua"));
    c.args(["call", &format!("sip:+14155550100@{}", s.sip)])
        .args(args);
    c
}

/// A `sip-ua call` of `secs` seconds sending a `hz` tone, recording what it hears to
/// `record`, with each of `headers` (`"Name: value"`) added to its INVITE.
pub fn tone_call(
    s: &Server,
    secs: u32,
    hz: u32,
    record: &std::path::Path,
    headers: &[&str],
) -> Command {
    let mut c = call(
        s,
        &["--duration", &secs.to_string(), "--tone", &hz.to_string()],
    );
    c.arg("--record").arg(record);
    for h in headers {
        c.args(["--header", h]);
    }
    c
}

/// The frequency (Hz) of the tone in a mono 8 kHz WAV, and how many voiced samples hold it.
pub fn tone_hz(path: &std::path::Path) -> (f64, usize) {
    let mut r = hound::WavReader::open(path).expect("a WAV file");
    let rate = f64::from(r.spec().sample_rate);
    let s: Vec<i16> = r.samples::<i16>().map(|x| x.unwrap()).collect();
    // Zero crossings within the 20 ms frames that carry sound: silence the far end or a
    // loaded machine inserts (jitter, start-up) neither lowers nor raises the estimate.
    let (mut crossings, mut voiced) = (0usize, 0usize);
    let mut last: Option<i16> = None;
    for frame in s.chunks_exact(160) {
        // Voiced means each 5 ms quarter carries sound: a frame half silent (a gap a
        // recorder filled mid-frame) would lower the estimate, and its loss is measured
        // by the voiced count instead.
        let quiet = frame
            .chunks_exact(40)
            .any(|q| (q.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / 40.0).sqrt() < 1000.0);
        if quiet {
            last = None;
            continue;
        }
        // Consecutive voiced frames are one run: the pair across their boundary counts.
        if let Some(prev) = last {
            crossings += usize::from((prev < 0) != (frame[0] < 0));
            voiced += 1;
        }
        crossings += frame
            .windows(2)
            .filter(|w| (w[0] < 0) != (w[1] < 0))
            .count();
        voiced += 159;
        last = frame.last().copied();
    }
    if voiced == 0 {
        return (0.0, 0);
    }
    (crossings as f64 / 2.0 / (voiced as f64 / rate), voiced)
}

/// [`tone_hz`] of one channel of a stereo WAV (0 = left, caller; 1 = right, agent).
pub fn channel_tone(path: &std::path::Path, channel: usize) -> (f64, usize) {
    let mut r = hound::WavReader::open(path).unwrap();
    assert_eq!(r.spec().channels, 2);
    let all: Vec<i16> = r.samples::<i16>().map(|x| x.unwrap()).collect();
    let mono: Vec<i16> = all.chunks_exact(2).map(|f| f[channel]).collect();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ch.wav");
    let mut w = hound::WavWriter::create(
        &p,
        hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        },
    )
    .unwrap();
    for s in mono {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    tone_hz(&p)
}
