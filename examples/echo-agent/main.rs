//! `echo-agent`: a voice agent that sends the caller's audio straight back, over any of the
//! bridge's wire protocols (Twilio Media Streams, jambonz `listen`, Asterisk
//! `chan_websocket`). Point an agent slot of freya (or Twilio, jambonz, Asterisk) at
//! `ws://ADDR/<any path>`; it logs each call's metadata and DTMF as JSON lines on stdout.
//!
//! DTMF: any digit → a mark `dtmf-<digit>`; `*` → 2 s of a 600 Hz tone at once; `#` →
//! barge-in (`clear` / `killAudio` / `FLUSH_MEDIA`); `0` → hang up. The logic lives in
//! `freya::media::bridge::echo`; this file only parses arguments and prints.
//!
//! With `--dial URL` it opens the WebSocket itself, as the agent of a `mode = "server"`
//! pool does (the `slot_taken` event's `connect` URL), with `--token` as the bearer token,
//! and exits when the call ends (status 1 when the handshake was refused, e.g. 401).
//!
//! ```text
//! echo-agent [--listen 127.0.0.1:8765] [--protocol twilio|jambonz|asterisk]
//! echo-agent --dial ws://127.0.0.1:8090/call/<call id> [--token T] [--protocol …]
//! ```

mod dial;

use std::net::SocketAddr;
use std::process::ExitCode;

use freya::media::bridge::echo::{serve_echo, EchoNote};
use freya::media::bridge::{CallMetadata, ProtocolKind};
use serde_json::json;

const USAGE: &str = "usage: echo-agent [--listen ADDR] [--protocol twilio|jambonz|asterisk]\n\
    \x20      echo-agent --dial URL [--token TOKEN] [--protocol …]\n\
    Echoes caller audio back over a bridge WebSocket protocol (detected per connection when\n\
    --protocol is not given). Default address 127.0.0.1:8765. --dial opens one call's\n\
    WebSocket instead (freya's agent server, server-mode pools) and exits when it ends.";

/// The command line.
struct Args {
    listen: SocketAddr,
    protocol: Option<ProtocolKind>,
    dial: Option<String>,
    token: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 8765).into();
    let mut protocol = None;
    let (mut dial, mut token) = (None, None);
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
            "--dial" => dial = Some(value("--dial")?),
            "--token" => token = Some(value("--token")?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        listen,
        protocol,
        dial,
        token,
    })
}

fn note_json(peer: SocketAddr, note: &EchoNote) -> serde_json::Value {
    match note {
        EchoNote::Started { protocol, metadata } => json!({
            "peer": peer.to_string(),
            "event": "start",
            "protocol": protocol.name(),
            "metadata": metadata.as_ref().map(CallMetadata::to_json),
        }),
        EchoNote::Dtmf(d) => json!({"peer": peer.to_string(), "event": "dtmf", "digit": d}),
        EchoNote::Stopped => json!({"peer": peer.to_string(), "event": "stop"}),
        EchoNote::Ignored(e) => {
            json!({"peer": peer.to_string(), "event": "ignored", "error": e.to_string()})
        }
    }
}

fn main() -> ExitCode {
    let Args {
        listen,
        protocol,
        dial,
        token,
    } = match parse_args() {
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
    if let Some(url) = dial {
        return rt.block_on(async move {
            let print = |peer, note: &EchoNote| println!("{}", note_json(peer, note));
            match dial::dial(&url, token.as_deref(), protocol, print).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("echo-agent: {e}");
                    ExitCode::from(1)
                }
            }
        });
    }
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
