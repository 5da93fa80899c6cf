"""A server behind a 1:1 NAT advertises its public address beside the local one."""

from __future__ import annotations

import pytest

from streaming import testsource as ts
from streaming.engine import MediaEngine
from streaming.peers import split_hosts
from streaming.sdp import advertise_public_addresses, candidate_hosts
from tests.test_streaming_engine import BLUE, publisher_signal, viewer_signal

PUBLIC = "203.0.113.7"  # TEST-NET-3: never reachable, never contacted by these tests

ANSWER = (
    "v=0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    "a=candidate:abc 1 udp 2130706431 10.0.0.5 40000 typ host\r\n"
    "a=candidate:def 1 udp 2130706431 fd00::5 40002 typ host\r\n"
    "a=candidate:ghi 1 udp 1694498815 198.51.100.1 40004 typ srflx raddr 10.0.0.5 rport 40000\r\n"
    "a=end-of-candidates\r\n"
)


def test_public_address_is_added_after_each_host_candidate_of_its_family() -> None:
    out = advertise_public_addresses(ANSWER, [PUBLIC])
    lines = out.split("\r\n")
    assert lines[2] == "a=candidate:abc 1 udp 2130706431 10.0.0.5 40000 typ host"
    assert lines[3] == f"a=candidate:abcp0 1 udp 2130706430 {PUBLIC} 40000 typ host"  # same port, lower priority
    assert lines[4].startswith("a=candidate:def ")  # IPv6: no IPv4 copy
    assert candidate_hosts(out).count(PUBLIC) == 1  # srflx candidates are not copied
    assert out.endswith("a=end-of-candidates\r\n")
    assert advertise_public_addresses(ANSWER, []) == ANSWER


def test_hosts_split_into_local_and_public() -> None:
    assert split_hosts(["127.0.0.1", PUBLIC]) == (["127.0.0.1"], [PUBLIC])
    assert split_hosts([]) == ([], [])


@pytest.mark.media
async def test_engine_answers_with_the_public_address_and_still_connects_locally() -> None:
    engine = MediaEngine(ice_servers=[], ice_hosts=["127.0.0.1", PUBLIC], grace_period=1.0)
    try:
        publisher = await ts.publish_test_card(publisher_signal(engine, "nat"), colour=BLUE)
        assert set(candidate_hosts(publisher.answer_sdp)) == {"127.0.0.1", PUBLIC}
        # test clients keep only loopback candidates: nothing is sent to the public address
        viewer = await ts.watch(viewer_signal(engine, "nat"))
        try:
            await viewer.wait_frames(10)
            assert viewer.frames
        finally:
            await viewer.close()
            await publisher.close()
    finally:
        await engine.close()
