"""media.webrtc.gso: the runs one UDP_SEGMENT send can carry, and the datagrams a real socket
receives from GsoSender (loopback)."""

from __future__ import annotations

import asyncio
import socket

from hypothesis import given
from hypothesis import strategies as st

from media.webrtc.gso import MAX_BYTES, MAX_SEGMENTS, GsoSender, plan, runs, state


def test_runs_of_aiortc_fu_a_fragments() -> None:
    # one NAL in 5 FU-A fragments (2 one byte larger), a STAP-A, a small NAL, a second NAL
    sizes = [1301, 1301, 1300, 1300, 1300, 40, 12, 900, 900, 899]
    assert runs(sizes) == [(0, 3), (3, 6), (6, 7), (7, 10)]
    assert runs([]) == []
    assert runs([5]) == [(0, 1)]
    assert runs([5, 6, 6]) == [(0, 1), (1, 3)]


@given(st.lists(st.integers(1, 1400), max_size=200))
def test_runs_cover_every_packet_in_order_within_gso_limits(sizes: list[int]) -> None:
    found = runs(sizes)
    assert [i for start, end in found for i in range(start, end)] == list(range(len(sizes)))
    for start, end in found:
        run = sizes[start:end]
        assert all(size == run[0] for size in run[:-1]) and run[-1] <= run[0]
        assert len(run) <= MAX_SEGMENTS and sum(run) <= MAX_BYTES


async def test_a_real_socket_receives_each_datagram_as_sent() -> None:
    loop = asyncio.get_running_loop()
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    sender = GsoSender(transport)
    try:
        packets = [bytes([i]) * size for i, size in enumerate([1301, 1301, 1300, 1300, 40, 900, 899])]
        sender.send(packets, receiver.getsockname())
        assert [receiver.recv(2000) for _ in packets] == packets
        assert state.enabled and sender.calls == 3  # (1301, 1301, 1300), (1300, 40), (900, 899)
    finally:
        sender.close()
        transport.close()
        receiver.close()


async def test_packed_packets_arrive_each_as_sent() -> None:
    loop = asyncio.get_running_loop()
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    sender = GsoSender(transport)
    try:
        for sizes, calls in (([1301, 1301, 1300, 1300, 40, 900, 899, 12], 3), ([160], 3)):
            packets = [bytes([i + 1]) * size for i, size in enumerate(sizes)]
            buffer = bytearray(b"".join(packets) + b"\xff" * 50)  # what follows is not sent
            sender.send_packed(memoryview(buffer), sizes, receiver.getsockname())
            buffer[:] = bytes(len(buffer))  # reused at once: nothing sent may still point into it
            assert [receiver.recv(2000) for _ in packets] == packets
            assert state.enabled and sender.calls == calls  # (1301, 1301, 1300), (1300, 40), (900, 899); 12 alone
    finally:
        sender.close()
        transport.close()
        receiver.close()


def test_a_plan_is_the_runs_as_offsets_into_the_packed_packets() -> None:
    sizes = [1301, 1301, 1300, 1300, 40, 12, 900, 900, 899]
    assert plan(sizes) == [(0, 3902, 1301, 3), (3902, 1340, 1300, 2), (5242, 12, 12, 1), (5254, 2699, 900, 3)]
    assert plan([160]) == [(0, 160, 160, 1)]
