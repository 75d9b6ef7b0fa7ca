"""Where a restream target may connect: the destination policy (pure, no I/O).

A room owner is not trusted (DESIGN.md, "Who is trusted"), and a custom target makes the
server open a TCP connection wherever its URL says. Without a policy that is a server-side
request forgery: the owner reaches the server's own network, the cloud metadata service,
or the server's own ingest (one upload fanning out to many copies of itself). The rules:

* **Syntax, when a target is saved** (:func:`check_netloc`): the host is a DNS name
  (letters, digits, hyphens; ``xn--`` for international names), a canonical dotted-quad
  IPv4 address, or a bracketed IPv6 address without a zone. The other spellings of IPv4
  that resolvers accept (``2130706433``, ``0x7f.1``, ``017700000001``, ``127.1``) are
  refused, as are user info (``user@``), percent-escapes, a trailing dot and an empty or
  zero-padded port. Ports below 1024 other than 80 and 443 are other services, not ingest.
* **Addresses** (:meth:`DestinationPolicy.refusal`, checked for a literal when a target is
  saved and for every resolved address before connecting, see :mod:`relay.dial`): the
  ranges in :data:`V4_RULES` and :data:`V6_RULES` are refused, and an IPv6 address that
  embeds an IPv4 one (mapped, compatible, translated, NAT64, 6to4) is judged by the IPv4
  address too. IPv6 outside global unicast (2000::/3) is reserved.
* **Allow private** (``--relay-allow-private``, the operator's choice, e.g. an nginx on the
  same host or LAN) lifts only the ``loopback`` and ``private`` rules. Link-local (cloud
  metadata lives at 169.254.169.254), multicast, broadcast, unspecified and reserved
  addresses stay refused.
* **Our own listeners** (the HTTP and RTMP addresses, and the public URLs' hosts) are
  refused always, allow-private or not: that is loop protection. A listener bound to a
  wildcard (``0.0.0.0``, ``::``) owns its port on every loopback address, and on whichever
  address a connection finds to be this host (:meth:`DestinationPolicy.is_self`).

Refusal rule names (:data:`RULES`) label the metrics and the log; the owner only ever
reads "destination not allowed" for an address found when connecting.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from relay.errors import BadDestination

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Net = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK, PRIVATE, LINK_LOCAL, MULTICAST = "loopback", "private", "link_local", "multicast"
UNSPECIFIED, RESERVED, BROADCAST, OWN = "unspecified", "reserved", "broadcast", "own_listener"
RULES = (LOOPBACK, PRIVATE, LINK_LOCAL, MULTICAST, UNSPECIFIED, RESERVED, BROADCAST, OWN)
WAIVED_BY_ALLOW_PRIVATE = frozenset({LOOPBACK, PRIVATE})


def _nets(*pairs: tuple[str, str]) -> tuple[tuple[Net, str], ...]:
    return tuple((ipaddress.ip_network(net), rule) for net, rule in pairs)


# Most specific first; the first match decides (RFC 6890 and the IANA special-purpose registries).
V4_RULES = _nets(
    ("255.255.255.255/32", BROADCAST),   # RFC 919
    ("0.0.0.0/8", UNSPECIFIED),          # "this network", RFC 1122
    ("127.0.0.0/8", LOOPBACK),           # RFC 1122
    ("10.0.0.0/8", PRIVATE),             # RFC 1918
    ("172.16.0.0/12", PRIVATE),          # RFC 1918
    ("192.168.0.0/16", PRIVATE),         # RFC 1918
    ("100.64.0.0/10", PRIVATE),          # carrier-grade NAT, RFC 6598
    ("169.254.0.0/16", LINK_LOCAL),      # RFC 3927; 169.254.169.254 is the cloud metadata service
    ("192.0.0.0/24", RESERVED),          # IETF protocol assignments, RFC 6890
    ("192.0.2.0/24", RESERVED),          # documentation, RFC 5737
    ("198.51.100.0/24", RESERVED),       # documentation
    ("203.0.113.0/24", RESERVED),        # documentation
    ("198.18.0.0/15", RESERVED),         # benchmarking, RFC 2544
    ("192.88.99.0/24", RESERVED),        # 6to4 relay anycast, RFC 7526
    ("224.0.0.0/4", MULTICAST),          # RFC 5771
    ("240.0.0.0/4", RESERVED),           # RFC 1112
)
V6_RULES = _nets(
    ("::/128", UNSPECIFIED),             # RFC 4291
    ("::1/128", LOOPBACK),               # RFC 4291
    ("fe80::/10", LINK_LOCAL),           # RFC 4291
    ("fc00::/7", PRIVATE),               # unique local, RFC 4193
    ("fec0::/10", PRIVATE),              # site-local (deprecated), RFC 3879
    ("ff00::/8", MULTICAST),             # RFC 4291
    ("64:ff9b:1::/48", PRIVATE),         # local-use NAT64, RFC 8215
    ("2001::/23", RESERVED),             # IETF protocol assignments (Teredo, ORCHID...), RFC 2928
    ("2001:db8::/32", RESERVED),         # documentation, RFC 3849
    ("100::/64", RESERVED),              # discard-only, RFC 6666
)
GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
NAT64 = ipaddress.ip_network("64:ff9b::/96")         # RFC 6052
COMPATIBLE = ipaddress.ip_network("::/96")           # RFC 4291 (deprecated)
TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # RFC 2765

LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
NUMERIC_LABEL_RE = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")
NETLOC_RE = re.compile(r"^(?P<host>\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(?P<port>[0-9]*))?$")
MAX_HOST = 253
ALLOWED_LOW_PORTS = frozenset({80, 443})


# -- syntax ----------------------------------------------------------------------------------


def check_netloc(netloc: str) -> tuple[str, int | None]:
    """(host, port or None) of a URL's authority, or BadDestination (see the module rules)."""
    if "@" in netloc:
        raise BadDestination("url must not carry a user name or password; use 'key'", "userinfo")
    m = NETLOC_RE.match(netloc.lower())
    if m is None:
        raise BadDestination("url host must be a DNS name (xn-- for international names) "
                             "or an IP address", "host_syntax")
    host, raw_port = m["host"], m["port"]
    if host.startswith("["):
        host = _check_ipv6(host[1:-1])
    else:
        _check_name(host)
    return host, None if raw_port is None else _check_port(raw_port)


