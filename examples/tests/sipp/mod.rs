//! The SIPp side of the interop tests: finding sipp, the scenario files beside this
//! module, running sipp bounded in time on loopback, and reading its verdict (exit status
//! and the final counters of its `-trace_stat` file).

use std::collections::HashMap;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use tokio::time::timeout;

/// The sipp binary on PATH; panics (the test fails, it does not skip) when missing.
pub fn sipp_bin() -> PathBuf {
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

/// The path of scenario file `name` in this directory.
pub fn scenario(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name);
    assert!(p.is_file(), "missing scenario {}", p.display());
    p.to_string_lossy().into_owned()
}

/// `uas_x_headers.xml` made fit for a lossy run, written into `dir`:
/// - an optional INVITE recv after the 200 absorbs freya's INVITE retransmissions (sent
///   when SIPp dropped its 180 and 200). SIPp ties a retransmitted request only to the
///   *first* message it sent after receiving it (the 180 here, `call.cpp`'s
///   `recv_retrans_hash`), so without it a late INVITE copy aborts the call as
///   unexpected; SIPp's own 200 retransmissions go on meanwhile;
/// - the ACK becomes optional: when SIPp drops it, freya's BYE may come before SIPp's
///   200 retransmission draws a new ACK (and the BYE confirms the dialog all the same);
/// - the final timewait grows to 12 s, so a BYE retransmitted because SIPp dropped it or
///   its 200 is still answered: freya (T1 500 ms) retransmits at 0.5, 1.5, 3.5, 7.5 and
///   11.5 s, six tries in all, and with 10 % loss each way a try fails 19 % of the time.
///
/// The lossless runs keep the strict file, so they do check every ACK.
pub fn lossy_uas_scenario(dir: &Path) -> String {
    let base = std::fs::read_to_string(scenario("uas_x_headers.xml")).unwrap();
    let mut s = base.clone();
    for (from, to) in [
        (
            r#"<recv request="ACK" rtd="true"/>"#,
            r#"<recv request="INVITE" optional="true"/>
  <recv request="ACK" rtd="true" optional="true"/>"#,
        ),
        (
            r#"<timewait milliseconds="500"/>"#,
            r#"<timewait milliseconds="12000"/>"#,
        ),
    ] {
        assert_eq!(
            s.matches(from).count(),
            1,
            "uas_x_headers.xml no longer has {from}"
        );
        s = s.replace(from, to);
    }
    let p = dir.join("uas_x_headers_lossy.xml");
    std::fs::write(&p, s).unwrap();
    p.to_string_lossy().into_owned()
}

