//! Server-mode agent pools end to end: the agent dials freya's agent server for the call
//! the `slot_taken` event names, with the bearer token (issue 5, point 7: "the bridge's
//! server side require[s] a token"). A wrong token is refused with 401 and the call goes
//! on waiting; the right one gets the call, whose tone comes back by frequency; no agent
//! within `connect_timeout_ms` fails the call with 503 and Q.850 41; a caller who cancels
//! while the agent is awaited ends the call then, and the agent can no longer take it.

mod common;
// The SIPp helpers; this file uses some of them.
#[allow(dead_code)]
mod sipp;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{call, config_with_agent, events, start, tone_call, tone_hz};

/// The common test config with its pool switched to server mode (no built-in echo: the
/// agent port given is never used) and an agent server on a free loopback port.
fn config() -> String {
    let extra =
        "[agent_server]\nlisten = \"127.0.0.1:0\"\ntoken = \"ag3nt\"\nconnect_timeout_ms = 4000\n";
    config_with_agent(2, "{ status = 503 }", extra, Some(9)).replace(
        "builtin_echo = false",
        "builtin_echo = false\nmode = \"server\"",
    )
}

/// The next event of `kind` (others skipped).
fn next(ev: &std::sync::mpsc::Receiver<serde_json::Value>, kind: &str) -> serde_json::Value {
    loop {
        let v = ev
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no {kind} event"));
        if v["event"] == kind {
            return v;
        }
    }
}

fn echo_agent(url: &str, token: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_echo-agent"));
    c.args(["--dial", url, "--token", token]);
    c
}

#[test]
fn the_agent_dials_in_with_its_token_and_echoes_the_caller() {
    let s = start(&config());
    let ev = events(&s);
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("heard.wav");
    let caller = tone_call(&s, 2, 1000, &wav, &["X-Freya-Workflow-Id: wf-dial"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();

    let taken = next(&ev, "slot_taken");
    let id = taken["call_id"].as_str().unwrap();
    let url = taken["connect"].as_str().expect("slot_taken names the URL");
    assert!(
        url.starts_with("ws://127.0.0.1:") && url.ends_with(&format!("/call/{id}")),
        "{url}"
    );

    // A wrong token: the handshake is refused with 401, and the call still waits.
    let refused = echo_agent(url, "wrong").output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("401"), "{err}");

    let agent = echo_agent(url, "ag3nt").output().unwrap();
    let out = caller.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        agent.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&agent.stderr)
    );
    // The agent got the call's metadata first (its start note).
    let notes = String::from_utf8_lossy(&agent.stdout);
    let start: serde_json::Value = notes
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "start")
        .unwrap_or_else(|| panic!("no start note in {notes}"));
    assert_eq!(start["metadata"]["call_id"], id);
    assert_eq!(start["metadata"]["workflow_id"], "wf-dial");
    let (hz, n) = tone_hz(&wav);
    assert!(n > 8000, "heard {n} samples");
    assert!((hz - 1000.0).abs() < 5.0, "the echo came back at {hz} Hz");
    let hangup = next(&ev, "hangup");
    assert_eq!(hangup["call_id"], id);
    assert_eq!(hangup["sip_code"], 200);
    assert_eq!(hangup["hangup_by"], "remote");
}

#[test]
fn no_agent_within_the_connect_timeout_fails_the_call_with_503() {
    let s = start(&config());
    let ev = events(&s);
    let out = call(&s, &["--duration", "1"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("503"), "{stdout}");
    let taken = next(&ev, "slot_taken");
    assert!(taken["connect"].is_string());
    // The slot is free again (slot_freed comes just before the hangup).
    let freed = next(&ev, "slot_freed");
    assert_eq!(freed["call_id"], taken["call_id"]);
    let hangup = next(&ev, "hangup");
    assert_eq!(hangup["sip_code"], 503);
    assert_eq!(hangup["q850_cause"], 41);
}

/// The caller gives up while freya waits for the agent to dial in (SIPp: INVITE, 180,
/// CANCEL; it checks the 200 and the 487): the call ends then (its hangup, 487 by the remote
/// side, well within the 4 s `connect_timeout_ms`), its slot is freed, and the call's
/// dial-in URL is withdrawn: an agent dialling it afterwards is refused.
#[test]
fn a_caller_who_cancels_while_the_agent_is_awaited_ends_the_call_then() {
    let s = start(&config());
    let ev = events(&s);
    let t0 = std::time::Instant::now();
    sipp::cancel_after_ringing(&s.sip.to_string()).assert_all_succeeded(1);
    let taken = next(&ev, "slot_taken");
    let url = taken["connect"].as_str().expect("slot_taken names the URL");
    let freed = next(&ev, "slot_freed");
    assert_eq!(freed["call_id"], taken["call_id"]);
    let hangup = next(&ev, "hangup");
    let took = t0.elapsed();
    assert_eq!(hangup["call_id"], taken["call_id"]);
    assert_eq!(hangup["sip_code"], 487, "{hangup}");
    assert_eq!(hangup["hangup_by"], "remote", "{hangup}");
    assert!(
        took < Duration::from_millis(3000),
        "the hangup came after {took:?}, as the connect timeout would"
    );
    let late = echo_agent(url, "ag3nt").output().unwrap();
    assert_ne!(
        late.status.code(),
        Some(0),
        "an agent took a call that had ended"
    );
}
