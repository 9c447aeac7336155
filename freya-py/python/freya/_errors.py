"""Exceptions raised by freya."""

from __future__ import annotations

from typing import Optional

__all__ = ["SipParseError"]


class SipParseError(ValueError):
    """A SIP message was refused by the parser.

    ``str(err)`` is the parser's message. The attributes carry the same fields as the Rust
    ``freya::sip::message::ParseError``:

    - ``kind``: the error kind, e.g. ``"invalid_header_name"``;
    - ``line``: the 1-based line the error is on, or ``None``;
    - ``offset``: the byte offset of the offending bytes in the input;
    - ``offending``: the offending bytes as lowercase hex (``"c4b0"``);
    - ``offending_bytes``: the offending bytes themselves;
    - ``header``: the name of the header at fault, or ``None``;
    - ``detail``: what the grammar expected, in words (the message without the location);
    - ``response``: the SIP response a server should send back (400 with a ``Warning``,
      505 for an unsupported version, ...) as bytes, or ``None`` when none can be built
      (a response, or a request whose essentials are unreadable).
    """

    kind: str
    line: Optional[int]
    offset: int
    offending: str
    offending_bytes: bytes
    header: Optional[str]
    detail: str
    response: Optional[bytes]

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        line: Optional[int] = None,
        offset: int = 0,
        offending: str = "",
        offending_bytes: bytes = b"",
        header: Optional[str] = None,
        detail: str = "",
        response: Optional[bytes] = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.line = line
        self.offset = offset
        self.offending = offending
        self.offending_bytes = offending_bytes
        self.header = header
        self.detail = detail
        self.response = response

    def __reduce__(self):  # keep the fields when pickled (e.g. across multiprocessing)
        return (
            _rebuild,
            (
                str(self),
                self.kind,
                self.line,
                self.offset,
                self.offending,
                self.offending_bytes,
                self.header,
                self.detail,
                self.response,
            ),
        )


def _rebuild(message, kind, line, offset, offending, offending_bytes, header, detail, response):
    return SipParseError(
        message,
        kind=kind,
        line=line,
        offset=offset,
        offending=offending,
        offending_bytes=offending_bytes,
        header=header,
        detail=detail,
        response=response,
    )
