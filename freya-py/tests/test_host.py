"""freya.Stack.host_calls: this process as the voice agent of a ``mode = "host"`` pool.

Real SIP and RTP on 127.0.0.1, no mocks: the stack dials itself; the outbound leg is served
by a built-in echo agent, the inbound leg (numbers under +1417) by this test at 16 kHz.
What the test says goes out as RTP, is echoed by the other leg's agent, and comes back:
checked by frequency (zero crossings), in pure Python.
"""

from __future__ import annotations

import asyncio
import math
import struct

import pytest

import freya
from test_stack import WAIT_S, TEST_S, Recorder, is_event, self_dialing_config

HOST_POOL = """
[[agents]]
name = "inproc"
mode = "host"
slots = 2
sample_rate = 16000
[[routes]]
name = "host"
called = "+1417*"
agents = "inproc"
"""


def tone(hz: float, seconds: float, rate: int = 16000) -> bytes:
    n = int(seconds * rate)
    return struct.pack(
        f"<{n}h", *(round(16384 * math.sin(2 * math.pi * hz * i / rate)) for i in range(n))
    )


def samples(pcm: bytes) -> list:
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


def zero_crossing_hz(x: list, rate: int = 16000) -> float:
    c = [i + x[i] / (x[i] - x[i + 1]) for i in range(len(x) - 1) if x[i] < 0 <= x[i + 1]]
    if len(c) < 2:
        return 0.0
    return rate * (len(c) - 1) / (c[-1] - c[0])


def rms(x: list) -> float:
    return math.sqrt(sum(v * v for v in x) / max(len(x), 1))


def test_a_host_call_hears_its_own_tone_echoed_and_hangs_up():
    async def main() -> None:
        stack = await asyncio.wait_for(
            freya.Stack.start(self_dialing_config() + HOST_POOL), WAIT_S
        )
        try:
            for pool, why in (("echo", "not a host pool"), ("nope", "no such agent pool")):
                with pytest.raises(freya.StackError) as err:
                    stack.host_calls(pool)
                assert err.value.code == "ERR_FREYA_CONFIG" and why in str(err.value)
            calls = stack.host_calls("inproc")
            assert calls.pool == "inproc"
            with pytest.raises(freya.StackError, match="already taken"):
                stack.host_calls("inproc")
            ev = Recorder(stack)
            out_id = await stack.originate(
                {"to": "+14175550100", "trunk": "self", "workflow_id": "wf-host",
                 "headers": [("X-Tenant", "acme")]}
            )
            call = await asyncio.wait_for(calls.__anext__(), WAIT_S)
            assert isinstance(call, freya.HostCall)
            assert call.call_id != out_id and call.sample_rate == 16000
            meta = call.metadata
            assert meta["call_id"] == call.call_id
            assert (meta["direction"], meta["callee"], meta["workflow_id"]) == (
                "inbound", "+14175550100", "wf-host")
            assert ["X-Tenant", "acme"] in [list(h) for h in meta["headers"]]
            with pytest.raises(ValueError, match="16-bit"):
                call.send_audio(b"\x00\x01\x02")

            # One second of 1 kHz in one go: paced out, echoed by the other leg, heard here.
            await call.send_audio(tone(1000.0, 1.0))
            heard: list = []
            found = (0.0, 0.0)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5.0
            while loop.time() < deadline:
                got = await asyncio.wait_for(call.recv(), WAIT_S)
                assert got is not None, "the call ended"
                if got["event"] != "audio":
                    continue
                assert len(got["audio"]) == 640, "20 ms of 16-bit at 16 kHz"
                heard.extend(samples(got["audio"]))
                tail = heard[-3200:]
                if len(heard) >= 3200 and rms(tail) > 2000:
                    found = (zero_crossing_hz(tail), rms(tail))
                    if abs(found[0] - 1000.0) < 15:
                        break
            assert abs(found[0] - 1000.0) < 15, f"heard {found[0]:.1f} Hz at RMS {found[1]:.0f}"

            # Keys both ways (RFC 4733 in each leg's RTP): the outbound leg's reach this host
            # once each; this host's reach the outbound leg (its dtmf events).
            with pytest.raises(ValueError, match="'x'"):
                await stack.send_dtmf(out_id, {"digits": "1x"})
            with pytest.raises(TypeError, match="digts"):
                stack.send_dtmf(out_id, {"digts": "1"})
            await stack.send_dtmf(out_id, {"digits": "159#", "duration_ms": 120})
            keys = []
            deadline = loop.time() + 5.0
            while len(keys) < 4 and loop.time() < deadline:
                got = await asyncio.wait_for(call.recv(), WAIT_S)
                if got is not None and got["event"] == "dtmf":
                    keys.append((got["digit"], got["duration_ms"]))
            assert "".join(k for k, _ in keys) == "159#", keys
            assert all(100 <= ms <= 160 for _, ms in keys), keys
            # Not 0, * or #: the built-in echo agent acts on those (hang-up, burst, clear).
            await call.send_dtmf("19", 80)
            for digit in "19":
                e = await ev.next(f"dtmf {digit}", lambda e, d=digit: e["event"] == "dtmf"
                                  and e["call_id"] == out_id and e["digit"] == d)
                assert e["via"] == "rfc4733"

            # A transfer asked for by the host: the peer (the stack's own outbound leg) takes
            # no REFER (405), so it is refused and the call stays.
            with pytest.raises(ValueError, match='"desk"'):
                await call.transfer("desk")
            target = await call.transfer("sip:desk@127.0.0.1:5999")
            assert target == "sip:desk@127.0.0.1:5999"
            refused = await ev.next("transfer refused", lambda e: e["event"] == "transfer"
                                    and e["call_id"] == call.call_id and e["state"] == "refused")
            assert refused["sip_code"] == 405, refused

            await call.clear()
            await call.hangup()
            hangup = await ev.next("the host leg's hangup", is_event("hangup", call.call_id))
            assert hangup["hangup_by"] == "agent", hangup
            assert hangup["media"]["agent"]["agent_samples_received"] == 8000, hangup
            await ev.next("the other leg's hangup", is_event("hangup", out_id))
            # What was still queued for this host comes first, then the end.
            async def drained() -> None:
                while await call.recv() is not None:
                    pass

            await asyncio.wait_for(drained(), WAIT_S)
            with pytest.raises(freya.StackError) as err:
                await call.send_audio(b"\x00\x00")
            assert err.value.code == "ERR_FREYA_NO_SUCH_CALL"
        finally:
            await asyncio.wait_for(stack.shutdown(), WAIT_S)
        # The stream ends with the stack.
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(calls.__anext__(), WAIT_S)
        with pytest.raises(freya.StackError) as err:
            stack.host_calls("inproc")
        assert err.value.code == "ERR_FREYA_CLOSED"

    asyncio.run(asyncio.wait_for(main(), TEST_S))
