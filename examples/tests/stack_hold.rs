//! Hold and resume (RFC 3264 §8.4) through `freya-stack`, with SIPp as the caller
//! (`uac_hold_resume.xml`: a re-INVITE with `a=sendonly` whose answer must be `a=recvonly`,
//! then one back to sendrecv), each scenario checking the SDP directions (`check_it`):
//! - on a B2BUA route the far end (SIPp uas, `uas_hold_follow.xml`) must receive freya's
//!   own re-INVITEs doing the same (hold passthrough, Asterisk's `moh_passthrough=yes`);
//! - on an agent route the call stays with its agent;
//!
//! and in both the event stream tells the hold and the resume.

mod common;
// The SIPp helpers; this file uses some of them.
#[allow(dead_code)]
mod sipp;

use std::time::Duration;

use serde_json::Value;

use common::{config, events, start};
use sipp::{free_port, scenario, sipp, udp_listening};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_hold_and_resume_cross_a_b2bua_call() {
    let far_port = free_port();
    let far_xml = scenario("uas_hold_follow.xml");
    let far =
        tokio::spawn(
            async move { sipp(far_port, &["-sf", &far_xml, "-m", "1", "-t", "u1"]).await },
        );
    for _ in 0..100 {
        if udp_listening(far_port) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(udp_listening(far_port), "SIPp's uas did not start");

    let text = config(1, "{ status = 503 }", "").replace(
        "name = \"default\"\nagents = \"echo\"",
        &format!("name = \"default\"\nuri = \"sip:far@127.0.0.1:{far_port}\""),
    );
    let s = start(&text);
    let ev = events(&s);
    hold_and_resume(&s, "b2b").await;
    let far = far.await.unwrap();
    far.assert_all_succeeded(1);
    assert_eq!(far.counter("FailedRegexpDoesntMatch(C)"), 0);

    // The events: the hold and the resume, by the caller, between answer and hangup.
    assert_eq!(
        kinds_until_hangup(&ev),
        [
            "started",
            "answered",
            "hold true by caller",
            "hold false by caller"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_hold_and_resume_on_an_agent_call_are_answered_and_told() {
    let s = start(&config(1, "{ status = 503 }", ""));
    let ev = events(&s);
    hold_and_resume(&s, "echo").await;
    let holds: Vec<String> = kinds_until_hangup(&ev)
        .into_iter()
        .filter(|k| k.starts_with("hold"))
        .collect();
    assert_eq!(holds, ["hold true by caller", "hold false by caller"]);
}

/// SIPp calls `user` at the server with `uac_hold_resume.xml` (hold, resume, BYE); every
/// SDP direction it checks must have matched.
async fn hold_and_resume(s: &common::Server, user: &str) {
    let target = s.sip.to_string();
    let xml = scenario("uac_hold_resume.xml");
    let args = ["-sf", &xml, "-m", "1", "-t", "u1", "-s", user, &target];
    let caller = sipp(free_port(), &args).await;
    caller.assert_all_succeeded(1);
    assert_eq!(caller.counter("FailedRegexpDoesntMatch(C)"), 0);
}

/// The kinds of the events up to the hangup, a hold event as `hold <held> by <by>`.
fn kinds_until_hangup(ev: &std::sync::mpsc::Receiver<Value>) -> Vec<String> {
    std::iter::from_fn(|| ev.recv_timeout(Duration::from_secs(3)).ok())
        .take_while(|v| v["event"] != "hangup")
        .map(|v| match v["event"].as_str().unwrap_or_default() {
            "hold" => format!(
                "hold {} by {}",
                v["held"],
                v["by"].as_str().unwrap_or_default()
            ),
            k => k.to_owned(),
        })
        .collect()
}
