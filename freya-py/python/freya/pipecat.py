"""A pipecat transport over a :class:`freya.HostCall`: the pipeline runs in the stack's process.

A ``mode = "host"`` agent pool hands each call to this Python process
(``stack.host_calls(pool)``); :class:`FreyaTransport` puts one such call at both ends of a
pipecat pipeline, with no WebSocket and no serializer between::

    import freya
    from freya.pipecat import FreyaParams, FreyaTransport
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.workers.runner import WorkerRunner

    async def serve(call: freya.HostCall) -> None:
        transport = FreyaTransport(call, params=FreyaParams())
        pipeline = Pipeline([transport.input(), stt, llm, tts, transport.output()])
        worker = PipelineWorker(pipeline, params=PipelineParams(), idle_timeout_secs=None)

        @transport.event_handler("on_client_disconnected")
        async def on_client_disconnected(transport, call):   # the caller hung up
            await worker.cancel()

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()            # an EndFrame/CancelFrame hangs the call up

    stack = await freya.Stack.start(config_toml)
    async for call in stack.host_calls("inproc"):       # one freya.HostCall per call
        asyncio.create_task(serve(call))

To try it with no AI service, an echo: the caller's audio does not pass from the input to the
output by itself, a processor turns it into output audio::

    from pipecat.frames.frames import InputAudioRawFrame, OutputAudioRawFrame
    from pipecat.processors.frame_processor import FrameProcessor

    class Echo(FrameProcessor):
        async def process_frame(self, frame, direction):
            await super().process_frame(frame, direction)
            if isinstance(frame, InputAudioRawFrame):
                frame = OutputAudioRawFrame(audio=frame.audio, sample_rate=frame.sample_rate,
                                            num_channels=frame.num_channels)
            await self.push_frame(frame, direction)

    pipeline = Pipeline([transport.input(), Echo(), transport.output()])

What goes where:

- caller -> pipeline: every 20 ms of the caller's audio (bytes of 16-bit little-endian mono
  PCM at ``call.sample_rate`` Hz) becomes an ``InputAudioRawFrame``; a key press an
  ``InputDTMFFrame`` (pipecat's ``KeypadEntry`` has ``0``-``9``, ``*`` and ``#`` only: ``A``-``D``
  are logged and skipped).
- pipeline -> caller: ``OutputAudioRawFrame`` audio (TTS included; pipecat resamples it to
  ``call.sample_rate``, which the transport sets as its output rate) goes out with
  ``call.send_audio``, paced like an audio device: freya holds at most about
  ``audio_out_lead_ms`` (default 100 ms) plus one chunk (40 ms) of it, so that a barge-in is
  heard at once and a long TTS burst never overflows freya's bounded playout queue.
- an ``InterruptionFrame`` (barge-in) also empties freya's playout queue (``call.clear()``).
- an ``EndFrame`` hangs the call up (``call.hangup()``) once the audio before it has been
  played; a ``CancelFrame`` at once (both unless the call has already ended, or
  ``hangup_on_end`` is False).
- ``OutputDTMFFrame`` keys go out as real DTMF (``call.send_dtmf``: RFC 4733 or SIP INFO);
  on a call that can carry neither, pipecat plays them as in-band tones instead.
- events: ``on_client_connected(transport, call)`` when the input starts reading the call,
  ``on_client_disconnected(transport, call)`` when the call ends under it (the caller hung up,
  or the call was ended elsewhere; not when the pipeline's own End/CancelFrame hung it up:
  the same rule as pipecat's WebSocket transports).

A call that ends while the pipeline still runs never raises into pipecat: the freya error
(``StackError`` ``ERR_FREYA_NO_SUCH_CALL``) is logged and the transport stops sending.

This module needs ``pipecat-ai`` (checked with 1.14.0; ``pip install "pipecat-ai>=1.14"``):
``import freya`` does not import it, and importing ``freya.pipecat`` without pipecat raises
an ``ImportError`` that says so. Logging goes to loguru, as pipecat's own does.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Optional, Union

try:
    from pipecat.audio.dtmf.types import KeypadEntry
    from pipecat.frames.frames import (
        CancelFrame,
        ClientConnectedFrame,
        EndFrame,
        Frame,
        InputAudioRawFrame,
        InputDTMFFrame,
        InterruptionFrame,
        OutputAudioRawFrame,
        OutputDTMFFrame,
        OutputDTMFUrgentFrame,
        StartFrame,
    )
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessorSetup
    from pipecat.transports.base_input import BaseInputTransport
    from pipecat.transports.base_output import BaseOutputTransport
    from pipecat.transports.base_transport import BaseTransport, TransportParams

    from loguru import logger
    from pydantic import Field
except ModuleNotFoundError as _missing:  # pragma: no cover - depends on the environment
    if (_missing.name or "").split(".")[0] in ("pipecat", "loguru", "pydantic"):
        raise ImportError(
            "freya.pipecat needs the pipecat-ai package (pip install 'pipecat-ai>=1.14'); "
            f"it could not be imported: {_missing}"
        ) from _missing
    raise

from ._errors import StackError
from ._freya import HostCall

__all__ = ["FreyaInputTransport", "FreyaOutputTransport", "FreyaParams", "FreyaTransport"]

# freya plays the caller's side in 20 ms frames.
_FRAME_MS = 20
# How long a request to freya (send_audio, clear, hangup) may take before the transport gives
# up on it; they normally resolve in well under a millisecond.
_REQUEST_TIMEOUT_S = 5.0
# How long each key of an OutputDTMFFrame is held, in ms (HostCall.send_dtmf's default).
_DTMF_MS = 100


class FreyaParams(TransportParams):
    """:class:`FreyaTransport`'s parameters: pipecat's ``TransportParams`` with telephony
    defaults and two of freya's own. A plain ``TransportParams`` works too (its defaults then
    apply: audio in and out disabled unless enabled, 2 s of silence before an EndFrame's
    hang-up).

    Whatever is given, the transport sets ``audio_in_sample_rate`` and
    ``audio_out_sample_rate`` to the call's ``sample_rate`` (Hz) and both channel counts to 1:
    the call's audio is mono 16-bit PCM at the pool's rate both ways, and pipecat resamples
    the pipeline's output (TTS at 24 kHz, say) to it.

    Parameters:
        audio_in_enabled: Pass the caller's audio on (default True).
        audio_out_enabled: Play the pipeline's audio to the caller (default True).
        audio_out_end_silence_secs: Seconds of silence pipecat writes after an ``EndFrame``
            before the hang-up (default 0: the transport waits for the audio already sent
            to be played out before it hangs up, so the last words are not cut).
        audio_out_lead_ms: How far ahead of real time, in ms, the transport lets the audio
            sent to freya run (default 100; at least 20). freya holds at most this plus one
            pipecat chunk (``audio_out_10ms_chunks`` x 10 ms, 40 ms by default): a barge-in
            cuts that much at most, and freya's bounded queue (1 s by default) never drops audio.
            Lower is snappier; much lower risks gaps when the event loop is busy.
        hangup_on_end: Hang the call up when the pipeline ends (``EndFrame`` once its audio
            has played, ``CancelFrame`` at once; default True). False leaves the call up,
            e.g. for another pipeline on the same ``HostCall``.
    """

    audio_in_enabled: bool = True
    audio_out_enabled: bool = True
    audio_out_end_silence_secs: int = 0
    audio_out_lead_ms: int = Field(default=100, ge=_FRAME_MS)
    hangup_on_end: bool = True


def _call_params(call: HostCall, params: Optional[TransportParams]) -> TransportParams:
    """``params`` (default :class:`FreyaParams`) with the call's rate and mono both ways."""
    params = params if params is not None else FreyaParams()
    rate = call.sample_rate
    for key in ("audio_in_sample_rate", "audio_out_sample_rate"):
        given = getattr(params, key)
        if given is not None and given != rate:
            logger.warning(
                f"freya: {key}={given} ignored: the call's audio is at {rate} Hz "
                "(pipecat resamples the pipeline's output to it)"
            )
    for key in ("audio_in_channels", "audio_out_channels"):
        if getattr(params, key) != 1:
            logger.warning(f"freya: {key}={getattr(params, key)} ignored: the call is mono")
    return params.model_copy(
        update={
            "audio_in_sample_rate": rate,
            "audio_out_sample_rate": rate,
            "audio_in_channels": 1,
            "audio_out_channels": 1,
        }
    )


