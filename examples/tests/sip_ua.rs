//! `sip-ua` as a script drives it: `listen` and `call` on loopback with tones checked by
//! frequency from the recorded WAV files and X- headers checked byte-exact; and the RFC
//! 4475 corpus sent to `sip-ua listen`, each request getting the response the manifest's
//! `expect` column names for a UA (RFC 4475 §3.3 and the UA alternatives it gives).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use freya::sip::message::parse;

mod common;
use common::tone_hz;

fn corpus_dir() -> PathBuf {
    match std::env::var("FREYA_CORPUS_DIR") {
        Ok(d) => PathBuf::from(d).join("rfc4475"),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/rfc4475"),
    }
}

/// A `sip-ua listen` child, killed on drop.
struct Listener {
    child: Child,
    addr: SocketAddr,
    lines: std::sync::mpsc::Receiver<serde_json::Value>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listen(extra: &[&str]) -> Listener {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sip-ua"))
        .args(["listen", "--bind", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sip-ua listen");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a listening line");
    assert_eq!(first["event"], "listening");
    let addr = first["address"].as_str().unwrap().parse().unwrap();
    Listener {
        child,
        addr,
        lines: rx,
    }
}

#[test]
fn listen_and_call_exchange_tones_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let heard_by_listener = dir.path().join("listener.wav");
    let heard_by_caller = dir.path().join("caller.wav");
    let l = listen(&[
        "--tone",
        "440",
        "--record",
        heard_by_listener.to_str().unwrap(),
    ]);
    let out = Command::new(env!("CARGO_BIN_EXE_sip-ua"))
        .args(["call", &format!("sip:+14155550100@{}", l.addr)])
        .args(["--header", "X-Freya-Workflow-Id: wf 42 ünï"])
        .args(["--header", "X-Carrier-Tag:  two  spaces"])
        .args(["--duration", "1.5", "--tone", "1000"])
        .args(["--record", heard_by_caller.to_str().unwrap()])
        .output()
        .expect("run sip-ua call");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(events.iter().any(|e| e["event"] == "answered"), "{stdout}");
    let ended = events.iter().find(|e| e["event"] == "ended").unwrap();
    assert_eq!(ended["status"], 200);
    assert_eq!(ended["q850_cause"], 16);

    let incoming = loop {
        let v = l.lines.recv_timeout(Duration::from_secs(5)).unwrap();
        if v["event"] == "incoming" {
            break v;
        }
    };
    let headers = incoming["headers"].as_array().unwrap();
    let x: Vec<(&str, &str)> = headers
        .iter()
        .map(|h| (h[0].as_str().unwrap(), h[1].as_str().unwrap()))
        .filter(|(n, _)| n.starts_with("X-"))
        .collect();
    // `--header 'Name:  v'` trims the space after the colon only once: the value keeps the
    // rest byte for byte.
    assert_eq!(
        x,
        [
            ("X-Freya-Workflow-Id", "wf 42 ünï"),
            ("X-Carrier-Tag", "two  spaces")
        ]
    );
    // Wait for the listener's own end of the call (its WAV file is finished then).
    loop {
        let v = l.lines.recv_timeout(Duration::from_secs(5)).unwrap();
        if v["event"] == "media" {
            break;
        }
    }
    let (hz, n) = tone_hz(&heard_by_caller);
    assert!(n > 6000, "the caller recorded {n} samples");
    assert!(
        (hz - 440.0).abs() < 5.0,
        "the caller heard {hz} Hz, not 440"
    );
    let (hz, n) = tone_hz(&heard_by_listener);
    assert!(n > 6000, "the listener recorded {n} samples");
    assert!(
        (hz - 1000.0).abs() < 5.0,
        "the listener heard {hz} Hz, not 1000"
    );
}

#[test]
fn a_failed_call_exits_with_its_status_class() {
    // A UDP socket that answers every INVITE with 486 Busy Here.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let Ok(m) = parse(bytes::Bytes::copy_from_slice(&buf[..n])) else {
                continue;
            };
            if m.method() == Some("INVITE") {
                let r = freya::sip::message::response_to(
                    &m,
                    486,
                    "Busy Here",
                    &[("Reason", "Q.850;cause=17;text=\"User busy\"")],
                )
                .unwrap();
                let _ = sock.send_to(&r, from);
            }
        }
    });
    let out = Command::new(env!("CARGO_BIN_EXE_sip-ua"))
        .args(["call", &format!("sip:bob@{target}"), "--duration", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}");
    let ended: serde_json::Value = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "ended")
        .unwrap();
    assert_eq!(ended["status"], 486);
    assert_eq!(ended["q850_cause"], 17);
    assert_eq!(ended["q850_text"], "User busy");
}

