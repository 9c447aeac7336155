"""freya: an embeddable SIP/RTP stack for voice-AI telephony.

This package is a thin shell over the Rust crate ``freya``. For now it exposes the
header-preserving SIP message parser::

    import freya

    msg = freya.parse_message(data)          # bytes in, freya.Message out
    msg.method, msg.headers, msg.header("Call-ID")
    assert msg.to_bytes() == data            # byte-exact

A refused message raises :class:`freya.SipParseError` (a ``ValueError``).
"""

from ._errors import SipParseError
from ._freya import Message, __version__, parse_message

__all__ = ["Message", "SipParseError", "parse_message", "__version__"]
