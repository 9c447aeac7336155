"""The pure-Python part of :class:`freya.Stack` (freya-py/src/stack.rs).

- ``_settle``: how the Rust side hands an async method's outcome to its ``asyncio.Future``
  (scheduled on the future's loop with ``loop.call_soon_threadsafe``);
- :class:`EventStream`: what ``Stack.events()`` returns, an async iterator over an
  ``asyncio.Queue`` that the Rust event forwarder fills;
- ``TypedDict`` declarations of the dicts the stack takes and gives, for type checkers: the
  serde JSON of the Rust types, the same objects as the Node binding's (freya-node/stack.d.ts)
  and the control API's JSON.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
from typing import Any, List, Literal, Optional, Tuple, TypedDict, Union

from . import _freya
from ._numbers import RejectedNumber

# Before the interpreter finalizes, the stacks' tokio threads stop entering it (and those
# inside are waited for): a thread still inside at finalization crashes the process.
atexit.register(_freya._at_exit)

__all__ = [
    "AgentMediaStats",
    "AnsweredEvent",
    "BreakerConfig",
    "CallEvent",
    "CallMediaStats",
    "CallSummary",
    "CampaignEvent",
    "CampaignInfo",
    "CampaignNumberRules",
    "CampaignRequest",
    "DtmfEvent",
    "DtmfRequest",
    "EventStream",
    "HangupEvent",
    "HostAudio",
    "HostCallMetadata",
    "HostCallStream",
    "HostDtmf",
    "HostInput",
    "HoldEvent",
    "NumberResult",
    "OriginateRequest",
    "RingingEvent",
    "RtpDrops",
    "RtpLegStats",
    "SlotFreedEvent",
    "SlotTakenEvent",
    "StartedEvent",
    "TransferEvent",
    "TransferRequest",
]


def _settle(future: asyncio.Future, error: Optional[BaseException], value: Any) -> None:
    """Settles ``future`` with ``error`` (when not ``None``) or ``value``; does nothing when
    it is already done (cancelled by its awaiter). Runs on the future's loop."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


_END = object()


class EventStream:
    """The call events of a :class:`freya.Stack` from the moment ``stack.events()`` was
    called, in order, as an async iterator: ``async for event in stack.events(): ...``.

    Each event is a :data:`CallEvent` dict. The iteration ends once the stack has shut down
    and the events queued before are read. At most ``max_queued`` events wait to be read:
    past that the oldest is dropped to make room, counted in :attr:`dropped` and logged as
    a warning on the ``"freya"`` logger (once as the queue overflows, then every 1,000th),
    so a stream nobody reads costs bounded memory. Made by ``Stack.events()`` only, while an
    asyncio loop runs.
    """

    #: How many events were dropped, unread, to keep the queue at ``max_queued``.
    dropped: int
    #: The most events that wait to be read.
    max_queued: int

    def __init__(self, max_queued: int = 4096) -> None:
        self._queue: asyncio.Queue = asyncio.Queue()
        self._ended = False
        self.max_queued = max_queued
        self.dropped = 0
        self._overflowing = False

    def _push(self, event: CallEvent) -> None:
        # Called on the loop by the Rust forwarder (call_soon_threadsafe), in event order.
        if self._queue.qsize() >= self.max_queued:
            self._queue.get_nowait()
            self.dropped += 1
            if not self._overflowing or self.dropped % 1000 == 0:
                logging.getLogger("freya").warning(
                    "freya: events(): the stream is not read: oldest events dropped to keep "
                    "%d queued (%d dropped so far)",
                    self.max_queued,
                    self.dropped,
                )
            self._overflowing = True
        else:
            self._overflowing = False
        self._queue.put_nowait(event)

    def _close(self) -> None:
        # Called on the loop after the last event, once the stack has shut down.
        self._queue.put_nowait(_END)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> CallEvent:
        if self._ended:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _END:
            self._ended = True
            raise StopAsyncIteration
        return item


