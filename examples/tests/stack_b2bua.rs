//! `freya-stack`'s B2BUA routes against SIPp on both legs: the caller (SIPp uac) holds and
//! resumes, and the far end (SIPp uas) must receive freya's own re-INVITEs doing the same
//! (hold passthrough, Asterisk's `moh_passthrough=yes`); both scenarios check the SDP
//! direction of every re-INVITE and answer (`check_it`), and the event stream must tell
//! the hold and the resume.

mod common;
// The SIPp helpers; this file uses some of them.
#[allow(dead_code)]
mod sipp;

use std::time::Duration;

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
    let target = s.sip.to_string();
    let caller_xml = scenario("uac_hold_resume.xml");
    let caller = sipp(
        free_port(),
        &[
            "-sf",
            &caller_xml,
            "-m",
            "1",
            "-t",
            "u1",
            "-s",
            "b2b",
            &target,
        ],
    )
    .await;
    caller.assert_all_succeeded(1);
    assert_eq!(caller.counter("FailedRegexpDoesntMatch(C)"), 0);
    let far = far.await.unwrap();
    far.assert_all_succeeded(1);
    assert_eq!(far.counter("FailedRegexpDoesntMatch(C)"), 0);

    // The events: the hold and the resume, by the caller, between answer and hangup.
    let seen: Vec<serde_json::Value> =
        std::iter::from_fn(|| ev.recv_timeout(Duration::from_secs(3)).ok())
            .take_while(|v| v["event"] != "hangup")
            .collect();
    let kinds: Vec<String> = seen
        .iter()
        .map(|v| match v["event"].as_str().unwrap() {
            "hold" => format!("hold {} by {}", v["held"], v["by"].as_str().unwrap()),
            k => k.to_owned(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "started",
            "answered",
            "hold true by caller",
            "hold false by caller"
        ]
    );
}
