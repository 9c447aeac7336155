//! Tests of the opening handshake: both sides' bytes, every check, the head reader's
//! splits, leftover and cap, and the async wrappers over an in-memory pipe.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// RFC 6455 §1.3's example nonce and its accept value.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn target(url: &str) -> Target {
    Target::parse(url).unwrap()
}

/// A valid request, with `line` (a header line, CRLF-ended) put in place of the header
/// named `drop` (case-insensitive), or added when `drop` is empty.
fn request_with(drop: &str, line: &str) -> Vec<u8> {
    let mut head = String::from("GET /call/c1?token=t HTTP/1.1\r\n");
    for h in [
        "Host: freya:8090",
        "Upgrade: websocket",
        "Connection: keep-alive, Upgrade",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Authorization: Bearer s3cret",
        "Sec-WebSocket-Protocol: chat, audio.jambonz.org",
    ] {
        let name = h.split(':').next().unwrap_or("");
        if !drop.is_empty() && name.eq_ignore_ascii_case(drop) {
            head.push_str(line);
        } else {
            head.push_str(h);
            head.push_str("\r\n");
        }
    }
    if drop.is_empty() {
        head.push_str(line);
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// The answer of a server to `KEY`, with `line` in place of the header named `drop`.
fn response_with(drop: &str, line: &str) -> Vec<u8> {
    let text = String::from_utf8(accept_response(KEY, None)).unwrap();
    let mut out = String::new();
    for l in text.split_inclusive("\r\n") {
        let name = l.split(':').next().unwrap_or("");
        if !drop.is_empty() && name.eq_ignore_ascii_case(drop) {
            out.push_str(line);
        } else if l == "\r\n" && drop.is_empty() {
            out.push_str(line);
            out.push_str(l);
        } else {
            out.push_str(l);
        }
    }
    out.into_bytes()
}

#[test]
fn the_rfc_example_key_gives_the_rfc_accept_value() {
    let text = String::from_utf8(accept_response(KEY, None)).unwrap();
    assert_eq!(
        text,
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        )
    );
}

#[test]
fn a_client_request_has_the_exact_bytes_and_its_answer_is_accepted() {
    let headers = vec![
        ("Authorization".to_owned(), "Basic dTpw".to_owned()),
        ("Origin".to_owned(), "https://agent.example".to_owned()),
    ];
    let t = target("wss://agent.example:8443/telephony/ws?slot=2");
    let req = ClientRequest::new(&t, KEY, &headers, &["audio.jambonz.org"]).unwrap();
    assert_eq!(
        String::from_utf8(req.bytes.clone()).unwrap(),
        "GET /telephony/ws?slot=2 HTTP/1.1\r\nHost: agent.example:8443\r\n\
         Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: audio.jambonz.org\r\n\
         Authorization: Basic dTpw\r\nOrigin: https://agent.example\r\n\r\n"
    );
    // The server side reads it back whole.
    let seen = parse_request(&req.bytes).unwrap();
    assert_eq!(seen.path, "/telephony/ws");
    assert_eq!(seen.query.as_deref(), Some("slot=2"));
    assert_eq!(seen.key, KEY);
    assert!(seen.offers("audio.jambonz.org") && !seen.offers("chat"));
    assert_eq!(
        seen.headers[0],
        ("host".to_owned(), "agent.example:8443".to_owned())
    );
    assert!(seen
        .headers
        .contains(&("authorization".to_owned(), "Basic dTpw".to_owned())));
    // And the server's answer satisfies the client.
    let answer = accept_response(&seen.key, Some("audio.jambonz.org"));
    assert_eq!(
        req.check_response(&answer).unwrap().as_deref(),
        Some("audio.jambonz.org")
    );
}

#[test]
fn urls_give_host_port_host_header_and_resource() {
    let t = target("ws://127.0.0.1:8765/ws");
    assert_eq!((t.tls, t.host.as_str(), t.port), (false, "127.0.0.1", 8765));
    assert_eq!(
        (t.host_header.as_str(), t.resource.as_str()),
        ("127.0.0.1:8765", "/ws")
    );
    let t = target("WSS://user:pw@agent.example/");
    assert_eq!(
        (t.tls, t.port, t.host_header.as_str()),
        (true, 443, "agent.example")
    );
    let t = target("ws://agent.example:80");
    assert_eq!(
        (t.host_header.as_str(), t.resource.as_str()),
        ("agent.example", "/")
    );
    let t = target("ws://[::1]:9000/x?y=1");
    assert_eq!(
        (t.host.as_str(), t.host_header.as_str()),
        ("::1", "[::1]:9000")
    );
    assert_eq!(t.resource, "/x?y=1");
    for bad in ["http://agent/ws", "ws:///ws", "not a url", "ws://"] {
        assert!(
            matches!(Target::parse(bad), Err(UpgradeError::Url { ref url, .. }) if url == bad),
            "{bad}"
        );
    }
}

#[test]
fn bad_extra_headers_are_refused_by_name() {
    let t = target("ws://a/ws");
    for (name, value) in [
        ("X Bad", "v"),
        ("", "v"),
        ("X-Ok", "a\r\nInjected: 1"),
        ("Host", "other"),
        ("sec-websocket-key", "k"),
    ] {
        let err = ClientRequest::new(&t, KEY, &[(name.into(), value.into())], &[]).unwrap_err();
        assert!(
            matches!(&err, UpgradeError::RequestHeader { name: n, .. } if n == name),
            "{name}: {err}"
        );
    }
    // A caller's own subprotocol offer is sent and checked when freya offers none…
    let own = [("Sec-WebSocket-Protocol".to_owned(), "a, b".to_owned())];
    let req = ClientRequest::new(&t, KEY, &own, &[]).unwrap();
    assert!(String::from_utf8_lossy(&req.bytes).contains("Sec-WebSocket-Protocol: a, b\r\n"));
    let answer = response_with("", "Sec-WebSocket-Protocol: b\r\n");
    assert_eq!(req.check_response(&answer).unwrap().as_deref(), Some("b"));
    // … and replaced by freya's offer otherwise.
    let req = ClientRequest::new(&t, KEY, &own, &["audio.jambonz.org"]).unwrap();
    let text = String::from_utf8(req.bytes).unwrap();
    assert_eq!(text.matches("Sec-WebSocket-Protocol").count(), 1, "{text}");
}

#[test]
fn each_bad_request_header_is_refused_with_its_error_and_status() {
    let ok = parse_request(&request_with("", "")).unwrap();
    assert_eq!(ok.path, "/call/c1");
    assert_eq!(ok.subprotocols, ["chat", "audio.jambonz.org"]);
    let cases: [(&str, &str, &str, u16); 9] = [
        ("Upgrade", "", "no Upgrade header", 400),
        (
            "Upgrade",
            "Upgrade: h2c\r\n",
            "Upgrade: \"h2c\" is not",
            400,
        ),
        ("Connection", "", "no Connection header", 400),
        (
            "Connection",
            "Connection: keep-alive\r\n",
            "Connection: \"keep-alive\"",
            400,
        ),
        ("Sec-WebSocket-Version", "", "no Sec-WebSocket-Version", 400),
        (
            "Sec-WebSocket-Version",
            "Sec-WebSocket-Version: 8\r\n",
            "\"8\" is not 13",
            426,
        ),
        ("Sec-WebSocket-Key", "", "no Sec-WebSocket-Key", 400),
        (
            "Sec-WebSocket-Key",
            "Sec-WebSocket-Key: c2hvcnQ=\r\n",
            "\"c2hvcnQ=\"",
            400,
        ),
        (
            "Sec-WebSocket-Key",
            "Sec-WebSocket-Key: ########################\r\n",
            "16 bytes",
            400,
        ),
    ];
    for (name, line, says, status) in cases {
        let err = parse_request(&request_with(name, line)).unwrap_err();
        assert!(err.to_string().contains(says), "{name} {line:?}: {err}");
        assert_eq!(err.status().map(|s| s.as_u16()), Some(status), "{err}");
    }
    let post = String::from_utf8(request_with("", ""))
        .unwrap()
        .replacen("GET", "POST", 1);
    let err = parse_request(post.as_bytes()).unwrap_err();
    assert!(
        matches!(&err, UpgradeError::Method { method } if method == "POST"),
        "{err}"
    );
    let old = String::from_utf8(request_with("", ""))
        .unwrap()
        .replacen("HTTP/1.1", "HTTP/1.0", 1);
    let err = parse_request(old.as_bytes()).unwrap_err();
    assert!(
        matches!(err, UpgradeError::HttpVersion { minor: 0 }),
        "{err}"
    );
    let err = parse_request(b"GET /a%zz\xff HTTP/1.1\r\n\r\n").unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST), "{err}");
}

