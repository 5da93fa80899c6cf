"""Viewers and publishers coming and going leave nothing behind in the media engine.

Real aiortc peers on 127.0.0.1 join and leave through :class:`MediaEngine`;
afterwards (and after a garbage collection) the live WebRTC objects of the
process are counted by type and compared with the count before the churn:
connections, their ICE and DTLS transports, SRTP sessions, the forwarder's
viewer outputs and the engine's RTP endpoints, the engine's timers and the
event loop's pending tasks. A long-running server that keeps any of
them per join grows without bound (bench/soak.py measures the whole server).
One test counts with the cyclic collector off: a closed connection must be
freed by reference counting alone, since the server's collector runs its full
collections rarely (cloudexpo/heap.py).
"""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from collections.abc import AsyncIterator

import pylibsrtp
import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcicetransport import RTCIceTransport

from streaming import testsource as ts
from streaming.engine import MediaEngine
from streaming.forwarder import ViewerOutput
from streaming.rtp_endpoints import ForwardingReceiver, ForwardingSender
from streaming.states import StreamState

pytestmark = pytest.mark.media

VIEWERS = 30
AT_ONCE = 5
TRACKED = (
    RTCPeerConnection,
    RTCDtlsTransport,
    RTCIceTransport,
    pylibsrtp.Session,
    ViewerOutput,
    ForwardingSender,
    ForwardingReceiver,
)


@pytest.fixture
async def engine() -> AsyncIterator[MediaEngine]:
    # the default connect timeout (30 s) is far longer than the test: a timer left
    # running after a viewer left would still hold its connection when counted
    engine = MediaEngine(ice_servers=[], ice_hosts=["127.0.0.1"], grace_period=30.0)
    yield engine
    await engine.close()


def live_objects(engine: MediaEngine, collect: bool = True) -> Counter[str]:
    """What a join could leave behind, counted after a full collection (or as it is: ``collect=False``)."""
    if collect:
        gc.collect()
    counts: Counter[str] = Counter({cls.__name__: 0 for cls in TRACKED})
    for obj in gc.get_objects():
        if isinstance(obj, TRACKED):
            counts[type(obj).__name__] += 1
    counts["engine timers"] = len(engine._timers)
    counts["asyncio tasks"] = len(asyncio.all_tasks())
    return counts


