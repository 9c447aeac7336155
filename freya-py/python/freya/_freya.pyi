"""Type stubs for the extension module ``freya._freya`` (built from freya-py/src/lib.rs)."""

import asyncio
from typing import Any, Callable, List, Optional, Tuple, Union

from ._numbers import NumberList
from ._stack import (
    CallEvent,
    CallSummary,
    CampaignInfo,
    CampaignRequest,
    EventStream,
    DtmfRequest,
    HostCallMetadata,
    HostCallStream,
    HostInput,
    OriginateRequest,
    TransferRequest,
)

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

class Stack:
    """The running SIP/RTP stack: SIP, the RTP port range and the built-in agents bound,
    taking calls. Made by ``await Stack.start(...)`` (the class cannot be instantiated).

    It runs on the module's own tokio runtime: async methods return ``asyncio.Future``s of
    the running loop (``RuntimeError`` outside one; cancelling one does not cancel the
    operation), events reach ``on_event`` callbacks and ``events()`` iterators on the loop,
    and the GIL is released while the stack works. Requests, results and events are the
    dicts of the control API's JSON (snake_case keys). Errors are :class:`freya.StackError`
    (``code`` per Rust variant); a request dict that does not deserialize (unknown key,
    wrong type, missing key) is a ``TypeError`` whose message names the key or the value.
    """

    @staticmethod
    def start(config_toml: Optional[str] = None) -> asyncio.Future[Stack]:
        """Starts a stack on ``config_toml`` (the TOML of ``freya-stack``'s config file;
        ``None``: the embedded default config, SIP on 127.0.0.1:5060); resolves once SIP,
        RTP and the built-in agents are bound.

        Raises ``StackError`` ``ERR_FREYA_CONFIG`` (the message names the key),
        ``ERR_FREYA_SIP`` (SIP cannot bind) or ``ERR_FREYA_IO`` (an agent cannot listen).
        """
    @property
    def sip_address(self) -> str:
        """Where SIP listens, ``"host:port"`` (``"127.0.0.1:5060"``)."""
    def on_event(self, callback: Callable[[CallEvent], Any]) -> None:
        """Calls ``callback(event)`` with every call event from now on, in order, on the
        asyncio loop running now (``loop.call_soon_threadsafe``). After ``shutdown()`` the
        queued events are delivered and the callback released.

        Raises ``TypeError`` (not callable), ``StackError`` ``ERR_FREYA_CLOSED`` (after
        ``shutdown()``), ``RuntimeError`` (no running loop).
        """
    def events(self, max_queued: int = 4096) -> EventStream:
        """An async iterator of every call event from now on, in order; it ends once the
        stack has shut down and the queued events are read. At most ``max_queued`` events
        wait to be read: past that the oldest is dropped, counted in the stream's
        ``dropped`` and logged on the ``"freya"`` logger.

        Raises ``ValueError`` (``max_queued`` below 1), ``StackError`` ``ERR_FREYA_CLOSED``
        (after ``shutdown()``), ``RuntimeError`` (no running loop).
        """
    def originate(self, req: OriginateRequest) -> asyncio.Future[str]:
        """Places an outbound call; resolves with its call id (a UUID) once the INVITE is on
        its way. Progress, answer and the end come as events.

        Raises ``TypeError`` at once for a bad request; when awaited, ``StackError``
        ``ERR_FREYA_BUSY`` (no idle agent slot), ``ERR_FREYA_SIP`` (target or header
        refused), ``ERR_FREYA_MEDIA`` (no RTP port), ``ERR_FREYA_DRAINING``,
        ``ERR_FREYA_CONFIG`` (no such agent pool).
        """
    def host_calls(self, pool: str) -> HostCallStream:
        """Takes the calls of host pool ``pool`` (``mode = "host"``): an async iterator of
        :class:`HostCall`, each with the caller's audio as bytes of 16-bit PCM at the pool's
        ``sample_rate``. Ends at shutdown. Without a taker, the pool's calls fail as an
        unreachable agent's (503).

        Raises ``StackError`` ``ERR_FREYA_CONFIG`` (no such pool, not a host pool, already
        taken), ``ERR_FREYA_CLOSED`` (after ``shutdown()``).
        """
    def transfer(self, call_id: str, req: TransferRequest) -> asyncio.Future[str]:
        """Transfers an answered agent call by REFER (a blind transfer, RFC 3515): the
        call's SIP peer calls ``req["to"]`` itself. Resolves with the target URI once the
        REFER is sent; the outcome comes as ``transfer`` events (``succeeded``: the call is
        hung up; ``refused``/``failed``: it stays with its agent).

        Raises ``TypeError`` at once for a bad request; when awaited, ``StackError``
        ``ERR_FREYA_NO_SUCH_CALL``, ``ERR_FREYA_TRANSFER`` (not answered, not an agent
        call, one in progress), ``ERR_FREYA_CLOSED``, or ``ValueError`` (a target that is
        neither a number nor a URI).
        """
    def send_dtmf(self, call_id: str, req: DtmfRequest) -> asyncio.Future[None]:
        """Sends keys toward an answered agent call's SIP peer (an IVR): RFC 4733 events in
        the call's RTP, or SIP INFO on a ``dtmf_mode = "info"`` trunk; resolves once they
        are queued (RFC 4733) or sent (INFO).

        Raises ``TypeError`` at once for a bad request; when awaited, ``ValueError`` (bad
        digits or duration), ``StackError`` ``ERR_FREYA_NO_SUCH_CALL``, ``ERR_FREYA_DTMF``
        (not answered, not an agent call, no telephone-event agreed), ``ERR_FREYA_CLOSED``.
        """
    def calls(self) -> List[CallSummary]:
        """The calls alive now."""
    def hangup(self, call_id: str, q850_cause: Optional[int] = None) -> None:
        """Hangs up a live call (CANCEL before an answer of an originated call, a rejection
        of an unanswered inbound one, BYE after) with ``Reason: Q.850;cause=N``
        (``q850_cause``, default 16 normal clearing); its ``hangup`` event follows.

        Raises ``StackError`` ``ERR_FREYA_NO_SUCH_CALL`` (unknown or ended call),
        ``ValueError`` (a cause outside 1..=127), ``TypeError`` (a cause not an ``int``).
        """
    def start_campaign(self, req: CampaignRequest) -> CampaignInfo:
        """Starts an outbound campaign and returns it. The list is checked first: one
        refused entry refuses the campaign whole (unless ``skip_invalid``), nothing dialed.

        Raises ``StackError`` ``ERR_FREYA_CAMPAIGN`` with ``kind`` ``"invalid_numbers"``
        (and ``rejected``, ``total``), ``"empty_list"``, ``"pacing"`` or ``"unknown"``;
        ``ERR_FREYA_DRAINING``; ``TypeError`` for a bad request.
        """
    def campaigns(self) -> List[CampaignInfo]:
        """The campaigns kept, by id: every running or paused one and the last
        ``[control] keep_ended_campaigns`` ended ones."""
    def campaign(self, campaign_id: str) -> CampaignInfo:
        """One campaign. Raises ``StackError`` ``ERR_FREYA_CAMPAIGN`` (``kind``
        ``"no_such_campaign"``)."""
    def pause_campaign(self, campaign_id: str) -> None:
        """Stops a campaign dialing (its calls up go on) until ``resume_campaign``.
        Raises ``StackError`` ``ERR_FREYA_CAMPAIGN`` (``kind`` ``"no_such_campaign"`` or
        ``"ended"``)."""
    def resume_campaign(self, campaign_id: str) -> None:
        """Dials again, after ``pause_campaign`` or the wrong-prefix breaker. Raises
        ``StackError`` ``ERR_FREYA_CAMPAIGN`` (``kind`` ``"no_such_campaign"`` or
        ``"ended"``)."""
    def cancel_campaign(self, campaign_id: str) -> None:
        """Ends a campaign: nothing more is dialed; it is ``cancelled`` once its calls end.
        Raises ``StackError`` ``ERR_FREYA_CAMPAIGN`` (``kind`` ``"no_such_campaign"`` or
        ``"ended"``)."""
    def drain(self, grace_ms: int) -> asyncio.Future[int]:
        """A graceful stop: new calls are refused from now on (inbound 503, originate
        ``ERR_FREYA_DRAINING``), running campaigns pause (reason ``"the stack is draining
        for a shutdown"``); live calls may go on for up to ``grace_ms`` milliseconds,
        then those still up are hung up with Q.850 cause 41. Resolves with how many were
        hung up. Call ``shutdown()`` afterwards."""
    def shutdown(self) -> asyncio.Future[None]:
        """Stops the stack: campaigns are cancelled, the calls still up hung up with Q.850
        cause 41 (call ``drain()`` first to give them time), the built-in agents stop
        listening and the SIP sockets are closed (every port is free again); then the queued
        events go to the ``on_event`` callbacks and ``events()`` iterators (which end), and
        they are released. Later requests raise ``StackError`` ``ERR_FREYA_CLOSED``."""


