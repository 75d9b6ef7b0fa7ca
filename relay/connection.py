"""The relay's side of :class:`media.rtmp.client.RtmpPublisher`: errors and backpressure.

It only translates:

* Where to publish: an :class:`relay.presets.Endpoint` and the key become the publisher's
  URL; RTMPS verifies the server against the system CA store plus an optional PEM bundle
  (private endpoints).
* Where to connect: :mod:`relay.dial` resolves the host, checks every address against the
  destination policy and hands over a connected socket; TLS still names the URL's host.
* Errors: the server's refusal (``RefusedError``, or a close right after our ``publish``
  without a status, which is how nginx-rtmp says no when ``on_publish`` refuses) becomes
  :class:`relay.errors.KeyRefused`; a refused address :class:`relay.errors.DestinationRefused`;
  a reset, a timeout, a TLS failure, an early close before the publish becomes
  :class:`relay.errors.PublishFailed` saying only "could not connect" (the detail is
  logged: an owner must not tell an open port from a closed one), worth retrying. Once
  live, a broken connection says what broke. Reasons never carry the key.
* Backpressure: after each batch we wait for the socket to drain, so a slow server backs
  up the target's own hub reader, which drops to the next keyframe (the publisher's own
  drop-on-full never has to act). A server that takes nothing for ``STALL_TIMEOUT``
  seconds is given up on (and retried like any broken connection).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Iterable
from typing import NoReturn

from media.rtmp.client import RtmpPublisher
from media.rtmp.client_session import State
from media.rtmp.errors import ConnectionClosedError, RefusedError, RtmpError
from media.rtmp.from_hub import Out
from media.rtmp.units import AudioConfig, MediaUnit, Metadata, VideoConfig
from relay.destination import DestinationPolicy
from relay.dial import COULD_NOT_CONNECT, dial
from relay.errors import KeyRefused, PublishFailed
from relay.keybox import mask
from relay.presets import Endpoint

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
CLOSE_TIMEOUT = 3.0
STALL_TIMEOUT = 20.0


def tls_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """Verify servers against the system store, plus ``ca_bundle`` (PEM) when given."""
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def publish_url(endpoint: Endpoint, key: str) -> str:
    app, _, query = endpoint.app.partition("?")
    scheme = "rtmps" if endpoint.tls else "rtmp"
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return f"{scheme}://{host}:{endpoint.port}/{app}/{key}" + (f"?{query}" if query else "")


def reason(err: BaseException, key: str) -> str:
    """A failure's reason as the owner sees it: the server's words, the key masked."""
    if isinstance(err, RefusedError):
        text = f"{err.code}: {err.description}".rstrip(": ")
    elif isinstance(err, ssl.SSLError):
        text = f"TLS failed: {getattr(err, 'reason', None) or err}"
    elif isinstance(err, TimeoutError):
        text = "no answer from the server in time"
    elif isinstance(err, OSError):
        text = f"network: {err.strerror or err}"
    else:
        text = str(err) or type(err).__name__
    return text.replace(key, mask(key))[:300] if key else text[:300]


class RtmpConnection:
    """One live publishing connection; open with :meth:`open`."""

    def __init__(self, publisher: RtmpPublisher, key: str, stall_timeout: float = STALL_TIMEOUT) -> None:
        self.publisher = publisher
        self.stall_timeout = stall_timeout
        self._key = key

    @property
    def bytes_sent(self) -> int:
        return self.publisher.bytes_sent

    @property
    def dropped(self) -> int:
        return self.publisher.dropped_units

    @classmethod
    async def open(cls, endpoint: Endpoint, key: str, *, policy: DestinationPolicy, ca_bundle: str | None = None,
                   timeout: float = CONNECT_TIMEOUT) -> RtmpConnection:
        """Connect (to an address ``policy`` allows, :mod:`relay.dial`), handshake and publish.

        Raises KeyRefused when the server refused the key, DestinationRefused when the policy
        refused the address, and PublishFailed saying only "could not connect" for anything
        else before the publish (see :mod:`relay.dial` for why; the detail is logged).
        """
        sock = await dial(endpoint, policy, timeout)
        context = tls_context(ca_bundle) if endpoint.tls else None
        publisher = RtmpPublisher(publish_url(endpoint, key), ssl=context, timeout=timeout)
        try:
            await cls._publish(publisher, endpoint, sock, key)
        except BaseException:
            sock.close()  # the transport closes it too when it got that far; twice is harmless
            raise
        return cls(publisher, key)

    @classmethod
    async def _publish(cls, publisher: RtmpPublisher, endpoint: Endpoint, sock: socket.socket, key: str) -> None:
        try:
            await publisher.connect(sock)
        except RefusedError as err:
            raise KeyRefused(reason(err, key)) from None
        except ConnectionClosedError:
            if publisher.session.state is State.PUBLISH_SENT:
                raise KeyRefused("the server closed the connection when asked to publish "
                                 "(stream key refused)") from None
            cls._failed(endpoint, f"the server closed the connection ({publisher.session.state.value})")
        except (OSError, TimeoutError, RtmpError) as err:
            cls._failed(endpoint, reason(err, key))

    @staticmethod
    def _failed(endpoint: Endpoint, detail: str) -> NoReturn:
        log.info("restream %s:%s: could not connect: %s", endpoint.host, endpoint.port, detail)
        raise PublishFailed(COULD_NOT_CONNECT)

    async def send(self, items: Iterable[Out]) -> None:
        """Publish, then wait for the socket to drain (see the module docstring)."""
        p = self.publisher
        try:
            for item in items:
                if isinstance(item, MediaUnit):
                    (p.send_video if item.track == "video" else p.send_audio)(item)
                elif isinstance(item, VideoConfig):
                    p.send_video_config(item)
                elif isinstance(item, AudioConfig):
                    p.send_audio_config(item)
                elif isinstance(item, Metadata):
                    p.send_metadata(item.values)
            async with asyncio.timeout(self.stall_timeout):
                await p.drain()
        except TimeoutError:
            raise PublishFailed(f"the server took nothing for {self.stall_timeout:g} s") from None
        except (RtmpError, OSError) as err:
            raise PublishFailed(f"connection lost: {reason(err, self._key)}") from None

    async def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Unpublish politely and close within ``timeout``; never raises.

        A stalled server never drains our buffer, and a graceful close would wait for it
        forever; past the timeout the transport is aborted.
        """
        try:
            async with asyncio.timeout(timeout):
                await self.publisher.close()
        except (RtmpError, OSError, TimeoutError):
            await self.publisher.abort()
