"""The media engine: WHIP-style publishing in, WHEP-style viewing out, no decoding.

The HTTP layer calls :class:`MediaEngine`; everything below it is in
:mod:`streaming.forwarder` (the hot path), :mod:`streaming.rtp_endpoints` (aiortc's
receiver and sender replaced), :mod:`streaming.peers` (aiortc
connections restricted to ``ice_hosts``) and :mod:`streaming.sdp` (offer
checks).

Stream states (:class:`streaming.states.StreamState`), reported to listeners
added with :meth:`MediaEngine.add_state_listener` as ``listener(stream_id, state)``:

``LIVE``
    a publisher is connected (or connecting) and forwarding;
``PUBLISHER_GONE``
    the publisher's session ended (:meth:`~MediaEngine.disconnect`, a WHIP
    ``DELETE``) or its connection failed or closed; viewers stay connected
    and a new :meth:`~MediaEngine.publish` takes over seamlessly (the
    forwarder continues each viewer's numbering and asks the new publisher for
    a keyframe). With a ``grace_period`` the stream ends by itself after that
    many seconds; without one (``None``, how Cloud Expo runs it) it waits
    until :meth:`~MediaEngine.end_stream` — the broadcast's life is the schedule's
    business (:mod:`streaming.live`), not the transport's;
``ENDED``
    :meth:`~MediaEngine.end_stream` or :meth:`~MediaEngine.unpublish` was called, or
    the grace period ran out: every viewer was disconnected and the stream is
    forgotten.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from . import aiortc_internals as internals
from .errors import AlreadyPublishing, SessionNotFound, StreamNotLive, UnusableOffer
from .forwarder import PacketSink, TrackForwarder
from .peers import answer_offer, new_peer_connection, release
from .relay import negotiate_pull
from .rtp_endpoints import ForwardingReceiver, ForwardingSender
from .sdp import CodecChoice, check_publish_offer, check_view_offer, forwardable_codecs, pick_codec
from .states import StreamState

logger = logging.getLogger(__name__)

StateListener = Callable[[str, StreamState], None]


@dataclass(frozen=True)
class PublishSession:
    """What :meth:`MediaEngine.publish` returns: the answer to send back (WHIP 201)."""

    stream_id: str
    session_id: str
    answer_sdp: str
    video_codec: CodecChoice
    audio_codec: CodecChoice | None
    took_over: bool = False


@dataclass(frozen=True)
class ViewerSession:
    """What :meth:`MediaEngine.watch` returns: the answer to send back (WHEP 201)."""

    stream_id: str
    session_id: str
    answer_sdp: str


@dataclass(eq=False)
class _Publisher:
    session_id: str
    pc: RTCPeerConnection
    receivers: dict[str, ForwardingReceiver] = field(default_factory=dict)
    relayed: bool = False  # pulled from the broadcast's origin on another node (this node is an edge)
    connect_timer: asyncio.TimerHandle | None = None


@dataclass(eq=False)
class _Viewer:
    session_id: str
    pc: RTCPeerConnection
    senders: dict[str, ForwardingSender] = field(default_factory=dict)
    joined_at: float = field(default_factory=time.monotonic)
    relay: bool = False  # an edge node pulling the broadcast, not a person watching
    connect_timer: asyncio.TimerHandle | None = None


class _Stream:
    def __init__(self, stream_id: str, engine: MediaEngine) -> None:
        self.id = stream_id
        self.engine = engine
        self.tracks = {
            "video": TrackForwarder("video", self.request_keyframe),
            "audio": TrackForwarder("audio", self.request_keyframe),
        }
        self.publisher: _Publisher | None = None
        self.relayed = False  # the last source was a pull from another node
        self.viewers: dict[str, _Viewer] = {}
        self.state = StreamState.LIVE
        self.grace_timer: asyncio.TimerHandle | None = None
        self.last_keyframe_request = -1e9
        self.keyframe_requests = 0
        self.started_at = time.monotonic()
        self._rate_at = self.started_at
        self._rate_bytes = 0
        self._rate_frames = 0
        self.bitrate = 0.0
        self.fps = 0.0
        self._rate_in = self._rate_lost = 0
        self.loss = 0.0  # the share of the publisher's packets lost on the way in, lately

    def tell_sinks_new_publisher(self) -> None:
        """Each packet sink (once: a sink receives every kind) hears that another publisher session follows."""
        told: list[PacketSink] = []
        for sink in (s for track in self.tracks.values() for s in track.sinks if s not in told):
            told.append(sink)
            getattr(sink, "on_new_publisher", lambda: None)()

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, at most once per ``keyframe_request_interval``."""
        now = time.monotonic()
        if now - self.last_keyframe_request < self.engine.keyframe_request_interval:
            return
        receiver = self.publisher.receivers.get("video") if self.publisher else None
        if receiver is None:
            return
        self.last_keyframe_request = now
        self.keyframe_requests += 1
        self.engine._spawn(receiver.request_keyframe())

    def update_rates(self) -> None:
        now = time.monotonic()
        elapsed = now - self._rate_at
        if elapsed < 1.0:
            return
        total = sum(t.bytes_in for t in self.tracks.values())
        frames = self.tracks["video"].frames
        packets = sum(t.packets_in for t in self.tracks.values())
        lost = sum(max(0, t.packets_lost) for t in self.tracks.values())
        self.bitrate = (total - self._rate_bytes) * 8 / elapsed
        self.fps = (frames - self._rate_frames) / elapsed
        lost_now, received_now = lost - self._rate_lost, packets - self._rate_in
        self.loss = lost_now / (lost_now + received_now) if lost_now > 0 else 0.0
        self._rate_at, self._rate_bytes, self._rate_frames = now, total, frames
        self._rate_in, self._rate_lost = packets, lost

    def viewers_loss(self) -> tuple[float, float]:
        """(mean, worst) share of video packets the viewers lost lately, from their receiver reports."""
        losses = [v.senders["video"].reported_loss for v in self.viewers.values() if "video" in v.senders]
        return (sum(losses) / len(losses), max(losses)) if losses else (0.0, 0.0)