#[test]
fn each_bad_answer_is_refused_with_its_error() {
    let t = target("ws://a/ws");
    let plain = ClientRequest::new(&t, KEY, &[], &[]).unwrap();
    let jambonz = ClientRequest::new(&t, KEY, &[], &["audio.jambonz.org"]).unwrap();
    assert_eq!(plain.check_response(&response_with("", "")).unwrap(), None);
    let refused = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 13\r\n\r\n";
    let err = plain.check_response(refused).unwrap_err();
    assert!(matches!(&err, UpgradeError::Status { code: 401, reason } if reason == "Unauthorized"));
    assert_eq!(err.to_string(), "HTTP error: 401 Unauthorized");
    let err = plain.check_response(b"HTTP/1.1 404 \r\n\r\n").unwrap_err();
    assert_eq!(err.to_string(), "HTTP error: 404 Not Found");
    let cases: [(&ClientRequest, &str, &str, &str); 8] = [
        (&plain, "Upgrade", "", "no Upgrade header"),
        (
            &plain,
            "Upgrade",
            "Upgrade: websockets\r\n",
            "\"websockets\"",
        ),
        (
            &plain,
            "Connection",
            "Connection: close\r\n",
            "Connection: \"close\"",
        ),
        (&plain, "Connection", "connection: UPGRADE\r\n", ""),
        (
            &plain,
            "Sec-WebSocket-Accept",
            "",
            "no Sec-WebSocket-Accept",
        ),
        (
            &plain,
            "Sec-WebSocket-Accept",
            "Sec-WebSocket-Accept: AAAA\r\n",
            "\"AAAA\"",
        ),
        (
            &plain,
            "",
            "Sec-WebSocket-Protocol: chat\r\n",
            "\"chat\", not offered",
        ),
        (
            &jambonz,
            "",
            "Sec-WebSocket-Protocol: chat\r\n",
            "\"chat\", not offered",
        ),
    ];
    for (req, name, line, says) in cases {
        let result = req.check_response(&response_with(name, line));
        match says {
            "" => assert!(result.is_ok(), "{name} {line:?}: {result:?}"),
            _ => {
                let err = result.unwrap_err();
                assert!(err.to_string().contains(says), "{name} {line:?}: {err}");
            }
        }
    }
    let err = jambonz.check_response(&response_with("", "")).unwrap_err();
    assert!(
        matches!(&err, UpgradeError::NoSubprotocol { offered } if offered == "audio.jambonz.org")
    );
    let http10 = String::from_utf8(response_with("", ""))
        .unwrap()
        .replacen("HTTP/1.1", "HTTP/1.0", 1);
    let err = plain.check_response(http10.as_bytes()).unwrap_err();
    assert!(
        matches!(err, UpgradeError::HttpVersion { minor: 0 }),
        "{err}"
    );
}