class FreyaInputTransport(BaseInputTransport):
    """The caller's side of a :class:`FreyaTransport`: reads ``call.recv()`` from the
    ``StartFrame`` on and pushes what the caller sends into the pipeline.

    - audio (20 ms, bytes of 16-bit little-endian mono PCM at ``call.sample_rate`` Hz) ->
      ``InputAudioRawFrame`` through pipecat's audio input queue (filters, passthrough);
    - a key -> ``InputDTMFFrame(button=KeypadEntry(digit))``; keys pipecat has no entry for
      (``A``-``D``) are logged and skipped;
    - the end of the call -> ``on_client_disconnected(transport, call)``, and reading stops.

    Made by :meth:`FreyaTransport.input`.
    """

    def __init__(
        self,
        transport: FreyaTransport,
        call: HostCall,
        params: TransportParams,
        **kwargs: Any,
    ) -> None:
        super().__init__(params, **kwargs)
        self._transport = transport
        self._call = call
        self._receive_task: Optional[asyncio.Task] = None
        self._connected = False

    async def start(self, frame: StartFrame) -> None:
        """Starts reading the call; fires ``on_client_connected`` and pushes a
        ``ClientConnectedFrame`` the first time."""
        await super().start(frame)
        if not self._connected and not self._transport.call_ended:
            self._connected = True
            await self._transport._call_event_handler("on_client_connected", self._call)
            await self.push_frame(ClientConnectedFrame())
        if self._receive_task is None and not self._transport.call_ended:
            self._receive_task = self.create_task(self._receive(), "freya_receive")
        await self.set_transport_ready(frame)

    async def stop(self, frame: EndFrame) -> None:
        """Stops reading (the output side hangs up once its audio has played)."""
        await super().stop(frame)
        await self._stop_receiving()
        if not self._transport._has_output:
            await self._transport._hangup("the pipeline ended")

    async def cancel(self, frame: CancelFrame) -> None:
        """Stops reading and hangs up at once."""
        await super().cancel(frame)
        await self._stop_receiving()
        await self._transport._hangup("the pipeline was cancelled")

    async def cleanup(self) -> None:
        """Stops reading; waits for the transport's event handlers."""
        await super().cleanup()
        await self._stop_receiving()
        await self._transport.cleanup()

    async def _stop_receiving(self) -> None:
        if self._receive_task is not None:
            await self.cancel_task(self._receive_task)
            self._receive_task = None

    async def _receive(self) -> None:
        """Reads the call until it ends: audio, DTMF, then ``None``."""
        call = self._call
        try:
            while True:
                got = await call.recv()
                if got is None:
                    logger.debug(f"{self}: call {call.call_id} ended")
                    break
                kind = got.get("event")
                if kind == "audio":
                    await self.push_audio_frame(
                        InputAudioRawFrame(
                            audio=got["audio"], sample_rate=call.sample_rate, num_channels=1
                        )
                    )
                elif kind == "dtmf":
                    digit = got.get("digit", "")
                    try:
                        button = KeypadEntry(digit)
                    except ValueError:
                        logger.warning(
                            f"{self}: DTMF {digit!r} skipped: pipecat has no KeypadEntry for it"
                        )
                        continue
                    await self.push_frame(InputDTMFFrame(button=button))
                else:
                    logger.debug(f"{self}: ignored input {kind!r} from freya")
        except StackError as e:
            logger.warning(f"{self}: reading call {call.call_id} failed: {e}")
        self._transport._mark_ended()
        self._receive_task = None
        await self._transport._call_event_handler("on_client_disconnected", call)