def _check_ipv6(text: str) -> str:
    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        raise BadDestination("url has a malformed IPv6 address", "host_syntax") from None


def _check_name(host: str) -> None:
    labels = host.split(".")
    if NUMERIC_LABEL_RE.match(labels[-1]):
        # Resolvers read a name ending in a number as IPv4 in any of its old spellings.
        if not _is_dotted_quad(host):
            raise BadDestination("an IPv4 address must be written as four decimal numbers "
                                 "(a.b.c.d, no leading zeros)", "ip_form")
        return
    if len(host) > MAX_HOST or not all(LABEL_RE.match(label) for label in labels):
        raise BadDestination("url host must be a DNS name (xn-- for international names) "
                             "or an IP address", "host_syntax")


def _is_dotted_quad(host: str) -> bool:
    try:
        return str(ipaddress.IPv4Address(host)) == host
    except ValueError:
        return False


def _check_port(raw: str) -> int:
    if not raw or raw.startswith("0") or len(raw) > 5 or not 0 < int(raw) <= 65535:
        raise BadDestination("url has a bad port (1 to 65535, no leading zeros)", "port")
    port = int(raw)
    if port < 1024 and port not in ALLOWED_LOW_PORTS:
        raise BadDestination("ports below 1024 other than 80 and 443 are not ingest ports", "port")
    return port


def literal(host: str) -> Address | None:
    """The address a host names literally (``1.2.3.4``, ``::1``), else None for a DNS name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


# -- addresses ---------------------------------------------------------------------------------


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, translated, NAT64, 6to4)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in net for net in (NAT64, TRANSLATED, COMPATIBLE)) and int(address) & 0xFFFFFFFF > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def classify(address: Address) -> str | None:
    """The rule that refuses ``address`` whoever asks, or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(int(address))  # the zone does not change the range
    inner = embedded_ipv4(address)
    if inner is not None:
        return classify(inner)
    table = V4_RULES if isinstance(address, ipaddress.IPv4Address) else V6_RULES
    for net, rule in table:
        if address in net:
            return rule
    if isinstance(address, ipaddress.IPv6Address) and address not in GLOBAL_UNICAST:
        return RESERVED
    return None


@dataclass(frozen=True, slots=True)
class Listener:
    """One of our own listening addresses: ``host`` is an IP, a wildcard or a DNS name."""

    host: str
    port: int

    @property
    def wildcard(self) -> bool:
        address = literal(self.host)
        return self.host == "" or (address is not None and address.is_unspecified)


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    """Which addresses restream targets may connect to (see the module rules)."""

    allow_private: bool = False
    listeners: tuple[Listener, ...] = ()

    def refusal(self, address: Address, port: int, own: Iterable[tuple[Address, int]] = ()) -> str | None:
        """The rule refusing ``address:port``, or None. ``own`` adds our listeners' resolved addresses."""
        rule = classify(address)
        if self._is_own(address, port, own):
            return OWN
        if rule in WAIVED_BY_ALLOW_PRIVATE and self.allow_private:
            return None
        return rule

    def _is_own(self, address: Address, port: int, own: Iterable[tuple[Address, int]]) -> bool:
        plain = _unwrap(address)
        for listener in self.listeners:
            if listener.port != port:
                continue
            if listener.wildcard and (plain.is_loopback or plain.is_unspecified):
                return True
            if literal(listener.host) in (address, plain):
                return True
        return any(port == p and a in (address, plain) for a, p in own)

    def is_self(self, local: Address, peer: Address, port: int) -> bool:
        """A connection from ``local`` to ``peer:port`` reached one of our wildcard listeners.

        A connection to an address of this very host leaves from that same address (or
        runs on loopback), so the pair tells what the URL could not.
        """
        peer, local = _unwrap(peer), _unwrap(local)
        here = peer == local or peer.is_loopback
        return here and any(lst.wildcard and lst.port == port for lst in self.listeners)

    def refusal_for_host(self, host: str, port: int) -> str | None:
        """What can be refused when a target is saved, before any lookup: a literal address,
        or a name that is one of our listeners' own names."""
        address = literal(host)
        if address is not None:
            return self.refusal(address, port)
        if any(lst.host.lower().rstrip(".") == host and lst.port == port for lst in self.listeners):
            return OWN
        return None


URL_PORTS = {"http": 80, "https": 443, "rtmp": 1935, "rtmps": 443}


def server_policy(allow_private: bool, binds: Iterable[tuple[str, int]], urls: Iterable[str]) -> DestinationPolicy:
    """The policy of a server listening on ``binds`` (HTTP, RTMP) and reached at ``urls``
    (its public HTTP and RTMP URLs; empty ones are skipped): all of them are ours."""
    listeners = [Listener(host, port) for host, port in binds]
    for url in urls:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            continue
        if parts.hostname and parts.scheme in URL_PORTS:
            listeners.append(Listener(parts.hostname, port or URL_PORTS[parts.scheme]))
    return DestinationPolicy(allow_private=allow_private, listeners=tuple(listeners))


def _unwrap(address: Address) -> Address:
    return embedded_ipv4(address) or address