/// A loopback port free for both UDP and TCP right now (SIPp needs a number up front).
pub fn free_port() -> u16 {
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Whether some process has a UDP socket bound to `127.0.0.1:port` (Linux'
/// `/proc/net/udp`; binding the port to find out could steal it from SIPp).
pub fn udp_listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/udp")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(want.as_str()))
}

/// What one SIPp run left: its exit status, its output and its final statistics.
pub struct SippRun {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub errors: String,
    pub stats: HashMap<String, String>,
    /// SIPp's message trace, when the run was given `-trace_msg`.
    pub messages: String,
}

impl SippRun {
    /// A cumulated counter of the `-trace_stat` file, e.g. `SuccessfulCall(C)`.
    pub fn counter(&self, name: &str) -> u64 {
        let v = self
            .stats
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in SIPp's statistics\n{}", self.report()));
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} = {v:?} is not a number"))
    }

    pub fn report(&self) -> String {
        let tail = |s: &str| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(30)..].join("\n")
        };
        // The first errors explain a failure best; later ones are often its echoes.
        let head = |s: &str| s.lines().take(80).collect::<Vec<_>>().join("\n");
        let mut counters: Vec<_> = self
            .stats
            .iter()
            .filter(|(k, _)| k.ends_with("(C)") && !k.contains("Length") && !k.contains("Time"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        counters.sort();
        format!(
            "sipp exit: {:?}\nstats: {}\nerrors:\n{}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            counters.join(" "),
            head(&self.errors),
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }

    /// The Call-IDs of the requests named `method` that SIPp's message trace shows as sent
    /// (a request SIPp's `-lost` dropped is traced as "voluntary lost", not as sent).
    pub fn sent(&self, method: &str) -> std::collections::HashSet<String> {
        let start = format!("{method} ");
        self.messages
            .split("message sent (")
            .skip(1)
            .filter_map(|block| {
                // The block: "N bytes):\n\n<start line>\n<headers>…"
                let body = block.split_once("):")?.1.trim_start();
                if !body.starts_with(&start) {
                    return None;
                }
                body.lines()
                    .find_map(|l| l.strip_prefix("Call-ID:"))
                    .map(|v| v.trim().to_owned())
            })
            .collect()
    }

    /// Exit status 0, `calls` successful calls and none failed.
    pub fn assert_all_succeeded(&self, calls: u64) {
        assert!(self.status.success(), "SIPp failed\n{}", self.report());
        assert_eq!(
            self.counter("SuccessfulCall(C)"),
            calls,
            "{}",
            self.report()
        );
        assert_eq!(self.counter("FailedCall(C)"), 0, "{}", self.report());
    }
}

/// Runs sipp with `args` bound to `127.0.0.1:port` (SIP, media and control sockets on
/// loopback), in a temporary directory, bounded by its own `-timeout` and by ours.
pub async fn sipp(port: u16, args: &[&str]) -> SippRun {
    let bin = sipp_bin();
    let dir = tempfile::tempdir().unwrap();
    let stats = dir.path().join("stats.csv");
    let errors = dir.path().join("errors.log");
    let messages = dir.path().join("messages.log");
    let port = port.to_string();
    let mut all: Vec<String> = [
        "-i",
        "127.0.0.1",
        "-mi",
        "127.0.0.1",
        "-ci",
        "127.0.0.1",
        "-p",
        &port,
        "-nostdin",
        "-timeout",
        "45s",
        "-timeout_error",
        "-trace_stat",
        "-stf",
        stats.to_str().unwrap(),
        "-trace_err",
        "-error_file",
        errors.to_str().unwrap(),
        // Used only with -trace_msg.
        "-message_file",
        messages.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    all.extend(args.iter().map(|s| s.to_string()));
    let cwd = dir.path().to_owned();
    let run =
        tokio::task::spawn_blocking(move || Command::new(bin).args(&all).current_dir(cwd).output());
    let out = match timeout(Duration::from_secs(55), run).await {
        Ok(Ok(Ok(out))) => out,
        Ok(Ok(Err(e))) => panic!("could not run sipp: {e}"),
        Ok(Err(e)) => panic!("the sipp runner panicked: {e}"),
        Err(_) => panic!("sipp did not finish within 55 s"),
    };
    // The last line of the statistics file holds the final counters.
    let text = std::fs::read_to_string(&stats).unwrap_or_default();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap_or("").split(';').collect();
    let last: Vec<&str> = lines.next_back().unwrap_or("").split(';').collect();
    let stats = header
        .iter()
        .zip(last)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    SippRun {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        errors: std::fs::read_to_string(&errors).unwrap_or_default(),
        messages: std::fs::read_to_string(&messages).unwrap_or_default(),
        stats,
    }
}

/// One call from SIPp to `target` that cancels once it hears 180 (`uac_cancel_ringing.xml`:
/// it checks the 200 for the CANCEL and the 487 for the INVITE), run to its end from a
/// synchronous test; the caller asserts on the result.
// Used by the stack tests, not by sipp_interop.rs, which includes this module too.
#[allow(dead_code)]
pub fn cancel_after_ringing(target: &str) -> SippRun {
    let xml = scenario("uac_cancel_ringing.xml");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for sipp");
    runtime.block_on(sipp(
        free_port(),
        &["-sf", &xml, "-m", "1", "-t", "u1", target],
    ))
}

/// Runs SIPp scenario `name` once as a caller of `target` on a thread of its own (the test
/// drives the stack meanwhile); join it for the run.
// Used by the stack tests, not by sipp_interop.rs, which includes this module too.
#[allow(dead_code)]
pub fn caller_in_background(name: &str, target: &str) -> std::thread::JoinHandle<SippRun> {
    let xml = scenario(name);
    let target = target.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime for sipp");
        runtime.block_on(sipp(
            free_port(),
            &["-sf", &xml, "-m", "1", "-t", "u1", &target],
        ))
    })
}