class FreyaOutputTransport(BaseOutputTransport):
    """The pipeline's side of a :class:`FreyaTransport`: plays its audio to the caller.

    pipecat cuts the pipeline's audio into chunks of ``audio_out_10ms_chunks`` x 10 ms at
    ``call.sample_rate`` Hz and calls :meth:`write_audio_frame` for each as fast as it may;
    that sends the chunk with ``call.send_audio`` and then sleeps as an audio device would,
    so the audio queued in freya stays about ``audio_out_lead_ms`` ahead of real time.
    An ``InterruptionFrame`` empties pipecat's queue (the base class) and freya's
    (``call.clear()``); an ``EndFrame`` hangs up once its audio has played, a
    ``CancelFrame`` at once.

    Made by :meth:`FreyaTransport.output`.
    """

    def __init__(
        self,
        transport: FreyaTransport,
        call: HostCall,
        params: TransportParams,
        **kwargs: Any,
    ) -> None:
        super().__init__(params, **kwargs)
        self._transport = transport
        self._call = call
        self._lead_s = getattr(params, "audio_out_lead_ms", 100) / 1000.0
        # When (time.monotonic()) the audio sent so far will have been played out by freya.
        self._play_end = 0.0
        # Bumped by every interruption: a long frame being written stops there.
        self._epoch = 0
        # The largest piece sent at once, in bytes (set at setup()).
        self._piece_bytes = 0

    async def setup(self, setup: FrameProcessorSetup) -> None:
        """Picks the output rate (the call's) and the piece size."""
        await super().setup(setup)
        frame_bytes = self.sample_rate * 2 * _FRAME_MS // 1000
        self._piece_bytes = max(self.audio_chunk_size, frame_bytes) & ~1

    async def start(self, frame: StartFrame) -> None:
        """Starts the media sender."""
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def stop(self, frame: EndFrame) -> None:
        """Plays out the audio queued before the ``EndFrame``, then hangs up."""
        await super().stop(frame)
        left = self._play_end - time.monotonic()
        if left > 0 and not self._transport.call_ended:
            await asyncio.sleep(min(left, self._lead_s + 1.0))
        await self._transport._hangup("the pipeline ended")

    async def cancel(self, frame: CancelFrame) -> None:
        """Hangs up at once."""
        await super().cancel(frame)
        await self._transport._hangup("the pipeline was cancelled")

    async def cleanup(self) -> None:
        """Releases the media sender; waits for the transport's event handlers."""
        await super().cleanup()
        await self._transport.cleanup()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """On an ``InterruptionFrame``, also empties freya's playout queue."""
        interruption = isinstance(frame, InterruptionFrame)
        if interruption:
            self._epoch += 1
        await super().process_frame(frame, direction)
        if interruption:
            self._play_end = 0.0
            await self._transport._clear()

    def _supports_native_dtmf(self) -> bool:
        """Keys go out as real DTMF (RFC 4733 or SIP INFO, ``call.send_dtmf``) when the
        binding has it; otherwise pipecat plays them as in-band tones."""
        return callable(getattr(self._call, "send_dtmf", None))

    async def _write_dtmf_native(self, frame: Union[OutputDTMFFrame, OutputDTMFUrgentFrame]) -> None:
        """Sends an ``OutputDTMFFrame``'s keys with ``call.send_dtmf``."""
        digits = "".join(button.value for button in frame.buttons or [])
        if not digits:
            return
        if await self._transport._send_dtmf(digits):
            # freya holds the audio toward the caller back while it plays the keys (each
            # _DTMF_MS on, then 100 ms of silence): the playout clock moves on by as much.
            self._play_end = max(self._play_end, time.monotonic()) + len(digits) * (
                _DTMF_MS + 100
            ) / 1000.0
        elif not self._transport.call_ended:
            # The call has no way to carry keys (no telephone-event agreed, no SIP INFO
            # trunk): pipecat's in-band tones, in the audio, still reach an IVR.
            await self._write_dtmf_audio(frame)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        """Sends ``frame.audio`` (16-bit mono PCM at ``call.sample_rate`` Hz) to the caller,
        paced at real time with ``audio_out_lead_ms`` of lead; a frame longer than a chunk
        (pipecat's end silence, in-band DTMF) goes in chunk-sized pieces, and an
        interruption stops it between two. False once the call has ended."""
        if self._transport.call_ended:
            return False
        audio = frame.audio
        if len(audio) % 2:
            audio = audio[:-1]
        bytes_per_s = self.sample_rate * 2
        epoch = self._epoch
        step = self._piece_bytes or len(audio)
        for offset in range(0, len(audio), step):
            if frame.interruptible and epoch != self._epoch:
                break  # a barge-in came while the earlier pieces played
            piece = audio[offset : offset + step]
            now = time.monotonic()
            if self._play_end < now:
                self._play_end = now  # freya's queue ran dry: playout starts again now
            if not await self._transport._send_audio(piece):
                return False
            self._play_end += len(piece) / bytes_per_s
            delay = self._play_end - self._lead_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        return True


