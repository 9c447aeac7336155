//! `sip-inspect`: reads raw SIP messages (files, or stdin) and prints one JSON line per
//! message: the verdict, the start line's parts, every header in order exactly as received,
//! the body length; on rejection the typed error. With `--response`, also the SIP response
//! freya would send back (RFC 3261 §8.2). Exits 1 when any message was rejected, 2 on a
//! usage or I/O error.
//!
//! ```text
//! sip-inspect [--response] [FILE…]      (no FILE, or "-": read one message from stdin)
//! ```

use std::io::{Read, Write};
use std::process::ExitCode;

use bytes::Bytes;
use freya::sip::message::{check_request, error_response, parse, response_to, Message, ParseError};
use serde_json::{json, Value};

const USAGE: &str = "usage: sip-inspect [--response] [FILE...]\n\
    Reads raw SIP messages (one per file; stdin when no FILE or FILE is '-') and prints one\n\
    JSON line per message. Exit status: 0 all accepted, 1 some rejected, 2 usage/I-O error.";

fn accepted(source: &str, m: &Message, with_response: bool) -> Value {
    let headers: Vec<Value> = m.headers().map(|h| json!([h.name(), h.value()])).collect();
    let mut v = json!({
        "source": source,
        "verdict": "accept",
        "type": if m.is_request() { "request" } else { "response" },
        "headers": headers,
        "body_length": m.body().len(),
    });
    if let Some(method) = m.method() {
        v["method"] = json!(method);
        v["request_uri"] = json!(m.request_uri());
    } else {
        v["status"] = json!(m.status_code());
        v["reason"] = json!(m.reason_phrase());
    }
    if m.trailing_octets() > 0 {
        v["trailing_octets"] = json!(m.trailing_octets());
    }
    if let Err(r) = check_request(m) {
        v["check"] = json!({"status": r.status, "reason": r.reason, "warning": r.warning});
        if with_response {
            let warning = format!("399 freya \"{}\"", r.warning.replace(['"', '\\'], "'"));
            let resp = response_to(m, r.status, r.reason, &[("Warning", &warning)]);
            v["response"] = json!(resp.map(|b| String::from_utf8_lossy(&b).into_owned()));
        }
    }
    v
}

fn rejected(source: &str, raw: &[u8], e: &ParseError, with_response: bool) -> Value {
    let mut v = json!({
        "source": source,
        "verdict": "reject",
        "error": {
            "kind": e.kind().name(),
            "line": e.line(),
            "offset": e.offset(),
            "header": e.header(),
            "offending": e.offending_hex(),
            "message": e.to_string(),
        },
    });
    if with_response {
        v["response"] =
            json!(error_response(raw, e).map(|b| String::from_utf8_lossy(&b).into_owned()));
    }
    v
}

fn main() -> ExitCode {
    let mut with_response = false;
    let mut files = Vec::new();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--response" => with_response = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            s if s.starts_with("--") => {
                eprintln!("sip-inspect: unknown option {s}\n{USAGE}");
                return ExitCode::from(2);
            }
            _ => files.push(a),
        }
    }
    if files.is_empty() {
        files.push("-".into());
    }
    let mut any_rejected = false;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for f in &files {
        let raw = if f == "-" {
            let mut buf = Vec::new();
            if let Err(e) = std::io::stdin().read_to_end(&mut buf) {
                eprintln!("sip-inspect: reading stdin: {e}");
                return ExitCode::from(2);
            }
            buf
        } else {
            match std::fs::read(f) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("sip-inspect: reading {f}: {e}");
                    return ExitCode::from(2);
                }
            }
        };
        let raw = Bytes::from(raw);
        let line = match parse(raw.clone()) {
            Ok(m) => accepted(f, &m, with_response),
            Err(e) => {
                any_rejected = true;
                rejected(f, &raw, &e, with_response)
            }
        };
        if writeln!(out, "{line}").is_err() {
            return ExitCode::from(2);
        }
    }
    if any_rejected {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
