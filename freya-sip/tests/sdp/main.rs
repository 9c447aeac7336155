//! SDP tests: parsing and serialising real-world bodies (`sdp_parse`), RFC 3264 offer/answer
//! rules (`sdp_offer_answer`), and property tests (`sdp_proptest`). Every test path starts
//! with `sdp_`, so `cargo test -p freya-sip sdp` runs them all.

mod sdp_offer_answer;
mod sdp_parse;
mod sdp_proptest;
mod sdp_samples;
