//! `freya-stack`: the server — [`freya::stack::Stack`] from a TOML file (or the embedded
//! default), its control API, hot reload on SIGHUP, and `ctl` for operators.
//!
//! ```text
//! freya-stack                         run the embedded default config (loopback, echo agents)
//! freya-stack --config FILE           run FILE
//! freya-stack --print-default-config  print the embedded config, as a starting point
//! freya-stack ctl [--config FILE] reload
//! freya-stack ctl [--config FILE] show endpoints|calls|slots
//! freya-stack ctl [--config FILE] hangup CALL_UUID
//! ```
//! `ctl` talks to the control API named in the config (`[control] listen`), with the
//! token from `FREYA_TOKEN` or the config. Logs (one JSON line per call event among them)
//! go to stderr; `RUST_LOG` filters them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use freya::config::{StackConfig, DEFAULT_CONFIG};
use freya::stack::Stack;
use freya::StackError;

const USAGE: &str =
    "usage:\n  freya-stack [--config FILE]\n  freya-stack --print-default-config\n  \
    freya-stack ctl [--config FILE] reload | show endpoints|calls|slots | hangup CALL_UUID";

fn load(path: &Option<PathBuf>) -> Result<StackConfig, StackError> {
    match path {
        None => StackConfig::from_toml(DEFAULT_CONFIG),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| StackError::Io {
                what: format!("reading {}", p.display()),
                source,
            })?;
            StackConfig::from_toml(&text).map_err(|e| match e {
                StackError::Config { key, reason } => StackError::Config {
                    key: if key.is_empty() {
                        p.display().to_string()
                    } else {
                        key
                    },
                    reason,
                },
                e => e,
            })
        }
    }
}

async fn run(path: Option<PathBuf>) -> Result<(), StackError> {
    let config = load(&path)?;
    let control = config.control.listen;
    let grace = Duration::from_secs(config.control.shutdown_grace_s);
    let token = config.control_token();
    // A host pool's agent is a program that embeds the stack; this server is none.
    for pool in config
        .agents
        .iter()
        .filter(|a| a.mode == freya::config::AgentMode::Host)
    {
        tracing::warn!(
            pool = pool.name,
            "freya-stack: mode = \"host\" pools are for programs embedding the stack \
             (Stack::host_calls); here no host takes them: their calls get 503"
        );
    }
    let stack = Stack::start(config).await?;
    let reloader: freya::api::Reloader = {
        let stack = stack.clone();
        let path = path.clone();
        Arc::new(move || {
            let c = load(&path)?;
            stack.reload(c)
        })
    };
    let api = match control {
        Some(addr) => Some(freya::api::serve(stack.clone(), addr, token, reloader.clone()).await?),
        None => None,
    };
    let sip = stack.sip_addr();
    println!(
        "freya-stack ready: SIP on {sip} (UDP and TCP) — call sip:echo@{sip}{}",
        api.map_or(String::new(), |a| format!(
            "; control API http://{a} (events: GET /events)"
        ))
    );
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).map_err(
        |source| StackError::Io {
            what: "installing the SIGHUP handler".into(),
            source,
        },
    )?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|source| StackError::Io {
            what: "installing the SIGTERM handler".into(),
            source,
        })?;
    loop {
        let signal = tokio::select! {
            _ = hup.recv() => {
                match reloader() {
                    Ok(()) => tracing::info!("freya-stack: SIGHUP: configuration reloaded"),
                    Err(e) => tracing::error!(error = %e, "freya-stack: SIGHUP: reload refused; the running configuration stays"),
                }
                continue;
            }
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        // A container stop must not cut live calls mid-sentence: refuse new ones, let the
        // live ones finish within the grace, then hang up the rest with a BYE (not a
        // vanished peer). A second signal ends the wait.
        tracing::info!(
            signal,
            grace_s = grace.as_secs(),
            "freya-stack: stopping: new calls refused, live calls may finish"
        );
        tokio::select! {
            hung_up = stack.drain(grace) => tracing::info!(hung_up, "freya-stack: drained"),
            _ = second_signal(&mut term) => {
                tracing::warn!("freya-stack: second signal: hanging up every call now");
                stack.drain(Duration::ZERO).await;
            }
        }
        stack.shutdown().await;
        return Ok(());
    }
}

/// The next SIGINT or SIGTERM.
async fn second_signal(term: &mut tokio::signal::unix::Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// One HTTP/1.1 request to the control API, without a client library: `ctl` is a few
/// lines of JSON.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map_err(|e| {
        format!("cannot reach the control API at {addr}: {e} (is freya-stack running?)")
    })?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {out:.80}"))?;
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    Ok((status, body))
}

fn ctl(path: Option<PathBuf>, args: &[String]) -> ExitCode {
    let config = match load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("freya-stack ctl: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(addr) = config.control.listen else {
        eprintln!("freya-stack ctl: the config has no [control] listen address");
        return ExitCode::from(2);
    };
    let token = config.control_token();
    let (method, p) = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["reload"] => ("POST", "/reload".to_owned()),
        ["show", "endpoints"] => ("GET", "/endpoints".to_owned()),
        ["show", "calls"] => ("GET", "/calls".to_owned()),
        ["show", "slots"] => ("GET", "/slots".to_owned()),
        // A call UUID is hex digits and dashes: nothing to escape in the path.
        ["hangup", id]
            if !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') =>
        {
            ("DELETE", format!("/calls/{id}"))
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match http(addr, method, &p, token.as_deref()) {
        Ok((200 | 202, body)) => {
            println!("{}", body.trim());
            ExitCode::SUCCESS
        }
        Ok((status, body)) => {
            eprintln!("freya-stack ctl: {status}: {}", body.trim());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("freya-stack ctl: {e}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut path = None;
    let mut rest = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--config" => {
                let Some(p) = args.get(i + 1) else {
                    eprintln!("freya-stack: --config needs a file\n{USAGE}");
                    return ExitCode::from(2);
                };
                path = Some(PathBuf::from(p));
                i += 2;
            }
            "--print-default-config" => {
                print!("{DEFAULT_CONFIG}");
                return ExitCode::SUCCESS;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => {
                rest.push(args[i].clone());
                i += 1;
            }
        }
    }
    if rest.first().map(String::as_str) == Some("ctl") {
        return ctl(path, &rest[1..]);
    }
    if !rest.is_empty() {
        eprintln!("freya-stack: unknown argument {:?}\n{USAGE}", rest[0]);
        return ExitCode::from(2);
    }
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("freya-stack: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("freya-stack: {e}");
            ExitCode::from(1)
        }
    }
}
