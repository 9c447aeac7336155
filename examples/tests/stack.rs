//! `freya-stack` end to end: `sip-ua` calls the server, the built-in echo agent sends the
//! caller's tone back (checked by frequency), events come on the control API, a busy
//! pool gives its configured answer (and a caller who cancels while the call waits for a
//! slot is gone at once), and a reload under live calls drops none.

mod common;
// The SIPp helpers; this file uses some of them.
#[allow(dead_code)]
mod sipp;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{
    call, channel_tone, config, config_with_agent, events, free_base, http, start, tone_call,
    tone_hz, Server,
};

#[test]
fn echo_agent_returns_the_callers_tone_and_events_tell_the_story() {
    echo_agent_call("tokio");
}

/// `media.relay_io = "io_uring"` is for B2BUA calls: an agent call stays on tokio tasks
/// (its audio crosses to the bridge's tasks, which the ring's thread would make a
/// cross-thread wake each way), so no ring thread starts, and the call is the same.
#[test]
fn an_agent_call_stays_on_tokio_tasks_with_relay_io_io_uring() {
    echo_agent_call("io_uring");
}

fn echo_agent_call(relay_io: &str) {
    let text = config(2, "{ status = 503 }", "").replace(
        "[media]\n",
        &format!("[media]\nrelay_io = \"{relay_io}\"\n"),
    );
    assert!(
        text.contains("relay_io"),
        "no [media] table to set relay_io in"
    );
    let s = start(&text);
    // The API wants its token.
    assert_eq!(http(&s, "GET", "/calls", None).0, 401);
    assert_eq!(http(&s, "GET", "/calls", Some("wrong")).0, 401);
    let ev = events(&s);
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("heard.wav");
    let out = tone_call(
        &s,
        2,
        1000,
        &wav,
        &["X-Freya-Workflow-Id: wf-42", "X-Tenant:  acme ü"],
    )
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (hz, n) = tone_hz(&wav);
    assert!(n > 8000, "heard {n} samples");
    assert!((hz - 1000.0).abs() < 5.0, "the echo came back at {hz} Hz");
    // Whatever `relay_io` says, an agent call starts no ring thread (B2BUA calls do).
    let threads = threads(&s);
    assert!(
        !threads.iter().any(|t| t == "freya-rtp-ring"),
        "relay_io = {relay_io}: {threads:?}"
    );

    let mut got = Vec::new();
    while let Ok(v) = ev.recv_timeout(Duration::from_secs(5)) {
        let done = v["event"] == "hangup";
        got.push(v);
        if done {
            break;
        }
    }
    let kinds: Vec<&str> = got.iter().map(|v| v["event"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["started", "slot_taken", "answered", "slot_freed", "hangup"]
    );
    let id = got[0]["call_id"].as_str().unwrap();
    assert!(uuid_like(id), "{id}");
    assert!(got.iter().all(|v| v["call_id"] == id));
    assert_eq!(got[0]["workflow_id"], "wf-42");
    assert_eq!(
        got[0]["headers"],
        serde_json::json!([["X-Freya-Workflow-Id", "wf-42"], ["X-Tenant", "acme ü"]])
    );
    assert_eq!(got[4]["sip_code"], 200);
    assert_eq!(got[4]["q850_cause"], 16);
    assert_eq!(got[4]["hangup_by"], "remote");
    assert!(got[4]["duration_ms"].as_u64().unwrap() >= 1500);

    // The hangup's media counters agree with what the caller counted itself.
    let (sent, received) = rtp_counts(&out.stdout);
    let m = &got[4]["media"];
    eprintln!("sip-ua sent {sent}, heard {received}; hangup media: {m}");
    let caller = &m["caller"];
    let n = |v: &serde_json::Value| {
        v.as_u64()
            .unwrap_or_else(|| panic!("not a count: {v} in {m}"))
    };
    assert!(sent >= 90, "sip-ua sent {sent} packets in 2 s");
    // What freya accepted from the caller: its packets, give or take the few sent before
    // freya knew its address or after the relay closed (sip-ua sends no RTCP).
    let rtp_in = n(&caller["packets_in"]) - n(&caller["rtcp_in"]);
    assert!(
        rtp_in.abs_diff(sent) * 10 <= sent,
        "caller leg received {rtp_in}, sip-ua sent {sent}: {m}"
    );
    assert_eq!(
        n(&caller["bytes_in"]),
        n(&caller["packets_in"]) * 172,
        "{m}"
    );
    // Everything the caller heard went out through the relay's caller leg.
    assert!(received > 0, "sip-ua heard nothing");
    assert!(
        n(&caller["packets_out"]) >= received,
        "{m} vs {received} heard"
    );
    assert_eq!(n(&caller["lost"]), 0, "loss on loopback: {m}");
    assert_eq!(n(&caller["duplicates"]), 0, "{m}");
    assert_eq!(n(&caller["dropped"]["foreign_source"]), 0, "{m}");
    assert_eq!(n(&caller["endpoint_full"]), 0, "{m}");
    let jitter = caller["jitter_ms"].as_f64().expect("jitter_ms");
    assert!(jitter.is_finite() && jitter >= 0.0, "{m}");
    // The agent bridge: caller audio went to the echo agent and its echo came back.
    let agent = &m["agent"];
    let to_agent = n(&agent["caller_frames_sent"]);
    assert!(
        to_agent * 10 >= rtp_in * 9,
        "{to_agent} frames to the agent for {rtp_in} packets: {m}"
    );
    assert!(n(&agent["frames_from_agent"]) > 0, "{m}");
    assert!(n(&agent["frames_played"]) > 0, "{m}");
    assert!(
        n(&agent["agent_samples_received"]) >= 160 * n(&agent["frames_played"]) / 2,
        "{m}"
    );
    for key in [
        "late_ticks_skipped",
        "input_dropped_frames",
        "silent_ticks",
        "queued_ms",
    ] {
        n(&agent[key]);
    }
    assert!(
        m.get("callee").is_none(),
        "an inbound agent call has no callee leg: {m}"
    );
}

/// The names of the server's threads (`/proc/<pid>/task/*/comm`).
fn threads(s: &Server) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{}/task", s.child.id()))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|c| c.trim().to_owned())
        .collect()
}

