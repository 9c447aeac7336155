//! # freya
//!
//! The assembled stack (DESIGN.md: above [`freya_sip`] and [`freya_media`], below the
//! bindings and the server binary): one config ([`config`]), the dialplan ([`routing`]),
//! voice-agent slots ([`slots`]), outbound campaign pacing ([`campaign`]), and the one event
//! model ([`event`]). It also re-exports
//! the two layers so that hosts depend on one crate only.
//!
//! ```
//! let msg = freya::sip::message::parse(bytes::Bytes::from_static(
//!     b"BYE sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
//!       From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\n\
//!       Content-Length: 0\r\n\r\n",
//! )).unwrap();
//! assert_eq!(msg.method(), Some("BYE"));
//! ```

#![warn(missing_docs)]

pub mod api;
pub mod campaign;
pub mod config;
mod error;
pub mod event;
pub mod request;
pub mod routing;
pub mod slots;
pub mod stack;

pub use error::StackError;
pub use freya_media as media;
pub use freya_sip as sip;
