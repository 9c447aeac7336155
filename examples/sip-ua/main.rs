//! `sip-ua`: a command-line SIP user agent on freya's [`UserAgent`], for scripts and
//! interop tests. It prints every call event as one JSON line on stdout.
//!
//! ```text
//! sip-ua listen --bind 127.0.0.1:5070 [--tone HZ | --play in.wav] [--record out.wav]
//!     Answers every call (UDP and TCP on the bind address) until killed; sends the tone or
//!     the file as G.711 RTP and records what it receives (8 kHz mono WAV; the second call
//!     records to out-2.wav, and so on). Requests from anywhere are served.
//! sip-ua call sip:user@127.0.0.1:5070 [--bind ADDR] [--from URI] [--header 'X-Name: value']...
//!     [--duration 5] [--tone HZ | --play in.wav] [--record out.wav]
//!     Calls the URI, holds the call --duration seconds after the answer, hangs up.
//!     Exit status: 0 when answered and ended normally; otherwise the SIP status class
//!     (4, 5, 6; 1 for anything else) — the exact status is in the `ended` JSON line.
//! ```

mod media;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use freya::sip::dialog::{CallEnd, DialogEvent};
use freya::sip::sdp::{Capabilities, Negotiated};
use freya::sip::ua::{Call, Originate, UaConfig, UnknownSource, UserAgent};
use media::{Media, Source};
use serde_json::{json, Value};
use tokio::sync::watch;

const USAGE: &str =
    "usage:\n  sip-ua listen --bind ADDR [--tone HZ | --play in.wav] [--record out.wav]\n  \
    sip-ua call URI [--bind ADDR] [--from URI] [--header 'Name: value']... [--duration S] \
    [--tone HZ | --play in.wav] [--record out.wav]";

