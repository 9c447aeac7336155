//! `sip-inspect` against the RFC 4475 corpus: it exits 0 exactly when the manifest's verdict
//! is `accept`, and its JSON line says the same.

use std::path::PathBuf;
use std::process::Command;

fn corpus_dir() -> PathBuf {
    match std::env::var("FREYA_CORPUS_DIR") {
        Ok(d) => PathBuf::from(d).join("rfc4475"),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/rfc4475"),
    }
}

fn inspect(args: &[&str]) -> (i32, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_sip-inspect"))
        .args(args)
        .output()
        .expect("run sip-inspect");
    let line = String::from_utf8(out.stdout).expect("utf-8 output");
    let v = serde_json::from_str(line.lines().next().unwrap_or("null")).expect("one JSON line");
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn exit_status_follows_the_manifest() {
    let dir = corpus_dir();
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).expect("manifest");
    let mut n = 0;
    for row in manifest.lines().skip(1).filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = row.split('\t').collect();
        let (file, verdict) = (cols[0], cols[2]);
        let path = dir.join(file);
        let (code, v) = inspect(&["--response", path.to_str().unwrap()]);
        assert_eq!(
            code == 0,
            verdict == "accept",
            "{file}: exit {code}, manifest {verdict}"
        );
        assert_eq!(v["verdict"], verdict, "{file}");
        if verdict == "reject" {
            assert!(v["error"]["kind"].is_string(), "{file}");
            assert!(v["error"]["offset"].is_u64(), "{file}");
        }
        n += 1;
    }
    assert!(n >= 50);
}

#[test]
fn headers_are_listed_exactly() {
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/invite.sip");
    let (code, v) = inspect(&[sample.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(v["method"], "INVITE");
    let headers = v["headers"].as_array().unwrap();
    assert!(headers
        .iter()
        .any(|h| h[0] == "X-Customer-Name" && h[1] == "\u{15e}\u{fc}kr\u{fc} \u{c7}a\u{11f}lar"));
    assert_eq!(headers[0][0], "Via");
    let raw = std::fs::read(&sample).unwrap();
    let body_len = v["body_length"].as_u64().unwrap() as usize;
    assert!(raw.ends_with(b"a=sendrecv\r\n") && body_len > 200);
}

#[test]
fn turkish_dotted_i_is_named_with_its_bytes() {
    let dir = std::env::temp_dir().join(format!("sip-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("idot.sip");
    std::fs::write(
        &f,
        "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:c@d>;tag=1\r\n\
         To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nX-\u{130}D: 7\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    let (code, v) = inspect(&["--response", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(v["error"]["kind"], "invalid_header_name");
    assert_eq!(v["error"]["line"], 7);
    assert_eq!(v["error"]["offending"], "c4b0");
    assert!(v["response"]
        .as_str()
        .unwrap()
        .starts_with("SIP/2.0 400 Bad Request\r\n"));
}
