//! Outbound campaigns end to end on `freya-stack`: the stack dials a list through a trunk
//! that points back at itself, where numbers under `+1415` reach the built-in echo agents
//! and every other number is refused with 404 (no route). The wrong-prefix breaker pauses
//! a campaign of unknown numbers, resume dials the rest; a campaign of good numbers never
//! has more calls up than its ceiling and ends `finished`; a list with a bad entry is
//! refused whole, entry by entry; past `[control] keep_ended_campaigns` the oldest-ended
//! campaign is forgotten (404), a running one never.

mod common;

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::{events, http, post, start, Server};
use serde_json::{json, Value};

/// The shared self-dialing stack (8 echo agents) with the control API.
fn self_dialing_config() -> String {
    common::self_dialing(
        8,
        "[control]\nlisten = \"127.0.0.1:0\"\ntoken = \"t0ken\"\n",
    )
    .0
}

/// The next `campaign` event of `id` (skipping call events), within 20 s.
fn next_campaign_event(ev: &Receiver<Value>, id: &str, seen: &mut Vec<Value>) -> Value {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let e = ev
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no campaign event for {id}; saw {seen:#?}"));
        seen.push(e.clone());
        if e["event"] == "campaign" && e["call_id"] == id {
            return e;
        }
    }
}

#[test]
fn a_wrong_prefix_pauses_the_campaign_and_resume_dials_the_rest() {
    let s = start(&self_dialing_config());
    let ev = events(&s);
    let numbers: Vec<String> = (0..12).map(|i| format!("+1999555{i:04}")).collect();
    let (status, info) = post(
        &s,
        "/campaigns",
        &json!({"name": "wrong prefix", "numbers": numbers, "trunk": "self",
                "calls_per_second": 20, "burst": 2, "max_concurrent": 2}),
    );
    assert_eq!(status, 201, "{info}");
    let id = info["campaign_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("cmp-"));
    let mut seen = Vec::new();
    assert_eq!(next_campaign_event(&ev, &id, &mut seen)["state"], "started");
    let paused = next_campaign_event(&ev, &id, &mut seen);
    assert_eq!(paused["state"], "paused", "{paused}");
    let reason = paused["reason"].as_str().unwrap();
    assert!(reason.contains("number error"), "{reason}");
    // At most the ceiling's worth of calls went out after the 8th failure.
    let dialed = paused["dialed"].as_u64().unwrap();
    assert!((8..=10).contains(&dialed), "{paused}");
    assert!(paused["number_failures"].as_u64().unwrap() >= 8, "{paused}");
    // Every failed call's own events carry the campaign id and the 404.
    let hangups: Vec<_> = seen
        .iter()
        .filter(|e| e["event"] == "hangup" && e["sip_code"] == 404)
        .collect();
    assert!(hangups.len() >= 8, "{seen:#?}");
    let started_outbound = seen
        .iter()
        .filter(|e| e["event"] == "started" && e["direction"] == "outbound")
        .filter(|e| {
            e["headers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h[0] == "X-Freya-Campaign-Id" && h[1] == id.as_str())
        })
        .count();
    assert!(started_outbound >= 8, "{seen:#?}");

    // Paused: nothing more is dialed.
    std::thread::sleep(Duration::from_millis(500));
    let (code, body) = http(&s, "GET", &format!("/campaigns/{id}"), Some("t0ken"));
    assert_eq!(code, 200);
    let now: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(now["state"], "paused");
    assert!(now["dialed"].as_u64().unwrap() <= 10);

    let (code, _) = post(&s, &format!("/campaigns/{id}/resume"), &json!({}));
    assert_eq!(code, 202);
    assert_eq!(next_campaign_event(&ev, &id, &mut seen)["state"], "resumed");
    let end = next_campaign_event(&ev, &id, &mut seen);
    assert_eq!(end["state"], "finished", "{end}");
    assert_eq!(
        (end["dialed"].as_u64(), end["failed"].as_u64()),
        (Some(12), Some(12))
    );
    assert_eq!(end["by_sip_code"], json!([[404, 12]]));
    let (_, body) = http(&s, "GET", &format!("/campaigns/{id}"), Some("t0ken"));
    let info: Value = serde_json::from_str(&body).unwrap();
    let results = info["numbers"].as_array().unwrap();
    assert_eq!(results.len(), 12);
    for (r, n) in results.iter().zip(&numbers) {
        assert_eq!(r["number"], n.as_str());
        assert_eq!(
            (r["outcome"].as_str(), r["sip_code"].as_u64()),
            (Some("failed"), Some(404))
        );
        assert_eq!(r["q850_cause"], 1, "{r}"); // unallocated number
    }
    // A finished campaign cannot be paused.
    let (code, _) = post(&s, &format!("/campaigns/{id}/pause"), &json!({}));
    assert_eq!(code, 409);
}

#[test]
fn a_campaign_keeps_its_ceiling_and_finishes_when_its_calls_end() {
    let s = start(&self_dialing_config());
    let ev = events(&s);
    let numbers: Vec<String> = (0..4).map(|i| format!("+1 415 555 {i:04}")).collect();
    let (status, info) = post(
        &s,
        "/campaigns",
        &json!({"numbers": numbers, "trunk": "self", "workflow_id": "wf-camp",
                "calls_per_second": 20, "burst": 4, "max_concurrent": 2}),
    );
    assert_eq!(status, 201, "{info}");
    let id = info["campaign_id"].as_str().unwrap().to_owned();
    assert_eq!(info["numbers"][0]["number"], "+14155550000"); // normalised
    let (mut up, mut most, mut answered) = (0i32, 0i32, 0);
    let end = Instant::now() + Duration::from_secs(30);
    let finished = loop {
        let e = ev
            .recv_timeout(end.saturating_duration_since(Instant::now()))
            .expect("campaign did not finish");
        let outbound_of_campaign = e["direction"] == "outbound";
        match e["event"].as_str().unwrap() {
            "started" if outbound_of_campaign => {
                up += 1;
                most = most.max(up);
            }
            "answered" => {
                // Answer seen on either leg; hang up the outbound one (the campaign's).
                let call = e["call_id"].as_str().unwrap();
                let calls: Value =
                    serde_json::from_str(&http(&s, "GET", "/calls", Some("t0ken")).1).unwrap();
                let outbound = calls
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["call_id"] == call && c["direction"] == "outbound");
                if outbound {
                    answered += 1;
                    // The dashboard sees the answer while the call is up, not at its end.
                    let live = Instant::now() + Duration::from_secs(3);
                    loop {
                        let (_, body) = http(&s, "GET", &format!("/campaigns/{id}"), Some("t0ken"));
                        let info: Value = serde_json::from_str(&body).unwrap();
                        let number = info["numbers"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|r| r["call_id"] == call)
                            .cloned()
                            .unwrap_or_default();
                        if number["outcome"] == "answered"
                            && info["answered"].as_u64() >= Some(answered as u64)
                        {
                            assert_eq!(number["sip_code"], 200, "{number}");
                            assert!(number["q850_cause"].is_null(), "up, no cause yet: {number}");
                            break;
                        }
                        assert!(Instant::now() < live, "answer not shown while up: {info}");
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    let (code, _) = http(&s, "DELETE", &format!("/calls/{call}"), Some("t0ken"));
                    assert_eq!(code, 202);
                }
            }
            "hangup" => {
                let c = e["call_id"].as_str().unwrap();
                if is_campaign_call(&s, &id, c) {
                    up -= 1;
                }
            }
            "campaign" if e["call_id"] == id.as_str() && e["state"] == "finished" => break e,
            _ => {}
        }
    };
    assert_eq!(answered, 4);
    assert!(most <= 2, "{most} calls up at once against a ceiling of 2");
    assert_eq!(
        most, 2,
        "the ceiling was never reached: the pace held it back?"
    );
    assert_eq!(
        (finished["answered"].as_u64(), finished["failed"].as_u64()),
        (Some(4), Some(0))
    );
    let (_, body) = http(&s, "GET", &format!("/campaigns/{id}"), Some("t0ken"));
    let info: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["state"], "finished");
    for r in info["numbers"].as_array().unwrap() {
        assert_eq!(r["outcome"], "answered", "{r}");
        assert_eq!(r["sip_code"], 200, "{r}");
        assert_eq!(r["q850_cause"], 16, "hung up by us, normal clearing: {r}");
        assert!(r["call_id"].as_str().is_some_and(|c| c.len() == 36), "{r}");
    }
}

/// Whether `call` is one of campaign `id`'s calls (from the campaign's number list).
fn is_campaign_call(s: &Server, id: &str, call: &str) -> bool {
    let (_, body) = http(s, "GET", &format!("/campaigns/{id}"), Some("t0ken"));
    let info: Value = serde_json::from_str(&body).unwrap();
    info["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["call_id"] == call)
}

#[test]
fn a_list_with_bad_entries_is_refused_entry_by_entry_and_nothing_is_dialed() {
    let s = start(&self_dialing_config());
    let list = json!([
        "+14155550100",
        "415 555 0101",
        "+1415555O102",
        "+14155550100"
    ]);
    let (status, body) = post(&s, "/campaigns", &json!({"numbers": list, "trunk": "self"}));
    assert_eq!(status, 422, "{body}");
    let lines: Vec<u64> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 3, 4]);
    assert_eq!(body["rejected"][0]["reason"]["kind"], "no_country_code");
    // The same entry shape as the bindings give: kind and message at the top too.
    assert_eq!(body["rejected"][0]["kind"], "no_country_code");
    assert!(body["rejected"][0]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    assert_eq!(body["rejected"][1]["reason"]["kind"], "bad_character");
    assert_eq!(body["rejected"][2]["reason"]["kind"], "duplicate");
    let (_, campaigns) = http(&s, "GET", "/campaigns", Some("t0ken"));
    assert_eq!(campaigns.trim(), "[]");
    let (_, calls) = http(&s, "GET", "/calls", Some("t0ken"));
    assert_eq!(calls.trim(), "[]");
    // The same list checked on its own, with a country code and a prefix rule.
    let (status, checked) = post(
        &s,
        "/numbers/validate",
        &json!({"numbers": list, "rules": {"default_country_code": "1", "allowed_prefixes": ["+1415"]}}),
    );
    assert_eq!(status, 200);
    assert_eq!(checked["valid"], json!(["+14155550100", "+14155550101"]));
    assert_eq!(checked["rejected"].as_array().unwrap().len(), 2);
    // A trunk or agent pool the config lacks refuses the campaign before any call.
    let (status, body) = post(
        &s,
        "/campaigns",
        &json!({"numbers": ["+14155550100"], "trunk": "nope"}),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "no trunk \"nope\" in the configuration");
    let (status, body) = post(
        &s,
        "/campaigns",
        &json!({"numbers": ["+14155550100"], "trunk": "self", "agents": "sales"}),
    );
    assert_eq!(status, 422, "{body}");
    // An unknown campaign.
    let (code, _) = post(&s, "/campaigns/cmp-nope/pause", &json!({}));
    assert_eq!(code, 404);
    // A body that does not fit: 400, the message naming where the bad value sits.
    let (status, body) = post(
        &s,
        "/campaigns",
        &json!({"numbers": ["+14155550100"], "breaker": {"failures": 8, "window": "ten"}}),
    );
    assert_eq!(status, 400, "{body}");
    let message = body["error"].as_str().unwrap_or("");
    assert!(
        message.starts_with("breaker.window: invalid type: string \"ten\""),
        "{body}"
    );
    let (status, body) = post(
        &s,
        "/calls",
        &json!({"to": "+14155550100", "record": "yes"}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap_or("").starts_with("record: "),
        "{body}"
    );
}

/// With `keep_ended_campaigns = 1`, each campaign that ends makes the stack forget the one
/// that ended before it (its id then answers 404 like an unknown one, the message naming
/// it); a campaign still running is kept however many end around it, and when it ends it
/// is the newest-ended: the oldest-ended goes, not the oldest-started.
#[test]
fn past_the_limit_the_oldest_ended_campaign_is_forgotten_and_a_running_one_kept() {
    // `[control]` is the config's last table.
    let s = start(&format!(
        "{}keep_ended_campaigns = 1\n",
        self_dialing_config()
    ));
    let ev = events(&s);
    let mut seen = Vec::new();
    // Numbers outside +1415 are refused 404 at once: a one-number campaign ends quickly.
    let campaign = |numbers: &[&str], cps: f64| {
        let (status, info) = post(
            &s,
            "/campaigns",
            &json!({"numbers": numbers, "trunk": "self", "calls_per_second": cps,
                    "breaker": null}),
        );
        assert_eq!(status, 201, "{info}");
        info["campaign_id"].as_str().unwrap().to_owned()
    };
    // Started first, and left running: its second number is due 100 s after the first.
    let running = campaign(&["+19995550000", "+19995550001"], 0.01);
    let first = campaign(&["+19995551000"], 20.0);
    let get = |id: &str| {
        let (code, body) = http(&s, "GET", &format!("/campaigns/{id}"), Some("t0ken"));
        (code, serde_json::from_str::<Value>(&body).unwrap())
    };
    let ended = |id: &str, seen: &mut Vec<Value>, state: &str| loop {
        let e = next_campaign_event(&ev, id, seen);
        if e["state"] == state {
            break;
        }
    };
    ended(&first, &mut seen, "finished");
    assert_eq!(get(&first).1["state"], "finished");

    let second = campaign(&["+19995552000"], 20.0);
    ended(&second, &mut seen, "finished");
    let (code, body) = get(&first);
    assert_eq!(code, 404, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains(&first) && error.contains("forgotten"),
        "{error}"
    );
    // Its pause: the same 404 as an unknown campaign's.
    let (code, _) = post(&s, &format!("/campaigns/{first}/pause"), &json!({}));
    assert_eq!(code, 404);
    let (code, body) = get(&second);
    assert_eq!((code, &body["state"]), (200, &json!("finished")), "{body}");
    let (code, body) = get(&running);
    assert_eq!((code, &body["state"]), (200, &json!("running")), "{body}");
    assert_eq!(body["dialed"], 1, "{body}");
    let (_, list) = http(&s, "GET", "/campaigns", Some("t0ken"));
    let list: Value = serde_json::from_str(&list).unwrap();
    let mut ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["campaign_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut want = vec![second.as_str(), running.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want);

    // The oldest-started campaign ends last: the second is forgotten, not it.
    let (code, _) = post(&s, &format!("/campaigns/{running}/cancel"), &json!({}));
    assert_eq!(code, 202);
    ended(&running, &mut seen, "cancelled");
    let (code, body) = get(&second);
    assert_eq!(code, 404, "{body}");
    let (code, body) = get(&running);
    assert_eq!((code, &body["state"]), (200, &json!("cancelled")), "{body}");
}
