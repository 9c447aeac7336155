"""freya: an embeddable SIP/RTP stack for voice-AI telephony.

This package is a thin shell over the Rust crate ``freya``. It exposes the
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

And the running stack itself (the same engine as ``freya-stack``, in the Python process, on
a tokio runtime of its own: nothing blocks the asyncio loop). Requests, results and call
events are dicts, the same JSON as the control API and the Node binding::

    stack = await freya.Stack.start(config_toml)        # None: the embedded default config
    stack.on_event(lambda ev: print(ev["event"], ev["call_id"], ev.get("q850_text")))
    call_id = await stack.originate({"to": "sip:bob@127.0.0.1:5070", "caller_id": "+4930123"})
    c = stack.start_campaign({"numbers": ["+14155550100", "+14155550101"],
                              "trunk": "carrier", "calls_per_second": 2})
    stack.campaign(c["campaign_id"])["numbers"]  # each number's call_id, outcome, sip_code, ...
    await stack.transfer(call_id, {"to": "+14155550199"})  # REFER; `transfer` events follow
    stack.hangup(call_id, 16)
    await stack.drain(5000)                      # refuse new calls; hang up the rest after 5 s
    await stack.shutdown()                       # `async for ev in stack.events()` loops end

A program that is itself the voice agent takes a ``mode = "host"`` pool's calls in-process,
with the caller's audio as PCM bytes (no WebSocket)::

    async def serve(call: freya.HostCall) -> None:      # one call: here, an echo
        call.metadata["caller"], call.sample_rate        # "+14155550100", 16000
        while (got := await call.recv()) is not None:    # {"event": "audio", "audio": b"..."}
            if got["event"] == "audio":                  # or {"event": "dtmf", "digit": "5", ...}
                await call.send_audio(got["audio"])      # paced out to the caller at real time
        # call.clear() for barge-in, call.hangup() to end the call

    async for call in stack.host_calls("inproc"):        # a HostCall per call, until shutdown
        asyncio.create_task(serve(call))

A failed operation raises :class:`freya.StackError` (``.code`` such as
``"ERR_FREYA_NO_SUCH_CALL"``; a refused campaign list also ``.kind`` and ``.rejected``);
a request dict that does not deserialize raises ``TypeError`` naming the key.
"""

from ._errors import SipParseError, StackError
from ._freya import HostCall, Message, Stack, __version__, parse_message, validate_numbers
from ._numbers import NumberList, RejectedNumber
from . import _stack  # noqa: F401  (registers the stacks' exit hook)

__all__ = [
    "HostCall",
    "Message",
    "NumberList",
    "RejectedNumber",
    "SipParseError",
    "Stack",
    "StackError",
    "parse_message",
    "validate_numbers",
    "__version__",
]
