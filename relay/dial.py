"""Open the TCP connection of a restream target, to an address the policy allows.

Resolution happens here, once per attempt, off the event loop (``loop.getaddrinfo`` runs
in the default executor). Every address the name resolves to is checked with
:class:`relay.destination.DestinationPolicy` before anything is sent; one refused address
refuses the target (a name that answers with a public and a private address is exactly the
DNS-rebinding trick). Then we connect to the checked addresses themselves and never ask
the resolver again, so a second answer cannot swap the address in between. The caller
runs RTMP (and TLS, naming the URL's host for SNI and the certificate) on the socket.

Failures say :data:`COULD_NOT_CONNECT` and nothing more: a refused port, a silent one, a
name that does not resolve, look the same to the owner (the detail goes to the log), so a
target's status cannot be used to map which ports are open.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import AsyncIterator, Iterable
from typing import Any

from relay import metrics
from relay.destination import OWN, Address, DestinationPolicy, Listener, literal
from relay.errors import DestinationRefused, PublishFailed
from relay.presets import Endpoint

log = logging.getLogger(__name__)

COULD_NOT_CONNECT = "could not connect"
Info = tuple[int, int, int, str, tuple[Any, ...]]


async def dial(endpoint: Endpoint, policy: DestinationPolicy, timeout: float) -> socket.socket:
    """A connected, non-blocking TCP socket to ``endpoint``; DestinationRefused or PublishFailed."""
    async with _generic_timeout(endpoint, timeout):
        infos = await _resolve(endpoint.host, endpoint.port)
        own = await _own_addresses(policy.listeners)
        _check(endpoint, policy, infos, own)
        sock = await _connect(endpoint, infos)
    try:
        _check_not_self(endpoint, policy, sock)
    except BaseException:
        sock.close()
        raise
    return sock


@contextlib.asynccontextmanager
async def _generic_timeout(endpoint: Endpoint, timeout: float) -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(timeout):
            yield
    except TimeoutError:
        log.info("restream %s:%s: no answer in %g s", endpoint.host, endpoint.port, timeout)
        raise PublishFailed(COULD_NOT_CONNECT) from None


async def _resolve(host: str, port: int) -> list[Info]:
    try:
        return await _lookup(host, port)
    except OSError as err:  # socket.gaierror included
        log.info("restream %s:%s: name not resolved: %s", host, port, err)
        raise PublishFailed(COULD_NOT_CONNECT) from None


async def _lookup(host: str, port: int) -> list[Info]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [(int(f), int(k), p, c, tuple(a)) for f, k, p, c, a in infos if f in (socket.AF_INET, socket.AF_INET6)]


async def _own_addresses(listeners: Iterable[Listener]) -> set[tuple[Address, int]]:
    """The addresses our own listeners' names resolve to now (literals need no lookup)."""
    own: set[tuple[Address, int]] = set()
    for listener in listeners:
        if not listener.host or literal(listener.host) is not None:
            continue
        with contextlib.suppress(OSError):
            for info in await _lookup(listener.host, listener.port):
                own.add((ipaddress.ip_address(info[4][0]), listener.port))
    return own


def _check(endpoint: Endpoint, policy: DestinationPolicy, infos: list[Info],
           own: set[tuple[Address, int]]) -> None:
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        rule = policy.refusal(address, endpoint.port, own)
        if rule is not None:
            _refuse(endpoint, address, rule)


def _refuse(endpoint: Endpoint, address: Address, rule: str) -> None:
    metrics.DESTINATION_REFUSED.labels("connect", rule).inc()
    log.warning("restream %s:%s refused: it resolves to %s (%s)", endpoint.host, endpoint.port, address, rule)
    raise DestinationRefused(rule)


async def _connect(endpoint: Endpoint, infos: list[Info]) -> socket.socket:
    """Try the checked addresses in the resolver's order; the first that answers wins."""
    loop = asyncio.get_running_loop()
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, sockaddr)
        except OSError as err:
            sock.close()
            log.info("restream %s:%s: %s: %s", endpoint.host, endpoint.port, sockaddr[0], err.strerror or err)
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise PublishFailed(COULD_NOT_CONNECT)


def _check_not_self(endpoint: Endpoint, policy: DestinationPolicy, sock: socket.socket) -> None:
    """Loop protection for wildcard listeners: the connection turned out to reach this host."""
    local = ipaddress.ip_address(sock.getsockname()[0])
    peer = ipaddress.ip_address(sock.getpeername()[0])
    if policy.is_self(local, peer, endpoint.port):
        _refuse(endpoint, peer, OWN)