class MediaEngine:
    """Receives each stream's media once and forwards it to every viewer.

    :param ice_servers: STUN/TURN servers (``cloudexpo.settings.IceServer``,
        ``aiortc.RTCIceServer`` or dicts); empty means none at all (aiortc
        would otherwise use a public STUN server).
    :param ice_hosts: addresses of this machine to gather ICE candidates on
        and advertise (``Settings.ice_hosts``; ``["127.0.0.1"]`` in tests).
        Empty: aioice's default, every non-loopback interface. When all of
        them are loopback, remote candidates elsewhere are dropped.
    :param grace_period: seconds a stream waits for a new publisher after its
        publisher's session ended, before it ends by itself; ``None``: it
        waits until :meth:`end_stream`.
    :param keyframe_request_interval: the least time between two keyframe
        requests (PLI) sent to a publisher, whatever its viewers ask.
    :param connect_timeout: seconds a new publisher or viewer has to complete
        ICE and DTLS; a publisher that does not is treated as gone, a viewer
        is disconnected.
    """

    def __init__(
        self,
        ice_servers: Iterable[Any] = (),
        ice_hosts: Sequence[str] = (),
        *,
        grace_period: float | None = 10.0,
        keyframe_request_interval: float = 0.5,
        connect_timeout: float = 30.0,
    ) -> None:
        internals.check()  # an aiortc that is not the pinned one fails here, at start-up, saying what changed
        self.ice_servers = list(ice_servers)
        self.ice_hosts = list(ice_hosts)
        self.grace_period = grace_period
        self.keyframe_request_interval = keyframe_request_interval
        self.connect_timeout = connect_timeout
        self._streams: dict[str, _Stream] = {}
        self._listeners: list[StateListener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._decoded = [0]
        self._closed = False

    # -- public API ----------------------------------------------------------

    async def publish(
        self, stream_id: str, offer_sdp: str, *, takeover: bool = True
    ) -> PublishSession:
        """Accept a publisher's offer (WHIP) and return our answer.

        A stream that is live or within its grace period is taken over by the
        new publisher (``takeover=False`` raises :class:`AlreadyPublishing`
        instead); its viewers keep their sessions.
        """
        self._check_open()
        stream = self._streams.get(stream_id)
        if stream is not None and stream.publisher is not None and not takeover:
            raise AlreadyPublishing(f"stream {stream_id} already has a publisher")
        like = None
        if stream is not None and stream.viewers:
            like = stream.tracks["video"].codec
        summary = check_publish_offer(offer_sdp, like)
        video = summary.section("video")
        audio = summary.section("audio")
        assert video is not None
        choices = {
            "video": pick_codec(video.forwardable, like),
            "audio": pick_codec(audio.forwardable) if audio is not None else None,
        }
        assert choices["video"] is not None
        if stream is None:
            stream = _Stream(stream_id, self)
            self._streams[stream_id] = stream
        pc = new_peer_connection(self.ice_servers)
        publisher = _Publisher(uuid.uuid4().hex, pc)

        def is_current() -> bool:
            return stream.publisher is publisher

        def prepare(pc: RTCPeerConnection) -> None:
            for transceiver in pc.getTransceivers():
                choice = choices.get(transceiver.kind)
                if choice is None or transceiver.kind in publisher.receivers:
                    transceiver.direction = "inactive"
                    continue
                codecs = _only(internals.transceiver_codecs(transceiver), choice.payload_type)
                if not codecs:
                    raise UnusableOffer(f"no {transceiver.kind} codec we forward in the offer")
                internals.set_transceiver_codecs(transceiver, codecs)
                receiver = ForwardingReceiver.install(
                    transceiver.receiver, stream.tracks[transceiver.kind], is_current, self._decoded
                )
                publisher.receivers[transceiver.kind] = receiver

        try:
            answer = await answer_offer(pc, offer_sdp, self.ice_hosts, prepare)
        except UnusableOffer:
            await pc.close()
            self._forget_if_empty(stream)
            raise
        except Exception as exc:
            await pc.close()
            self._forget_if_empty(stream)
            raise UnusableOffer(f"the offer could not be answered: {exc}") from exc

        previous = self._adopt(stream, publisher, choices)
        return PublishSession(
            stream_id,
            publisher.session_id,
            answer,
            choices["video"],
            choices["audio"],
            took_over=previous is not None,
        )

    async def relay(self, stream_id: str, signal: Callable[[str], Awaitable[str]]) -> str:
        """Pull the stream from its origin on another node (this node becomes an edge); return the session id.

        ``signal`` sends our recvonly offer to the origin's WHEP endpoint and
        returns its answer. The pulled tracks feed the stream's forwarders
        exactly as a publisher's do: the same GOP cache for joining viewers,
        the same NACK ring, keyframe requests sent upstream as PLI (rate-limited
        by ``keyframe_request_interval``), no decoding. Like a publisher, a
        relay takes over from the stream's current source (a dead origin's
        relay, or a new one when the publisher moved to another node) and the
        stream's viewers keep their sessions; a local publisher in turn takes
        over from a relay.
        """
        self._check_open()
        stream = self._streams.get(stream_id)
        if stream is None:
            stream = _Stream(stream_id, self)
            self._streams[stream_id] = stream
        pc = new_peer_connection(self.ice_servers)
        publisher = _Publisher(uuid.uuid4().hex, pc, relayed=True)

        def is_current() -> bool:
            return stream.publisher is publisher

        for kind in ("video", "audio"):
            transceiver = pc.addTransceiver(kind, direction="recvonly")
            receiver = ForwardingReceiver.install(transceiver.receiver, stream.tracks[kind], is_current, self._decoded)
            publisher.receivers[kind] = receiver
        try:
            choices = await negotiate_pull(
                pc, self.ice_hosts, signal, {kind: track.codec for kind, track in stream.tracks.items()}
            )
        except BaseException:
            await pc.close()
            self._forget_if_empty(stream)
            raise
        self._adopt(stream, publisher, choices)
        return publisher.session_id

    def _adopt(
        self, stream: _Stream, publisher: _Publisher, choices: dict[str, CodecChoice | None]
    ) -> _Publisher | None:
        """Make ``publisher`` the stream's source (taking over from the previous one); return the previous."""
        pc = publisher.pc
        previous = stream.publisher
        stream.publisher = publisher
        stream.relayed = publisher.relayed
        for kind, choice in choices.items():
            if choice is not None:
                stream.tracks[kind].set_codec(choice)
        for track in stream.tracks.values():
            track.new_source()  # viewers' numbering goes on from the new source's first packet
        if previous is not None or stream.state == StreamState.PUBLISHER_GONE:
            stream.tell_sinks_new_publisher()
        if stream.grace_timer is not None:
            stream.grace_timer.cancel()
            stream.grace_timer = None

        @pc.on("connectionstatechange")
        def on_connection_state() -> None:
            if pc.connectionState in _SETTLED:
                self._cancel_timer(publisher.connect_timer)
            if pc.connectionState in ("failed", "closed") and stream.publisher is publisher:
                self._publisher_gone(stream)

        def check_connected() -> None:
            if pc.connectionState != "connected" and stream.publisher is publisher:
                self._publisher_gone(stream)

        publisher.connect_timer = self._call_later(self.connect_timeout, check_connected)
        if previous is not None:
            self._spawn(self._retire(previous))
        self._set_state(stream, StreamState.LIVE)
        return previous

    async def unpublish(self, stream_id: str, session_id: str) -> None:
        """End the stream now, naming its publisher's session: every viewer is disconnected."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.publisher is None or stream.publisher.session_id != session_id:
            raise SessionNotFound(f"no publisher session {session_id} on stream {stream_id}")
        await self._end(stream)

    async def end_stream(self, stream_id: str) -> None:
        """End the stream on this node, whoever its source is (an edge's pull that is no longer needed)."""
        stream = self._streams.get(stream_id)
        if stream is not None:
            await self._end(stream)

    async def disconnect(self, stream_id: str, session_id: str) -> None:
        """End a publisher's session (WHIP ``DELETE``), not the stream: viewers wait for the next (``PUBLISHER_GONE``)."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.publisher is None or stream.publisher.session_id != session_id:
            raise SessionNotFound(f"no publisher session {session_id} on stream {stream_id}")
        self._publisher_gone(stream)

    def publisher_session(self, stream_id: str) -> str | None:
        """The session id of the stream's current publisher, or None."""
        stream = self._streams.get(stream_id)
        return stream.publisher.session_id if stream is not None and stream.publisher is not None else None

    def is_relayed(self, stream_id: str) -> bool:
        """Whether the stream's current source is a pull from another node (or its last one was)."""
        stream = self._streams.get(stream_id)
        return stream is not None and stream.relayed

    async def watch(self, stream_id: str, offer_sdp: str, *, relay: bool = False) -> ViewerSession:
        """Accept a viewer's recvonly offer (WHEP) and return our answer.

        ``relay``: the viewer is an edge node pulling the stream (see
        :meth:`relay`); it is counted apart from the people watching.
        """
        self._check_open()
        stream = self._streams.get(stream_id)
        if stream is None or stream.state == StreamState.ENDED or stream.tracks["video"].codec is None:
            raise StreamNotLive(f"stream {stream_id} is not live")
        video = stream.tracks["video"].codec
        audio = stream.tracks["audio"].codec
        check_view_offer(offer_sdp, video, audio)
        pc = new_peer_connection(self.ice_servers)
        viewer = _Viewer(uuid.uuid4().hex, pc, relay=relay)

        def prepare(pc: RTCPeerConnection) -> None:
            for transceiver in pc.getTransceivers():
                track = stream.tracks.get(transceiver.kind)
                if track is None or track.codec is None or transceiver.kind in viewer.senders:
                    transceiver.direction = "inactive"
                    continue
                choice = pick_codec(
                    forwardable_codecs(track.kind, internals.transceiver_codecs(transceiver)), track.codec
                )
                if choice is None:
                    raise UnusableOffer(f"the offer cannot receive {track.codec.describe()}")
                internals.set_transceiver_codecs(
                    transceiver, _only(internals.transceiver_codecs(transceiver), choice.payload_type)
                )
                transceiver.direction = "sendonly"
                internals.drop_receive_state(transceiver.receiver)
                viewer.senders[transceiver.kind] = ForwardingSender.install(
                    transceiver.sender, track
                )

        try:
            answer = await answer_offer(pc, offer_sdp, self.ice_hosts, prepare)
        except UnusableOffer:
            await pc.close()
            raise
        except Exception as exc:
            await pc.close()
            raise UnusableOffer(f"the offer could not be answered: {exc}") from exc
        if stream.state == StreamState.ENDED:
            await pc.close()
            raise StreamNotLive(f"stream {stream_id} ended")
        stream.viewers[viewer.session_id] = viewer

        @pc.on("connectionstatechange")
        def on_connection_state() -> None:
            if pc.connectionState in _SETTLED:
                self._cancel_timer(viewer.connect_timer)
            if pc.connectionState in ("failed", "closed"):
                if stream.viewers.pop(viewer.session_id, None) is not None:
                    self._spawn(self._retire(viewer))

        def check_connected() -> None:
            if (
                pc.connectionState != "connected"
                and stream.viewers.get(viewer.session_id) is viewer
            ):
                del stream.viewers[viewer.session_id]
                self._spawn(self._retire(viewer))

        viewer.connect_timer = self._call_later(self.connect_timeout, check_connected)
        return ViewerSession(stream_id, viewer.session_id, answer)

    async def leave(self, stream_id: str, session_id: str) -> None:
        """Disconnect one viewer (WHEP ``DELETE``)."""
        stream = self._streams.get(stream_id)
        viewer = stream.viewers.pop(session_id, None) if stream is not None else None
        if viewer is None:
            raise SessionNotFound(f"no viewer session {session_id} on stream {stream_id}")
        await self._retire(viewer)

    def state(self, stream_id: str) -> StreamState | None:
        """``LIVE``, ``PUBLISHER_GONE``, or ``None`` for a stream that is not running."""
        stream = self._streams.get(stream_id)
        return stream.state if stream is not None else None

    @property
    def stream_ids(self) -> list[str]:
        return list(self._streams)

    def peer_connections(self) -> int:
        """Open peer connections: every stream's publisher and viewers (for /metrics and the soak)."""
        return sum(len(s.viewers) + (s.publisher is not None) for s in self._streams.values())

    def forwarded_tracks(self, stream_id: str) -> dict[str, TrackForwarder]:
        """The stream's tracks whose codec is known: what a relay to another server sends
        (:mod:`streaming.egress`, fed like a viewer through :class:`ForwardingSender`)."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.state == StreamState.ENDED:
            raise StreamNotLive(f"stream {stream_id} is not live")
        return {kind: track for kind, track in stream.tracks.items() if track.codec is not None}

    def viewer_count(self) -> int:
        """WebRTC viewers on this node over every stream (``CLOUDEXPO_MAX_WEBRTC_VIEWERS`` counts these)."""
        return sum(len(s.viewers) for s in self._streams.values())

    def add_state_listener(self, listener: StateListener) -> None:
        """Call ``listener(stream_id, state)`` on every state change (see module doc)."""
        self._listeners.append(listener)

    def add_packet_sink(self, stream_id: str, sink: PacketSink) -> None:
        """Give ``sink`` every media packet of the stream's publisher(s).

        See :class:`streaming.forwarder.PacketSink`. The sink survives
        publisher takeovers and is dropped when the stream ends.
        """
        stream = self._streams.get(stream_id)
        if stream is None:
            raise StreamNotLive(f"stream {stream_id} is not live")
        for track in stream.tracks.values():
            track.add_sink(sink)

    def remove_packet_sink(self, stream_id: str, sink: PacketSink) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None:
            for track in stream.tracks.values():
                if sink in track.sinks:
                    track.sinks.remove(sink)

    def request_keyframe(self, stream_id: str) -> None:
        """Ask the stream's publisher for a keyframe (rate-limited; nothing if it has none)."""
        stream = self._streams.get(stream_id)
        if stream is not None:
            stream.request_keyframe()

    def stats(self, stream_id: str) -> dict[str, Any]:
        """Figures for the dashboard; packet counts are since the stream started."""
        stream = self._streams.get(stream_id)
        if stream is None:
            raise StreamNotLive(f"stream {stream_id} is not live")
        stream.update_rates()
        viewers_loss = stream.viewers_loss()
        video, audio = stream.tracks["video"], stream.tracks["audio"]
        now = time.monotonic()
        kinds = {}
        for kind, track in stream.tracks.items():
            kinds[kind] = {
                "codec": track.codec.describe() if track.codec else None,
                "packets_in": track.packets_in,
                "packets_forwarded": track.packets_forwarded,
                "packets_lost": max(0, track.packets_lost),
                "retransmitted": track.retransmitted,
                "bytes_in": track.bytes_in,
            }
        return {
            "state": stream.state,
            "viewers": sum(not v.relay for v in stream.viewers.values()),
            "edges": sum(v.relay for v in stream.viewers.values()),
            "publisher_connected": stream.publisher is not None
            and stream.publisher.pc.connectionState == "connected",
            "relayed": stream.publisher is not None and stream.publisher.relayed,
            "publisher_bitrate": round(stream.bitrate),
            "fps": round(stream.fps, 1),
            "loss": round(stream.loss, 4),
            "viewers_loss": round(viewers_loss[0], 4),
            "viewers_loss_worst": round(viewers_loss[1], 4),
            "codec": video.codec.describe() if video.codec else None,
            "audio_codec": audio.codec.describe() if audio.codec else None,
            "packets_in": sum(k["packets_in"] for k in kinds.values()),
            "packets_forwarded": sum(k["packets_forwarded"] for k in kinds.values()),
            "packets_lost": sum(k["packets_lost"] for k in kinds.values()),
            "keyframe_age": None if video.keyframe_at is None else round(now - video.keyframe_at, 3),
            "keyframes": video.keyframes,
            "keyframe_requests": stream.keyframe_requests,
            "bframes_detected": video.bframes_detected,
            "uptime": round(now - stream.started_at, 3),
            "video": kinds["video"],
            "audio": kinds["audio"],
        }

    @property
    def frames_decoded(self) -> int:
        """Frames the engine handed to a decoder: always 0 (the engine never decodes)."""
        return self._decoded[0]

    @property
    def decoder_threads(self) -> int:
        """Decoder threads running for the current sources' receivers: always 0."""
        return sum(
            receiver.decoder_running
            for stream in self._streams.values()
            if stream.publisher is not None
            for receiver in stream.publisher.receivers.values()
        )

    async def close(self) -> None:
        """End every stream and close every connection."""
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for stream in list(self._streams.values()):
            await self._end(stream)
        tasks = list(self._tasks)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- internals -----------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StreamNotLive("the media engine is closed")

    def _call_later(self, delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        def run() -> None:
            self._timers.discard(handle)
            callback()

        handle = asyncio.get_running_loop().call_later(delay, run)
        self._timers.add(handle)
        return handle

    def _cancel_timer(self, handle: asyncio.TimerHandle | None) -> None:
        """Cancel a timer of :meth:`_call_later`: it lets go of what its callback holds at once."""
        if handle is not None:
            handle.cancel()
            self._timers.discard(handle)

    async def _retire(self, peer: _Publisher | _Viewer) -> None:
        """Close a source's or viewer's connection and its connect timer.

        A connect timer left running would hold the closed connection (its
        transports and SRTP sessions) until it fires: a viewer who left within
        ``connect_timeout`` would stay in memory that long.
        """
        self._cancel_timer(peer.connect_timer)
        peer.connect_timer = None
        if isinstance(peer, _Publisher):
            for receiver in peer.receivers.values():
                receiver.retire()
        await peer.pc.close()
        release(peer.pc)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _set_state(self, stream: _Stream, state: StreamState) -> None:
        if stream.state == state and state != StreamState.LIVE:
            return
        changed = stream.state != state
        stream.state = state
        if changed or state == StreamState.LIVE:
            for listener in self._listeners:
                try:
                    listener(stream.id, state)
                except Exception:
                    logger.exception("stream state listener failed")

    def _publisher_gone(self, stream: _Stream) -> None:
        publisher = stream.publisher
        stream.publisher = None
        if publisher is not None:
            self._spawn(self._retire(publisher))
        if stream.state == StreamState.ENDED:
            return
        self._set_state(stream, StreamState.PUBLISHER_GONE)
        if self.grace_period is None or stream.grace_timer is not None:
            return
        loop = asyncio.get_running_loop()
        stream.grace_timer = loop.call_later(
            self.grace_period, lambda: self._spawn(self._end_if_gone(stream))
        )

    async def _end_if_gone(self, stream: _Stream) -> None:
        if stream.publisher is None and stream.state == StreamState.PUBLISHER_GONE:
            await self._end(stream)

    async def _end(self, stream: _Stream) -> None:
        if stream.state == StreamState.ENDED:
            return
        if stream.grace_timer is not None:
            stream.grace_timer.cancel()
            stream.grace_timer = None
        if self._streams.get(stream.id) is stream:
            del self._streams[stream.id]
        self._set_state(stream, StreamState.ENDED)
        publisher, stream.publisher = stream.publisher, None
        viewers = list(stream.viewers.values())
        stream.viewers.clear()
        peers: list[_Publisher | _Viewer] = [*viewers, *([publisher] if publisher else [])]
        await asyncio.gather(*(self._retire(peer) for peer in peers), return_exceptions=True)
        for track in stream.tracks.values():
            track.sinks.clear()

    def _forget_if_empty(self, stream: _Stream) -> None:
        if stream.publisher is None and not stream.viewers and stream.state == StreamState.LIVE:
            self._streams.pop(stream.id, None)


#: Connection states after which a connect timer has nothing left to check.
_SETTLED = ("connected", "failed", "closed")


def _only(codecs: list[RTCRtpCodecParameters], payload_type: int) -> list[RTCRtpCodecParameters]:
    """The codec with ``payload_type`` and its RTX partner, nothing else."""
    return [
        c
        for c in codecs
        if c.payloadType == payload_type or (is_rtx(c) and c.parameters.get("apt") == payload_type)
    ]