class FreyaTransport(BaseTransport):
    """A pipecat transport over one :class:`freya.HostCall` (a call of a ``mode = "host"``
    pool, from ``stack.host_calls(pool)``): :meth:`input` is the caller's audio and DTMF,
    :meth:`output` plays the pipeline's audio to the caller. See the module's docstring for
    an example and what each frame does.

    Audio is 16-bit little-endian mono PCM at ``call.sample_rate`` Hz both ways (20 ms,
    ``sample_rate / 25`` bytes, per input frame); the transport sets the pipeline's
    ``audio_in_sample_rate`` and ``audio_out_sample_rate`` to it.

    Event handlers (``@transport.event_handler("on_…")``), named as pipecat's WebSocket
    transports':

    - ``on_client_connected(transport, call)``: the input started reading the call;
    - ``on_client_disconnected(transport, call)``: the call ended while the input was reading
      it (the caller hung up, ``stack.hangup``, shutdown); not fired when the pipeline's own
      ``EndFrame``/``CancelFrame`` hung it up.

    One transport per call: ``call.recv()`` has one reader at a time.

    Args:
        call: The call.
        params: :class:`FreyaParams` (default) or a plain ``TransportParams``.
        name, input_name, output_name: Names of the transport and its two processors.
    """

    def __init__(
        self,
        call: HostCall,
        params: Optional[TransportParams] = None,
        *,
        name: Optional[str] = None,
        input_name: Optional[str] = None,
        output_name: Optional[str] = None,
    ) -> None:
        super().__init__(name=name, input_name=input_name, output_name=output_name)
        self._call = call
        self._params = _call_params(call, params)
        self._hangup_on_end = getattr(self._params, "hangup_on_end", True)
        self._ended = False
        self._hung_up = False
        self._has_output = False
        # send_audio and clear reach freya in the order they are made.
        self._io_lock = asyncio.Lock()
        self._input = FreyaInputTransport(self, call, self._params, name=self._input_name)
        self._output = FreyaOutputTransport(self, call, self._params, name=self._output_name)
        self._register_event_handler("on_client_connected")
        self._register_event_handler("on_client_disconnected")

    @property
    def call(self) -> HostCall:
        """The call this transport carries."""
        return self._call

    @property
    def call_ended(self) -> bool:
        """Whether the call is known to have ended (or been hung up by this transport)."""
        return self._ended

    def input(self) -> FreyaInputTransport:
        """The processor that brings the caller's audio and DTMF into the pipeline."""
        return self._input

    def output(self) -> FreyaOutputTransport:
        """The processor that plays the pipeline's audio to the caller."""
        self._has_output = True
        return self._output

    def get_client_id(self, client: Any) -> str:
        """The call id of ``client`` (the ``HostCall`` the client events carry)."""
        return getattr(client, "call_id", "")

    # --- requests to freya; none raises into pipecat -------------------------------------

    def _mark_ended(self) -> None:
        self._ended = True

    def _gone(self, what: str, error: BaseException) -> None:
        """Logs a failed request; the call is treated as ended from now on."""
        if not self._ended:
            code = getattr(error, "code", type(error).__name__)
            logger.info(f"{self}: {what}: call {self._call.call_id} is gone ({code}): {error}")
        self._ended = True

    async def _request(self, what: str, future: "asyncio.Future[Any]") -> bool:
        try:
            await asyncio.wait_for(future, _REQUEST_TIMEOUT_S)
            return True
        except (StackError, asyncio.TimeoutError) as e:
            self._gone(what, e)
            return False

    async def _send_audio(self, pcm: bytes) -> bool:
        if self._ended:
            return False
        async with self._io_lock:
            return await self._request("send_audio", self._call.send_audio(pcm))

    async def _clear(self) -> None:
        if self._ended:
            return
        async with self._io_lock:
            await self._request("clear", self._call.clear())

    async def _send_dtmf(self, digits: str) -> bool:
        if self._ended:
            return False
        try:
            future = self._call.send_dtmf(digits, _DTMF_MS)
        except (TypeError, ValueError) as e:
            logger.warning(f"{self}: DTMF {digits!r} not sent: {e}")
            return False
        try:
            # Resolves once the keys are queued (RFC 4733) or sent (SIP INFO).
            await asyncio.wait_for(future, _REQUEST_TIMEOUT_S + 0.2 * len(digits))
            return True
        except ValueError as e:
            logger.warning(f"{self}: DTMF {digits!r} not sent: {e}")
        except StackError as e:
            if getattr(e, "code", "") == "ERR_FREYA_NO_SUCH_CALL":
                self._gone("send_dtmf", e)
            else:
                logger.warning(f"{self}: DTMF {digits!r} not sent: {e}")
        except asyncio.TimeoutError as e:
            logger.warning(f"{self}: DTMF {digits!r}: no answer from freya ({e!r})")
        return False

    async def _hangup(self, why: str) -> None:
        if self._ended or self._hung_up or not self._hangup_on_end:
            return
        self._hung_up = True
        logger.debug(f"{self}: hanging up call {self._call.call_id}: {why}")
        await self._request("hangup", self._call.hangup())
        self._ended = True