class HostCallStream:
    """The calls of a ``mode = "host"`` pool, taken by this process, as an async iterator:
    ``async for call in stack.host_calls("inproc"): ...``. Each is a ``freya.HostCall``: its
    ``call_id``, ``metadata`` (:class:`HostCallMetadata`) and ``sample_rate``; ``await
    call.recv()`` gives the caller's audio (:class:`HostAudio`: bytes of 16-bit little-endian
    PCM, 20 ms at ``sample_rate``) and key presses (:class:`HostDtmf`), ``None`` at the end;
    ``await call.send_audio(pcm)``, ``await call.clear()`` (barge-in) and ``await
    call.hangup()`` act toward the caller. The iteration ends when the stack shuts down.
    Made by ``Stack.host_calls()`` only.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @property
    def pool(self) -> str:
        """The pool whose calls these are."""
        return self._inner.pool

    def __aiter__(self) -> HostCallStream:
        return self

    async def __anext__(self) -> Any:
        call = await self._inner.next()
        if call is None:
            raise StopAsyncIteration
        return call


class HostCallMetadata(TypedDict):
    """A host call's ``metadata``: who calls whom, why, and the INVITE's X- headers."""

    call_id: str
    direction: Literal["inbound", "outbound"]
    caller: str
    callee: str
    workflow_id: Optional[str]
    headers: List[Tuple[str, str]]
    """Every X- header, name and value as received, in order."""


class HostAudio(TypedDict):
    """Caller audio: 20 ms of 16-bit little-endian mono PCM at the call's ``sample_rate``."""

    event: Literal["audio"]
    audio: bytes


class HostDtmf(TypedDict):
    """A key the caller pressed (RFC 4733 or SIP INFO), and how long, in ms."""

    event: Literal["dtmf"]
    digit: str
    duration_ms: int


HostInput = Union[HostAudio, HostDtmf]
"""What ``HostCall.recv()`` resolves with (``None`` once the call has ended)."""


# --- requests -----------------------------------------------------------------------------


class _OriginateTo(TypedDict):
    to: str
    """A number (sent through ``trunk``) or a SIP URI."""


class _DtmfDigits(TypedDict):
    digits: str
    """1 to 32 keys: ``0``-``9``, ``*``, ``#``, ``A``-``D``."""


class DtmfRequest(_DtmfDigits, total=False):
    """Keys to send toward a call's SIP peer (``Stack.send_dtmf``; the body of the API's
    ``POST /calls/{id}/dtmf``); an unknown key is a ``TypeError``."""

    duration_ms: int
    """How long each key is held, in ms: 40 to 2000 (default 100); 100 ms of silence
    between keys."""


class TransferRequest(TypedDict):
    """A transfer to ask for (``Stack.transfer``; the body of the API's
    ``POST /calls/{id}/transfer``); an unknown key is a ``TypeError``."""

    to: str
    """A number (``+`` and digits; sent as ``sip:<number>@<host>`` with the host of the
    call's trunk, else the address the call came from) or a ``sip:``, ``sips:`` or ``tel:``
    URI, used as given."""


class OriginateRequest(_OriginateTo, total=False):
    """An outbound call to place (``Stack.originate``; the body of the API's ``POST /calls``).
    Only ``to`` is required; an unknown key is a ``TypeError``."""

    caller_id: Optional[str]
    """The caller id (a number, or a whole From value)."""
    trunk: Optional[str]
    """The trunk to call through (by its name in the config)."""
    workflow_id: Optional[str]
    """The workflow, sent as ``X-Freya-Workflow-Id`` and handed to the agent."""
    headers: List[Tuple[str, str]]
    """Extra headers ``(name, value)``, sent byte-exact in this order; names must be tokens."""
    agents: Optional[str]
    """The agent pool that takes the answered call (default: the first pool)."""
    record: bool
    """Record the call (``<recording.dir>/<call id>.wav``)."""


class BreakerConfig(TypedDict):
    """When the wrong-prefix breaker pauses a campaign: ``failures`` number errors among the
    last ``window`` ended calls (default 8 of 10)."""

    window: int
    failures: int


class CampaignNumberRules(TypedDict, total=False):
    """How a campaign's list is read (see :func:`freya.validate_numbers`)."""

    default_country_code: Optional[str]
    """The country code that completes a national number (``"44"``)."""
    allowed_prefixes: List[str]
    """E.164 prefixes the campaign may dial (``["+1415"]``); empty: any."""


class _CampaignNumbers(TypedDict):
    numbers: List[str]
    """The phone list: numbers (checked and normalised to E.164 under ``rules``) or SIP URIs."""


