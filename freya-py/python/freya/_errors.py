"""Exceptions raised by freya."""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional

if TYPE_CHECKING:
    from ._numbers import RejectedNumber

__all__ = ["SipParseError", "StackError"]


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


class StackError(Exception):
    """A :class:`freya.Stack` operation failed (the Rust ``freya::StackError``).

    ``str(err)`` is the Rust error's message, naming the offending value. The attributes
    are the Node binding's error fields:

    - ``code``: which Rust variant, one of ``"ERR_FREYA_CONFIG"`` (an invalid config; the
      message names the key), ``"ERR_FREYA_SIP"`` (SIP cannot bind, a target or header
      refused), ``"ERR_FREYA_IO"`` (a built-in agent cannot listen, a file cannot be read),
      ``"ERR_FREYA_BUSY"`` (every slot of the agent pool is busy), ``"ERR_FREYA_MEDIA"`` (no
      free RTP port), ``"ERR_FREYA_CLOSED"`` (the stack has shut down),
      ``"ERR_FREYA_DRAINING"`` (the stack takes no new calls), ``"ERR_FREYA_CAMPAIGN"`` (a
      campaign refused or not found, see ``kind``), ``"ERR_FREYA_NO_SUCH_CALL"``,
      ``"ERR_FREYA_TRANSFER"`` (the call is not answered, not an agent's, or already being
      transferred), ``"ERR_FREYA_DTMF"`` (keys cannot be sent: not answered, not an agent's,
      no telephone-event agreed);
    - ``kind``: for ``ERR_FREYA_CAMPAIGN`` only (else ``None``): ``"invalid_numbers"`` (a
      refused list, see ``rejected``), ``"empty_list"``, ``"pacing"`` (a bad pace setting),
      ``"unknown"`` (no such trunk or agent pool), ``"no_such_campaign"``, ``"ended"`` (a
      finished or cancelled campaign cannot be paused or resumed);
    - ``rejected``: for kind ``"invalid_numbers"`` only (else ``None``): every refused entry
      of the list, in list order, as :func:`freya.validate_numbers` gives them (``line``,
      ``value``, ``kind``, ``message``, ``reason``);
    - ``total``: for kind ``"invalid_numbers"`` only (else ``None``): the entries in the list.
    """

    code: str
    kind: Optional[str]
    rejected: Optional[List[RejectedNumber]]
    total: Optional[int]

    def __init__(
        self,
        message: str,
        *,
        code: str,
        kind: Optional[str] = None,
        rejected: Optional[List[RejectedNumber]] = None,
        total: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.kind = kind
        self.rejected = rejected
        self.total = total

    def __reduce__(self):  # keep the fields when pickled (e.g. across multiprocessing)
        return (_rebuild_stack_error, (str(self), self.code, self.kind, self.rejected, self.total))


def _rebuild_stack_error(message, code, kind, rejected, total):
    return StackError(message, code=code, kind=kind, rejected=rejected, total=total)
