//! Ending calls from outside: `DELETE /calls/{id}` hangs a live call up with a BYE and the
//! asked Q.850 cause; SIGTERM (a container stop) refuses new calls with 503, lets short
//! calls finish on their own within `shutdown_grace_s`, then hangs the rest up with a BYE
//! (cause 41) before the process exits — no call is left to time out at the far end.

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{call, config, events, http, start, tone_call};

/// Waits for `n` events named `kind`; returns them (panics after `limit`).
fn wait_events(
    ev: &std::sync::mpsc::Receiver<serde_json::Value>,
    kind: &str,
    n: usize,
    limit: Duration,
    seen: &mut Vec<serde_json::Value>,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + limit;
    loop {
        let got: Vec<serde_json::Value> = seen
            .iter()
            .filter(|v| v["event"] == kind)
            .cloned()
            .collect();
        if got.len() >= n {
            return got;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "waited for {n} {kind} events: {seen:?}");
        if let Ok(v) = ev.recv_timeout(left) {
            seen.push(v);
        }
    }
}

/// The `ended` JSON line of a finished `sip-ua`.
fn ended(out: &Output) -> serde_json::Value {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "ended")
        .unwrap_or_else(|| panic!("no ended line: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Waits for a child to exit within `limit`; kills it and panics otherwise.
fn exit_within(mut child: Child, limit: Duration, what: &str) -> Output {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("{what} did not end within {limit:?}");
}

fn spawn(mut c: Command) -> Child {
    c.stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn an_api_hangup_ends_a_live_call_with_a_bye_and_its_cause() {
    let s = start(&config(2, "{ status = 503 }", ""));
    let ev = events(&s);
    let dir = tempfile::tempdir().unwrap();
    let caller = spawn(tone_call(&s, 20, 1000, &dir.path().join("a.wav"), &[]));
    let mut seen = Vec::new();
    let answered = wait_events(&ev, "answered", 1, Duration::from_secs(10), &mut seen);
    let id = answered[0]["call_id"].as_str().unwrap().to_owned();

    // Refusals first: no token, an unknown call, a cause outside Q.850's range.
    assert_eq!(http(&s, "DELETE", &format!("/calls/{id}"), None).0, 401);
    let (status, body) = http(&s, "DELETE", "/calls/no-such-call", Some("t0ken"));
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no-such-call"), "{body}");
    let (status, body) = http(
        &s,
        "DELETE",
        &format!("/calls/{id}?q850_cause=200"),
        Some("t0ken"),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("q850_cause: 200 is not a Q.850 cause (1-127)"),
        "{body}"
    );

    let asked = Instant::now();
    let (status, body) = http(
        &s,
        "DELETE",
        &format!("/calls/{id}?q850_cause=31"),
        Some("t0ken"),
    );
    assert_eq!(status, 202, "{body}");
    // The caller gets a BYE carrying the cause long before its own 20 s hang-up.
    let out = exit_within(caller, Duration::from_secs(5), "the caller");
    assert!(asked.elapsed() < Duration::from_secs(5));
    let end = ended(&out);
    assert_eq!(end["hangup_by"], "remote", "{end}");
    assert_eq!(end["q850_cause"], 31, "{end}");
    let hangup = wait_events(&ev, "hangup", 1, Duration::from_secs(5), &mut seen);
    assert_eq!(hangup[0]["call_id"], id.as_str());
    assert_eq!(hangup[0]["hangup_by"], "local", "{}", hangup[0]);
    assert_eq!(hangup[0]["q850_cause"], 31, "{}", hangup[0]);
    // It is gone: a second DELETE finds nothing.
    assert_eq!(
        http(&s, "DELETE", &format!("/calls/{id}"), Some("t0ken")).0,
        404
    );
}

#[test]
fn sigterm_refuses_new_calls_lets_short_ones_finish_and_byes_the_rest() {
    let mut s = start(&config(3, "{ status = 503 }", "shutdown_grace_s = 3"));
    let ev = events(&s);
    let dir = tempfile::tempdir().unwrap();
    let short = spawn(tone_call(&s, 2, 1000, &dir.path().join("short.wav"), &[]));
    let long = spawn(tone_call(&s, 30, 1000, &dir.path().join("long.wav"), &[]));
    let mut seen = Vec::new();
    wait_events(&ev, "answered", 2, Duration::from_secs(10), &mut seen);

    let pid = s.child.id().to_string();
    let signalled = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_millis(300));

    // A new call while draining: 503 with Reason Q.850 cause 41.
    let refused = call(&s, &["--duration", "1"]).output().unwrap();
    let end = ended(&refused);
    assert_eq!(end["status"], 503, "{end}");
    assert_eq!(end["q850_cause"], 41, "{end}");

    // The short call ends on its own, normally.
    let out = exit_within(short, Duration::from_secs(5), "the short call");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(ended(&out)["hangup_by"], "local");

    // The long one is hung up by freya at the end of the 3 s grace, with cause 41.
    let out = exit_within(long, Duration::from_secs(8), "the long call");
    let end = ended(&out);
    assert_eq!(end["hangup_by"], "remote", "{end}");
    assert_eq!(end["q850_cause"], 41, "{end}");
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_millis(2500) && took < Duration::from_secs(8),
        "the long call lasted {took:?} after SIGTERM (grace 3 s)"
    );

    // Then the server exits cleanly.
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "freya-stack still running after the drain"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    seen.extend(ev.try_iter());
    let hangups: Vec<&serde_json::Value> = seen.iter().filter(|v| v["event"] == "hangup").collect();
    assert!(
        hangups
            .iter()
            .any(|v| v["hangup_by"] == "local" && v["q850_cause"] == 41 && v["sip_code"] != 503),
        "no drained hangup event: {hangups:?}"
    );
}
