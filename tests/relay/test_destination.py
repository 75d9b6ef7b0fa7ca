"""The destination policy of restream targets, as tables: host syntax, address ranges both
ways, allow-private, and our own listeners."""

from __future__ import annotations

import ipaddress

import pytest

from relay.destination import (
    DestinationPolicy,
    Listener,
    check_netloc,
    classify,
    embedded_ipv4,
    server_policy,
)
from relay.errors import BadDestination

ip = ipaddress.ip_address


@pytest.mark.parametrize(("netloc", "expected"), [
    ("a.rtmp.youtube.com", ("a.rtmp.youtube.com", None)),
    ("live.twitch.tv:443", ("live.twitch.tv", 443)),
    ("Ingest.Example.NET:1935", ("ingest.example.net", 1935)),
    ("fra05.contribute.live-video.net", ("fra05.contribute.live-video.net", None)),
    ("xn--bcher-kva.example:8443", ("xn--bcher-kva.example", 8443)),
    ("nginx:19350", ("nginx", 19350)),
    ("123.example.com", ("123.example.com", None)),
    ("example.x0", ("example.x0", None)),
    ("8.8.8.8", ("8.8.8.8", None)),
    ("8.8.8.8:80", ("8.8.8.8", 80)),
    ("[2001:4860:4860::8888]:1935", ("2001:4860:4860::8888", 1935)),
    ("[2001:4860:4860:0:0:0:0:8888]", ("2001:4860:4860::8888", None)),
    ("example.net:65535", ("example.net", 65535)),
])
def test_hosts_and_ports_accepted(netloc: str, expected: tuple[str, int | None]) -> None:
    assert check_netloc(netloc) == expected


@pytest.mark.parametrize(("netloc", "rule"), [
    # IPv4 in the spellings resolvers also accept: all 127.0.0.1.
    ("2130706433", "ip_form"),
    ("0x7f.1", "ip_form"),
    ("0x7f000001", "ip_form"),
    ("017700000001", "ip_form"),
    ("0177.0.0.1", "ip_form"),
    ("127.1", "ip_form"),
    ("127.0.1", "ip_form"),
    ("127.0.0.01", "ip_form"),
    ("1.2.3.4.5", "ip_form"),
    ("example.com.1", "ip_form"),
    ("example.0x1f", "ip_form"),
    ("example.0x", "ip_form"),
    ("169.254.43518", "ip_form"),
    # User info, however spelled.
    ("user@example.net", "userinfo"),
    ("user:pw@example.net", "userinfo"),
    ("@example.net", "userinfo"),
    ("example.net\\@evil.example", "userinfo"),
    # Names that are not DNS names.
    ("h%6fst.example", "host_syntax"),
    ("exämple.com", "host_syntax"),
    ("example.net.", "host_syntax"),
    ("-bad.example", "host_syntax"),
    ("bad-.example", "host_syntax"),
    ("a..b", "host_syntax"),
    ("a b", "host_syntax"),
    ("a_b.example", "host_syntax"),
    ("a" * 64 + ".example", "host_syntax"),
    (".".join(["a" * 60] * 5), "host_syntax"),
    ("[fe80::1%25eth0]", "host_syntax"),
    ("[::ffff:zz]", "host_syntax"),
    ("[1.2.3.4]", "host_syntax"),
    ("::1", "host_syntax"),
    ("", "host_syntax"),
    # Ports.
    ("example.net:", "port"),
    ("example.net:0", "port"),
    ("example.net:01935", "port"),
    ("example.net:+1935", "host_syntax"),
    ("example.net:65536", "port"),
    ("example.net:99999", "port"),
    ("example.net:123456", "port"),
    ("example.net:22", "port"),
    ("example.net:25", "port"),
    ("example.net:1023", "port"),
])
def test_hosts_and_ports_refused(netloc: str, rule: str) -> None:
    with pytest.raises(BadDestination) as caught:
        check_netloc(netloc)
    assert caught.value.rule == rule


