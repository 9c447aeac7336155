//! Transferring a caller away from its agent (`POST /calls/{id}/transfer`): freya sends
//! REFER (RFC 3515) to the call's SIP peer, here SIPp playing the transferee of a blind
//! transfer (RFC 5589 §6.1), and follows its answer and NOTIFYs as `transfer` events. On
//! success freya hangs up its own leg; on a refusal or a failure the call stays with its
//! agent.

mod common;
// The SIPp helpers; this file uses some of them.
#[allow(dead_code)]
mod sipp;

use std::sync::mpsc::Receiver;
use std::time::Duration;

use common::{config, events, post, start};
use serde_json::{json, Value};

/// The next event for which `pred` holds, within 10 s (the others are kept in `seen`).
fn next(
    ev: &Receiver<Value>,
    seen: &mut Vec<Value>,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        match ev.recv_timeout(Duration::from_secs(10)) {
            Ok(v) if pred(&v) => return v,
            Ok(v) => seen.push(v),
            Err(e) => panic!("no {what} ({e}); saw {seen:#?}"),
        }
    }
}

fn transfer_step(ev: &Receiver<Value>, seen: &mut Vec<Value>, id: &str, state: &str) -> Value {
    next(ev, seen, &format!("transfer {state}"), |v| {
        v["event"] == "transfer" && v["call_id"] == id && v["state"] == state
    })
}

#[test]
fn a_transfer_the_peer_completes_ends_our_leg() {
    let s = start(&config(2, "{ status = 503 }", ""));
    let ev = events(&s);
    let mut seen = vec![];
    let caller = sipp::caller_in_background("uac_transfer_succeeds.xml", &s.sip.to_string());
    let answered = next(&ev, &mut seen, "the answer", |v| v["event"] == "answered");
    let id = answered["call_id"].as_str().unwrap().to_owned();

    // A bad target is refused before anything is sent.
    let (status, body) = post(&s, &format!("/calls/{id}/transfer"), &json!({"to": "desk"}));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("\"desk\""),
        "{body}"
    );
    let (status, _) = post(&s, "/calls/no-such-call/transfer", &json!({"to": "+1"}));
    assert_eq!(status, 404);

    let (status, body) = post(
        &s,
        &format!("/calls/{id}/transfer"),
        &json!({"to": "+14155550199"}),
    );
    assert_eq!(status, 202, "{body}");
    let target = body["target"].as_str().unwrap().to_owned();
    assert!(
        target.starts_with("sip:+14155550199@127.0.0.1:"),
        "{target}"
    );
    // One at a time.
    let (status, body) = post(
        &s,
        &format!("/calls/{id}/transfer"),
        &json!({"to": "+14155550100"}),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("in progress"),
        "{body}"
    );

    let requested = transfer_step(&ev, &mut seen, &id, "requested");
    assert_eq!(requested["target"], target.as_str());
    let accepted = transfer_step(&ev, &mut seen, &id, "accepted");
    assert_eq!(
        (accepted["sip_code"].as_u64(), accepted["reason"].as_str()),
        (Some(202), Some("Accepted"))
    );
    let progress = transfer_step(&ev, &mut seen, &id, "progress");
    assert_eq!(progress["sip_code"], 100, "{progress}");
    let done = transfer_step(&ev, &mut seen, &id, "succeeded");
    assert_eq!(
        (done["sip_code"].as_u64(), done["reason"].as_str()),
        (Some(200), Some("OK"))
    );
    // Then our leg ends: a BYE from freya (SIPp waits for it), the agent's slot freed.
    let hangup = next(&ev, &mut seen, "the hangup", |v| {
        v["event"] == "hangup" && v["call_id"] == id.as_str()
    });
    assert_eq!(hangup["hangup_by"], "local", "{hangup}");
    assert_eq!(hangup["q850_cause"], 16, "{hangup}");
    caller.join().unwrap().assert_all_succeeded(1);
}

#[test]
fn a_refused_or_failed_transfer_leaves_the_call_with_its_agent() {
    let s = start(&config(2, "{ status = 503 }", ""));
    let ev = events(&s);
    let mut seen = vec![];
    let caller = sipp::caller_in_background("uac_transfer_fails.xml", &s.sip.to_string());
    let answered = next(&ev, &mut seen, "the answer", |v| v["event"] == "answered");
    let id = answered["call_id"].as_str().unwrap().to_owned();
    let to = json!({"to": "sip:desk@127.0.0.1:5999"});
    // DTMF toward SIPp: its SDP offered no telephone-event (and the trunk is RFC 4733), so
    // there is no way to carry the keys: 409; bad keys are 400 before that.
    let (status, body) = post(&s, &format!("/calls/{id}/dtmf"), &json!({"digits": "12"}));
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("telephone-event"),
        "{body}"
    );
    let (status, body) = post(&s, &format!("/calls/{id}/dtmf"), &json!({"digits": "1z"}));
    assert_eq!(status, 400, "{body}");

    let (status, body) = post(&s, &format!("/calls/{id}/transfer"), &to);
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["target"], "sip:desk@127.0.0.1:5999");
    let refused = transfer_step(&ev, &mut seen, &id, "refused");
    assert_eq!(
        (refused["sip_code"].as_u64(), refused["reason"].as_str()),
        (Some(603), Some("Decline"))
    );

    // A refusal ends the attempt: a second one may go.
    let (status, body) = post(&s, &format!("/calls/{id}/transfer"), &to);
    assert_eq!(status, 202, "{body}");
    transfer_step(&ev, &mut seen, &id, "accepted");
    transfer_step(&ev, &mut seen, &id, "progress");
    let failed = transfer_step(&ev, &mut seen, &id, "failed");
    assert_eq!(
        (failed["sip_code"].as_u64(), failed["reason"].as_str()),
        (Some(486), Some("Busy Here"))
    );
    // Still up, with its agent, until SIPp hangs up.
    let (_, calls) = common::http(&s, "GET", "/calls", Some("t0ken"));
    assert!(calls.contains(&id), "{calls}");
    let hangup = next(&ev, &mut seen, "the hangup", |v| {
        v["event"] == "hangup" && v["call_id"] == id.as_str()
    });
    assert_eq!(hangup["hangup_by"], "remote", "{hangup}");
    caller.join().unwrap().assert_all_succeeded(1);
    // Nothing about the transfers was left unreported, nor reported twice.
    let steps: Vec<&str> = seen
        .iter()
        .filter(|v| v["event"] == "transfer")
        .filter_map(|v| v["state"].as_str())
        .collect();
    assert_eq!(
        steps,
        ["requested", "requested"],
        "the steps not awaited above: {seen:#?}"
    );
}
