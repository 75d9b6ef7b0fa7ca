"""The asyncio RTMP(S) publisher: ``ClientSession`` over a TCP or TLS socket.

Usage::

    publisher = RtmpPublisher("rtmp://a.rtmp.youtube.com/live2/KEY")
    await publisher.connect()          # raises RefusedError with the server's reason
    publisher.send_video_config(cfg)   # synchronous, never waits
    publisher.send_video(unit)         # False when dropped (see below)
    await publisher.close()

Slow servers: the ``send_*`` methods never wait.  When the socket's write
buffer holds more than ``max_buffer`` bytes, audio and video units are dropped
(and counted in ``dropped_units``) and video stays dropped until the next
keyframe that fits, so the server never sees a unit whose reference is missing.
Codec configs and metadata are always written.  ``await drain()`` waits for
the buffer to empty, for callers that prefer waiting to dropping.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl as ssl_module
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import metrics
from .client_session import ClientSession, PublishStarted, Refused, State
from .errors import ConnectionClosedError, RefusedError, UsageError
from .units import AudioConfig, MediaUnit, VideoConfig

DEFAULT_PORTS = {"rtmp": 1935, "rtmps": 443}


@dataclass(frozen=True, slots=True)
class RtmpUrl:
    """``rtmp[s]://host[:port]/app/stream_key``; the key may contain slashes and a query."""

    scheme: str
    host: str
    port: int
    app: str
    stream_key: str

    @classmethod
    def parse(cls, url: str) -> RtmpUrl:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise UsageError(f"not an rtmp:// or rtmps:// URL: {parts.scheme}://{parts.hostname}")
        app, _, key = parts.path.lstrip("/").partition("/")
        if parts.query:
            key += "?" + parts.query
        if not app or not key:
            raise UsageError("an RTMP publish URL needs /app/stream_key")
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        return cls(parts.scheme, parts.hostname, port, app, key)

    @property
    def tc_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/{self.app}"


class RtmpPublisher:
    def __init__(
        self,
        url: str,
        *,
        ssl: ssl_module.SSLContext | None = None,
        max_buffer: int = 4 * 1024 * 1024,
        timeout: float = 10.0,
    ) -> None:
        self.url = RtmpUrl.parse(url)
        if self.url.scheme == "rtmps" and ssl is None:
            ssl = ssl_module.create_default_context()
        self._ssl = ssl
        self.max_buffer = max_buffer
        self.timeout = timeout
        self.session = ClientSession(self.url.app, self.url.stream_key, self.url.tc_url)
        self.dropped_units = 0
        self.bytes_sent = 0
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._started: asyncio.Future[PublishStarted] | None = None
        self._need_keyframe = False
        self.error: BaseException | None = None

    # -- connecting -------------------------------------------------------------------

    async def connect(self, sock: socket.socket | None = None) -> None:
        """Connect, handshake and publish; raise ``RefusedError`` if the server says no.

        ``sock`` is an already connected TCP socket to use instead of resolving the URL's
        host (for callers that choose and check the address themselves); TLS still names
        and verifies the URL's host, and the tcUrl keeps it.
        """
        loop = asyncio.get_running_loop()
        self._started = loop.create_future()
        where: dict[str, Any] = {"sock": sock} if sock is not None else {"host": self.url.host, "port": self.url.port}
        async with asyncio.timeout(self.timeout):
            reader, self._writer = await asyncio.open_connection(
                **where,
                ssl=self._ssl,
                server_hostname=self.url.host if self._ssl else None,
            )
            self._reader_task = asyncio.create_task(self._read_loop(reader))
            self.session.initiate()
            self._flush()
            try:
                await asyncio.shield(self._started)
            except BaseException:
                await self._abort()
                raise

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while data := await reader.read(65536):
                for event in self.session.receive_data(data):
                    self._on_event(event)
                self._flush()
            raise ConnectionClosedError("the server closed the connection")
        except Exception as exc:
            self.error = exc
            if self._started is not None and not self._started.done():
                self._started.set_exception(exc)

    def _on_event(self, event: object) -> None:
        assert self._started is not None
        if isinstance(event, PublishStarted) and not self._started.done():
            self._started.set_result(event)
        elif isinstance(event, Refused):
            error = RefusedError(event.code, event.description)
            self.error = error
            if not self._started.done():
                self._started.set_exception(error)

    # -- sending ------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Bytes waiting in the socket's write buffer."""
        if self._writer is None:
            return 0
        return self._writer.transport.get_write_buffer_size()

    def _flush(self) -> None:
        data = self.session.data_to_send()
        if data and self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)
            self.bytes_sent += len(data)

    def _check_open(self) -> None:
        if self.error is not None:
            raise ConnectionClosedError(f"publisher failed: {self.error}")
        if self._writer is None or self._writer.is_closing():
            raise ConnectionClosedError("publisher is not connected")

    def _drop(self) -> bool:
        self.dropped_units += 1
        metrics.CLIENT_DROPPED_UNITS.inc()
        return False

    def send_metadata(self, values: Mapping[str, Any]) -> None:
        self._check_open()
        self.session.send_metadata(values)
        self._flush()

    def send_video_config(self, config: VideoConfig) -> None:
        self._check_open()
        self.session.send_video_config(config)
        self._flush()

    def send_audio_config(self, config: AudioConfig) -> None:
        self._check_open()
        self.session.send_audio_config(config)
        self._flush()

    def send_video(self, unit: MediaUnit) -> bool:
        """Queue one video unit; False if dropped because the buffer is full."""
        self._check_open()
        if self.buffered > self.max_buffer:
            self._need_keyframe = True
            return self._drop()
        if self._need_keyframe and not unit.keyframe:
            return self._drop()
        self._need_keyframe = False
        self.session.send_video(unit)
        self._flush()
        return True

    def send_audio(self, unit: MediaUnit) -> bool:
        """Queue one audio unit; False if dropped because the buffer is full."""
        self._check_open()
        if self.buffered > self.max_buffer:
            return self._drop()
        self.session.send_audio(unit)
        self._flush()
        return True

    async def drain(self) -> None:
        self._check_open()
        assert self._writer is not None
        await self._writer.drain()

    # -- closing ------------------------------------------------------------------------

    async def close(self) -> None:
        """Unpublish (if publishing) and close the connection."""
        if self.session.state is State.PUBLISHING and self.error is None:
            self.session.unpublish()
            self._flush()
            with contextlib.suppress(Exception):
                assert self._writer is not None
                async with asyncio.timeout(self.timeout):
                    await self._writer.drain()
        await self._abort(graceful=True)

    async def abort(self) -> None:
        """Drop the connection at once, discarding anything not yet sent."""
        await self._abort(graceful=False)

    async def _abort(self, graceful: bool = False) -> None:
        if self._writer is not None:
            if graceful:
                self._writer.close()
            else:
                self._writer.transport.abort()
            # A peer that stopped reading never lets a graceful close finish: bound it.
            try:
                async with asyncio.timeout(self.timeout):
                    await self._writer.wait_closed()
            except TimeoutError:
                self._writer.transport.abort()
            except Exception:  # noqa: BLE001 - the connection is going away either way
                pass
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task
