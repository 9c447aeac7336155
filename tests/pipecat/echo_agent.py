"""A real pipecat agent for freya's bridge test: no AI services, just the stock pieces.

FastAPI WebSocket endpoint at /telephony/ws
  -> pipecat's own runner helper ``parse_telephony_websocket`` (detects Twilio from freya's
     ``connected``/``start`` messages and reads ``customParameters``)
  -> FastAPIWebsocketTransport + the stock TwilioFrameSerializer (auto_hang_up=False)
  -> Echo processor: input audio back out as output audio.

DTMF contract (the same as freya's Rust echo agent, freya_media::bridge::echo):
  any digit  -> a Twilio ``mark`` named ``dtmf-<digit>`` (sent through the serializer's
                OutputTransportMessageUrgentFrame passthrough) and a line in --log
  ``*``      -> 2 s of a 600 Hz tone in one ``media`` message (a burst faster than real time)
  ``#``      -> barge-in: ``broadcast_interruption()``; pipecat's serializer sends ``clear``
  ``0``      -> the pipeline is cancelled; pipecat closes the socket

--log PATH gets one JSON object per line: the call data pipecat parsed (``kind: start``) and
every DTMF frame as pipecat delivered it (``kind: dtmf``, with the frame's class name).

Run: python echo_agent.py --port 8765 --log /tmp/agent.jsonl
"""

import argparse
import asyncio
import base64
import json
import math
import sys

import uvicorn
from fastapi import FastAPI, WebSocket
from loguru import logger

from pipecat.audio.utils import create_stream_resampler, pcm_to_ulaw
from pipecat.frames.frames import (
    CancelFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    OutputAudioRawFrame,
    OutputTransportMessageUrgentFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.runner.utils import parse_telephony_websocket
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)

try:  # pipecat >= 1.3: workers; older: tasks
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.workers.runner import WorkerRunner
except ImportError:  # pragma: no cover - older pipecat
    PipelineWorker = None
    from pipecat.pipeline.runner import PipelineRunner
    from pipecat.pipeline.task import PipelineParams, PipelineTask

ARGS = None
app = FastAPI()


def log_line(obj):
    if ARGS.log:
        with open(ARGS.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(obj) + "\n")


def burst_pcm(rate=8000, hz=600.0, ms=2000):
    n = rate * ms // 1000
    samples = [int(round(16384 * math.sin(2 * math.pi * hz * i / rate))) for i in range(n)]
    return b"".join(s.to_bytes(2, "little", signed=True) for s in samples)


class Echo(FrameProcessor):
    """Sends caller audio back; acts on DTMF as described in the module docstring."""

    def __init__(self, stream_sid, end):
        super().__init__()
        self._sid = stream_sid
        self._end = end
        self._resampler = create_stream_resampler()

    def _wire(self, message):
        return OutputTransportMessageUrgentFrame(message=message)

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            await self.push_frame(
                OutputAudioRawFrame(
                    audio=frame.audio, sample_rate=frame.sample_rate, num_channels=frame.num_channels
                )
            )
        elif isinstance(frame, InputDTMFFrame):
            digit = frame.button.value
            log_line({"kind": "dtmf", "frame": type(frame).__name__, "digit": digit})
            mark = {"event": "mark", "streamSid": self._sid, "mark": {"name": f"dtmf-{digit}"}}
            await self.push_frame(self._wire(mark))
            if digit == "*":
                ulaw = await pcm_to_ulaw(burst_pcm(), 8000, 8000, self._resampler)
                media = {
                    "event": "media",
                    "streamSid": self._sid,
                    "media": {"payload": base64.b64encode(ulaw).decode()},
                }
                await self.push_frame(self._wire(media))
            elif digit == "#":
                await self.broadcast_interruption()
            elif digit == "0":
                asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._end()))
        else:
            await self.push_frame(frame, direction)


@app.websocket("/telephony/ws")
async def telephony(websocket: WebSocket):
    await websocket.accept()
    transport_type, call_data = await parse_telephony_websocket(websocket)
    log_line(
        {
            "kind": "start",
            "transport": transport_type,
            "stream_id": call_data.stream_id,
            "call_id": call_data.call_id,
            "from_number": call_data.from_number,
            "to_number": call_data.to_number,
            "body": call_data.body,
        }
    )
    serializer = TwilioFrameSerializer(
        stream_sid=call_data.stream_id,
        call_sid=call_data.call_id,
        params=TwilioFrameSerializer.InputParams(auto_hang_up=False),
    )
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=serializer,
        ),
    )
    params = PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000)
    holder = {}

    async def end():
        await holder["task"].queue_frame(CancelFrame())

    pipeline = Pipeline([transport.input(), Echo(call_data.stream_id, end), transport.output()])
    if PipelineWorker is not None:
        worker = PipelineWorker(pipeline, params=params, idle_timeout_secs=None)
        holder["task"] = worker
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        runner_coro = runner.run()
    else:  # pragma: no cover - older pipecat
        task = PipelineTask(pipeline, params=params, idle_timeout_secs=None)
        holder["task"] = task
        runner_coro = PipelineRunner(handle_sigint=False).run(task)

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(transport, client):
        await holder["task"].queue_frame(CancelFrame())

    await runner_coro
    log_line({"kind": "end"})


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--log", default=None)
    ARGS = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="INFO")
    uvicorn.run(app, host=ARGS.host, port=ARGS.port, log_level="warning")


if __name__ == "__main__":
    main()
