//! Interop with baresip (Debian package `baresip`), headless: a call in each direction
//! between baresip and `sip-ua` on loopback, G.711 µ-law, each side sending its own tone
//! and recording what it hears; the test reads both recordings and checks that each side
//! heard the other's frequency (and almost nothing else).
//!
//! baresip runs from a config directory written here: SIP on a loopback port
//! (`sip_listen`, `net_interface 127.0.0.1`), its `ausine` module as the audio source
//! (48 kHz stereo only; baresip resamples to 8 kHz), `aubridge` as a null player (no sound
//! card), and its `sndfile` filter dumping the decoded audio it received to
//! `dump-…-dec.wav` (8 kHz mono). Commands come on the command line (`-e "/dial URI"`),
//! `-t SECONDS` bounds its life, and the account answers calls itself
//! (`answermode=auto`).
//!
//! Missing baresip fails these tests (no skip): scripts/test.sh installs it.
//!
//! baresip is also the transferee of a blind transfer by freya-stack (REFER, RFC 3515):
//! it calls the target itself, and the target hears its tone.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn baresip_bin() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("baresip"))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => p,
        None => panic!(
            "baresip is not installed (Debian package baresip): run scripts/test.sh, \
             which installs it, or apt-get install baresip"
        ),
    }
}

/// A loopback port whose UDP and TCP, and the TCP port after it, are free right now
/// (baresip listens on all three and needs the number in its config file).
fn free_sip_port() -> u16 {
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if port < u16::MAX
            && TcpListener::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port + 1)).is_ok()
        {
            return port;
        }
    }
}

/// Whether some process has a UDP socket bound to `127.0.0.1:port` (Linux'
/// `/proc/net/udp`).
fn udp_listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/udp")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(want.as_str()))
}