class HostCall:
    """One call of a host pool, taken by this process (``Stack.host_calls``)."""

    @property
    def call_id(self) -> str:
        """The call's freya UUID (the ``call_id`` of its events)."""
    @property
    def sample_rate(self) -> int:
        """The audio's sample rate both ways, in Hz (the pool's ``sample_rate``)."""
    @property
    def metadata(self) -> HostCallMetadata:
        """Direction, caller, callee, workflow id and the INVITE's X- headers."""
    def recv(self) -> asyncio.Future[Optional[HostInput]]:
        """The next thing from the caller: 20 ms of audio (bytes of 16-bit little-endian PCM)
        or a key press; ``None`` once the call has ended. One reader at a time."""
    def send_audio(self, audio: bytes) -> asyncio.Future[None]:
        """Queues 16-bit little-endian PCM at ``sample_rate`` for the caller, played out at
        real time from a bounded queue. ``ValueError`` at once for an odd byte count;
        ``StackError`` ``ERR_FREYA_NO_SUCH_CALL`` when awaited after the call ended."""
    def clear(self) -> asyncio.Future[None]:
        """Barge-in: drops the audio queued for the caller at once."""
    def hangup(self) -> asyncio.Future[None]:
        """Ends the call from the agent's side (``hangup_by: "agent"``)."""
    def send_dtmf(self, digits: str, duration_ms: int = 100) -> asyncio.Future[None]:
        """Sends keys (``0-9 * # A-D``, each held ``duration_ms``, 40-2000) toward the
        caller's side, as ``Stack.send_dtmf``: RFC 4733 in the call's RTP, or SIP INFO."""
    def transfer(self, to: str) -> asyncio.Future[str]:
        """Transfers the call by REFER to ``to`` (a number or a sip:/sips:/tel: URI), as
        ``Stack.transfer``; resolves with the target URI once the REFER is sent. The
        outcome comes as ``transfer`` events; on ``succeeded`` the call ends."""


class HostCalls:
    """The Rust half of :class:`freya._stack.HostCallStream` (iterate that instead)."""

    @property
    def pool(self) -> str:
        """The pool whose calls these are."""
    def next(self) -> asyncio.Future[Optional[HostCall]]:
        """The next call, or ``None`` once the stack has shut down."""
