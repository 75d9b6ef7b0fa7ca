"""WebRTC settings: ICE servers, the UDP port range, the public address for host candidates.

Pure. The server turns its flags into one :class:`WebRtcSettings`. ICE servers are also told to
WHIP/WHEP clients in ``Link`` headers (RFC 9725 section 4.6), which :meth:`IceServer.link`
writes.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from media.webrtc.errors import ConfigError

_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


@dataclass(frozen=True, slots=True)
class IceServer:
    """One STUN or TURN server, as in ``RTCIceServer`` (W3C webrtc-pc section 4.2.2)."""

    url: str
    username: str = ""
    credential: str = ""

    def __post_init__(self) -> None:
        if not self.url.startswith(_SCHEMES):
            raise ConfigError(f"ICE server URL {self.url!r} must start with stun:, stuns:, turn: or turns:")
        if self.is_turn and not (self.username and self.credential):
            raise ConfigError(f"TURN server {self.url!r} needs a username and a credential")

    @property
    def is_turn(self) -> bool:
        return self.url.startswith(("turn:", "turns:"))

    @classmethod
    def parse(cls, text: str) -> IceServer:
        """``stun:host:port`` or ``turn:USER:PASS@host:port[?transport=udp]``."""
        scheme, _, rest = text.partition(":")
        if "@" in rest and scheme in ("turn", "turns"):
            creds, _, address = rest.rpartition("@")
            user, _, password = creds.partition(":")
            return cls(f"{scheme}:{address}", user, password)
        return cls(text)

    def link(self) -> str:
        """The ``Link`` header value of RFC 9725 section 4.6."""
        value = f'<{self.url}>; rel="ice-server"'
        if self.is_turn:
            value += (f'; username="{_quote(self.username)}"; credential="{_quote(self.credential)}"'
                      '; credential-type="password"')  # fmt: skip
        return value


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


@dataclass(frozen=True, slots=True)
class WebRtcSettings:
    """What the WHIP/WHEP endpoints need to know about the network.

    ``host_addresses`` are the local addresses to gather host candidates on (empty: every
    non-loopback address, as aioice does); ``public_ip`` replaces their address in the
    candidates we announce (1:1 NAT, e.g. a cloud VM); ``udp_ports`` bounds the local ports.

    Capacity (DESIGN.md, "Who is trusted"): publishers (WHIP, which needs the stream key) have
    a pool of their own, apart from viewers' (WHEP, open to anonymous guests), so no number of
    viewers can keep a performer from going live. Viewers are also capped per address (an
    IPv6 peer counts per /64; 0 turns this cap off, for deployments behind a proxy) and per
    room. A session whose peer connection is not connected ``connect_timeout_s`` after the
    answer is dropped, so offers that never connect hold their UDP sockets only that long.
    """

    ice_servers: tuple[IceServer, ...] = ()
    udp_port_min: int = 0
    udp_port_max: int = 0
    public_ip: str = ""
    host_addresses: tuple[str, ...] = ()
    max_publishers: int = 50
    max_viewers: int = 500
    max_viewers_per_address: int = 10
    max_viewers_per_room: int = 300
    connect_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if (self.udp_port_min or self.udp_port_max) and not (
            0 < self.udp_port_min <= self.udp_port_max <= 65535
        ):
            raise ConfigError(f"bad UDP port range {self.udp_port_min}-{self.udp_port_max}")
        for address in (self.public_ip, *self.host_addresses):
            if address:
                try:
                    ipaddress.ip_address(address)
                except ValueError as exc:
                    raise ConfigError(f"{address!r} is not an IP address") from exc
        caps = (self.max_publishers, self.max_viewers, self.max_viewers_per_room)
        if min(caps) < 1 or self.max_viewers_per_address < 0:
            raise ConfigError("WebRTC session caps must be at least 1 (0 turns the per-address cap off)")
        if self.connect_timeout_s <= 0:
            raise ConfigError("the WebRTC connect timeout must be positive")

    @property
    def port_range(self) -> tuple[int, int] | None:
        return (self.udp_port_min, self.udp_port_max) if self.udp_port_min else None

    def link_headers(self) -> list[str]:
        return [server.link() for server in self.ice_servers]
