//! # freya-media
//!
//! freya's media layer (RTP/RTCP, relay, codecs, DTMF, jitter buffer, recording, WebSocket
//! media bridge). Independent of `freya-sip`: the root `freya` crate wires the two together.
