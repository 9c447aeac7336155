//! # freya-sip
//!
//! freya's signaling layer. Today: [`message`], the header-preserving zero-copy SIP message
//! parser and editor (RFC 3261 §7, §25), its error responses (§8.2) and TCP framing (§18.3).
//! Transactions, dialogs, SDP, transport, UA and B2BUA build on it.

#![warn(missing_docs)]

pub mod message;
