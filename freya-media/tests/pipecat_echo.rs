//! The bridge against a REAL pipecat agent (issue 9): `tests/pipecat/echo_agent.py`, a
//! pipecat pipeline built only from stock parts (FastAPI WebSocket transport, pipecat's runner
//! helper `parse_telephony_websocket`, `TwilioFrameSerializer` with auto hang-up off) and an
//! echo processor, no AI services. freya's bridge dials it in client mode and checks:
//! - pipecat detects the stream as Twilio and reads the call metadata (ids, from/to, every
//!   X- header exactly) from `start`;
//! - a 1 kHz caller tone comes back at 1 kHz;
//! - DTMF reaches pipecat as `InputDTMFFrame` (the agent logs the frame's class and digit);
//! - a 2 s burst overflows the 1 s queue (counted), and pipecat's `clear` (sent by its
//!   serializer on `InterruptionFrame`) empties the queue: no burst audio plays more than
//!   40 ms after the clear arrives;
//! - the agent ending its pipeline ends the leg with `Closed`.
//!
//! Needs `FREYA_PIPECAT_PYTHON` = a Python with `tests/pipecat/requirements.txt` installed.
//! Without it the test prints why and passes, unless `FREYA_REQUIRE_PIPECAT` is set (CI), in
//! which case it fails.

mod bridge_common;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bridge_common::*;
use freya_media::bridge::{connect, BridgeConfig, ClientConfig, CloseReason};

/// Kills the agent when the test ends; shows its log if the test failed.
struct Agent {
    child: Child,
    stderr: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() || std::env::var_os("FREYA_PIPECAT_VERBOSE").is_some() {
            let mut s = String::new();
            if let Ok(mut f) = std::fs::File::open(&self.stderr) {
                let _ = f.read_to_string(&mut s);
            }
            let tail: Vec<&str> = s.lines().rev().take(60).collect();
            eprintln!("---- pipecat agent stderr (last 60 lines) ----");
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

#[tokio::test]
async fn pipecat_twilio_echo_agent() {
    let Some(python) = std::env::var_os("FREYA_PIPECAT_PYTHON") else {
        assert!(
            std::env::var_os("FREYA_REQUIRE_PIPECAT").is_none(),
            "FREYA_REQUIRE_PIPECAT is set but FREYA_PIPECAT_PYTHON is not: the pipecat test cannot run"
        );
        eprintln!("SKIPPED pipecat_echo: FREYA_PIPECAT_PYTHON is not set (a Python with tests/pipecat/requirements.txt installed)");
        return;
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/pipecat/echo_agent.py");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("agent.jsonl");
    let stderr = dir.path().join("agent.stderr");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&python)
        .arg(&script)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--log"])
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {python:?}: {e}"));
    let mut agent = Agent { child, stderr };

    // pipecat's imports take a few seconds: wait for the port (bounded).
    let t0 = std::time::Instant::now();
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        if let Ok(Some(status)) = agent.child.try_wait() {
            panic!("the pipecat agent exited early: {status}");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "the pipecat agent did not listen within 90 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("pipecat agent up after {:?}", t0.elapsed());

    let call_id = "9a1e5c3b-7f00-4d2a-9c11-0000000000aa";
    let meta = test_metadata(call_id);
    let url = format!("ws://127.0.0.1:{port}/telephony/ws");
    let leg = connect(
        &ClientConfig::new(&url),
        BridgeConfig::twilio(),
        meta.clone(),
    )
    .await
    .unwrap();
    let (_, reason) = echo_scenario(leg, 1000).await;
    assert!(
        matches!(reason, CloseReason::AgentClosed { .. }),
        "{reason:?}"
    );

    // What pipecat itself saw.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let start = &lines[0];
    assert_eq!(start["kind"], "start");
    assert_eq!(
        start["transport"], "twilio",
        "pipecat's runner must detect freya as Twilio"
    );
    assert_eq!(start["call_id"], call_id);
    assert_eq!(
        start["stream_id"],
        format!("MZ{}", call_id.replace('-', ""))
    );
    assert_eq!(start["from_number"], meta.caller);
    assert_eq!(start["to_number"], meta.callee);
    let body = &start["body"];
    assert_eq!(body["call_id"], call_id);
    assert_eq!(body["direction"], "inbound");
    assert_eq!(body["workflow_id"], "wf-echo");
    assert_eq!(body["X-Tenant"], " acme : ü %20 , second");
    let exact =
        freya_media::bridge::CallMetadata::headers_from_json(body["x_headers"].as_str().unwrap())
            .unwrap();
    assert_eq!(exact, meta.headers);
    let dtmf: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l["kind"] == "dtmf")
        .map(|l| {
            (
                l["frame"].as_str().unwrap().to_owned(),
                l["digit"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = ["5", "*", "#", "0"]
        .iter()
        .map(|d| ("InputDTMFFrame".to_owned(), d.to_string()))
        .collect();
    assert_eq!(dtmf, want);
}
