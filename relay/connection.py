"""asyncio I/O for :class:`relay.rtmp_publish.PublishSession`: TCP, or TLS for RTMPS.

It only translates: socket bytes into ``receive_data``, ``data_to_send()`` onto the
socket. TLS verifies the server against the system CA store plus an optional PEM bundle
(private endpoints). A server that closes the connection right after our ``publish``
without a status is taken to refuse the key (nginx-rtmp does this when ``on_publish``
says no); any other early close, reset or timeout is a network failure worth retrying.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterable

from relay.errors import KeyRefused, PublishFailed
from relay.presets import Endpoint
from relay.remux import Tag
from relay.rtmp_publish import Accepted, PublishSession, Refused, State

READ_SIZE = 64 * 1024
CONNECT_TIMEOUT = 10.0


def tls_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """Verify servers against the system store, plus ``ca_bundle`` (PEM) when given."""
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


class RtmpConnection:
    """One live publishing connection; open with :meth:`open`."""

    def __init__(self, session: PublishSession, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.session = session
        self.bytes_sent = 0
        self._reader = reader
        self._writer = writer
        self._closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._listen: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, endpoint: Endpoint, key: str, *, ca_bundle: str | None = None,
                   timeout: float = CONNECT_TIMEOUT) -> RtmpConnection:
        """Connect, handshake and publish; raise KeyRefused or PublishFailed if that fails."""
        context = tls_context(ca_bundle) if endpoint.tls else None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    endpoint.host, endpoint.port, ssl=context,
                    server_hostname=endpoint.host if context else None)
                conn = cls(PublishSession(endpoint, key), reader, writer)
                try:
                    await conn._publish()
                except BaseException:
                    conn.abort()
                    raise
        except TimeoutError:
            raise PublishFailed(f"no answer from {endpoint.host}:{endpoint.port} in {timeout:g} s") from None
        except ssl.SSLError as err:
            raise PublishFailed(f"TLS with {endpoint.host} failed: {err.reason or err}") from None
        except OSError as err:
            raise PublishFailed(f"cannot reach {endpoint.host}:{endpoint.port}: {err.strerror or err}") from None
        return conn

    async def _publish(self) -> None:
        self._write(self.session.start())
        while True:
            data = await self._reader.read(READ_SIZE)
            if not data:
                raise self._early_close()
            for event in self.session.receive_data(data):
                if isinstance(event, Refused):
                    raise KeyRefused(f"{event.code}: {event.description}".rstrip(": "))
                if isinstance(event, Accepted):
                    self._flush()
                    self._listen = asyncio.create_task(self._listen_loop())
                    return
            self._flush()
            await self._writer.drain()

    def _early_close(self) -> PublishFailed:
        if self.session.state is State.PUBLISHING:
            return KeyRefused("the server closed the connection when asked to publish (stream key refused)")
        return PublishFailed(f"the server closed the connection while {self.session.state.value}")

    async def _listen_loop(self) -> None:
        """Keep reading while live (acknowledgements, pings, a late error status)."""
        reason = "the server closed the connection"
        try:
            while data := await self._reader.read(READ_SIZE):
                for event in self.session.receive_data(data):
                    if isinstance(event, Refused):
                        reason = f"{event.code}: {event.description}".rstrip(": ")
                        return
                self._flush()
        except (OSError, PublishFailed) as err:
            reason = f"connection lost: {err}"
        finally:
            if not self._closed.done():
                self._closed.set_result(reason)

    @property
    def closed(self) -> asyncio.Future[str]:
        """Resolves with a reason when the server ends the connection."""
        return self._closed

    async def send(self, tags: Iterable[Tag]) -> None:
        """Publish tags; waits while the socket is backed up (the hub reader then drops)."""
        if self._closed.done():
            raise PublishFailed(self._closed.result())
        for tag in tags:
            self.session.send_tag(tag)
        self._flush()
        try:
            await self._writer.drain()
        except OSError as err:
            raise PublishFailed(f"connection lost: {err.strerror or err}") from None

    def _flush(self) -> None:
        self._write(self.session.data_to_send())

    def _write(self, data: bytes) -> None:
        if data:
            self.bytes_sent += len(data)
            self._writer.write(data)

    async def close(self) -> None:
        """Unpublish politely and close; never raises."""
        with contextlib.suppress(OSError, PublishFailed):
            self.session.unpublish()
            self._flush()
        self.abort()
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            async with asyncio.timeout(2):
                await self._writer.wait_closed()
        if self._listen is not None:
            self._listen.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listen

    def abort(self) -> None:
        self._writer.close()
        if not self._closed.done():
            self._closed.set_result("closed by us")