async def counts_after(engine: MediaEngine, baseline: Counter[str], within: float = 15.0,
                       collect: bool = True) -> Counter[str]:
    """The counts once they are back to ``baseline`` (connections close in tasks of their own), or at ``within``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    counts = live_objects(engine, collect)
    while counts != baseline and loop.time() < deadline:
        await asyncio.sleep(0.25)
        counts = live_objects(engine, collect)
    return counts


async def join_and_leave(engine: MediaEngine, stream: str, count: int) -> None:
    """``count`` viewers, a few at a time: each connects, receives pictures, then leaves (WHEP DELETE)."""
    for _ in range(count // AT_ONCE):
        sessions: list[str] = []
        signal = _signal_noting(engine, stream, sessions)
        viewers = await asyncio.gather(*(ts.watch(signal, decode=False) for _ in range(AT_ONCE)))
        await asyncio.gather(*(v.wait_frames(3) for v in viewers))
        assert engine.stats(stream)["viewers"] == AT_ONCE
        for session in sessions:
            await engine.leave(stream, session)
        await asyncio.gather(*(v.close() for v in viewers))


async def test_viewers_joining_and_leaving_leave_nothing_behind(engine: MediaEngine) -> None:
    publisher = await ts.publish_test_card(lambda offer: _publish(engine, "churn", offer))
    try:
        await join_and_leave(engine, "churn", AT_ONCE)  # first use: aiortc's and libsrtp's one-off state
        baseline = await _settled(engine)
        assert baseline["RTCPeerConnection"] == 2  # the publisher's two ends

        await join_and_leave(engine, "churn", VIEWERS)
        counts = await counts_after(engine, baseline)
        assert counts == baseline, f"after {VIEWERS} viewers joined and left: {counts - baseline} more than before"
        assert engine.stats("churn")["viewers"] == 0
        assert engine.peer_connections() == 1
    finally:
        await publisher.close()


async def test_a_closed_connection_is_freed_without_waiting_for_the_collector(engine: MediaEngine) -> None:
    """With the cyclic collector off, viewers' connections still go as they leave.

    A server collects its oldest objects rarely (cloudexpo/heap.py); a closed
    connection kept alive by reference cycles until then is memory that grows
    with every join. The engine and the test clients drop the cycles.
    """
    publisher = await ts.publish_test_card(lambda offer: _publish(engine, "nogc", offer))
    try:
        await join_and_leave(engine, "nogc", AT_ONCE)
        baseline = await _settled(engine)
        gc.disable()
        try:
            await join_and_leave(engine, "nogc", 2 * AT_ONCE)
            counts = await counts_after(engine, baseline, collect=False)
        finally:
            gc.enable()
        assert counts == baseline, f"without a collection: {counts - baseline} more than before"
    finally:
        await publisher.close()


async def test_a_viewer_whose_connection_fails_is_forgotten(engine: MediaEngine) -> None:
    """The viewer vanishes without a DELETE (a closed tab): the engine drops it when its connection closes."""
    publisher = await ts.publish_test_card(lambda offer: _publish(engine, "tab", offer))
    try:
        await join_and_leave(engine, "tab", AT_ONCE)
        baseline = await _settled(engine)
        for _ in range(3):
            await _watch_then_close_tab(engine, "tab")
        counts = await counts_after(engine, baseline)
        assert counts == baseline, f"after viewers closed their tabs: {counts - baseline} more than before"
    finally:
        await publisher.close()


async def test_a_publisher_reconnecting_leaves_nothing_behind(engine: MediaEngine) -> None:
    """An encoder that loses its connection and publishes again, five times, to the same stream."""
    states: list[StreamState] = []
    engine.add_state_listener(lambda stream, state: states.append(state))
    publisher = await ts.publish_test_card(lambda offer: _publish(engine, "encoder", offer))
    viewer = await ts.watch(lambda offer: _watch(engine, "encoder", offer), decode=False)
    try:
        await viewer.wait_frames(3)
        baseline = await _settled(engine)
        for _ in range(5):
            publisher = await _publish_again(engine, "encoder", publisher, viewer)
        counts = await counts_after(engine, baseline)
        assert counts == baseline, f"after five reconnections: {counts - baseline} more than before"
        assert states.count(StreamState.PUBLISHER_GONE) == 5
        assert engine.decoder_threads == 0
    finally:
        await viewer.close()
        await publisher.close()


async def _publish_again(engine: MediaEngine, stream: str, publisher: ts.TestPublisher,
                         viewer: ts.TestViewer) -> ts.TestPublisher:
    """The encoder loses its connection, the engine notices, and it publishes again; the viewer sees its pictures."""
    await publisher.close()
    async with asyncio.timeout(15):
        while engine.state(stream) != StreamState.PUBLISHER_GONE:  # noqa: ASYNC110 - state owned by aiortc
            await asyncio.sleep(0.05)
    publisher = await ts.publish_test_card(lambda offer: _publish(engine, stream, offer))
    await viewer.wait_frames(3)  # the same viewer, the new publisher's pictures
    return publisher


def _signal_noting(engine: MediaEngine, stream: str, sessions: list[str]) -> ts.Signal:
    async def signal(offer: str) -> str:
        session = await engine.watch(stream, offer)
        sessions.append(session.session_id)
        return session.answer_sdp

    return signal


async def _publish(engine: MediaEngine, stream: str, offer: str) -> str:
    return (await engine.publish(stream, offer)).answer_sdp


async def _watch(engine: MediaEngine, stream: str, offer: str) -> str:
    return (await engine.watch(stream, offer)).answer_sdp


async def _watch_then_close_tab(engine: MediaEngine, stream: str) -> None:
    viewer = await ts.watch(lambda offer: _watch(engine, stream, offer), decode=False)
    await viewer.wait_frames(3)
    await viewer.close()  # DTLS close_notify: the server's side closes too


async def _settled(engine: MediaEngine) -> Counter[str]:
    """The counts once they stop changing (connections of the warm-up still closing)."""
    previous = live_objects(engine)
    async with asyncio.timeout(15):
        while True:
            await asyncio.sleep(0.5)
            counts = live_objects(engine)
            if counts == previous:
                return counts
            previous = counts


async def test_a_replaced_publisher_is_freed_without_waiting_for_the_collector(engine: MediaEngine) -> None:
    """With the cyclic collector off, an encoder's lost connections go as it publishes again.

    Its receivers asked "is this still the publisher?" through a closure over the
    publisher, which holds the connection: each lost publisher's connection
    waited for a rare full collection (the soak's server held ~5 MB that way).
    """
    publisher = await ts.publish_test_card(lambda offer: _publish(engine, "lost", offer))
    viewer = await ts.watch(lambda offer: _watch(engine, "lost", offer), decode=False)
    try:
        await viewer.wait_frames(3)
        baseline = await _settled(engine)
        gc.disable()
        try:
            for _ in range(3):
                publisher = await _publish_again(engine, "lost", publisher, viewer)
            counts = await counts_after(engine, baseline, collect=False)
        finally:
            gc.enable()
        assert counts == baseline, f"without a collection, after three lost publishers: {counts - baseline} more than before"
    finally:
        await viewer.close()
        await publisher.close()
