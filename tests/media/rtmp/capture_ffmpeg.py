"""Record what ffmpeg sends to an RTMP server: ``python -m tests.media.rtmp.capture_ffmpeg OUT``.

Runs our server (accepting the key ``capturekey``) behind a tiny TCP tap that
writes every client-to-server byte to OUT; ffmpeg publishes 0.5 s of 160x90
H.264 High + AAC.  The result seeds ``test_rtmp_server_session.py``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from media.rtmp.server import Refusal, RtmpServer
from media.rtmp.units import PublishEvent


class _Sink:
    def on_event(self, event: PublishEvent) -> None: ...


class _Handler:
    async def authorize(self, app: str, stream_key: str, peer: str) -> _Sink | Refusal:
        return _Sink() if stream_key == "capturekey" else Refusal()


async def _pipe(
    src: asyncio.StreamReader, dst: asyncio.StreamWriter, tap: bytearray | None
) -> None:
    while data := await src.read(65536):
        if tap is not None:
            tap += data
        dst.write(data)
        await dst.drain()
    dst.close()


async def capture() -> bytes:
    server = RtmpServer(_Handler())
    await server.start("127.0.0.1", 0)
    tap = bytearray()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", server.port)
        await asyncio.gather(_pipe(reader, up_writer, tap), _pipe(up_reader, writer, None))

    proxy = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    args = ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=30", "-f", "lavfi"]
    args += ["-i", "sine=sample_rate=44100", "-c:v", "libx264", "-profile:v", "high", "-g", "10"]
    args += ["-c:a", "aac", "-b:a", "32k", "-t", "0.5", "-f", "flv"]
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", *args, f"rtmp://127.0.0.1:{port}/live/capturekey"
    )
    await asyncio.wait_for(proc.wait(), 30)
    await asyncio.sleep(0.5)
    proxy.close()
    await server.close()
    return bytes(tap)


if __name__ == "__main__":
    Path(sys.argv[1]).write_bytes(asyncio.run(capture()))