/// Feeds `bytes` to a reader in reads of the given sizes (cycled); the head and leftover.
fn feed(kind: HeadKind, bytes: &[u8], sizes: &[usize]) -> Result<Head, UpgradeError> {
    let mut reader = HeadReader::new(kind);
    let mut at = 0;
    for &size in sizes.iter().cycle() {
        let space = reader.space()?;
        assert!(space.len() <= READ_STEP);
        let n = size.min(space.len()).min(bytes.len() - at);
        space[..n].copy_from_slice(&bytes[at..at + n]);
        at += n;
        if let Some(head) = reader.filled(n)? {
            return Ok(head);
        }
    }
    unreachable!()
}

#[test]
fn a_head_split_across_reads_comes_out_whole_with_what_followed() {
    let head = request_with("", "");
    let frame = [0x81u8, 0x82, 1, 2, 3, 4, 0x69 ^ 1, 0x21 ^ 2];
    let mut wire = head.clone();
    wire.extend_from_slice(&frame);
    for sizes in [&[1usize][..], &[7, 1, 300], &[512], &[head.len() - 1, 1]] {
        let got = feed(HeadKind::Request, &wire, sizes).unwrap();
        assert_eq!(got.bytes, head, "{sizes:?}");
        // Whatever part of the frame came with the last read is handed back.
        assert!(
            frame.starts_with(&got.leftover),
            "{sizes:?}: {:?}",
            got.leftover
        );
    }
    // All in one read: the whole frame is leftover; without it, no leftover (no allocation).
    let got = feed(HeadKind::Request, &wire, &[READ_STEP]).unwrap();
    assert_eq!(got.leftover, frame);
    let got = feed(HeadKind::Request, &head, &[READ_STEP]).unwrap();
    assert!(got.leftover.is_empty() && got.leftover.capacity() == 0);
}

