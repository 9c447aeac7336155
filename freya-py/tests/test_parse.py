"""Tests of freya.parse_message through the Python binding (freya-py)."""

from __future__ import annotations

import pickle
import random

import pytest

import freya

CRLF = b"\r\n"

SDP = (
    b"v=0\r\n"
    b"o=- 3868 3868 IN IP4 203.0.113.10\r\n"
    b"s=-\r\n"
    b"c=IN IP4 203.0.113.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 10000 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)

# The headers of a carrier INVITE, as (name, value) exactly as sent: odd name case,
# X- headers (ours and the carrier's), UTF-8 in display names and X- values.
INVITE_HEADERS = [
    ("Via", "SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK-524287-1---7f1d;rport"),
    ("Via", "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK776asdhds;received=198.51.100.7"),
    ("Max-Forwards", "69"),
    ("From", '"Zoë Çelik" <sip:+905321234567@carrier.example.com;user=phone>;tag=8a7f6c'),
    ("To", "<sip:+4930123456@trunk.example.net;user=phone>"),
    ("Call-ID", "4f3c2b1a-9e8d-4c7b-a6f5-e4d3c2b1a098@203.0.113.10"),
    ("CSeq", "102 INVITE"),
    ("Contact", "<sip:+905321234567@203.0.113.10:5060;transport=udp>"),
    ("P-Asserted-Identity", '"Zoë Çelik" <sip:+905321234567@carrier.example.com>'),
    ("x-carrier-trace", "abc   def  (inner spacing kept)"),
    ("X-Freya-Direction", "inbound"),
    ("X-Freya-Call-Id", "0b5e1c7e-3d2a-4f43-9c1e-5a8b7c6d5e4f"),
    ("X-Freya-Workflow-Id", "wf_onboarding-tr"),
    ("X-Customer-Name", "Şükrü Öztürk"),
    ("X-Note", "日本語のメモ ✓"),
    ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS"),
    ("Supported", "timer, replaces"),
    ("Content-Type", "application/sdp"),
    ("Content-Length", str(len(SDP))),
]
INVITE_URI = "sip:+4930123456@trunk.example.net;user=phone"


def build(start_line: str, headers, body: bytes = b"") -> bytes:
    head = start_line + "\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n"
    return head.encode("utf-8") + body


INVITE = build(f"INVITE {INVITE_URI} SIP/2.0", INVITE_HEADERS, SDP)

BYE_HEADERS = [
    ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9"),
    ("Max-Forwards", "70"),
    ("From", "<sip:alice@example.com>;tag=9fxced76sl"),
    ("To", "<sip:bob@example.net>;tag=8321234356"),
    ("Call-ID", "3848276298220188511@example.com"),
    ("CSeq", "2 BYE"),
    ("Content-Length", "0"),
]


def test_invite_round_trips_byte_exact():
    msg = freya.parse_message(INVITE)
    assert msg.to_bytes() == INVITE
    assert bytes(msg) == INVITE
    assert msg.is_request is True
    assert msg.method == "INVITE"
    assert msg.request_uri == INVITE_URI
    assert msg.status is None
    assert msg.reason is None
    assert msg.body == SDP


def test_invite_headers_are_exact_and_ordered():
    msg = freya.parse_message(INVITE)
    assert msg.headers == INVITE_HEADERS
    assert all(isinstance(pair, tuple) for pair in msg.headers)


def test_x_headers_and_utf8_values():
    msg = freya.parse_message(INVITE)
    assert msg.header("X-Freya-Direction") == "inbound"
    assert msg.header("x-freya-call-id") == "0b5e1c7e-3d2a-4f43-9c1e-5a8b7c6d5e4f"
    assert msg.header("X-FREYA-WORKFLOW-ID") == "wf_onboarding-tr"
    assert msg.header("X-Customer-Name") == "Şükrü Öztürk"
    assert msg.header("x-note") == "日本語のメモ ✓"
    assert msg.header("X-Carrier-Trace") == "abc   def  (inner spacing kept)"
    assert msg.header("From").startswith('"Zoë Çelik"')
    assert msg.header("X-Absent") is None


def test_first_of_repeated_headers():
    msg = freya.parse_message(INVITE)
    assert msg.header("via") == INVITE_HEADERS[0][1]
    assert [v for n, v in msg.headers if n == "Via"] == [INVITE_HEADERS[0][1], INVITE_HEADERS[1][1]]


def test_compact_forms():
    compact = build(
        "BYE sip:bob@192.0.2.4 SIP/2.0",
        [
            ("v", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnashds7"),
            ("f", "<sip:alice@example.com>;tag=1928301774"),
            ("t", "<sip:bob@example.net>;tag=a6c85cf"),
            ("i", "a84b4c76e66710@pc33.example.com"),
            ("CSeq", "314160 BYE"),
            ("m", "<sip:alice@192.0.2.1>"),
            ("l", "0"),
        ],
    )
    msg = freya.parse_message(compact)
    assert msg.to_bytes() == compact
    assert msg.header("Call-ID") == "a84b4c76e66710@pc33.example.com"
    assert msg.header("call-id") == "a84b4c76e66710@pc33.example.com"
    assert msg.header("From") == "<sip:alice@example.com>;tag=1928301774"
    assert msg.header("To") == "<sip:bob@example.net>;tag=a6c85cf"
    assert msg.header("Via") == "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnashds7"
    assert msg.header("Contact") == "<sip:alice@192.0.2.1>"
    assert msg.header("Content-Length") == "0"
    # names are reported as received: compact stays compact
    assert [n for n, _ in msg.headers] == ["v", "f", "t", "i", "CSeq", "m", "l"]
    # and the compact name finds the long form too
    full = freya.parse_message(INVITE)
    assert full.header("i") == "4f3c2b1a-9e8d-4c7b-a6f5-e4d3c2b1a098@203.0.113.10"
    assert full.header("I") == full.header("Call-ID")
    assert full.header("c") == "application/sdp"
    assert full.header("l") == str(len(SDP))


def test_response():
    data = build(
        "SIP/2.0 180 Ringing",
        [
            ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9;received=192.0.2.1"),
            ("From", "<sip:alice@example.com>;tag=9fxced76sl"),
            ("To", "<sip:bob@example.net>;tag=314159"),
            ("Call-ID", "3848276298220188511@example.com"),
            ("CSeq", "1 INVITE"),
            ("Content-Length", "0"),
        ],
    )
    msg = freya.parse_message(data)
    assert msg.is_request is False
    assert msg.status == 180
    assert msg.reason == "Ringing"
    assert msg.method is None
    assert msg.request_uri is None
    assert msg.body == b""
    assert msg.to_bytes() == data


def test_bytearray_input_and_type_errors():
    data = build("BYE sip:bob@example.net SIP/2.0", BYE_HEADERS)
    assert freya.parse_message(bytearray(data)).to_bytes() == data
    with pytest.raises(TypeError):
        freya.parse_message(data.decode())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        freya.parse_message(None)  # type: ignore[arg-type]


def test_repr_names_the_message():
    msg = freya.parse_message(INVITE)
    assert "INVITE" in repr(msg)


def test_turkish_dotted_i_in_header_name_is_a_typed_error():
    # The bug freya exists to not have: a header *name* with a non-ASCII letter must be
    # refused loudly, naming the line, the byte offset and the offending bytes.
    headers = list(BYE_HEADERS)
    headers.insert(5, ("X-İd", "1"))  # line 7: start line + 5 headers before it
    data = build("BYE sip:bob@example.net SIP/2.0", headers)
    with pytest.raises(freya.SipParseError) as info:
        freya.parse_message(data)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.kind == "invalid_header_name"
    assert err.line == 7
    assert err.offset == data.index("İ".encode())
    assert data[err.offset : err.offset + 2] == b"\xc4\xb0"
    assert err.offending == "c4b0"
    assert err.offending_bytes == b"\xc4\xb0"
    assert "c4b0" in str(err)
    assert err.header == "X-İd"
    assert err.detail and err.detail in str(err)
    # the essentials are readable, so a 400 with a Warning can go back
    assert err.response is not None
    assert err.response.startswith(b"SIP/2.0 400 ")
    head = err.response.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nWarning: " in head
    assert b"\r\nCall-ID: 3848276298220188511@example.com\r\n" in head
    # the fields survive pickling (multiprocessing, logging queues)
    again = pickle.loads(pickle.dumps(err))
    assert (again.kind, again.line, again.offset, again.offending, again.response) == (
        err.kind,
        err.line,
        err.offset,
        err.offending,
        err.response,
    )


def test_unsupported_version_gets_505():
    data = build("INVITE sip:bob@example.net SIP/7.0", BYE_HEADERS[:5] + [("CSeq", "1 INVITE"), ("Content-Length", "0")])
    with pytest.raises(freya.SipParseError) as info:
        freya.parse_message(data)
    err = info.value
    assert err.line == 1
    assert err.response is not None
    assert err.response.startswith(b"SIP/2.0 505 ")
    assert b"\r\nCall-ID: 3848276298220188511@example.com\r\n" in err.response


def test_a_response_that_is_refused_has_no_response():
    data = b"SIP/2.0 200 OK\r\nX-\xc4\xb0d: 1\r\nContent-Length: 0\r\n\r\n"
    with pytest.raises(freya.SipParseError) as info:
        freya.parse_message(data)
    assert info.value.kind == "invalid_header_name"
    assert info.value.response is None


@pytest.mark.parametrize("data", [b"", b"\r\n", b"INVITE", b"\x00\xff\xfe", b"SIP/2.0 999999 X\r\n\r\n"])
def test_garbage_raises_sip_parse_error(data):
    with pytest.raises(freya.SipParseError) as info:
        freya.parse_message(data)
    assert isinstance(info.value.kind, str) and info.value.kind


def test_mutated_messages_never_crash():
    rng = random.Random(4475)
    for _ in range(3000):
        data = bytearray(INVITE)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        cut = rng.randrange(len(data) + 1)
        try:
            msg = freya.parse_message(bytes(data[:cut]))
        except freya.SipParseError as err:
            assert err.kind and 0 <= err.offset <= cut
        else:
            assert msg.to_bytes() == bytes(data[:cut])


def test_folded_header_is_kept_byte_exact():
    data = (
        b"OPTIONS sip:carrier.example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKf0ld\r\n"
        b"From: <sip:alice@example.com>;tag=1\r\n"
        b"To: <sip:carrier.example.com>\r\n"
        b"Call-ID: fold-1@192.0.2.1\r\n"
        b"CSeq: 7 OPTIONS\r\n"
        b"Subject: I know you're there,\r\n"
        b"\tpick up the phone\r\n"
        b"Content-Length: 0\r\n"
        b"\r\n"
    )
    msg = freya.parse_message(data)
    assert msg.to_bytes() == data
    # the value is given exactly as received, fold included
    assert msg.header("subject") == "I know you're there,\r\n\tpick up the phone"
    assert msg.header("Content-Length") == "0"
