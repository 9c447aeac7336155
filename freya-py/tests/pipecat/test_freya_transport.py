"""freya.pipecat.FreyaTransport: a real pipecat pipeline (pipecat-ai 1.14) on a host call.

Real SIP and RTP on 127.0.0.1, no mocks, as ../test_host.py: the stack dials itself; the
inbound leg (numbers under +1417) is a host call at 16 kHz, carried here by FreyaTransport
into ``[transport.input(), Probe, transport.output()]`` run by PipelineWorker/WorkerRunner;
the outbound leg is answered by freya's built-in echo agent, so what the pipeline plays
comes back into the pipeline's input, checked by frequency (zero crossings, pure Python).

DTMF: the self-dialing test sends keys with ``stack.send_dtmf`` on the other leg (RFC 4733)
and has the pipeline send some (``OutputDTMFFrame`` -> ``HostCall.send_dtmf``); a second
caller is a minimal SIP UA on a UDP socket that calls +1417..., presses keys in SIP INFO
(``application/dtmf-relay``) and answers the BYE a ``CancelFrame`` brings.

The processor in the middle records the input and plays generated tones; it does not echo
the input back as tests/pipecat/echo_agent.py's Echo does: with the other leg an echo too,
the two echoes would ring forever and blur what the barge-in cut.
"""

from __future__ import annotations

import asyncio
import pathlib
import socket
import sys
import uuid

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import freya  # noqa: E402
from freya.pipecat import FreyaParams, FreyaTransport  # noqa: E402
from pipecat.frames.frames import (  # noqa: E402
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputDTMFFrame,
)
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.pipeline.worker import PipelineParams, PipelineWorker  # noqa: E402
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor  # noqa: E402
from pipecat.workers.runner import WorkerRunner  # noqa: E402

from test_host import HOST_POOL, rms, samples, tone, zero_crossing_hz  # noqa: E402
from test_stack import TEST_S, WAIT_S, Recorder, is_event, self_dialing_config  # noqa: E402

RATE = 16000  # the host pool's sample_rate
FRAME = RATE // 50  # samples in 20 ms
LOUD = 2000  # RMS of a frame that carries a tone (the tones are at 16384 peak: RMS ~11600)
QUIET = 1000