/// `sip-ua`'s own packet counts (its `media` line): RTP sent, RTP received.
fn rtp_counts(stdout: &[u8]) -> (u64, u64) {
    let media: serde_json::Value = String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "media")
        .expect("sip-ua reports its media counts");
    (
        media["rtp_sent"].as_u64().unwrap(),
        media["rtp_received"].as_u64().unwrap(),
    )
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[test]
fn a_busy_pool_gives_its_configured_answer() {
    let s = start(&config(1, "{ status = 486, q850_cause = 17 }", ""));
    let mut first = call(&s, &["--duration", "3"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let (status, body) = http(&s, "GET", "/calls", Some("t0ken"));
    assert_eq!(status, 200);
    let calls: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(calls.as_array().unwrap().len(), 1, "{body}");
    assert_eq!(calls[0]["state"], "answered", "{body}");
    assert_eq!(calls[0]["slot"], serde_json::json!(["echo", 0]), "{body}");
    let out = call(&s, &["--duration", "1"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}");
    let ended: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "ended")
        .unwrap();
    assert_eq!(ended["status"], 486);
    assert_eq!(ended["q850_cause"], 17);
    assert_eq!(first.wait().unwrap().code(), Some(0));
}

/// A pool that makes a caller wait (ringing) for a slot, `busy.wait_ms`: the caller who gives
/// up meanwhile (SIPp: INVITE, 180, CANCEL; it checks the 200 for the CANCEL and the 487
/// for the INVITE) ends the call at once: its hangup event (487, by the remote side) comes
/// seconds before the wait or the busy slot would have ended it, the call is gone from
/// `GET /calls`, and no slot is taken for it, then or when the slot frees.
#[test]
fn a_caller_who_cancels_while_waiting_for_a_slot_is_gone_at_once() {
    let s = start(&config(1, "{ status = 486, wait_ms = 15000 }", ""));
    let ev = events(&s);
    let mut first = call(&s, &["--duration", "8"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let next = |what: &str, pred: &dyn Fn(&serde_json::Value) -> bool| loop {
        match ev.recv_timeout(Duration::from_secs(10)) {
            Ok(v) if pred(&v) => return v,
            Ok(_) => {}
            Err(e) => panic!("no {what}: {e}"),
        }
    };
    let answered = next("answer of the first call", &|v| v["event"] == "answered");
    let first_id = answered["call_id"].as_str().unwrap().to_owned();

    let t0 = std::time::Instant::now();
    sipp::cancel_after_ringing(&s.sip.to_string()).assert_all_succeeded(1);
    let started = next("the waiting call", &|v| {
        v["event"] == "started" && v["call_id"] != first_id.as_str()
    });
    let id = started["call_id"].as_str().unwrap().to_owned();
    let seen = std::cell::RefCell::new(vec![]);
    let hangup = next("its hangup", &|v| {
        if v["call_id"] == id.as_str() {
            seen.borrow_mut()
                .push(v["event"].as_str().unwrap_or("").to_owned());
        }
        v["event"] == "hangup" && v["call_id"] == id.as_str()
    });
    let seen = seen.into_inner();
    let took = t0.elapsed();
    assert_eq!(hangup["sip_code"], 487, "{hangup}");
    assert_eq!(hangup["hangup_by"], "remote", "{hangup}");
    assert_eq!(hangup["duration_ms"], 0, "{hangup}");
    // The first call still holds the only slot for seconds after this.
    assert!(
        took < Duration::from_secs(4),
        "the hangup came after {took:?}"
    );
    assert_eq!(seen, ["hangup"], "no slot taken for the caller who left");
    let (_, body) = http(&s, "GET", "/calls", Some("t0ken"));
    let calls: serde_json::Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = calls
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["call_id"].as_str())
        .collect();
    assert_eq!(ids, [first_id.as_str()], "{body}");
    assert_eq!(first.wait().unwrap().code(), Some(0));
    // The freed slot is not handed to the call that left.
    while let Ok(v) = ev.recv_timeout(Duration::from_millis(500)) {
        assert_ne!(v["call_id"], id.as_str(), "an event after its hangup: {v}");
    }
}

#[test]
fn reload_under_live_calls_drops_none() {
    let s = start(&config(12, "{ status = 503 }", ""));
    let calls: Vec<Child> = (0..10)
        .map(|_| {
            call(&s, &["--duration", "3", "--tone", "440"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    // A changed config: one more trunk, a renamed route. Then a broken one, refused.
    let text = std::fs::read_to_string(&s.config).unwrap();
    let changed = text.replace("name = \"default\"", "name = \"default-v2\"")
        + "\n[[trunks]]\nname = \"carrier\"\nmatch = [\"198.51.100.0/24\"]\n";
    std::fs::write(&s.config, changed).unwrap();
    let (status, body) = http(&s, "POST", "/reload", Some("t0ken"));
    assert_eq!(status, 200, "{body}");
    std::fs::write(
        &s.config,
        "[[routes]]\nname = \"x\"\nagents = \"missing\"\n",
    )
    .unwrap();
    let (status, body) = http(&s, "POST", "/reload", Some("t0ken"));
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("routes[0].agents"), "{body}");
    let (_, body) = http(&s, "GET", "/endpoints", Some("t0ken"));
    assert!(
        body.contains("carrier"),
        "the good reload stays in force: {body}"
    );
    for c in calls {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        let ended: serde_json::Value = stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["event"] == "ended")
            .unwrap();
        // Each call's BYE came from the caller, at its planned time.
        assert_eq!(ended["hangup_by"], "local", "{stdout}");
        let ms = ended["duration_ms"].as_u64().unwrap();
        assert!((2900..4000).contains(&ms), "{ms} ms");
    }
}

/// `POST /calls` with the JSON `body`; asserts 201 and returns the new call's id.
fn originate(s: &Server, body: &str) -> String {
    let (status, json) = common::post(s, "/calls", &serde_json::from_str(body).unwrap());
    assert_eq!(status, 201, "{json}");
    json["call_id"].as_str().unwrap().to_owned()
}

#[test]
fn originate_through_the_api_reaches_a_listener_with_the_freya_headers() {
    let s = start(&config(2, "{ status = 503 }", ""));
    let dir = tempfile::tempdir().unwrap();
    let heard = dir.path().join("callee.wav");
    // The callee: sip-ua listen sending a 440 Hz tone; the agent echoes it back to it.
    let mut l = Command::new(env!("CARGO_BIN_EXE_sip-ua"))
        .args([
            "listen",
            "--bind",
            "127.0.0.1:0",
            "--tone",
            "440",
            "--record",
        ])
        .arg(&heard)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(l.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let callee = first["address"].as_str().unwrap().to_owned();
    let ev = events(&s);
    let body = serde_json::json!({
        "to": format!("sip:+14155550123@{callee}"),
        "caller_id": "+442071838750",
        "workflow_id": "wf-outbound-1",
        "headers": [["X-Campaign", "spring  sale"]],
    })
    .to_string();
    let call_id = originate(&s, &body);
    // The callee saw the X-Freya-* headers byte-exact, ours after them.
    let incoming: serde_json::Value = loop {
        let v: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        if v["event"] == "incoming" {
            break v;
        }
    };
    let x: Vec<(String, String)> = incoming["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h[0].as_str().unwrap().to_owned(),
                h[1].as_str().unwrap().to_owned(),
            )
        })
        .filter(|(n, _)| n.starts_with("X-"))
        .collect();
    assert_eq!(
        x,
        [
            ("X-Freya-Direction".to_owned(), "outbound".to_owned()),
            ("X-Freya-Call-Id".to_owned(), call_id.clone()),
            ("X-Freya-Workflow-Id".to_owned(), "wf-outbound-1".to_owned()),
            ("X-Campaign".to_owned(), "spring  sale".to_owned()),
        ]
    );
    // The events so far; then 2 s of echo, and the callee's recording (flushed as it goes,
    // so it survives the kill) holds its own tone sent back by the agent.
    let mut kinds = Vec::new();
    while let Ok(v) = ev.recv_timeout(Duration::from_secs(3)) {
        assert_eq!(v["call_id"], call_id.as_str());
        kinds.push(v["event"].as_str().unwrap().to_owned());
        if v["event"] == "answered" {
            break;
        }
    }
    assert_eq!(kinds, ["started", "slot_taken", "answered"]);
    std::thread::sleep(Duration::from_secs(2));
    let _ = l.kill();
    let _ = l.wait();
    let (hz, n) = tone_hz(&heard);
    assert!(n > 4000, "the callee recorded {n} samples");
    assert!((hz - 440.0).abs() < 5.0, "the callee heard {hz} Hz back");
}

/// freya originating a call to itself: the inbound leg arrives with the outbound leg's
/// `X-Freya-Call-Id`, which is live here, so it gets an id of its own. Two calls, two ids,
/// two agent slots, two hangups (before, both legs shared one id and one slot).
#[test]
fn an_originate_to_the_stack_itself_gives_each_leg_its_own_id_and_slot() {
    let s = start(&config(4, "{ status = 503 }", ""));
    let ev = events(&s);
    let body = serde_json::json!({ "to": format!("sip:echo@{}", s.sip) }).to_string();
    let out_id = originate(&s, &body);
    let mut started = Vec::new();
    let mut slots = Vec::new();
    let mut answered = Vec::new();
    while let Ok(v) = ev.recv_timeout(Duration::from_secs(3)) {
        let id = v["call_id"].as_str().unwrap().to_owned();
        match v["event"].as_str().unwrap() {
            "started" => started.push((id, v["direction"].as_str().unwrap().to_owned())),
            "slot_taken" => slots.push((id, v["slot"].as_u64().unwrap())),
            "answered" => answered.push(id),
            _ => {}
        }
        if answered.len() == 2 && slots.len() == 2 {
            break;
        }
    }
    assert_eq!(started.len(), 2, "{started:?}");
    let inbound = started
        .iter()
        .find(|(_, d)| d == "inbound")
        .expect("the inbound leg's start")
        .0
        .clone();
    assert!(started.contains(&(out_id.clone(), "outbound".to_owned())));
    assert_ne!(inbound, out_id, "each leg has its own id");
    assert_eq!(slots.len(), 2, "{slots:?}");
    assert_ne!(
        slots[0].1, slots[1].1,
        "each leg has its own slot: {slots:?}"
    );
    let mut ids: Vec<&String> = slots.iter().map(|s| &s.0).collect();
    ids.sort();
    let mut want = vec![&inbound, &out_id];
    want.sort();
    assert_eq!(ids, want);
    // Hanging the outbound leg up ends both, each with its own hangup event.
    let (status, _) = http(&s, "DELETE", &format!("/calls/{out_id}"), Some("t0ken"));
    assert_eq!(status, 202);
    let mut hangups = Vec::new();
    while let Ok(v) = ev.recv_timeout(Duration::from_secs(5)) {
        if v["event"] == "hangup" {
            hangups.push(v["call_id"].as_str().unwrap().to_owned());
            if hangups.len() == 2 {
                break;
            }
        }
    }
    hangups.sort();
    let mut want = vec![inbound, out_id];
    want.sort();
    assert_eq!(hangups, want);
}

/// The same call through a stock pipecat agent (tests/pipecat/echo_agent.py: FastAPI
/// WebSocket transport + TwilioFrameSerializer) as the slot: the tone comes back, and
/// pipecat read the call's UUID and X- headers from freya's start message.
#[test]
fn a_pipecat_agent_as_the_slot_echoes_the_caller() {
    let Some(python) = std::env::var_os("FREYA_PIPECAT_PYTHON") else {
        assert!(
            std::env::var_os("FREYA_REQUIRE_PIPECAT").is_none(),
            "FREYA_REQUIRE_PIPECAT is set but FREYA_PIPECAT_PYTHON is not"
        );
        eprintln!("SKIPPED: FREYA_PIPECAT_PYTHON is not set (scripts/test.sh sets it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("agent.jsonl");
    let port = free_base(1);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/pipecat/echo_agent.py");
    let mut agent = Command::new(python)
        .arg(script)
        .args(["--port", &port.to_string(), "--log"])
        .arg(&log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = (0..300).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "the pipecat agent did not listen within 30 s");
    let s = start(&config_with_agent(1, "{ status = 503 }", "", Some(port)));
    let ev = events(&s);
    let wav = dir.path().join("heard.wav");
    let out = tone_call(&s, 3, 1000, &wav, &["X-Freya-Workflow-Id: wf-pipecat"])
        .output()
        .unwrap();
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (hz, n) = tone_hz(&wav);
    assert!(n > 12000, "heard {n} samples");
    assert!(
        (hz - 1000.0).abs() < 5.0,
        "pipecat's echo came back at {hz} Hz"
    );
    let started = ev.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(started["event"], "started");
    let call_id = started["call_id"].as_str().unwrap().to_owned();
    let logged = std::fs::read_to_string(&log).unwrap();
    let start_line: serde_json::Value = logged
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["kind"] == "start")
        .expect("pipecat logged the start");
    assert_eq!(start_line["transport"], "twilio");
    let body = start_line["body"].to_string();
    assert!(
        body.contains(&call_id),
        "pipecat's call data lacks the call UUID: {body}"
    );
    assert!(body.contains("wf-pipecat"), "{body}");
}

#[test]
fn a_recorded_route_writes_a_stereo_wav_named_by_the_call_id() {
    let rec = tempfile::tempdir().unwrap();
    let text = config(
        1,
        "{ status = 503 }",
        &format!("[recording]\ndir = {:?}\nstereo = true\n", rec.path()),
    )
    .replace(
        "name = \"default\"\nagents = \"echo\"",
        "name = \"default\"\nagents = \"echo\"\nrecord = true",
    );
    let s = start(&text);
    let ev = events(&s);
    let out = call(&s, &["--duration", "2", "--tone", "700"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let hangup = loop {
        let v = ev.recv_timeout(Duration::from_secs(5)).unwrap();
        if v["event"] == "hangup" {
            break v;
        }
    };
    let id = hangup["call_id"].as_str().unwrap();
    let path = std::path::PathBuf::from(
        hangup["recording"]
            .as_str()
            .expect("the hangup lists the recording"),
    );
    assert_eq!(path, rec.path().join(format!("{id}.wav")));
    // Caller left, agent right: both carry the caller's 700 Hz (the agent echoes it).
    let (left, _) = channel_tone(&path, 0);
    let (right, _) = channel_tone(&path, 1);
    assert!((left - 700.0).abs() < 5.0, "caller channel {left} Hz");
    assert!((right - 700.0).abs() < 5.0, "agent channel {right} Hz");
}

/// A child process killed when dropped (a failing test leaves nothing running).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn listener(
    args: &[&str],
) -> (
    Killed,
    String,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
) {
    let mut l = Command::new(env!("CARGO_BIN_EXE_sip-ua"))
        .args(["listen", "--bind", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(l.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let addr = first["address"].as_str().unwrap().to_owned();
    (Killed(l), addr, lines)
}

#[test]
fn a_b2bua_route_bridges_two_sip_legs_with_media_through_freya() {
    b2bua_bridges_two_sip_legs("tokio");
}

/// The same call with its RTP relayed by the io_uring thread (`media.relay_io`).
#[cfg(target_os = "linux")]
#[test]
fn a_b2bua_route_relayed_by_the_io_uring_thread_bridges_the_same() {
    b2bua_bridges_two_sip_legs("io_uring");
}

fn b2bua_bridges_two_sip_legs(relay_io: &str) {
    let dir = tempfile::tempdir().unwrap();
    let far_heard = dir.path().join("far.wav");
    let (far, far_addr, mut far_lines) =
        listener(&["--tone", "440", "--record", far_heard.to_str().unwrap()]);
    let text = config(1, "{ status = 503 }", "")
        .replace(
            "name = \"default\"\nagents = \"echo\"",
            &format!("name = \"default\"\nuri = \"sip:far@{far_addr}\""),
        )
        .replace(
            "[media]\n",
            &format!("[media]\nrelay_io = \"{relay_io}\"\n"),
        );
    let s = start(&text);
    let ev = events(&s);
    let heard = dir.path().join("caller.wav");
    let out = tone_call(
        &s,
        2,
        1000,
        &heard,
        &["X-Freya-Workflow-Id: wf-b2b", "X-Carrier:  keep  me "],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    // The relay that carried it: the io_uring thread exists only when asked for.
    let threads = threads(&s);
    assert_eq!(
        threads.iter().any(|t| t == "freya-rtp-ring"),
        relay_io == "io_uring",
        "{threads:?}"
    );
    // The far end got our X- headers byte-exact, and media from freya, not from the caller.
    let incoming: serde_json::Value = loop {
        let v: serde_json::Value =
            serde_json::from_str(&far_lines.next().unwrap().unwrap()).unwrap();
        if v["event"] == "incoming" {
            break v;
        }
    };
    let x: Vec<(String, String)> = incoming["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h[0].as_str().unwrap().to_owned(),
                h[1].as_str().unwrap().to_owned(),
            )
        })
        .filter(|(n, _)| n.starts_with("X-"))
        .collect();
    assert_eq!(x[0].0, "X-Freya-Call-Id");
    assert_eq!(
        &x[1..],
        [
            ("X-Freya-Workflow-Id".to_owned(), "wf-b2b".to_owned()),
            ("X-Carrier".to_owned(), "keep  me".to_owned()),
        ]
    );
    // Wait for the far end's own end of the call (its recording is finished then).
    loop {
        let v: serde_json::Value =
            serde_json::from_str(&far_lines.next().unwrap().unwrap()).unwrap();
        if v["event"] == "media" {
            break;
        }
    }
    drop(far);
    let (hz, _) = tone_hz(&heard);
    assert!(
        (hz - 440.0).abs() < 5.0,
        "the caller heard {hz} Hz, not the far end's 440"
    );
    let (hz, _) = tone_hz(&far_heard);
    assert!(
        (hz - 1000.0).abs() < 5.0,
        "the far end heard {hz} Hz, not the caller's 1000"
    );
    let mut kinds = Vec::new();
    let hangup = loop {
        let v = ev
            .recv_timeout(Duration::from_secs(3))
            .expect("a hangup event");
        if v["event"] == "hangup" {
            break v;
        }
        kinds.push(v["event"].as_str().unwrap().to_owned());
    };
    assert_eq!(kinds, ["started", "answered"]);
    // Both legs' counters: each leg received about what its peer sent, and forwarded it
    // to the other.
    let m = &hangup["media"];
    let (caller_sent, _) = rtp_counts(&out.stdout);
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or_else(|| panic!("{v} in {m}"));
    eprintln!("the caller sent {caller_sent}; hangup media: {m}");
    let (caller, callee) = (&m["caller"], &m["callee"]);
    let from_caller = n(&caller["packets_in"]) - n(&caller["rtcp_in"]);
    assert!(
        from_caller.abs_diff(caller_sent) * 10 <= caller_sent,
        "caller leg received {from_caller}, the caller sent {caller_sent}: {m}"
    );
    let from_far = n(&callee["packets_in"]) - n(&callee["rtcp_in"]);
    assert!(from_far >= 50, "the far end's 440 Hz came in: {m}");
    // Forwarded unchanged (RTP); what was not forwarded is counted as a drop.
    assert_eq!(
        n(&callee["packets_out"])
            + n(&callee["dropped"]["peer_on_hold"])
            + n(&callee["dropped"]["no_destination"]),
        n(&caller["packets_in"]),
        "{m}"
    );
    assert_eq!(
        n(&caller["lost"]) + n(&callee["lost"]),
        0,
        "loss on loopback: {m}"
    );
    assert!(m.get("agent").is_none(), "{m}");
    let _ = x;
}

#[test]
fn a_b2bua_leg_failure_reaches_the_caller_with_its_status_and_cause() {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let far = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let Ok(m) = freya::sip::message::parse(bytes::Bytes::copy_from_slice(&buf[..n])) else {
                continue;
            };
            if m.method() == Some("INVITE") {
                let r = freya::sip::message::response_to(
                    &m,
                    603,
                    "Decline",
                    &[("Reason", "Q.850;cause=21;text=\"Call rejected\"")],
                )
                .unwrap();
                let _ = sock.send_to(&r, from);
            }
        }
    });
    let text = config(1, "{ status = 503 }", "").replace(
        "name = \"default\"\nagents = \"echo\"",
        &format!("name = \"default\"\nuri = \"sip:far@{far}\""),
    );
    let s = start(&text);
    let out = call(&s, &["--duration", "1"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(6), "{stdout}");
    let ended: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "ended")
        .unwrap();
    assert_eq!(ended["status"], 603);
    assert_eq!(ended["q850_cause"], 21);
    assert_eq!(ended["q850_text"], "Call rejected");
}
