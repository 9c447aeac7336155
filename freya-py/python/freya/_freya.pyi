"""Type stubs for the extension module ``freya._freya`` (built from freya-py/src/lib.rs)."""

from typing import List, Optional, Tuple, Union

from ._numbers import NumberList

__version__: str

class Message:
    """A parsed SIP request or response; keeps the bytes it was parsed from."""

    @property
    def is_request(self) -> bool:
        """``True`` for a request, ``False`` for a response."""
    @property
    def method(self) -> Optional[str]:
        """The request method (``"INVITE"``, ...), or ``None`` for a response."""
    @property
    def request_uri(self) -> Optional[str]:
        """The request-URI exactly as received, or ``None`` for a response."""
    @property
    def status(self) -> Optional[int]:
        """The response status code, or ``None`` for a request."""
    @property
    def reason(self) -> Optional[str]:
        """The response reason phrase exactly as received, or ``None`` for a request."""
    @property
    def headers(self) -> List[Tuple[str, str]]:
        """Every header in received order, as ``(name, value)`` pairs exactly as received."""
    @property
    def body(self) -> bytes:
        """The message body (empty when there is none)."""
    def header(self, name: str) -> Optional[str]:
        """The first value of header ``name`` (case-insensitive, compact forms understood)."""
    def to_bytes(self) -> bytes:
        """The message serialized: for an unedited message, exactly the bytes received."""
    def __bytes__(self) -> bytes: ...

def parse_message(data: Union[bytes, bytearray]) -> Message:
    """Parses one SIP message; raises ``freya.SipParseError`` when it is refused."""

def validate_numbers(
    numbers: List[str],
    *,
    default_country_code: Optional[str] = None,
    allowed_prefixes: Optional[List[str]] = None,
) -> NumberList:
    """Checks a campaign's phone list before dialing.

    Each entry is normalised to E.164 (``"+1 (415) 555-0100"`` -> ``"+14155550100"``, ``00``
    -> ``+``, a national number completed with ``default_country_code``, e.g. ``"44"``) or
    kept as a SIP URI. Entries that cannot be dialed as written (letters, duplicates, numbers
    outside ``allowed_prefixes`` such as ``["+1415", "+44"]``, ...) are returned in
    ``"rejected"`` with their 1-based line, ``kind``, ``message`` and ``reason``. A bad rule
    refuses every entry with kind ``"bad_rule"``; raises ``TypeError`` only when ``numbers``
    or ``allowed_prefixes`` is not a sequence of ``str``.
    """
