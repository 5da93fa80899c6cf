"""The compiled fan-out loop (streaming/_fanout.c): the datagrams pylibsrtp would make, on real UDP sockets,
and every case it leaves to the Python way."""

from __future__ import annotations

import os
import socket
import struct
from collections import deque
from collections.abc import Iterator
from typing import Any

import pylibsrtp
import pytest

from streaming import aiortc_internals, fanout

pytestmark = pytest.mark.skipif(
    fanout.send_all is None,
    reason="streaming/_fanout.c is not compiled here (pip install -e . with a C compiler); the forwarder sends in Python",
)

KEY = bytes(range(30))  # SRTP master key (16) and salt (14)


def session(direction: int) -> pylibsrtp.Session:
    return pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=direction))


class Output:
    """What the forwarder hands the loop: objects whose ``target`` attribute is their Target."""

    def __init__(self, target: Any) -> None:
        self.target = target


class Pair:
    """An ICE pair as the target sees it: only its identity matters."""


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    yield sender, receiver
    sender.close()
    receiver.close()


def rtp(seq: int, payload: bytes) -> bytes:
    """A forwarder's output packet: payload type and SSRC left 0 for each viewer."""
    return struct.pack("!BBHII", 0x80, 0, seq, 90000 + seq, 0) + payload


def routed(sender: socket.socket, receiver: socket.socket, ssrc: int) -> tuple[Any, dict[int, Any], deque[bytes]]:
    nominated: dict[int, Any] = {1: Pair()}
    target = fanout.new_target(aiortc_internals.srtp_sender_of(session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)),
                               nominated, 96, ssrc)
    backlog: deque[bytes] = deque()
    host, port = receiver.getsockname()
    assert target.route(nominated[1], sender.fileno, backlog, socket.AF_INET, host, port) is True
    return target, nominated, backlog


def refusing(sender: socket.socket, receiver: socket.socket, ssrc: int) -> tuple[Any, dict[int, Any], deque[bytes]]:
    """A target whose socket refuses what it is given: an IPv6 address on an IPv4 socket, so sendto(2) fails
    and the datagram goes back for asyncio to send or report."""
    target, nominated, backlog = routed(sender, receiver, ssrc)
    assert target.route(nominated[1], sender.fileno, backlog, socket.AF_INET6, "::1", 9) is True
    return target, nominated, backlog


def detoured(sender: socket.socket, receiver: socket.socket) -> tuple[Any, Any, Any, Any]:
    """Four targets: one the compiled loop sends to, and three it leaves to the Python way."""
    plain, _, _ = routed(sender, receiver, 1)
    moved, moved_pairs, _ = routed(sender, receiver, 2)
    queued, _, backlog = routed(sender, receiver, 3)
    unrouted, _, _ = routed(sender, receiver, 4)
    moved_pairs[1] = Pair()  # the ICE pair in use changed: the Python way picks the new one up
    backlog.append(b"waiting")  # asyncio holds data for the socket: the order is kept through it
    unrouted.route(None)
    return plain, moved, queued, unrouted


