//! Interop with SIPp (Debian package `sip-tester`): its built-in `uac` scenario (INVITE,
//! 100/180/200, ACK, BYE, 200) against a driver whose TU answers INVITE 180 then 200 and
//! BYE 200. Ten calls at ten calls per second, over UDP and over TCP; SIPp's exit status
//! is 0 only when every call succeeded.
//!
//! Missing sipp fails the test (it does not skip): scripts/test.sh installs it.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::super::TransportKind;
use super::*;

fn sipp() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("sipp"))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => p,
        None => panic!(
            "sipp is not installed (Debian package sip-tester): run scripts/test.sh, \
             which installs it, or apt-get install sip-tester"
        ),
    }
}

fn tail(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

async fn sipp_uac(kind: TransportKind) {
    let bin = sipp();
    let (server, events) = Driver::spawn(config("127.0.0.1:0"), timers())
        .await
        .unwrap();
    spawn_uas(server.clone(), events, None);
    let target = match kind {
        TransportKind::Udp => server.transport().local_udp().unwrap(),
        _ => server.transport().local_tcp().unwrap(),
    };
    let mode = if kind == TransportKind::Udp {
        "u1"
    } else {
        "t1"
    };
    let dir = std::env::temp_dir();
    let args: Vec<String> = [
        "-sn",
        "uac",
        "-m",
        "10",
        "-r",
        "10",
        "-t",
        mode,
        "-i",
        "127.0.0.1",
        "-nostdin",
        "-timeout",
        "30s",
        "-timeout_error",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([target.to_string()])
    .collect();
    // sipp bounds itself (-timeout 30s -timeout_error); the outer limit only reports.
    let run = tokio::task::spawn_blocking(move || -> std::io::Result<Output> {
        Command::new(bin).args(&args).current_dir(dir).output()
    });
    let out = match tokio::time::timeout(std::time::Duration::from_secs(60), run).await {
        Ok(Ok(Ok(out))) => out,
        Ok(Ok(Err(e))) => panic!("could not run sipp: {e}"),
        Ok(Err(e)) => panic!("sipp runner panicked: {e}"),
        Err(_) => panic!("sipp did not finish within 60 s"),
    };
    let stats = server.stats().await.unwrap();
    assert!(
        out.status.success(),
        "sipp -sn uac over {kind} failed ({:?})\nstdout:\n{}\nstderr:\n{}\nfreya: {stats:?}",
        out.status,
        tail(&out.stdout),
        tail(&out.stderr)
    );
    // Ten INVITE and ten BYE server transactions.
    assert!(stats.layer.created >= 20, "{stats:?}");
    assert_eq!(stats.rejected, 0, "{stats:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn transport_sipp_uac_udp() {
    sipp_uac(TransportKind::Udp).await;
}

#[tokio::test]
async fn transport_sipp_uac_tcp() {
    sipp_uac(TransportKind::Tcp).await;
}