class Probe(FrameProcessor):
    """Records the caller's audio (with when it reached the pipeline) and DTMF; on the first
    audio frame plays 1 s of 1 kHz at the call's rate; passes every other frame on."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list = []  # (loop time, samples of one 20 ms frame)
        self.rates: set = set()
        self.dtmf: list = []
        self._toned = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self.rates.add((frame.sample_rate, frame.num_channels, len(frame.audio)))
            self.frames.append((asyncio.get_running_loop().time(), samples(frame.audio)))
            if not self._toned:
                self._toned = True
                await self.push_frame(
                    OutputAudioRawFrame(tone(1000.0, 1.0, frame.sample_rate), frame.sample_rate, 1)
                )
        elif isinstance(frame, InputDTMFFrame):
            self.dtmf.append(frame.button.value)
        else:
            await self.push_frame(frame, direction)

    def since(self, t0: float) -> list:
        return [(t, x) for t, x in self.frames if t >= t0]


def loud_run(frames: list, hz: float) -> tuple:
    """The loud frames of ``frames`` (time, samples): how many, the frequency they carry
    (the median over windows of 5 consecutive loud frames, so that one odd frame, a lost
    packet concealed, say, does not decide it), the first and last one's time."""
    loud = [(i, t, x) for i, (t, x) in enumerate(frames) if rms(x) > LOUD]
    if not loud:
        return 0, 0.0, None, None
    found = []
    for k in range(len(loud) - 4):
        if loud[k + 4][0] - loud[k][0] == 4:
            found.append(zero_crossing_hz([v for _, _, x in loud[k : k + 5] for v in x], RATE))
    found.sort()
    median = found[len(found) // 2] if found else 0.0
    return len(loud), median, loud[0][1], loud[-1][1]


async def wait_until(what: str, pred, timeout: float = WAIT_S) -> None:
    async def poll() -> None:
        while not pred():
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(poll(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what}") from None


async def start_pipeline(call: freya.HostCall, on_disconnect=None, **params):
    """A running pipeline ``[input, Probe, output]`` on ``call``; returns its pieces.
    ``on_disconnect(worker)`` is awaited in the ``on_client_disconnected`` handler."""
    transport = FreyaTransport(call, params=FreyaParams(**params))
    probe = Probe()
    seen = {"connected": [], "disconnected": [], "errors": []}

    @transport.event_handler("on_client_connected")
    async def on_client_connected(transport, client):
        seen["connected"].append(client)

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(transport, client):
        seen["disconnected"].append(client)
        if on_disconnect is not None:
            await on_disconnect(worker)

    pipeline = Pipeline([transport.input(), probe, transport.output()])
    # The pipeline's own rates (16 kHz in, 24 kHz out) are pipecat's defaults: the transport
    # must put the call's rate in their place.
    worker = PipelineWorker(pipeline, params=PipelineParams(), idle_timeout_secs=None)

    @worker.event_handler("on_pipeline_error")
    async def on_pipeline_error(worker, frame):
        seen["errors"].append(frame)

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    return transport, probe, worker, running, seen


def test_a_pipecat_pipeline_hears_its_tone_keys_paces_a_burst_barges_in_and_hangs_up():
    async def main() -> None:
        stack = await asyncio.wait_for(freya.Stack.start(self_dialing_config() + HOST_POOL), WAIT_S)
        running = None
        try:
            calls = stack.host_calls("inproc")
            ev = Recorder(stack)
            out_id = await stack.originate({"to": "+14175550100", "trunk": "self"})
            call = await asyncio.wait_for(calls.__anext__(), WAIT_S)
            assert call.sample_rate == RATE
            transport, probe, worker, running, seen = await start_pipeline(call)
            loop = asyncio.get_running_loop()

            await wait_until("on_client_connected", lambda: seen["connected"])
            assert seen["connected"] == [call] and transport.get_client_id(call) == call.call_id

            # 1. The 1 kHz second the pipeline played on its first input frame comes back.
            await wait_until("the 1 kHz tone heard back", lambda: loud_run(probe.frames, 1000)[0] >= 25)
            assert probe.rates == {(RATE, 1, 2 * FRAME)}, "20 ms of mono 16-bit at 16 kHz"
            await asyncio.sleep(1.2)
            n, hz, first, last = loud_run(probe.frames, 1000)
            print(f"1 kHz: {n} loud frames ({n * 20} ms), {hz:.1f} Hz")
            assert abs(hz - 1000.0) < 15, f"heard {hz:.1f} Hz"
            assert 45 <= n <= 52, f"{n} loud frames for 1 s of tone"

            # 2. Keys both ways: the other leg's (RFC 4733) reach pipecat as InputDTMFFrame
            #    (A has no KeypadEntry: skipped); the pipeline's OutputDTMFFrame goes out as
            #    real DTMF (HostCall.send_dtmf), the other leg's dtmf events. (Not * # 0: the
            #    other leg's echo agent answers those with a burst, a clear, a hang-up.)
            await stack.send_dtmf(out_id, {"digits": "5A#", "duration_ms": 100})
            await wait_until("the DTMF frames", lambda: len(probe.dtmf) >= 2)
            await worker.queue_frame(OutputDTMFFrame.from_string("19"))
            for digit in "19":
                e = await ev.next(f"dtmf {digit}", lambda e, d=digit: e["event"] == "dtmf"
                                  and e["call_id"] == out_id and e["digit"] == d)
                assert e["via"] == "rfc4733", e
            assert probe.dtmf == ["5", "#"]

            # 3. An 8 s burst (longer than freya's queue), given at 24 kHz as a TTS gives it:
            #    pipecat resamples it to 16 kHz, the transport paces it; all of it comes back.
            t0 = loop.time()
            burst = tone(600.0, 8.0, 24000)
            await worker.queue_frame(OutputAudioRawFrame(burst, 24000, 1))
            await wait_until("the 600 Hz burst heard", lambda: loud_run(probe.since(t0), 600)[0] > 0)
            await wait_until(
                "the burst's end",
                lambda: loud_run(probe.since(t0), 600)[0] > 0
                and loop.time() - loud_run(probe.since(t0), 600)[3] > 0.5,
                timeout=15,
            )
            n, hz, first, last = loud_run(probe.since(t0), 600)
            print(f"600 Hz burst: {n} loud frames ({n * 20} ms), {hz:.1f} Hz, "
                  f"first heard {1000 * (first - t0):.0f} ms after queueing")
            assert abs(hz - 600.0) < 10, f"heard {hz:.1f} Hz"
            assert 390 <= n <= 410, f"{n * 20} ms of an 8 s burst came back"

            # 4. Barge-in: another long burst, an InterruptionFrame a second into it.
            t0 = loop.time()
            await worker.queue_frame(OutputAudioRawFrame(tone(800.0, 6.0, RATE), RATE, 1))
            await wait_until("the 800 Hz burst heard", lambda: loud_run(probe.since(t0), 800)[0] >= 50)
            t_int = loop.time()
            await worker.queue_frame(InterruptionFrame())
            await asyncio.sleep(1.5)
            n, hz, first, last = loud_run(probe.since(t0), 800)
            cut_ms = 1000 * (last - t_int)
            print(f"800 Hz burst: {n} loud frames, {hz:.1f} Hz; last loud frame {cut_ms:.0f} ms "
                  "after the InterruptionFrame")
            assert abs(hz - 800.0) < 10
            assert cut_ms < 500, f"audio still heard {cut_ms:.0f} ms after the barge-in"
            tail = probe.since(t_int + 0.6)
            assert tail and max(rms(x) for _, x in tail) < QUIET, "silence after the barge-in"

            # 5. The pipeline ends: the transport hangs the call up.
            await worker.queue_frame(EndFrame())
            await asyncio.wait_for(running, WAIT_S)
            hangup = await ev.next("the host leg's hangup", is_event("hangup", call.call_id))
            agent = hangup["media"]["agent"]
            print("host leg's agent media:", {k: agent[k] for k in (
                "clears", "cleared_samples", "queue_peak_ms", "overflow_dropped_samples",
                "output_dropped_frames", "agent_samples_received", "frames_played")})
            assert hangup["hangup_by"] == "agent", hangup
            assert agent["clears"] >= 1, agent
            assert agent["overflow_dropped_samples"] == 0 and agent["output_dropped_frames"] == 0, agent
            assert agent["queue_peak_ms"] <= 300, f"freya held {agent['queue_peak_ms']} ms at most"
            await ev.next("the other leg's hangup", is_event("hangup", out_id))
            assert seen["disconnected"] == [], "our own hang-up is no client disconnect"
            assert seen["errors"] == []
            assert transport.call_ended
        finally:
            if running is not None and not running.done():
                running.cancel()
            await asyncio.wait_for(stack.shutdown(), WAIT_S)

    asyncio.run(asyncio.wait_for(main(), TEST_S))


def test_the_caller_hanging_up_disconnects_without_errors_and_a_cancel_is_quiet():
    async def main() -> None:
        stack = await asyncio.wait_for(freya.Stack.start(self_dialing_config() + HOST_POOL), WAIT_S)
        running = None
        try:
            calls = stack.host_calls("inproc")
            ev = Recorder(stack)
            out_id = await stack.originate({"to": "+14175550101", "trunk": "self"})
            call = await asyncio.wait_for(calls.__anext__(), WAIT_S)

            async def on_disconnect(worker) -> None:
                # What an app does (cancel the pipeline), a little late: the audio and the
                # barge-in queued meanwhile meet a call that has ended.
                await asyncio.sleep(0.5)
                await worker.cancel()

            transport, probe, worker, running, seen = await start_pipeline(call, on_disconnect)
            await wait_until("on_client_connected", lambda: seen["connected"])
            # A long burst is being written when the call goes away under it.
            await worker.queue_frame(OutputAudioRawFrame(tone(600.0, 5.0, RATE), RATE, 1))
            await asyncio.sleep(1.0)
            stack.hangup(out_id)
            await ev.next("the host leg's hangup", is_event("hangup", call.call_id))
            await wait_until("on_client_disconnected", lambda: seen["disconnected"])
            assert seen["disconnected"] == [call]
            assert transport.call_ended
            # More audio and a barge-in after the end reach nothing and raise nothing.
            await worker.queue_frame(OutputAudioRawFrame(tone(600.0, 0.5, RATE), RATE, 1))
            await worker.queue_frame(InterruptionFrame())
            await asyncio.wait_for(running, WAIT_S)  # the handler cancelled the pipeline
            assert seen["errors"] == []
            hangups = [e for e in ev.seen if e["event"] == "hangup" and e["call_id"] == call.call_id]
            assert len(hangups) == 1 and hangups[0]["hangup_by"] != "agent", hangups
            with pytest.raises(freya.StackError) as err:
                await call.send_audio(b"\x00\x00")
            assert err.value.code == "ERR_FREYA_NO_SUCH_CALL"
            # A transport that learns of the end from freya's error (a send racing the end)
            # logs it and stops; nothing raises.
            late = FreyaTransport(call)
            assert not late.call_ended
            assert await late._send_audio(b"\x00\x00") is False
            assert late.call_ended
            await late._clear()
            await late._hangup("test")
        finally:
            if running is not None and not running.done():
                running.cancel()
            await asyncio.wait_for(stack.shutdown(), WAIT_S)

    asyncio.run(asyncio.wait_for(main(), TEST_S))


class SipCaller:
    """Just enough of a SIP UA (UDP, no RTP sent) to call the stack, press keys in SIP INFO
    and answer its BYE; messages are parsed with freya.parse_message."""

    def __init__(self, stack_addr: str) -> None:
        host, port = stack_addr.rsplit(":", 1)
        self.target = (host, int(port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # receives, never read
        self.rtp.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.call_id = f"{uuid.uuid4().hex}@127.0.0.1"
        self.from_ = f"<sip:+14155550999@127.0.0.1>;tag={uuid.uuid4().hex[:8]}"
        self.to = None
        self.remote = None
        self.cseq = 1
        self.byes = 0
        self.inbox: asyncio.Queue = asyncio.Queue()
        self._reader = None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        self.sock.close()
        self.rtp.close()

    def _send(self, start: str, headers: list, body: bytes = b"") -> None:
        lines = [start] + [f"{n}: {v}" for n, v in headers] + [f"Content-Length: {len(body)}", "", ""]
        self.sock.sendto("\r\n".join(lines).encode() + body, self.target)

    def _via(self) -> tuple:
        return ("Via", f"SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport")

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = await loop.sock_recv(self.sock, 65535)
            msg = freya.parse_message(data)
            if msg.is_request:
                # The stack's BYE (or anything else): 200 OK, echoing the dialog's headers.
                if msg.method == "BYE":
                    self.byes += 1
                keep = [(n, v) for n, v in msg.headers if n.lower() in ("via", "from", "to", "call-id", "cseq")]
                self._send("SIP/2.0 200 OK", keep)
            else:
                await self.inbox.put(msg)

    async def _final(self, method: str):
        while True:
            msg = await asyncio.wait_for(self.inbox.get(), WAIT_S)
            if msg.header("CSeq").split()[-1] == method and msg.status >= 200:
                return msg

    async def call(self, number: str) -> None:
        self._reader = asyncio.create_task(self._read())
        sdp = (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {self.rtp.getsockname()[1]} RTP/AVP 0 101\r\n"
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
            "a=fmtp:101 0-15\r\na=sendrecv\r\n"
        ).encode()
        uri = f"sip:{number}@{self.target[0]}:{self.target[1]}"
        self.to = f"<{uri}>"
        self._send(f"INVITE {uri} SIP/2.0", [
            self._via(), ("Max-Forwards", "70"), ("From", self.from_), ("To", self.to),
            ("Call-ID", self.call_id), ("CSeq", "1 INVITE"),
            ("Contact", f"<sip:caller@127.0.0.1:{self.port}>"), ("Content-Type", "application/sdp"),
        ], sdp)
        ok = await self._final("INVITE")
        assert ok.status == 200, ok.to_bytes()
        self.to = ok.header("To")
        self.remote = ok.header("Contact").strip().lstrip("<").split(">")[0]
        self._send(f"ACK {self.remote} SIP/2.0", [
            self._via(), ("Max-Forwards", "70"), ("From", self.from_), ("To", self.to),
            ("Call-ID", self.call_id), ("CSeq", "1 ACK"),
        ])

    async def press(self, digit: str) -> int:
        self.cseq += 1
        self._send(f"INFO {self.remote} SIP/2.0", [
            self._via(), ("Max-Forwards", "70"), ("From", self.from_), ("To", self.to),
            ("Call-ID", self.call_id), ("CSeq", f"{self.cseq} INFO"),
            ("Contact", f"<sip:caller@127.0.0.1:{self.port}>"),
            ("Content-Type", "application/dtmf-relay"),
        ], f"Signal={digit}\r\nDuration=160\r\n".encode())
        return (await self._final("INFO")).status


def test_keys_reach_pipecat_as_input_dtmf_frames_and_a_cancel_hangs_up():
    async def main() -> None:
        stack = await asyncio.wait_for(freya.Stack.start(self_dialing_config() + HOST_POOL), WAIT_S)
        running = None
        caller = SipCaller(stack.sip_address)
        try:
            calls = stack.host_calls("inproc")
            ev = Recorder(stack)
            dialing = asyncio.create_task(caller.call("+14175550102"))
            call = await asyncio.wait_for(calls.__anext__(), WAIT_S)
            transport, probe, worker, running, seen = await start_pipeline(call)
            await asyncio.wait_for(dialing, WAIT_S)
            await wait_until("on_client_connected", lambda: seen["connected"])
            for digit in "5A#":  # pipecat has no KeypadEntry for A: logged and skipped
                assert await caller.press(digit) == 200
            await ev.next("the # event", lambda e: e["event"] == "dtmf" and e["digit"] == "#")
            await wait_until("the DTMF frames", lambda: len(probe.dtmf) >= 2)
            await asyncio.sleep(0.2)
            assert probe.dtmf == ["5", "#"]
            assert [e["via"] for e in ev.seen if e["event"] == "dtmf"] == ["info"] * 3

            await worker.cancel()  # CancelFrame: hang up at once
            await asyncio.wait_for(running, WAIT_S)
            hangup = await ev.next("the host leg's hangup", is_event("hangup", call.call_id))
            assert hangup["hangup_by"] == "agent", hangup
            await wait_until("the stack's BYE", lambda: caller.byes >= 1)
            assert seen["disconnected"] == [] and seen["errors"] == []
        finally:
            if running is not None and not running.done():
                running.cancel()
            caller.close()
            await asyncio.wait_for(stack.shutdown(), WAIT_S)

    asyncio.run(asyncio.wait_for(main(), TEST_S))
