"""Type stubs for the extension module ``freya._freya`` (built from freya-py/src/lib.rs)."""

from typing import List, Optional, Tuple, Union

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
