//! Node.js bindings for freya (napi-rs): the native addon `freya.node`.
//!
//! A thin shell over the root `freya` crate (DESIGN.md: bindings hold no logic of their own).
//! `index.js` loads the addon; `index.d.ts` describes it, including the fields of the error
//! [`parse_message`] throws.
//!
//! - [`parse_message`]: the header-preserving SIP message parser;
//! - [`numbers::validate_numbers`]: a campaign's phone list checked before dialing;
//! - [`stack::Stack`]: the running stack (originate, campaigns, call events), on the addon's
//!   one tokio runtime (napi's `tokio_rt`): Promises and events, never a blocking call.

use bytes::Bytes;
use freya::sip::message::{self, ParseError};
use napi::bindgen_prelude::{Buffer, Either, Null};
use napi::{Env, Error, Result, Status};
use napi_derive::napi;

pub mod numbers;
pub mod stack;

/// The `code` of every error thrown for a refused SIP message.
const PARSE_ERROR_CODE: &str = "ERR_SIP_PARSE";

/// A parsed SIP request or response.
///
/// Keeps the bytes it was parsed from; every accessor returns exactly what was received
/// (header names' case, spacing inside values, UTF-8 text), and `toBytes()` gives back the
/// received bytes unchanged.
#[napi]
pub struct Message {
    inner: message::Message,
}

#[napi]
impl Message {
    /// `true` for a request, `false` for a response.
    #[napi(getter)]
    pub fn is_request(&self) -> bool {
        self.inner.is_request()
    }

    /// The request method (`"INVITE"`, …), or `null` for a response.
    #[napi(getter)]
    pub fn method(&self) -> Option<String> {
        self.inner.method().map(str::to_owned)
    }

    /// The request-URI exactly as received, or `null` for a response.
    #[napi(getter)]
    pub fn request_uri(&self) -> Option<String> {
        self.inner.request_uri().map(str::to_owned)
    }

    /// The response status code (`200`, …), or `null` for a request.
    #[napi(getter)]
    pub fn status(&self) -> Option<u32> {
        self.inner.status_code().map(u32::from)
    }

    /// The response reason phrase exactly as received, or `null` for a request.
    #[napi(getter)]
    pub fn reason(&self) -> Option<String> {
        self.inner.reason_phrase().map(str::to_owned)
    }

    /// Every header in received order, as `[name, value]` pairs exactly as received.
    #[napi(getter)]
    pub fn headers(&self) -> Vec<(String, String)> {
        self.inner
            .headers()
            .map(|h| (h.name().to_owned(), h.value().to_owned()))
            .collect()
    }

    /// The value of the first header called `name` (case-insensitive; compact forms such as
    /// `"i"` for Call-ID are understood), or `null` when the message has no such header.
    #[napi]
    pub fn header(&self, name: String) -> Option<String> {
        self.inner.header(&name).map(|h| h.value().to_owned())
    }

    /// The message body (empty when there is none).
    #[napi(getter)]
    pub fn body(&self) -> Buffer {
        Buffer::from(self.inner.body().to_vec())
    }

    /// The message serialized: for a parsed, unedited message, exactly the bytes received.
    #[napi]
    pub fn to_bytes(&self) -> Buffer {
        Buffer::from(self.inner.to_bytes().to_vec())
    }
}

/// Parses one SIP message (request or response) from `buf`.
///
/// Throws an `Error` with `name` `"SipParseError"` and `code` `"ERR_SIP_PARSE"` when the message
/// is refused; it carries `kind`, `line`, `offset`, `offending` (hex), `offendingBytes`,
/// `header`, `detail` and `response` (the SIP response freya would send back, or `null`).
#[napi]
pub fn parse_message(env: Env, buf: Buffer) -> Result<Message> {
    let input = Bytes::copy_from_slice(&buf);
    match message::parse(input.clone()) {
        Ok(inner) => Ok(Message { inner }),
        Err(err) => Err(throw_parse_error(&env, &input, &err)),
    }
}

/// Throws the JS error for `err` and returns the Rust error that tells napi it is pending.
fn throw_parse_error(env: &Env, input: &[u8], err: &ParseError) -> Error {
    let thrown = build_js_error(env, input, err).and_then(|obj| env.throw(obj));
    match thrown {
        Ok(()) => Error::new(Status::PendingException, err.to_string()),
        Err(e) => e,
    }
}

/// The JS `Error` object for `err`, with the fields index.d.ts declares on `SipParseError`.
fn build_js_error<'env>(
    env: &'env Env,
    input: &[u8],
    err: &ParseError,
) -> Result<napi::bindgen_prelude::Object<'env>> {
    let mut obj = env.create_error(Error::new(Status::InvalidArg, err.to_string()))?;
    obj.set("name", "SipParseError")?;
    obj.set("code", PARSE_ERROR_CODE)?;
    obj.set("kind", err.kind().name())?;
    obj.set(
        "line",
        match err.line() {
            Some(line) => Either::A(line as f64),
            None => Either::B(Null),
        },
    )?;
    obj.set("offset", err.offset() as f64)?;
    obj.set("offending", err.offending_hex())?;
    obj.set("offendingBytes", Buffer::from(err.offending().to_vec()))?;
    obj.set("header", err.header().map(str::to_owned))?;
    obj.set("detail", err.detail())?;
    obj.set(
        "response",
        match message::error_response(input, err) {
            Some(response) => Either::A(Buffer::from(response.to_vec())),
            None => Either::B(Null),
        },
    )?;
    Ok(obj)
}
