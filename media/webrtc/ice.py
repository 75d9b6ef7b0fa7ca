"""ICE gathering under our settings: chosen local addresses, a UDP port range, a public IP.

aiortc gathers host candidates on every non-loopback address with a random port and has no
setting for a port range or a 1:1 NAT address. :func:`apply_ice_policy` replaces the candidate
gathering of each ICE connection of a peer connection (before its local description is set)
with :func:`_gather`, which binds in the configured range and announces ``public_ip`` in place
of the local address. STUN (server-reflexive) and TURN (relayed) candidates are gathered as
aioice does.

aioice lists the host's addresses (``get_host_addresses``: ifaddr walks every interface,
about 1 ms of CPU on the event loop) for every connection it gathers for, even when we then
use the configured ones; :func:`apply_ice_policy` puts a cached copy in its place, kept
:data:`HOST_ADDRESSES_TTL` seconds, since interfaces change rarely and a burst of WHEP offers
would otherwise walk them twice per offer.

This module is the one place that touches aioice's non-public parts (STYLE.md, habit 14):
``Connection.get_component_candidates`` (replaced per connection), ``Connection._protocols``,
``_use_ipv4``/``_use_ipv6``, ``stun_server``/``turn_server``, ``aioice.ice.StunProtocol``,
``get_host_addresses`` and ``server_reflexive_candidate`` (subclassed as
:class:`QuietStunProtocol`, which drops bitrate feedback nothing here uses, see
:mod:`media.webrtc.feedback`); and, for :func:`datagram_route`
(the room's WHEP sender writes its packets straight to the selected pair's socket, as
``Connection.send`` would in the end), ``Connection._nominated``, ``CandidatePair.protocol``
and ``remote_addr``, and ``StunProtocol.transport``. :func:`check_aioice` fails loudly,
naming what is missing, when their shape changed; the server runs it at start-up.

Also :func:`rtc_configuration`: aiortc falls back to a public STUN server when given no ICE
servers at all; we always pass ours explicitly (possibly none), so nothing leaves the host
unless configured.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aioice
from aioice import ice as aioice_ice
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

from media.webrtc.config import WebRtcSettings
from media.webrtc.feedback import is_bitrate_feedback
from media.webrtc.taps import ice_connection

GATHER_TIMEOUT = 5.0
HOST_ADDRESSES_TTL = 10.0
_BIND_TRIES = 64


class CachedHostAddresses:
    """``aioice.ice.get_host_addresses`` with its answers kept ``ttl`` seconds."""

    def __init__(self, lookup: Callable[..., list[str]], ttl: float = HOST_ADDRESSES_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lookup = lookup
        self.ttl = ttl
        self.clock = clock
        self._kept: dict[tuple[bool, bool], tuple[float, list[str]]] = {}

    def __call__(self, use_ipv4: bool, use_ipv6: bool) -> list[str]:
        now = self.clock()
        kept = self._kept.get((use_ipv4, use_ipv6))
        if kept is None or now - kept[0] >= self.ttl:
            kept = self._kept[(use_ipv4, use_ipv6)] = (now, self.lookup(use_ipv4=use_ipv4, use_ipv6=use_ipv6))
        return list(kept[1])


def cache_host_addresses() -> CachedHostAddresses:
    """Put the cached lookup in aioice's place (once); returns it."""
    current = aioice_ice.get_host_addresses
    if not isinstance(current, CachedHostAddresses):
        current = CachedHostAddresses(current)
        aioice_ice.get_host_addresses = current
    return current


class AioiceShapeChanged(RuntimeError):
    """aioice no longer has an internal this module relies on (the message names it)."""


class QuietStunProtocol(aioice_ice.StunProtocol):
    """aioice's protocol for our candidates. For a connection :func:`ignore_bitrate_feedback`
    marked, it drops the peer's bitrate feedback before aioice and aiortc handle it
    (:mod:`media.webrtc.feedback`), counting it in :attr:`feedback_dropped`."""

    feedback_dropped = 0

    def datagram_received(self, data: bytes | str, addr: tuple[Any, ...]) -> None:
        if getattr(self.receiver, "_nal_quiet", False) and isinstance(data, bytes) and is_bitrate_feedback(data):
            self.feedback_dropped += 1
            return
        super().datagram_received(data, addr)


def check_aioice() -> None:
    """Raise ``AioiceShapeChanged`` if aioice no longer has the internals used here."""
    problems = []
    gather = getattr(aioice_ice.Connection, "get_component_candidates", None)
    if gather is None or list(inspect.signature(gather).parameters)[:3] != ["self", "component", "addresses"]:
        problems.append("Connection.get_component_candidates(self, component, addresses, ...)")
    assigned = aioice_ice.Connection.__init__.__code__.co_names
    for name in ("_protocols", "_use_ipv4", "_use_ipv6", "stun_server", "turn_server", "_nominated"):
        if name not in assigned:
            problems.append(f"Connection.{name}")
    for name in ("StunProtocol", "get_host_addresses", "server_reflexive_candidate"):
        if not callable(getattr(aioice_ice, name, None)):
            problems.append(f"aioice.ice.{name}")
    if "protocol" not in aioice_ice.CandidatePair.__init__.__code__.co_names or not isinstance(
            getattr(aioice_ice.CandidatePair, "remote_addr", None), property):
        problems.append("CandidatePair.protocol, CandidatePair.remote_addr")
    if "transport" not in aioice_ice.StunProtocol.connection_made.__code__.co_names:
        problems.append("StunProtocol.transport")
    if "data_received" not in aioice_ice.StunProtocol.datagram_received.__code__.co_names:
        problems.append("StunProtocol.datagram_received passing data on")
    if problems:
        raise AioiceShapeChanged(
            f"aioice {aioice.__version__} changed shape, update media/webrtc/ice.py; missing: "
            + ", ".join(problems)
        )