@pytest.mark.parametrize(("address", "rule"), [
    ("127.0.0.1", "loopback"), ("127.255.255.254", "loopback"),
    ("10.0.0.1", "private"), ("10.255.255.255", "private"),
    ("172.16.0.1", "private"), ("172.31.255.255", "private"),
    ("192.168.0.1", "private"), ("192.168.255.255", "private"),
    ("100.64.0.1", "private"), ("100.127.255.255", "private"),
    ("169.254.169.254", "link_local"), ("169.254.0.1", "link_local"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"),
    ("0.0.0.0", "unspecified"), ("0.1.2.3", "unspecified"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"), ("192.0.2.1", "reserved"), ("198.51.100.7", "reserved"),
    ("203.0.113.9", "reserved"), ("198.18.0.1", "reserved"), ("192.0.0.8", "reserved"),
    ("::1", "loopback"), ("::", "unspecified"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:7f00:1", "loopback"),
    ("::ffff:10.1.2.3", "private"), ("::ffff:169.254.169.254", "link_local"),
    ("::127.0.0.1", "loopback"), ("::10.0.0.1", "private"),
    ("::ffff:0:127.0.0.1", "loopback"),
    ("64:ff9b::10.0.0.1", "private"), ("64:ff9b::169.254.169.254", "link_local"),
    ("64:ff9b:1::1", "private"),
    ("2002:7f00:1::", "loopback"), ("2002:a9fe:a9fe::1", "link_local"), ("2002:c0a8:101::", "private"),
    ("fe80::1", "link_local"), ("fe80::1%eth0", "link_local"), ("febf::1", "link_local"),
    ("fc00::1", "private"), ("fd00::2", "private"), ("fec0::1", "private"),
    ("ff02::1", "multicast"), ("ff05::1:3", "multicast"),
    ("2001:db8::1", "reserved"), ("2001::1", "reserved"), ("2001:10::1", "reserved"),
    ("100::1", "reserved"), ("4000::1", "reserved"), ("::1:0:0:1", "reserved"), ("::2:1", "unspecified"),
])
def test_refused_addresses(address: str, rule: str) -> None:
    assert classify(ip(address)) == rule
    assert DestinationPolicy().refusal(ip(address), 1935) == rule


@pytest.mark.parametrize("address", [
    "8.8.8.8", "1.1.1.1", "142.250.74.46", "172.32.0.1", "172.15.255.255", "100.128.0.1", "100.63.255.255",
    "169.253.255.255", "223.255.255.255", "11.0.0.1", "192.169.0.1",
    "2001:4860:4860::8888", "2a00:1450:4001::200e", "2606:4700::1111", "3fff:ffff::1",
    "::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1",
])
def test_public_addresses_pass(address: str) -> None:
    assert classify(ip(address)) is None
    assert DestinationPolicy().refusal(ip(address), 1935) is None


@pytest.mark.parametrize(("address", "allowed"), [
    ("127.0.0.1", True), ("::1", True), ("10.1.1.1", True), ("192.168.1.5", True), ("100.64.0.9", True),
    ("fd12:3456::1", True), ("::ffff:192.168.1.5", True),
    ("169.254.169.254", False), ("fe80::1", False), ("::ffff:169.254.169.254", False),
    ("224.0.0.1", False), ("ff02::1", False), ("0.0.0.0", False), ("::", False),
    ("255.255.255.255", False), ("240.0.0.1", False), ("2001:db8::1", False),
])
def test_allow_private_lifts_only_loopback_and_private(address: str, allowed: bool) -> None:
    policy = DestinationPolicy(allow_private=True)
    assert (policy.refusal(ip(address), 1935) is None) is allowed


HERE = (Listener("127.0.0.1", 8080), Listener("127.0.0.1", 1935))


@pytest.mark.parametrize(("policy", "address", "port", "rule"), [
    # Our own listeners are refused with allow-private too: loop protection.
    (DestinationPolicy(True, HERE), "127.0.0.1", 1935, "own_listener"),
    (DestinationPolicy(True, HERE), "127.0.0.1", 8080, "own_listener"),
    (DestinationPolicy(True, HERE), "::ffff:127.0.0.1", 1935, "own_listener"),
    (DestinationPolicy(True, HERE), "127.0.0.1", 1936, None),
    (DestinationPolicy(True, HERE), "127.0.0.2", 1935, None),
    (DestinationPolicy(False, HERE), "127.0.0.1", 1935, "own_listener"),
    (DestinationPolicy(False, HERE), "127.0.0.1", 1936, "loopback"),
    # A wildcard bind owns its port on every loopback address.
    (DestinationPolicy(True, (Listener("0.0.0.0", 1935),)), "127.0.0.1", 1935, "own_listener"),
    (DestinationPolicy(True, (Listener("0.0.0.0", 1935),)), "127.3.2.1", 1935, "own_listener"),
    (DestinationPolicy(True, (Listener("::", 1935),)), "::1", 1935, "own_listener"),
    (DestinationPolicy(True, (Listener("", 1935),)), "0.0.0.0", 1935, "own_listener"),
    (DestinationPolicy(True, (Listener("0.0.0.0", 1935),)), "10.0.0.7", 1935, None),
    # A listener on a public address.
    (DestinationPolicy(False, (Listener("8.8.4.4", 1935),)), "8.8.4.4", 1935, "own_listener"),
    (DestinationPolicy(False, (Listener("8.8.4.4", 1935),)), "::ffff:8.8.4.4", 1935, "own_listener"),
    (DestinationPolicy(False, (Listener("8.8.4.4", 1935),)), "8.8.4.4", 1936, None),
])
def test_own_listeners(policy: DestinationPolicy, address: str, port: int, rule: str | None) -> None:
    assert policy.refusal(ip(address), port) == rule


def test_own_listener_names_when_saved_and_when_resolved() -> None:
    policy = DestinationPolicy(listeners=(Listener("live.example.com", 1935),))
    assert policy.refusal_for_host("live.example.com", 1935) == "own_listener"
    assert policy.refusal_for_host("live.example.com", 1936) is None
    assert policy.refusal_for_host("other.example.com", 1935) is None
    resolved = {(ip("8.8.4.4"), 1935)}
    assert policy.refusal(ip("8.8.4.4"), 1935, resolved) == "own_listener"
    assert policy.refusal(ip("8.8.4.4"), 1936, resolved) is None


@pytest.mark.parametrize(("host", "rule"), [
    ("127.0.0.1", "loopback"), ("169.254.169.254", "link_local"), ("::ffff:169.254.169.254", "link_local"),
    ("fd00::1", "private"), ("8.8.8.8", None), ("localhost", None), ("a.rtmp.youtube.com", None),
])
def test_what_is_refused_when_saved(host: str, rule: str | None) -> None:
    """Literals are judged at once; names only when connecting (what they resolve to then)."""
    assert DestinationPolicy().refusal_for_host(host, 1935) == rule


@pytest.mark.parametrize(("local", "peer", "port", "is_self"), [
    ("192.0.2.2", "192.0.2.2", 1935, True),     # this host's own address, our port
    ("fd00::2", "fd00::2", 1935, True),
    ("127.0.0.1", "127.0.0.1", 1935, True),
    ("::ffff:192.0.2.2", "192.0.2.2", 1935, True),
    ("192.0.2.2", "192.0.2.2", 1936, False),    # another port of this host
    ("192.0.2.2", "198.51.100.7", 1935, False),  # another host
])
def test_a_connection_that_reached_this_host(local: str, peer: str, port: int, is_self: bool) -> None:
    policy = DestinationPolicy(allow_private=True, listeners=(Listener("0.0.0.0", 1935),))
    assert policy.is_self(ip(local), ip(peer), port) is is_self
    specific = DestinationPolicy(allow_private=True, listeners=(Listener("127.0.0.1", 1935),))
    assert specific.is_self(ip(local), ip(peer), port) is False  # refused before connecting instead


def test_embedded_ipv4() -> None:
    assert embedded_ipv4(ip("::ffff:1.2.3.4")) == ip("1.2.3.4")
    assert embedded_ipv4(ip("::1.2.3.4")) == ip("1.2.3.4")
    assert embedded_ipv4(ip("64:ff9b::1.2.3.4")) == ip("1.2.3.4")
    assert embedded_ipv4(ip("2002:102:304::")) == ip("1.2.3.4")
    assert embedded_ipv4(ip("::1")) is None and embedded_ipv4(ip("1.2.3.4")) is None
    assert embedded_ipv4(ip("2001:4860::8888")) is None


def test_a_servers_own_listeners() -> None:
    policy = server_policy(True, [("127.0.0.1", 8080), ("0.0.0.0", 1935)],
                           ["https://live.example.com", "rtmp://ingest.example.com/live", "", "http://bad:port/"])
    assert policy.allow_private
    assert policy.listeners == (Listener("127.0.0.1", 8080), Listener("0.0.0.0", 1935),
                                Listener("live.example.com", 443), Listener("ingest.example.com", 1935))
