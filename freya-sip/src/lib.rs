//! # freya-sip
//!
//! freya's signaling layer (DESIGN.md: below the root `freya` crate, beside `freya-media`):
//! - [`message`]: the header-preserving zero-copy SIP message parser and editor (RFC 3261 §7,
//!   §25), its error responses (§8.2) and TCP framing (§18.3);
//! - [`sdp`]: SDP parse/serialize (RFC 8866) and audio offer/answer (RFC 3264);
//! - [`transaction`]: the RFC 3261 §17 transaction state machines, sans-IO;
//! - [`dialog`]: dialogs and calls on top of the transactions (RFC 3261 §12–§15, RFC 4028
//!   session timers, Q.850 causes), sans-IO;
//! - [`transport`]: the tokio shell — UDP and TCP sockets (RFC 3261 §18, RFC 3581) and a
//!   driver that runs the transaction layer on them;
//! - [`auth`]: digest authentication (RFC 7616, RFC 3261 §22) and outbound registration;
//! - [`ua`]: the async user agent — incoming calls, originate, trunks and endpoints.
//!
//! The B2BUA builds on these.

#![warn(missing_docs)]

pub mod auth;
pub mod dialog;
pub mod message;
pub mod sdp;
pub mod transaction;
pub mod transport;
pub mod ua;

#[cfg(test)]
mod testkit;