def test_each_viewer_gets_the_packet_with_its_payload_type_and_ssrc_as_libsrtp_protects_it(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = sockets
    targets = [routed(sender, receiver, ssrc)[0] for ssrc in (0x11111111, 0x22222222)]
    unprotect = session(pylibsrtp.Policy.SSRC_ANY_INBOUND).unprotect
    payloads = [os.urandom(1100), b"\x01" * 20]
    for seq, (payload, marker) in enumerate(zip(payloads, (0, 1), strict=True)):
        assert fanout.send_all([Output(t) for t in targets], rtp(seq, payload), marker) is None
    got = [unprotect(receiver.recv(2048)) for _ in range(4)]
    expected = [
        struct.pack("!BBHII", 0x80, 0x80 * marker | 96, seq, 90000 + seq, ssrc) + payload
        for seq, (payload, marker) in enumerate(zip(payloads, (0, 1), strict=True))
        for ssrc in (0x11111111, 0x22222222)
    ]
    assert got == expected
    assert [(t.packets, t.octets) for t in targets] == [(2, 1120), (2, 1120)]


def test_what_the_loop_cannot_send_itself_goes_back_to_the_python_way(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    plain, moved, queued, unrouted = detoured(*sockets)
    outputs = [Output(plain), Output(moved), Output(queued), Output(unrouted), Output(None), object()]
    assert fanout.send_all(outputs, rtp(1, b"\x02" * 50), 0) == [(i, None) for i in range(1, 6)]
    assert fanout.send_all([Output(plain)], rtp(2, b"\x02" * 1500), 0) == [(0, None)]  # beyond the loop's buffer
    assert [t.packets for t in (plain, moved, queued, unrouted)] == [1, 0, 0, 0]
    assert sockets[1].recv(2048)[8:12] == b"\x00\x00\x00\x01"


def test_a_refused_datagram_comes_back_protected_and_a_closed_socket_is_never_written_to(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = sockets
    target, nominated, backlog = refusing(sender, receiver, 5)
    unsent = fanout.send_all([Output(target)], rtp(7, b"\x03" * 40), 1)
    assert unsent is not None and len(unsent) == 1 and unsent[0][0] == 0
    datagram = unsent[0][1]
    assert datagram is not None
    assert session(pylibsrtp.Policy.SSRC_ANY_INBOUND).unprotect(datagram) == (
        struct.pack("!BBHII", 0x80, 0x80 | 96, 7, 90007, 5) + b"\x03" * 40
    )
    host, port = receiver.getsockname()
    assert target.route(nominated[1], sender.fileno, backlog, socket.AF_INET, host, port) is True
    sender.close()  # its fileno() is -1 from now on; the number may already belong to another file
    assert fanout.send_all([Output(target)], rtp(8, b"\x04" * 40), 0) == [(0, None)]


def frame(first: int, sizes: list[int]) -> list[tuple[int, int, bytes]]:
    """A forwarder's packets of one frame (the last with the marker bit), payloads of the given sizes."""
    return [(first + i, int(i == len(sizes) - 1), rtp(first + i, os.urandom(size))) for i, size in enumerate(sizes)]


def clear(packet: tuple[int, int, bytes], ssrc: int) -> bytes:
    """What the viewer decrypts: the packet with its marker, payload type 96 and SSRC."""
    _seq, marker, data = packet
    return data[:1] + bytes([0x80 * marker | 96]) + data[2:8] + struct.pack("!I", ssrc) + data[12:]


def test_a_frame_reaches_each_viewer_in_one_call_per_run_of_equal_sizes(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = sockets
    targets = [routed(sender, receiver, ssrc)[0] for ssrc in (0x11111111, 0x22222222)]
    # an encoder's packetizer: equal parts and a shorter last; then a run that starts over after a short one
    packets = frame(10, [1100, 1100, 1100, 1100, 700, 1100, 1100, 300])
    assert fanout.send_burst([Output(t) for t in targets], packets) is None
    unprotect = session(pylibsrtp.Policy.SSRC_ANY_INBOUND).unprotect
    got = [unprotect(receiver.recv(2048)) for _ in range(16)]
    assert got == [clear(p, ssrc) for ssrc in (0x11111111, 0x22222222) for p in packets]
    for target in targets:
        assert (target.packets, target.octets) == (8, 7600)
        # two runs (1100 x4 + 700, 1100 x2 + 300): two system calls, or eight where the kernel can't segment
        assert (target.calls, target.unsegmented) in ((2, 0), (8, 1))
    # then a frame one packet at a time: the same session goes on
    assert fanout.send_all([Output(t) for t in targets], rtp(18, b"\x05" * 30), 1) is None
    assert [unprotect(receiver.recv(2048))[2:4] for _ in range(2)] == [struct.pack("!H", 18)] * 2


def test_what_a_frame_cannot_go_the_compiled_way_is_left_to_python(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    plain, moved, queued, unrouted = detoured(*sockets)
    packets = frame(1, [200, 200])
    outputs = [Output(plain), Output(moved), Output(queued), Output(unrouted), Output(None), object()]
    assert fanout.send_burst(outputs, packets) == [(i, 0, None) for i in range(1, 6)]
    assert fanout.send_burst([Output(plain)], frame(3, [200, 1500])) is False  # beyond the loop's buffer: one by one
    assert [t.packets for t in (plain, moved, queued, unrouted)] == [2, 0, 0, 0]
    with pytest.raises(TypeError):
        fanout.send_burst([Output(plain)], [b"not a packet"])


def test_datagrams_a_socket_refuses_come_back_protected_in_order(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    target, _, _ = refusing(*sockets, 5)
    packets = frame(40, [900, 900, 900, 100])
    unsent = fanout.send_burst([Output(target)], packets)
    assert unsent is not None and unsent is not False
    assert [(index, first) for index, first, _ in unsent] == [(0, 0), (0, 1), (0, 2), (0, 3)]
    unprotect = session(pylibsrtp.Policy.SSRC_ANY_INBOUND).unprotect
    assert [unprotect(datagram) for _, _, datagram in unsent] == [clear(p, 5) for p in packets]
    assert target.unsegmented == 0  # refused for its address, not for segmenting: later frames still segment
