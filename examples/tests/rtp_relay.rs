//! `rtp-relay` as a process: peers A and B on loopback, 10 RTP packets from A reach B from
//! the relay's leg-B address, byte for byte, and the final statistics line counts them.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn relays_between_two_peers_and_prints_stats() {
    relay_run("tokio", "43100-43109");
}

/// The same run on the io_uring relay thread.
#[cfg(target_os = "linux")]
#[test]
fn relays_the_same_on_the_io_uring_thread() {
    relay_run("io_uring", "43110-43119");
}

fn relay_run(io: &str, ports: &str) {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    b.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rtp-relay"))
        .args(["--a", &a.local_addr().unwrap().to_string()])
        .args(["--b", &b.local_addr().unwrap().to_string()])
        .args(["--ports", ports, "--bind", "127.0.0.1", "--io", io])
        .args(["--stats-interval", "0.2", "--duration", "1.5"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run rtp-relay");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: serde_json::Value =
        serde_json::from_str(&lines.next().unwrap().unwrap()).expect("a JSON line");
    assert_eq!(first["event"], "listening");
    let leg_a: SocketAddr = first["a"]["rtp"].as_str().unwrap().parse().unwrap();
    let leg_b: SocketAddr = first["b"]["rtp"].as_str().unwrap().parse().unwrap();

    let mut buf = [0u8; 2048];
    for seq in 0..10u8 {
        let mut packet = vec![0x80, 0, 0, seq, 0, 0, 0, 0, 0, 0, 0, 0x2A];
        packet.extend(std::iter::repeat_n(seq, 160));
        a.send_to(&packet, leg_a).unwrap();
        let (len, from) = b.recv_from(&mut buf).expect("relayed packet");
        assert_eq!(from, leg_b);
        assert_eq!(&buf[..len], &packet[..]);
    }
    let rest: Vec<serde_json::Value> = lines
        .map(|l| serde_json::from_str(&l.unwrap()).expect("JSON lines"))
        .collect();
    assert!(child.wait().unwrap().success());
    let closed_a = rest
        .iter()
        .find(|v| v["event"] == "closed" && v["leg"] == "A")
        .expect("final stats of leg A");
    assert_eq!(closed_a["packets_in"], 10);
    assert_eq!(closed_a["latched"], a.local_addr().unwrap().to_string());
    assert_eq!(closed_a["streams"][0]["ssrc"], 42);
    assert!(rest.iter().any(|v| v["event"] == "stats"));
}
