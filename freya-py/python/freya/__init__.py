"""freya: an embeddable SIP/RTP stack for voice-AI telephony.

This package is a thin shell over the Rust crate ``freya``. For now it exposes the
header-preserving SIP message parser::

    import freya

    msg = freya.parse_message(data)          # bytes in, freya.Message out
    msg.method, msg.headers, msg.header("Call-ID")
    assert msg.to_bytes() == data            # byte-exact

A refused message raises :class:`freya.SipParseError` (a ``ValueError``).

It also checks a campaign's phone list before dialing (E.164 normalisation; each refused
entry with its line and reason)::

    checked = freya.validate_numbers(
        ["+1 (415) 555-0100", "020 7183 8750", "+44 20 7183 8750"],
        default_country_code="44",
        allowed_prefixes=["+1", "+44"],
    )
    checked["valid"]     # ["+14155550100", "+442071838750"]
    checked["rejected"]  # [{"line": 3, "value": "+44 20 7183 8750", "kind": "duplicate",
                         #   "message": '"+442071838750" is already on line 2', "reason": {...}}]
"""

from ._errors import SipParseError
from ._freya import Message, __version__, parse_message, validate_numbers
from ._numbers import NumberList, RejectedNumber

__all__ = [
    "Message",
    "NumberList",
    "RejectedNumber",
    "SipParseError",
    "parse_message",
    "validate_numbers",
    "__version__",
]