/// The statuses a UA may answer a corpus file with (empty: no answer at all), from the
/// manifest's `expect` text with the UA's alternatives: INVITE and OPTIONS served
/// (`sip-ua listen` answers every call), REGISTER 405 (no registrar, RFC 4475 §3.3.7),
/// unknown methods 501.
fn expected(file: &str, expect: &str, method: Option<&str>) -> Vec<u16> {
    let served = match method {
        Some("INVITE") | Some("OPTIONS") => vec![200],
        // Methods of SIP extensions we know and do not serve (RFC 3261 §8.2.1).
        Some("REGISTER" | "MESSAGE" | "SUBSCRIBE" | "PUBLISH" | "REFER") => vec![405],
        // We subscribe only by REFER, inside a call: no subscription outside one (RFC 6665).
        Some("NOTIFY") => vec![481],
        Some(_) => vec![501],
        None => vec![],
    };
    match file {
        // An INVITE with a To tag names a dialog we do not have: 481 (RFC 3261 §12.2.2).
        "wsinv.sip" => return vec![481],
        // "registrar: 400 …; a UA that is no registrar: 405".
        "unksm2.sip" | "regaut01.sip" => return vec![405],
        // "endpoint: process normally (OPTIONS -> 200)".
        "zeromf.sip" => return served,
        // Contact-parameter REGISTERs: "200" at a registrar; we are none.
        "cparam01.sip" | "cparam02.sip" | "regescrt.sip" => return vec![405],
        _ => {}
    }
    if expect.starts_with("drop") {
        return vec![];
    }
    if expect.starts_with("accept") {
        return served;
    }
    let mut v: Vec<u16> = expect
        .split(|c: char| !c.is_ascii_digit())
        .filter(|t| t.len() == 3)
        .filter_map(|t| t.parse().ok())
        .filter(|s| (400..700).contains(s))
        .collect();
    if file == "badbranch.sip" {
        // RFC 2543 matching instead of the 400: served normally.
        v.extend(served);
    }
    v
}

#[test]
fn rfc4475_requests_get_the_ua_responses_the_manifest_names() {
    let mut l = listen(&[]);
    let mut branches = std::collections::HashSet::new();
    let dir = corpus_dir();
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).expect("manifest");
    let mut checked = 0;
    let mut failures = Vec::new();
    for row in manifest.lines().skip(1).filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = row.split('\t').collect();
        let (file, expect) = (cols[0], cols[3]);
        let bytes = std::fs::read(dir.join(file)).unwrap();
        // The method, read loosely (the message may not parse).
        let first = bytes.split(|b| *b == b'\n').next().unwrap_or(&[]);
        let first = String::from_utf8_lossy(first);
        let method = if first.starts_with("SIP/") {
            None
        } else {
            first.split(' ').next().map(str::to_owned)
        };
        let want = expected(file, expect, method.as_deref());
        // The corpus reuses Via branches across files; to a UA a request with a branch it
        // has seen is a retransmission (RFC 3261 §17.2.3) answered where the first came
        // from. Each file is meant on its own: such files get a fresh listener.
        let text = String::from_utf8_lossy(&bytes);
        if let Some(b) = text.split("branch=").nth(1) {
            let b: String = b
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != ';' && *c != ',')
                .collect();
            if branches.contains(&b) {
                l = listen(&[]);
                branches.clear();
            }
            branches.insert(b);
        }
        // A socket per file: late answers (2xx retransmissions) to one file never count
        // for the next.
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        sock.send_to(&bytes, l.addr).unwrap();
        // Collect final responses for 600 ms (provisional ones skipped).
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_millis(600);
        let mut buf = vec![0u8; 65536];
        while std::time::Instant::now() < deadline {
            if let Ok(n) = sock.recv(&mut buf) {
                // A 400 copies the request's broken To/From/Via (RFC 3261 §8.2.6.2), so it
                // may not parse: read its status line and header names loosely.
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let status = text
                    .strip_prefix("SIP/2.0 ")
                    .and_then(|r| r.get(..3))
                    .and_then(|c| c.parse::<u16>().ok());
                if let Some(s) = status.filter(|s| *s >= 200) {
                    got.push((s, text));
                    if !want.is_empty() {
                        break;
                    }
                }
            }
        }
        checked += 1;
        match (want.is_empty(), got.first()) {
            (true, None) => {}
            (true, Some((s, _))) => failures.push(format!("{file}: expected no answer, got {s}")),
            (false, None) => failures.push(format!("{file}: expected {want:?}, got nothing")),
            (false, Some((s, m))) => {
                if !want.contains(s) {
                    let head: String = m.lines().take(12).collect::<Vec<_>>().join(" | ");
                    failures.push(format!("{file}: expected {want:?}, got {s}: {head}"));
                }
                // The answers the RFC qualifies carry what it asks for.
                let has = |h: &str| {
                    m.lines().any(|l| {
                        l.len() > h.len()
                            && l[..h.len()].eq_ignore_ascii_case(h)
                            && l[h.len()..].starts_with(':')
                    })
                };
                match *s {
                    400 if !has("Warning") => failures.push(format!("{file}: 400 without Warning")),
                    420 if !has("Unsupported") => {
                        failures.push(format!("{file}: 420 without Unsupported"))
                    }
                    405 | 501 if !has("Allow") => {
                        failures.push(format!("{file}: {s} without Allow"))
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(checked >= 50, "only {checked} corpus files");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