#[test]
fn a_head_over_the_cap_is_refused_and_closed_or_garbage_heads_fail() {
    // One long header: the cap, not httparse's header count, is what stops it.
    let mut long = b"GET / HTTP/1.1\r\nX-Filler: ".to_vec();
    long.resize(MAX_HEAD + 100, b'a');
    let err = feed(HeadKind::Request, &long, &[READ_STEP]).unwrap_err();
    assert!(
        matches!(err, UpgradeError::HeadTooLarge { limit: MAX_HEAD }),
        "{err}"
    );
    assert_eq!(
        err.status(),
        Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
    );

    let err = feed(HeadKind::Response, b"HTTP/1.1 101 Swi", &[READ_STEP, 0]).unwrap_err();
    assert!(matches!(err, UpgradeError::Closed { read: 16 }), "{err}");
    assert_eq!(err.status(), None);
    // A TLS ClientHello on a ws:// port is not answered (its sender cannot read HTTP); a
    // request line that goes wrong is (400).
    let hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    let err = feed(HeadKind::Request, hello, &[64]).unwrap_err();
    assert!(matches!(err, UpgradeError::Malformed { .. }), "{err}");
    assert_eq!(err.status(), None);
    let err = feed(HeadKind::Request, b"GET /a b c HTTP/1.1\r\n\r\n", &[64]).unwrap_err();
    assert!(matches!(err, UpgradeError::Malformed { .. }), "{err}");
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
}

#[test]
fn refusals_are_complete_http_responses() {
    assert_eq!(
        String::from_utf8(refusal_response(StatusCode::NOT_FOUND, "no such call")).unwrap(),
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: 12\r\nConnection: close\r\n\r\nno such call"
    );
    let r = String::from_utf8(refusal_response(StatusCode::UPGRADE_REQUIRED, "v")).unwrap();
    assert!(r.starts_with("HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"));
}

/// The async wrappers over an in-memory pipe: a client and a server handshake meet, and a
/// bad request gets its refusal on the wire.
#[tokio::test]
async fn both_sides_meet_over_a_pipe_and_a_bad_request_is_answered() {
    let peer = "127.0.0.1:5".parse().unwrap();
    let (mut a, mut b) = tokio::io::duplex(64);
    let server = tokio::spawn(async move {
        let (req, leftover) = read_request(&mut b, peer).await.unwrap();
        write_accept(&mut b, &req, Some("audio.jambonz.org"))
            .await
            .unwrap();
        (req.path, leftover)
    });
    let req =
        ClientRequest::new(&target("ws://h/call/x"), KEY, &[], &["audio.jambonz.org"]).unwrap();
    let (chosen, leftover) = client_handshake(&mut a, &req).await.unwrap();
    assert_eq!(chosen.as_deref(), Some("audio.jambonz.org"));
    assert!(leftover.is_empty());
    assert_eq!(server.await.unwrap(), ("/call/x".to_owned(), Vec::new()));

    let (mut a, mut b) = tokio::io::duplex(1024);
    let server = tokio::spawn(async move { read_request(&mut b, peer).await.map(|_| ()) });
    a.write_all(&request_with(
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Version: 7\r\n",
    ))
    .await
    .unwrap();
    let mut answer = String::new();
    a.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with("\r\n\r\nSec-WebSocket-Version: \"7\" is not 13"),
        "{answer}"
    );
    assert!(matches!(
        server.await.unwrap(),
        Err(UpgradeError::BadHeader { .. })
    ));
}

/// A subprotocol name longer than an error message's excerpt (100 characters) still matches
/// whole: freya's client accepts freya's server's 101 for it (found by the `upgrade` fuzz
/// target's reasoning: the check compared the shortened copy).
#[test]
fn a_long_subprotocol_is_compared_whole() {
    let long = "x".repeat(150);
    let t = target("ws://127.0.0.1:9/ws");
    let req = ClientRequest::new(&t, KEY, &[], &[long.as_str()]).unwrap();
    let seen = parse_request(&req.bytes).unwrap();
    assert!(seen.offers(&long));
    let answer = accept_response(&seen.key, Some(long.as_str()));
    assert_eq!(
        req.check_response(&answer).unwrap().as_deref(),
        Some(long.as_str())
    );
    // One character off at the end is still refused.
    let other = format!("{}y", &long[..149]);
    let wrong = accept_response(&seen.key, Some(other.as_str()));
    assert!(matches!(
        req.check_response(&wrong),
        Err(UpgradeError::UnofferedSubprotocol { .. })
    ));
}