class CampaignRequest(_CampaignNumbers, total=False):
    """An outbound campaign to start (``Stack.start_campaign``; the body of
    ``POST /campaigns``). Only ``numbers`` is required; an unknown key is a ``TypeError``."""

    name: Optional[str]
    """A name for people (in events and ``campaigns()``)."""
    rules: CampaignNumberRules
    skip_invalid: bool
    """Dial the valid entries even when some are refused (default ``False``: one refused
    entry refuses the campaign)."""
    trunk: Optional[str]
    caller_id: Optional[str]
    workflow_id: Optional[str]
    headers: List[Tuple[str, str]]
    """Extra headers on every call, byte-exact, after ``X-Freya-Campaign-Id``."""
    agents: Optional[str]
    record: bool
    calls_per_second: float
    """New calls per second (the carrier's CPS limit; default 1)."""
    burst: int
    """Calls that may start back to back after an idle spell (default 1)."""
    max_concurrent: int
    """Calls of this campaign up at once (default 10)."""
    breaker: Optional[BreakerConfig]
    """The wrong-prefix breaker (default 8 of 10); ``None``: never pause."""


# --- results ------------------------------------------------------------------------------


class NumberResult(TypedDict):
    """What happened to one number of a campaign."""

    number: str
    """The number as dialed (E.164) or the URI."""
    call_id: Optional[str]
    """Its call's id, once dialed."""
    outcome: Optional[Literal["answered", "failed"]]
    """``"answered"`` (also while the call is up), ``"failed"``, or ``None`` while pending."""
    sip_code: Optional[int]
    """200 when answered; the final SIP status of a failed call (0: it never left)."""
    q850_cause: Optional[int]
    """The Q.850 cause of the call's end, when known."""
    error: Optional[str]
    """Why the call could not be placed at all."""


class CampaignInfo(TypedDict):
    """A campaign (as the API's ``GET /campaigns/{id}`` shows it)."""

    campaign_id: str
    """Its id (``"cmp-<uuid>"``), also the ``X-Freya-Campaign-Id`` of its calls."""
    name: Optional[str]
    state: Literal["running", "paused", "finished", "cancelled"]
    paused_reason: Optional[str]
    """Why it is paused (``"paused by the operator"``, ``"the stack is draining for a
    shutdown"``, or the breaker's words)."""
    total: int
    """Numbers to dial (after validation)."""
    dialed: int
    active: int
    """Calls up now."""
    answered: int
    failed: int
    number_failures: int
    """Of ``failed``, number errors (SIP 404, 410, 484, 485, 604; Q.850 1, 3, 22, 28)."""
    by_sip_code: List[Tuple[int, int]]
    """Failed calls per final SIP status, ascending: ``[[404, 12]]`` (lists)."""
    rejected: List[RejectedNumber]
    """Entries refused by validation and skipped (``skip_invalid``)."""
    numbers: List[NumberResult]
    """Every number and its fate, in list order."""


class CallSummary(TypedDict):
    """A live call (as the API's ``GET /calls`` lists it)."""

    call_id: str
    direction: Literal["inbound", "outbound"]
    caller: Optional[str]
    callee: Optional[str]
    state: str
    """``ringing``, ``answered`` (inbound); ``calling``, ``ringing``, ``answered``
    (outbound); ``b2bua``."""
    route: Optional[str]
    slot: Optional[Tuple[str, int]]
    """The agent pool and slot (0-based) it holds (a 2-item list)."""


# --- call events --------------------------------------------------------------------------


class RtpDrops(TypedDict):
    """Packets of one RTP leg the relay did not forward, per reason."""

    malformed: int
    unverified: int
    foreign_source: int
    direction_forbids: int
    peer_on_hold: int
    no_destination: int


class RtpLegStats(TypedDict):
    """One RTP leg of a call (RFC 3550); counts are whole UDP datagrams."""

    packets_in: int
    bytes_in: int
    rtcp_in: int
    packets_out: int
    bytes_out: int
    rtcp_out: int
    lost: int
    late: int
    duplicates: int
    jitter_ms: float
    dropped: RtpDrops
    foreign_payload: int
    endpoint_overflow: int
    endpoint_full: int


class AgentMediaStats(TypedDict):
    """The WebSocket bridge to the voice agent (8 kHz audio, 20 ms frames)."""

    caller_frames_sent: int
    caller_gap_frames: int
    input_dropped_frames: int
    dtmf_sent: int
    dtmf_refused: int
    messages_received: int
    rejected_messages: int
    agent_samples_received: int
    frames_from_agent: int
    frames_played: int
    silent_ticks: int
    late_ticks_skipped: int
    output_dropped_frames: int
    overflow_dropped_samples: int
    cleared_samples: int
    clears: int
    queued_ms: int
    queue_peak_ms: int


