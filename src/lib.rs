//! # freya
//!
//! The assembled stack: it will wire [`freya_sip`] (signaling) and [`freya_media`] (media)
//! together from one config. For now it re-exports the two layers so that hosts (the Python
//! and Node bindings, the example programs) depend on one crate only, as DESIGN.md asks.
//!
//! ```
//! let msg = freya::sip::message::parse(bytes::Bytes::from_static(
//!     b"BYE sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
//!       From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\n\
//!       Content-Length: 0\r\n\r\n",
//! )).unwrap();
//! assert_eq!(msg.method(), Some("BYE"));
//! ```

pub use freya_media as media;
pub use freya_sip as sip;