#[derive(Debug)]
struct Args {
    mode: String,
    target: Option<String>,
    bind: SocketAddr,
    from: Option<String>,
    headers: Vec<(String, String)>,
    duration: f64,
    source: Source,
    record: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().ok_or("missing mode (listen or call)")?;
    if mode != "listen" && mode != "call" {
        return Err(format!("unknown mode {mode:?}"));
    }
    let mut a = Args {
        mode,
        target: None,
        bind: "127.0.0.1:0".parse().map_err(|_| "bind")?,
        from: None,
        headers: Vec::new(),
        duration: 5.0,
        source: Source::Silence,
        record: None,
    };
    let value = |it: &mut dyn Iterator<Item = String>, flag: &str| {
        it.next().ok_or(format!("{flag} needs a value"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bind" => {
                let v = value(&mut it, "--bind")?;
                a.bind = v
                    .parse()
                    .map_err(|_| format!("--bind {v:?}: not ip:port"))?;
            }
            "--from" => a.from = Some(value(&mut it, "--from")?),
            "--header" => {
                let v = value(&mut it, "--header")?;
                let (n, val) = v
                    .split_once(':')
                    .ok_or(format!("--header {v:?}: expected 'Name: value'"))?;
                a.headers
                    .push((n.trim().to_owned(), val.trim_start().to_owned()));
            }
            "--duration" => {
                let v = value(&mut it, "--duration")?;
                a.duration = v
                    .parse()
                    .map_err(|_| format!("--duration {v:?}: not a number of seconds"))?;
            }
            "--tone" => {
                let v = value(&mut it, "--tone")?;
                let hz: f64 = v.parse().map_err(|_| format!("--tone {v:?}: not Hz"))?;
                if !(20.0..=3900.0).contains(&hz) {
                    return Err(format!("--tone {hz}: must be 20-3900 Hz for 8 kHz audio"));
                }
                a.source = Source::Tone(hz);
            }
            "--play" => a.source = Source::wav(&value(&mut it, "--play")?)?,
            "--record" => a.record = Some(PathBuf::from(value(&mut it, "--record")?)),
            s if a.mode == "call" && a.target.is_none() && !s.starts_with("--") => {
                a.target = Some(s.to_owned())
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.mode == "call" && a.target.is_none() {
        return Err("call needs a URI".into());
    }
    Ok(a)
}

fn emit(v: Value) {
    println!("{v}");
}

fn end_json(end: &CallEnd, started: Option<Instant>) -> Value {
    json!({
        "event": "ended",
        "status": end.status,
        "reason": end.reason_phrase,
        "kind": end.kind.as_str(),
        "hangup_by": end.by.as_str(),
        "q850_cause": end.cause.map(|c| c.number()),
        "q850_text": end.cause.and_then(|c| c.name()),
        "duration_ms": started.map(|t| t.elapsed().as_millis() as u64),
    })
}

fn media_json(m: &Negotiated) -> Value {
    json!({
        "codec": m.codec.name(),
        "payload_type": m.payload_type,
        "remote_rtp": m.remote_rtp.to_string(),
        "telephone_event": m.telephone_event,
        "direction": format!("{:?}", m.direction),
    })
}

/// Runs one call's events and media until it ends; returns how it ended.
async fn follow(
    mut call: Call,
    rtp: Media,
    source: Source,
    record: Option<PathBuf>,
    answered_at: Option<Instant>,
    hangup_after: Option<Duration>,
) -> Option<CallEnd> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut rtp = Some((rtp, stop_rx));
    let mut media_task = None;
    let mut started = answered_at;
    let id = call.info().call_id.clone();
    let start_media = |agreed: Negotiated, rtp: &mut Option<(Media, watch::Receiver<bool>)>| {
        rtp.take()
            .map(|(m, stop)| tokio::spawn(m.run(agreed, source.clone(), record.clone(), stop)))
    };
    if let Some(agreed) = call.negotiated() {
        media_task = start_media(agreed, &mut rtp);
    }
    // --duration counts from the answer.
    let mut deadline = hangup_after
        .filter(|_| started.is_some())
        .map(|d| tokio::time::Instant::now() + d);
    let mut hung_up = false;
    let end = loop {
        let timer = async {
            match deadline {
                Some(d) if !hung_up => tokio::time::sleep_until(d).await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = call.next_event() => match ev {
                Some(DialogEvent::Progress { status, .. }) => emit(json!({"event": "progress", "call_id": id, "status": status})),
                Some(DialogEvent::Answered { media, .. }) => {
                    started = Some(Instant::now());
                    deadline = hangup_after.map(|d| tokio::time::Instant::now() + d);
                    emit(json!({"event": "answered", "call_id": id, "media": media_json(&media)}));
                    media_task = start_media(media, &mut rtp);
                }
                Some(DialogEvent::Confirmed { .. }) => emit(json!({"event": "confirmed", "call_id": id})),
                Some(DialogEvent::MediaUpdated { media, by, .. }) => emit(json!({"event": "media_updated", "call_id": id, "by": by.as_str(), "media": media_json(&media)})),
                Some(DialogEvent::Dtmf { dtmf, .. }) => emit(json!({"event": "dtmf", "call_id": id, "digit": dtmf.digit.to_string(), "duration_ms": dtmf.duration_ms})),
                Some(DialogEvent::Ended { end, .. }) => {
                    emit(end_json(&end, started).as_object().map(|o| { let mut o = o.clone(); o.insert("call_id".into(), json!(id)); Value::Object(o) }).unwrap_or_default());
                    break Some(end);
                }
                Some(_) => {}
                None => break None,
            },
            () = timer => {
                hung_up = true;
                if let Err(e) = call.hangup(None) {
                    emit(json!({"event": "error", "call_id": id, "error": e.to_string()}));
                }
            }
        }
    };
    let _ = stop_tx.send(true);
    if let Some(t) = media_task {
        match t.await {
            Ok(Ok((sent, received))) => emit(
                json!({"event": "media", "call_id": id, "rtp_sent": sent, "rtp_received": received}),
            ),
            Ok(Err(e)) => emit(json!({"event": "error", "call_id": id, "error": e})),
            Err(_) => {}
        }
    }
    end
}

fn record_path(base: &Option<PathBuf>, n: u64) -> Option<PathBuf> {
    let base = base.as_ref()?;
    if n <= 1 {
        return Some(base.clone());
    }
    let stem = base.file_stem().and_then(|s| s.to_str()).unwrap_or("call");
    let ext = base.extension().and_then(|s| s.to_str()).unwrap_or("wav");
    Some(base.with_file_name(format!("{stem}-{n}.{ext}")))
}

fn media_ip(bind: SocketAddr) -> IpAddr {
    if bind.ip().is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        bind.ip()
    }
}

async fn listen(a: Args) -> Result<ExitCode, String> {
    let mut config = UaConfig::new(a.bind);
    config.unknown_source = UnknownSource::Accept;
    config.force_rport = true;
    let (ua, mut incoming) = UserAgent::bind(config).await.map_err(|e| e.to_string())?;
    emit(json!({"event": "listening", "address": ua.local_addr().to_string()}));
    let mut n = 0u64;
    while let Some(call) = incoming.next().await {
        n += 1;
        let info = call.info();
        let headers: Vec<Value> = info
            .invite
            .headers()
            .map(|h| json!([h.name(), h.value()]))
            .collect();
        emit(json!({
            "event": "incoming",
            "call_id": info.call_id,
            "from": info.caller.as_ref().map(|p| p.uri.clone()),
            "to": info.callee.as_ref().map(|p| p.uri.clone()),
            "source": info.remote.to_string(),
            "transport": info.transport.via_token(),
            "headers": headers,
        }));
        let rtp = Media::bind(media_ip(a.bind))
            .await
            .map_err(|e| e.to_string())?;
        let caps = Capabilities::new(rtp.local().ip(), rtp.local().port());
        if let Err(e) = call.answer(caps) {
            emit(json!({"event": "error", "call_id": info.call_id, "error": e.to_string()}));
            continue;
        }
        let record = record_path(&a.record, n);
        tokio::spawn(follow(
            call,
            rtp,
            a.source.clone(),
            record,
            Some(Instant::now()),
            None,
        ));
    }
    Ok(ExitCode::SUCCESS)
}

async fn place(a: Args) -> Result<ExitCode, String> {
    let mut config = UaConfig::new(a.bind);
    config.unknown_source = UnknownSource::Accept;
    let (ua, _incoming) = UserAgent::bind(config).await.map_err(|e| e.to_string())?;
    let rtp = Media::bind(media_ip(ua.local_addr()))
        .await
        .map_err(|e| e.to_string())?;
    let caps = Capabilities::new(rtp.local().ip(), rtp.local().port());
    let target = a.target.clone().unwrap_or_default();
    let mut o = Originate::new(&target, caps);
    o.caller_id = a.from.clone();
    o.headers = a.headers.clone();
    let call = ua.originate(o).await.map_err(|e| e.to_string())?;
    emit(json!({"event": "calling", "call_id": call.info().call_id, "target": target}));
    let hangup_after = Duration::from_secs_f64(a.duration.max(0.0));
    let end = follow(call, rtp, a.source, a.record, None, Some(hangup_after)).await;
    ua.shutdown().await;
    Ok(match end {
        Some(end) if end.status == 200 => ExitCode::SUCCESS,
        Some(end) if (400..700).contains(&end.status) => ExitCode::from((end.status / 100) as u8),
        _ => ExitCode::from(1),
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sip-ua: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sip-ua: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let r = rt.block_on(async {
        if args.mode == "listen" {
            listen(args).await
        } else {
            place(args).await
        }
    });
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sip-ua: {e}");
            ExitCode::from(2)
        }
    }
}