class _MediaCounters(TypedDict):
    send_errors: int
    recv_errors: int
    oversize: int


class CallMediaStats(_MediaCounters, total=False):
    """A call's media at its end (answered calls only); a leg that did not exist has no key."""

    caller: RtpLegStats
    callee: RtpLegStats
    agent: AgentMediaStats


class _EventBase(TypedDict):
    call_id: str
    """The call's id (a campaign event: the campaign's id, ``"cmp-..."``)."""
    ts_ms: int
    """When, in milliseconds since the Unix epoch."""


class StartedEvent(_EventBase):
    """A call arrived (inbound) or is being placed (outbound)."""

    event: Literal["started"]
    direction: Literal["inbound", "outbound"]
    caller: Optional[str]
    callee: Optional[str]
    trunk: Optional[str]
    workflow_id: Optional[str]
    route: Optional[str]
    sip_call_id: str
    headers: List[List[str]]
    """Every X- header, in order, exact values, each a ``[name, value]`` list (a JSON array)."""


class RingingEvent(_EventBase):
    """Our 180 (inbound) or the far end's 18x (outbound)."""

    event: Literal["ringing"]
    sip_code: int


class AnsweredEvent(_EventBase):
    """The call was answered."""

    event: Literal["answered"]


class _SlotTaken(_EventBase):
    event: Literal["slot_taken"]
    pool: str
    slot: int


class SlotTakenEvent(_SlotTaken, total=False):
    """An agent slot was taken (``connect``: the URL a server-mode agent opens)."""

    connect: str


class SlotFreedEvent(_EventBase):
    """An agent slot was freed."""

    event: Literal["slot_freed"]
    pool: str
    slot: int


class DtmfEvent(_EventBase):
    """A DTMF digit (``via``: ``"rfc4733"`` or ``"info"``)."""

    event: Literal["dtmf"]
    digit: str
    via: str


class HoldEvent(_EventBase):
    """Hold (``held`` ``True``) or resume, by ``"caller"`` or ``"callee"``."""

    event: Literal["hold"]
    held: bool
    by: str


class TransferEvent(_EventBase):
    """A transfer by REFER: ``requested`` (sent), ``accepted`` (202) or ``refused`` (its
    status), then ``progress`` (the target's 1xx), ``succeeded`` (answered: the call's hangup
    follows) or ``failed`` (refused by the target, or no outcome in time: the call stays with
    its agent)."""

    event: Literal["transfer"]
    state: Literal["requested", "accepted", "refused", "progress", "succeeded", "failed"]
    target: str
    """The URI in the REFER's Refer-To."""
    sip_code: Optional[int]
    """The status this step reports: the REFER's, or the transferee's INVITE's."""
    reason: Optional[str]
    """Its reason phrase, or why the transfer failed."""


class CampaignEvent(_EventBase):
    """A campaign changed state (``call_id`` is the campaign's id)."""

    event: Literal["campaign"]
    state: Literal["started", "paused", "resumed", "finished", "cancelled"]
    name: Optional[str]
    reason: Optional[str]
    total: int
    dialed: int
    answered: int
    failed: int
    number_failures: int
    by_sip_code: List[Tuple[int, int]]


class _Hangup(_EventBase):
    event: Literal["hangup"]
    sip_code: int
    """The SIP status that ended the call (200 for a BYE after an answer)."""
    reason: str
    """Its reason phrase."""
    q850_cause: Optional[int]
    """The Q.850 cause, when known."""
    q850_text: Optional[str]
    """The cause in words (``"Normal call clearing"``)."""
    hangup_by: str
    """``"local"``, ``"remote"``, ``"agent"`` or ``"system"``."""
    duration_ms: int
    """From answer to hangup, in ms (0 if never answered)."""
    recording: Optional[str]
    """The recording's path, when recorded."""


class HangupEvent(_Hangup, total=False):
    """The call ended (always its last event)."""

    media: CallMediaStats
    """The media counters (answered calls only)."""


CallEvent = Union[
    StartedEvent,
    RingingEvent,
    AnsweredEvent,
    SlotTakenEvent,
    SlotFreedEvent,
    DtmfEvent,
    HoldEvent,
    TransferEvent,
    CampaignEvent,
    HangupEvent,
]
"""One call event, as the Rust ``CallEvent`` serializes it (the control API's event stream
and the Node binding give the same JSON), tagged by ``event``."""