/// A headless baresip in its own config directory, killed on drop.
struct Baresip {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Baresip {
    /// Starts baresip sending a `tone_hz` sine, listening on a free loopback port and
    /// answering every call; `commands` run at start-up (`-e`), and it quits after
    /// `life_s` seconds (hanging up what is up).
    fn start(tone_hz: u32, commands: &[String], life_s: u32) -> Baresip {
        let bin = baresip_bin();
        let dir = tempfile::tempdir().unwrap();
        let port = free_sip_port();
        let config = format!(
            "poll_method\t\tepoll\n\
             sip_listen\t\t127.0.0.1:{port}\n\
             net_interface\t\t127.0.0.1\n\
             call_local_timeout\t30\n\
             call_max_calls\t\t4\n\
             audio_source\t\tausine,{tone_hz}\n\
             audio_player\t\taubridge,nil\n\
             audio_alert\t\taubridge,nil\n\
             ausrc_srate\t\t48000\n\
             ausrc_channels\t\t2\n\
             module_path\t\t/usr/lib/baresip/modules\n\
             module\t\t\tg711.so\n\
             module\t\t\tausine.so\n\
             module\t\t\taubridge.so\n\
             module\t\t\tsndfile.so\n\
             module_tmp\t\taccount.so\n\
             module_app\t\tmenu.so\n\
             snd_path\t\t{}\n",
            dir.path().display()
        );
        std::fs::write(dir.path().join("config"), config).unwrap();
        std::fs::write(
            dir.path().join("accounts"),
            "<sip:baresip@127.0.0.1>;regint=0;answermode=auto;audio_codecs=pcmu\n",
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("baresip.log")).unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg("-f")
            .arg(dir.path())
            .args(["-t", &life_s.to_string()]);
        for c in commands {
            cmd.args(["-e", c]);
        }
        let child = cmd
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("run baresip");
        let b = Baresip { child, dir, port };
        let t0 = Instant::now();
        while !udp_listening(port) {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "baresip never listened on 127.0.0.1:{port}\n{}",
                b.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        b
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default();
        // Its status line ("[0:00:01] audio=…") is rewritten with \r: keep the rest.
        text.split(['\n', '\r'])
            .filter(|l| !l.contains("audio=") && !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits for baresip to quit on its own (`-t`), at most `limit`.
    fn wait(&mut self, limit: Duration) {
        let t0 = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                t0.elapsed() < limit,
                "baresip still running after {limit:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The recording of the audio baresip received (its sndfile filter's decode dump),
    /// once the file is complete (sndfile writes the WAV sizes when the call ends).
    fn heard(&self) -> Vec<i16> {
        let t0 = Instant::now();
        loop {
            let found: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
                .unwrap()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p.file_name().unwrap().to_string_lossy();
                    name.starts_with("dump-") && name.ends_with("-dec.wav")
                })
                .collect();
            if let [one] = found.as_slice() {
                if let Some(samples) = read_wav(one) {
                    return samples;
                }
            }
            assert!(
                found.len() <= 1 && t0.elapsed() < Duration::from_secs(5),
                "baresip recorded {found:?}, not one readable decode dump\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An 8 kHz mono 16-bit WAV file's samples; `None` while it is not complete yet.
fn read_wav(path: &Path) -> Option<Vec<i16>> {
    let r = hound::WavReader::open(path).ok()?;
    let spec = r.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (8000, 1, 16),
        "{}: not 8 kHz mono 16-bit",
        path.display()
    );
    r.into_samples::<i16>().collect::<Result<Vec<_>, _>>().ok()
}

/// The tone in `samples` (8 kHz): the frequency, 50–3950 Hz in 5 Hz steps, with the
/// most power summed over 100 ms frames (Goertzel), and the share of the frames' energy
/// it holds (about 1 for a clean tone). Silent frames (jitter-buffer start, the end)
/// count for nothing. Also returns how many samples carried signal.
fn tone(samples: &[i16]) -> (u32, f64, usize) {
    const RATE: f64 = 8000.0;
    const FRAME: usize = 800;
    let frames: Vec<&[i16]> = samples
        .chunks_exact(FRAME)
        .filter(|f| {
            f.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / FRAME as f64 > 300.0f64.powi(2)
        })
        .collect();
    let energy: f64 = frames
        .iter()
        .flat_map(|f| f.iter())
        .map(|s| f64::from(*s).powi(2))
        .sum();
    let mut best = (0u32, 0.0f64);
    for hz in (50..=3950).step_by(5) {
        let w = 2.0 * std::f64::consts::PI * f64::from(hz) / RATE;
        let coeff = 2.0 * w.cos();
        let mut power = 0.0;
        for f in &frames {
            let (mut s1, mut s2) = (0.0f64, 0.0f64);
            for x in f.iter() {
                let s0 = f64::from(*x) + coeff * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            // |X(f)|² scaled so that a pure tone's power equals its energy in the frame.
            power += (s1 * s1 + s2 * s2 - coeff * s1 * s2) * 2.0 / FRAME as f64;
        }
        if power > best.1 {
            best = (hz, power);
        }
    }
    let share = if energy > 0.0 { best.1 / energy } else { 0.0 };
    (best.0, share, frames.len() * FRAME)
}

/// `samples` hold a clean `hz` tone for at least `min_s` seconds.
fn assert_tone(who: &str, samples: &[i16], hz: u32, min_s: f64) {
    let (got, share, n) = tone(samples);
    assert!(
        n as f64 >= min_s * 8000.0,
        "{who} recorded only {n} samples of signal (of {}), wanted {min_s} s",
        samples.len()
    );
    assert!(
        got.abs_diff(hz) <= 10,
        "{who} heard {got} Hz (share {share:.2}), not {hz} Hz"
    );
    assert!(
        share > 0.6,
        "{who} heard {got} Hz but only {:.0} % of the energy is there",
        share * 100.0
    );
}

/// Asserts that a `sip-ua listen` `incoming` line is a call from baresip (its User-Agent).
fn assert_from_baresip(incoming: &serde_json::Value) {
    let ua = incoming["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "User-Agent")
        .map(|h| h[1].as_str().unwrap().to_owned());
    assert!(
        ua.as_deref().is_some_and(|u| u.starts_with("baresip")),
        "the call came from {ua:?}"
    );
}

/// A `sip-ua listen` child printing JSON lines, killed on drop.
struct Listener {
    child: Child,
    addr: SocketAddr,
    lines: mpsc::Receiver<serde_json::Value>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Listener {
    fn start(extra: &[&str]) -> Listener {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sip-ua"))
            .args(["listen", "--bind", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("run sip-ua listen");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("a listening line");
        assert_eq!(first["event"], "listening");
        let addr = first["address"].as_str().unwrap().parse().unwrap();
        Listener { child, addr, lines }
    }

    /// The next line whose event is `event`, skipping others (all kept in `seen`).
    fn until(&self, event: &str, seen: &mut Vec<serde_json::Value>) -> serde_json::Value {
        loop {
            let v = self
                .lines
                .recv_timeout(Duration::from_secs(15))
                .unwrap_or_else(|_| panic!("no {event:?} line from sip-ua listen; saw {seen:?}"));
            seen.push(v.clone());
            if v["event"] == event {
                return v;
            }
        }
    }
}

#[test]
fn baresip_calls_sip_ua_listen_and_both_hear_the_other_tone() {
    const FREYA_HZ: u32 = 440;
    const BARESIP_HZ: u32 = 1200;
    let dir = tempfile::tempdir().unwrap();
    let heard_by_freya = dir.path().join("freya.wav");
    let l = Listener::start(&[
        "--tone",
        &FREYA_HZ.to_string(),
        "--record",
        heard_by_freya.to_str().unwrap(),
    ]);
    // baresip dials at start-up and hangs up when it quits, 5 s later.
    let mut b = Baresip::start(BARESIP_HZ, &[format!("/dial sip:freya@{}", l.addr)], 5);
    let mut seen = Vec::new();
    assert_from_baresip(&l.until("incoming", &mut seen));
    let ended = l.until("ended", &mut seen);
    assert_eq!(ended["status"], 200, "{ended}\n{}", b.log());
    assert_eq!(
        (ended["kind"].as_str(), ended["hangup_by"].as_str()),
        (Some("bye"), Some("remote"))
    );
    let media = l.until("media", &mut seen);
    assert!(media["rtp_received"].as_u64().unwrap() > 100, "{media}");
    b.wait(Duration::from_secs(10));

    let freya = read_wav(&heard_by_freya).expect("sip-ua's recording");
    assert_tone("sip-ua (called by baresip)", &freya, BARESIP_HZ, 2.0);
    assert_tone("baresip (calling sip-ua)", &b.heard(), FREYA_HZ, 2.0);
}

#[test]
fn sip_ua_calls_baresip_and_both_hear_the_other_tone() {
    const FREYA_HZ: u32 = 1000;
    const BARESIP_HZ: u32 = 600;
    // baresip answers by itself (answermode=auto); 15 s bounds it if nothing hangs up.
    let b = Baresip::start(BARESIP_HZ, &[], 15);
    let dir = tempfile::tempdir().unwrap();
    let heard_by_freya = dir.path().join("freya.wav");
    let out = Command::new(env!("CARGO_BIN_EXE_sip-ua"))
        .args(["call", &format!("sip:baresip@127.0.0.1:{}", b.port)])
        .args(["--header", "X-Freya-Workflow-Id: wf-baresip"])
        .args(["--duration", "3", "--tone", &FREYA_HZ.to_string()])
        .args(["--record", heard_by_freya.to_str().unwrap()])
        .output()
        .expect("run sip-ua call");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", b.log());
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let answered = events
        .iter()
        .find(|e| e["event"] == "answered")
        .expect(&stdout);
    assert_eq!(answered["media"]["codec"], "ulaw", "{stdout}");
    let ended = events.iter().find(|e| e["event"] == "ended").unwrap();
    assert_eq!(
        (ended["status"].as_u64(), ended["hangup_by"].as_str()),
        (Some(200), Some("local"))
    );
    let media = events.iter().find(|e| e["event"] == "media").unwrap();
    assert!(media["rtp_received"].as_u64().unwrap() > 100, "{stdout}");

    let freya = read_wav(&heard_by_freya).expect("sip-ua's recording");
    assert_tone("sip-ua (calling baresip)", &freya, BARESIP_HZ, 2.0);
    assert_tone("baresip (called by sip-ua)", &b.heard(), FREYA_HZ, 2.0);
}

/// The checker itself can fail: it names a synthetic tone's frequency, and a mix of two
/// tones or noise is not "a clean tone".
#[test]
fn tone_check_tells_a_clean_tone_from_a_mix_and_from_noise() {
    let sine = |hz: f64, amp: f64, i: usize| {
        amp * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin()
    };
    let clean: Vec<i16> = (0..16000).map(|i| sine(440.0, 8000.0, i) as i16).collect();
    let (hz, share, n) = tone(&clean);
    assert_eq!((hz, n), (440, 16000));
    assert!(share > 0.95, "{share}");
    let mix: Vec<i16> = (0..16000)
        .map(|i| (sine(440.0, 6000.0, i) + sine(1000.0, 6000.0, i)) as i16)
        .collect();
    let (_, share, _) = tone(&mix);
    assert!((0.4..0.6).contains(&share), "{share}");
    // A linear congruential generator: deterministic noise.
    let mut x = 12345u32;
    let noise: Vec<i16> = (0..16000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            ((x >> 16) as i16) / 4
        })
        .collect();
    let (_, share, _) = tone(&noise);
    assert!(share < 0.1, "{share}");
    // Silence is no signal at all.
    assert_eq!(tone(&[0i16; 16000]).2, 0);
}

/// baresip calls freya-stack (answered by a built-in echo agent); the control API transfers
/// the call to a `sip-ua listen` target: freya sends baresip a REFER, baresip calls the
/// target itself and reports it in NOTIFYs, freya hangs its own leg up, and the target
/// hears baresip's tone (the caller really was transferred).
#[test]
fn freya_transfers_a_baresip_caller_to_another_party() {
    const BARESIP_HZ: u32 = 1200;
    let s = common::start(&common::config(2, "{ status = 503 }", ""));
    let ev = common::events(&s);
    let dir = tempfile::tempdir().unwrap();
    let heard_by_target = dir.path().join("target.wav");
    let target = Listener::start(&[
        "--tone",
        "440",
        "--record",
        heard_by_target.to_str().unwrap(),
    ]);
    let mut b = Baresip::start(
        BARESIP_HZ,
        &[format!("/dial sip:+14155550100@{}", s.sip)],
        8,
    );
    let mut seen = vec![];
    let next = |seen: &mut Vec<serde_json::Value>,
                what: &str,
                pred: &dyn Fn(&serde_json::Value) -> bool| loop {
        let v = ev
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no {what} event; saw {seen:#?}"));
        seen.push(v.clone());
        if pred(&v) {
            return v;
        }
    };
    let answered = next(&mut seen, "answered", &|v| v["event"] == "answered");
    let id = answered["call_id"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(500));
    let to = format!("sip:desk@{}", target.addr);
    let (status, body) = common::post(
        &s,
        &format!("/calls/{id}/transfer"),
        &serde_json::json!({ "to": to }),
    );
    assert_eq!(status, 202, "{body}");
    let done = next(&mut seen, "transfer outcome", &|v| {
        v["event"] == "transfer"
            && matches!(
                v["state"].as_str(),
                Some("succeeded" | "failed" | "refused")
            )
    });
    assert_eq!(done["state"], "succeeded", "{done}\n{seen:#?}\n{}", b.log());
    let hangup = next(&mut seen, "hangup", &|v| {
        v["event"] == "hangup" && v["call_id"] == id.as_str()
    });
    assert_eq!(hangup["hangup_by"], "local", "{hangup}");

    let mut lines = vec![];
    assert_from_baresip(&target.until("incoming", &mut lines));
    target.until("ended", &mut lines);
    b.wait(Duration::from_secs(15));
    let heard = read_wav(&heard_by_target).expect("the target's recording");
    assert_tone("the transfer target", &heard, BARESIP_HZ, 1.5);
}