def datagram_route(connection: Any) -> tuple[asyncio.DatagramTransport, tuple[str, int]] | None:
    """The socket (transport) and address ``connection`` sends its data to (RTP component),
    or None when it has no selected pair (not connected, or closed)."""
    pair = selected_pair(connection)
    return datagram_route_of(pair) if pair is not None else None


def selected_pair(connection: Any) -> Any:
    """The ICE pair ``connection`` sends its data on (RTP component), or None (not connected,
    or closed): compared by identity once per unit, its route looked up when it changes."""
    return connection._nominated.get(1)


def datagram_route_of(pair: Any) -> tuple[asyncio.DatagramTransport, tuple[str, int]]:
    """The socket (transport) and address a selected ``pair`` sends to."""
    return pair.protocol.transport, pair.remote_addr


def rtc_configuration(settings: WebRtcSettings) -> RTCConfiguration:
    servers = [
        RTCIceServer(urls=s.url, username=s.username or None, credential=s.credential or None)
        for s in settings.ice_servers
    ]
    return RTCConfiguration(iceServers=servers)


def new_peer_connection(settings: WebRtcSettings) -> RTCPeerConnection:
    return RTCPeerConnection(configuration=rtc_configuration(settings))


def apply_ice_policy(pc: RTCPeerConnection, settings: WebRtcSettings) -> None:
    """Make every ICE connection of ``pc`` gather by ``settings``. Call it once the
    transceivers exist (after ``addTransceiver`` or ``setRemoteDescription``) and before
    ``setLocalDescription``; connections already patched are left alone."""
    cache_host_addresses()
    for transceiver in pc.getTransceivers():
        for transport in (transceiver.receiver.transport, transceiver.sender.transport):
            connection = ice_connection(transport)
            if not getattr(connection, "_nal_policy", False):
                _patch(connection, settings)


def ignore_bitrate_feedback(pc: RTCPeerConnection) -> None:
    """Drop the REMB ``pc``'s peer sends (a WHEP viewer's: passthrough media has no encoder to
    give a rate to) as it arrives, before aiortc decrypts and parses it."""
    for transceiver in pc.getTransceivers():
        for transport in (transceiver.receiver.transport, transceiver.sender.transport):
            ice_connection(transport)._nal_quiet = True


def _patch(connection: Any, settings: WebRtcSettings) -> None:
    original: Callable[..., Awaitable[list[Candidate]]] = connection.get_component_candidates

    async def get_component_candidates(
        component: int, addresses: list[str], timeout: int = 5
    ) -> list[Candidate]:
        return await _gather(connection, component, settings, original)

    connection.get_component_candidates = get_component_candidates
    connection._nal_policy = True


def host_addresses(settings: WebRtcSettings, connection: Any) -> list[str]:
    if settings.host_addresses:
        return list(settings.host_addresses)
    return aioice_ice.get_host_addresses(use_ipv4=connection._use_ipv4, use_ipv6=connection._use_ipv6)


async def _gather(
    connection: Any,
    component: int,
    settings: WebRtcSettings,
    original: Callable[..., Awaitable[list[Candidate]]],
) -> list[Candidate]:
    protocols = []
    for address in host_addresses(settings, connection):
        protocol = await _bind(connection, address, settings.port_range)
        if protocol is None:
            continue
        local_host, port = protocol.transport.get_extra_info("sockname")[:2]
        announced = settings.public_ip or local_host
        protocol.local_candidate = Candidate(
            foundation=candidate_foundation("host", "udp", announced),
            component=component, transport="udp",
            priority=candidate_priority(component, "host"),
            host=announced, port=port, type="host",
        )  # fmt: skip
        protocols.append(protocol)
    connection._protocols += protocols
    candidates = [p.local_candidate for p in protocols]
    if connection.stun_server and not settings.public_ip:
        candidates += await _reflexive(protocols, connection.stun_server)
    if connection.turn_server:
        candidates += await original(component=component, addresses=[])
    return candidates


async def _bind(connection: Any, address: str, ports: tuple[int, int] | None) -> Any:
    loop = asyncio.get_running_loop()
    choices = [0] if ports is None else random.sample(range(ports[0], ports[1] + 1),
                                                       min(_BIND_TRIES, ports[1] - ports[0] + 1))
    for port in choices:
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: QuietStunProtocol(connection), local_addr=(address, port)
            )
        except OSError:
            continue
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024 * 1024)
        return protocol
    return None


async def _reflexive(protocols: list[Any], stun_server: tuple[str, int]) -> list[Candidate]:
    tasks = [
        asyncio.ensure_future(aioice_ice.server_reflexive_candidate(p, stun_server))
        for p in protocols
        if ":" not in p.local_candidate.host
    ]
    if not tasks:
        return []
    done, pending = await asyncio.wait(tasks, timeout=GATHER_TIMEOUT)
    for task in pending:
        task.cancel()
    return [t.result()[0] for t in done if t.exception() is None]
