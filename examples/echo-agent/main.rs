//! `echo-agent`: a voice agent that sends the caller's audio straight back, over any of the
//! bridge's wire protocols (Twilio Media Streams, jambonz `listen`, Asterisk
//! `chan_websocket`). Point an agent slot of freya (or Twilio, jambonz, Asterisk) at
//! `ws://ADDR/<any path>`; it logs each call's metadata and DTMF as JSON lines on stdout.
//!
//! DTMF: any digit → a mark `dtmf-<digit>`; `*` → 2 s of a 600 Hz tone at once; `#` →
//! barge-in (`clear` / `killAudio` / `FLUSH_MEDIA`); `0` → hang up. The logic lives in
//! `freya::media::bridge::echo`; this file only parses arguments and prints.
//!
//! ```text
//! echo-agent [--listen 127.0.0.1:8765] [--protocol twilio|jambonz|asterisk]
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;

use freya::media::bridge::echo::{serve_echo, EchoNote};
use freya::media::bridge::ProtocolKind;
use serde_json::json;

const USAGE: &str = "usage: echo-agent [--listen ADDR] [--protocol twilio|jambonz|asterisk]\n\
    Echoes caller audio back over a bridge WebSocket protocol (detected per connection when\n\
    --protocol is not given). Default address 127.0.0.1:8765.";

fn parse_args() -> Result<(SocketAddr, Option<ProtocolKind>), String> {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 8765).into();
    let mut protocol = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--listen" => {
                let v = value("--listen")?;
                listen = v.parse().map_err(|e| format!("--listen {v}: {e}"))?;
            }
            "--protocol" => {
                protocol = Some(
                    value("--protocol")?
                        .parse::<ProtocolKind>()
                        .map_err(|e| e.to_string())?,
                )
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok((listen, protocol))
}

fn note_json(peer: SocketAddr, note: &EchoNote) -> serde_json::Value {
    match note {
        EchoNote::Started { protocol, metadata } => json!({
            "peer": peer.to_string(),
            "event": "start",
            "protocol": protocol.name(),
            "metadata": metadata.as_ref().map(|m| json!({
                "call_id": m.call_id,
                "direction": m.direction.as_str(),
                "caller": m.caller,
                "callee": m.callee,
                "workflow_id": m.workflow_id,
                "headers": m.headers,
            })),
        }),
        EchoNote::Dtmf(d) => json!({"peer": peer.to_string(), "event": "dtmf", "digit": d}),
        EchoNote::Stopped => json!({"peer": peer.to_string(), "event": "stop"}),
        EchoNote::Ignored(e) => {
            json!({"peer": peer.to_string(), "event": "ignored", "error": e.to_string()})
        }
    }
}

fn main() -> ExitCode {
    let (listen, protocol) = match parse_args() {
        Ok(x) => x,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("echo-agent: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("echo-agent: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("echo-agent: cannot listen on {listen}: {e}");
                return ExitCode::from(2);
            }
        };
        let addr = listener
            .local_addr()
            .map_or(listen.to_string(), |a| a.to_string());
        let mode = protocol.map_or("auto-detect", ProtocolKind::name);
        eprintln!("echo-agent: listening on ws://{addr}/ ({mode})");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some((peer, note)) = rx.recv().await {
                println!("{}", note_json(peer, &note));
            }
        });
        let err = serve_echo(listener, protocol, Some(tx)).await;
        eprintln!("echo-agent: accept failed: {err}");
        ExitCode::from(1)
    })
}
