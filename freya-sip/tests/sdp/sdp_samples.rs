//! Real-world SDP bodies (addresses changed to documentation ranges).

/// A carrier trunk's INVITE offer (Twilio-style): PCMU, PCMA, telephone-event, ptime 20.
pub const CARRIER: &str = "v=0\r\n\
o=root 1391468434 1391468434 IN IP4 198.51.100.7\r\n\
s=Twilio Media Gateway\r\n\
c=IN IP4 198.51.100.7\r\n\
t=0 0\r\n\
m=audio 13950 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=maxptime:150\r\n\
a=sendrecv\r\n";

/// Asterisk 20 chan_pjsip's offer (allow=alaw,ulaw,gsm), with its session-level
/// attributes.
pub const ASTERISK: &str = "v=0\r\n\
o=- 1696512345 1696512347 IN IP4 203.0.113.20\r\n\
s=Asterisk\r\n\
c=IN IP4 203.0.113.20\r\n\
t=0 0\r\n\
m=audio 17232 RTP/AVP 8 0 3 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:3 GSM/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=maxptime:140\r\n\
a=sendrecv\r\n";

/// baresip 3.x: many codecs (opus, G722, L16), telephone-event at 48 kHz (PT 101) for opus
/// and at 8 kHz on another payload type (102), rtcp-mux, ssrc and label attributes, LF line
/// ends as some builds send.
pub const BARESIP: &str = "v=0\n\
o=- 2136185394 1683476370 IN IP4 192.0.2.77\n\
s=-\n\
c=IN IP4 192.0.2.77\n\
t=0 0\n\
m=audio 10814 RTP/AVP 96 9 97 0 8 101 102\n\
b=AS:128\n\
a=rtpmap:96 opus/48000/2\n\
a=fmtp:96 stereo=1;sprop-stereo=1;maxaveragebitrate=128000\n\
a=rtpmap:9 G722/8000\n\
a=rtpmap:97 L16/16000\n\
a=rtpmap:0 PCMU/8000\n\
a=rtpmap:8 PCMA/8000\n\
a=rtpmap:101 telephone-event/48000\n\
a=fmtp:101 0-15\n\
a=rtpmap:102 telephone-event/8000\n\
a=fmtp:102 0-15\n\
a=rtcp-mux\n\
a=label:1\n\
a=ssrc:3421394887 cname:ad27b7a8-43cc-4cbf-b6e3-c5bf86d6cb43\n\
a=sendrecv\n\
a=ptime:20\n";

/// A WebRTC-ish offer from a gateway bridging a browser with plain RTP/AVPF: BUNDLE, ICE,
/// DTLS fingerprint, extmap, msid, rtcp-fb, ssrc lines, a data channel — all unknown to
/// us and kept.
pub const WEBRTC_AVPF: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0 1\r\n\
a=extmap-allow-mixed\r\n\
a=msid-semantic: WMS 9a0f3c\r\n\
m=audio 50312 RTP/AVPF 111 63 9 0 8 13 110 126\r\n\
c=IN IP4 192.0.2.200\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=candidate:1467250027 1 udp 2122260223 192.0.2.200 50312 typ host generation 0\r\n\
a=ice-ufrag:8hhY\r\n\
a=ice-pwd:asd88fgpdd777uzjYhagZg\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 D1:2C:BE:AD:C4:F6:64:5C:25:16:11:9C:AF:E7:0F:73:79:36:4E:9C:1E:15:54:39:0C:06:8B:ED:96:86:00:39\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
a=sendrecv\r\n\
a=msid:9a0f3c 0b1a8d2e\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=rtcp-fb:111 transport-cc\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:63 red/48000/2\r\n\
a=fmtp:63 111/111\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:13 CN/8000\r\n\
a=rtpmap:110 telephone-event/48000\r\n\
a=rtpmap:126 telephone-event/8000\r\n\
a=ssrc:1001 cname:0Xk+Yd0\r\n\
m=application 50312 UDP/DTLS/SCTP webrtc-datachannel\r\n\
c=IN IP4 192.0.2.200\r\n\
a=mid:1\r\n\
a=sctp-port:5000\r\n";

/// The same browser offering DTLS-SRTP, which freya does not speak.
pub const WEBRTC_SAVPF: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8\r\n\
c=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:8hhY\r\n\
a=fingerprint:sha-256 D1:2C:BE:AD\r\n\
a=rtpmap:111 opus/48000/2\r\n";

/// A G.729-only offer (annexb=no), which freya cannot accept: 488.
pub const G729_ONLY: &str = "v=0\r\n\
o=- 20518 0 IN IP4 198.51.100.30\r\n\
s=SBC\r\n\
c=IN IP4 198.51.100.30\r\n\
t=0 0\r\n\
m=audio 20000 RTP/AVP 18 101\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n";

/// An IPv6 offer (RFC 5118-style), static payload types without rtpmap.
pub const IPV6: &str = "v=0\r\n\
o=bob 280744730 28977631 IN IP6 2001:db8::10\r\n\
s=-\r\n\
c=IN IP6 2001:db8::10\r\n\
t=0 0\r\n\
m=audio 22334 RTP/AVP 0 8\r\n";

/// The RFC 8866 §5 example, every session-level line type included.
pub const RFC8866: &str = "v=0\r\n\
o=jdoe 3724394400 3724394405 IN IP4 198.51.100.1\r\n\
s=Call to John Smith\r\n\
i=SDP Offer #1\r\n\
u=http://www.jdoe.example.com/home.html\r\n\
e=Jane Doe <jane@jdoe.example.com>\r\n\
p=+1 617 555-6011\r\n\
c=IN IP4 198.51.100.1\r\n\
b=CT:128\r\n\
t=0 0\r\n\
r=7d 1h 0 25h\r\n\
z=2882844526 -1h 2898848070 0\r\n\
k=clear:secret\r\n\
a=recvonly\r\n\
m=audio 49170 RTP/AVP 0\r\n\
i=voice\r\n\
b=AS:64\r\n\
m=audio 49180 RTP/AVP 0\r\n\
m=video 51372 RTP/AVP 99\r\n\
c=IN IP6 2001:db8::2\r\n\
a=rtpmap:99 h263-1998/90000\r\n";
