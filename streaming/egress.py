"""Re-publishing every broadcast to an external media cluster over WHIP, without transcoding.

With ``CLOUDEXPO_EGRESS_WHIP_URL`` set (a template with ``{slot}``), the node
holding a broadcast's publisher (its origin; never an edge that pulls it) opens one outgoing WHIP session
(RFC 9725) per slot while the slot is on air, to a cluster the organiser runs
(LiveKit's WHIP ingress, Cloudflare Stream, SRS, OvenMediaEngine, MediaMTX,
Janus): an aiortc connection whose senders are fed the forwarder's packets
exactly as a viewer's are (:class:`~streaming.rtp_endpoints.ForwardingSender`:
the cluster's NACKs answered from the forwarder's ring, its PLIs turned into
rate-limited keyframe requests to the publisher). Nothing is decoded or
encoded; the offer names the broadcast's own codecs (H.264 in the publisher's
profile, Opus).

:class:`EgressService` follows the engine's stream states:

- ``LIVE``: a task for the slot waits until the slot is on air (the green room
  stays private; checked every ``check_every`` seconds), then publishes;
- the cluster refuses, the connection fails, does not connect within
  ``connect_timeout`` or hears nothing back (no RTCP) for ``silence_timeout``
  seconds, or the broadcast's codec changes (a publisher takeover): a new
  session is opened after a back-off (``first_delay`` doubling up to
  ``max_delay``), for as long as the broadcast runs. A session the cluster
  dropped gets no ``DELETE`` (the cluster lost it already, perhaps in a
  restart, and a late DELETE could end what the next session starts); one we
  give up on is;
- ``ENDED``: the session is ended with ``DELETE`` on its ``Location``.

``CLOUDEXPO_EGRESS_WHEP_URL`` is the cluster's playback side; the watch page
uses it (``web/routes/live.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx
from aiortc import RTCPeerConnection
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from sqlalchemy import select

from cloudexpo.db import Database

from . import aiortc_internals as internals
from .engine import MediaEngine
from .errors import StreamingError, StreamNotLive
from .forwarder import TrackForwarder
from .live import slot_id_of
from .models import Slot, SlotState
from .peers import accept_answer, create_offer, forwarding_codecs, new_peer_connection
from .rtp_endpoints import ForwardingSender
from .sdp import CodecChoice, forwardable_codecs, pick_codec
from .states import StreamState

log = logging.getLogger(__name__)

MAX_ANSWER = 64 * 1024


class EgressRefused(StreamingError):
    """The external cluster did not accept the offer; the message says what it answered."""


def offer_codecs(kind: str, codec: CodecChoice) -> list[RTCRtpCodecParameters]:
    """The entry of aiortc's (widened) codec table for the broadcast's codec, with its RTX partner."""
    with forwarding_codecs():
        table = list(internals.codec_table()[kind])
    choice = pick_codec(forwardable_codecs(kind, table), codec)
    if choice is None:
        raise EgressRefused(f"{codec.describe()} cannot be offered")
    return [c for c in table if c.payloadType == choice.payload_type or (is_rtx(c) and c.parameters.get("apt") == choice.payload_type)]


@dataclass(eq=False)
class EgressSession:
    """One WHIP session to the cluster: the connection, where to DELETE it, what it sends."""

    pc: RTCPeerConnection
    location: str
    codecs: dict[str, CodecChoice]
    senders: list[ForwardingSender]
    started_at: float = field(default_factory=time.monotonic)
    dropped: bool = False  # the cluster went away: no DELETE

    def heard_at(self) -> float:
        """When the cluster last sent RTCP for any of our tracks (0: never)."""
        return max((s.last_report_at for s in self.senders), default=0.0)

    def codec_changed(self, tracks: dict[str, TrackForwarder]) -> bool:
        return any(tracks[kind].codec != codec for kind, codec in self.codecs.items() if kind in tracks)


async def open_session(
    engine: MediaEngine, stream_id: str, url: str, token: str | None, http: httpx.AsyncClient
) -> EgressSession:
    """Offer the stream's tracks to ``url`` (WHIP), apply the answer; the media flows once ICE connects."""
    tracks = engine.forwarded_tracks(stream_id)
    if "video" not in tracks:
        raise StreamNotLive(f"stream {stream_id} has no video yet")
    pc = new_peer_connection(engine.ice_servers)
    senders = []
    try:
        for kind, track in tracks.items():
            assert track.codec is not None
            transceiver = pc.addTransceiver(kind, direction="sendonly")
            internals.prefer_codecs(transceiver, offer_codecs(kind, track.codec))
            senders.append(ForwardingSender.install(transceiver.sender, track))
        offer = await create_offer(pc, engine.ice_hosts, relay=True)
        headers = {"Content-Type": "application/sdp"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = await http.post(url, content=offer, headers=headers)
        if response.status_code != 201:
            raise EgressRefused(f"{url} answered {response.status_code}: {response.text[:300]}")
        if len(response.content) > MAX_ANSWER or "location" not in response.headers:
            raise EgressRefused(f"{url} answered 201 without a usable answer and Location")
        location = urljoin(url, response.headers["location"])
        session = EgressSession(pc, location, {kind: track.codec for kind, track in tracks.items() if track.codec}, senders)
        try:
            await accept_answer(pc, response.text, engine.ice_hosts, relay=True)
        except Exception as exc:
            await close_session(session, http, token)
            raise EgressRefused(f"the answer of {url} could not be used: {exc}") from exc
        return session
    except BaseException:
        await pc.close()
        raise


async def close_session(session: EgressSession, http: httpx.AsyncClient, token: str | None) -> None:
    """End the session at the cluster (``DELETE``, best effort, unless it dropped us) and close the connection."""
    if not session.dropped:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            await http.delete(session.location, headers=headers)
        except httpx.HTTPError as exc:
            log.info("egress: DELETE %s failed (%s)", session.location, exc)
    await session.pc.close()


class EgressService:
    """Re-publishes the engine's ``slot-{id}`` streams to ``whip_url`` (see the module doc); one per process."""

    def __init__(
        self,
        engine: MediaEngine,
        db: Database,
        whip_url: str,
        token: str | None = None,
        *,
        first_delay: float = 1.0,
        max_delay: float = 30.0,
        check_every: float = 1.0,
        connect_timeout: float = 15.0,
        silence_timeout: float = 8.0,
        timeout: float = 10.0,
    ) -> None:
        self.engine = engine
        self.db = db
        self.whip_url = whip_url
        self.token = token
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.check_every = check_every
        self.connect_timeout = connect_timeout
        self.silence_timeout = silence_timeout
        self.http = httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False)
        self.runs: dict[int, asyncio.Task[None]] = {}
        self.sessions: dict[int, EgressSession] = {}
        self.connections = 0  # sessions that reached "connected" (a reconnection adds one)
        engine.add_state_listener(self._on_state)

    def url(self, slot_id: int) -> str:
        return self.whip_url.format(slot=slot_id)

    async def start(self) -> None:
        """Nothing to open: sessions start with the broadcasts."""

    async def close(self) -> None:
        for task in list(self.runs.values()):
            task.cancel()
        await asyncio.gather(*self.runs.values(), return_exceptions=True)
        await self.http.aclose()

    def _on_state(self, stream: str, state: StreamState) -> None:
        slot_id = slot_id_of(stream)
        if slot_id is None:
            return
        running = self.runs.get(slot_id)
        if state == StreamState.LIVE and self.engine.is_relayed(stream):
            if running is not None:
                running.cancel()  # the publisher moved to another node: its origin re-publishes now
            return
        if state == StreamState.LIVE and running is None:
            task = asyncio.ensure_future(self._run(slot_id, stream))
            self.runs[slot_id] = task
            task.add_done_callback(lambda t: self.runs.pop(slot_id, None) if self.runs.get(slot_id) is t else None)
        elif state == StreamState.ENDED and running is not None:
            running.cancel()

    async def _on_air(self, slot_id: int) -> bool:
        async with self.db.session() as db:
            state = await db.scalar(select(Slot.state).where(Slot.id == slot_id))
        return state == SlotState.LIVE.value

    async def _run(self, slot_id: int, stream: str) -> None:
        delay = self.first_delay
        while True:
            if not await self._on_air(slot_id):
                await asyncio.sleep(self.check_every)
                continue
            session: EgressSession | None = None
            try:
                session = await open_session(self.engine, stream, self.url(slot_id), self.token, self.http)
                self.sessions[slot_id] = session
                if await self._hold(session, stream):
                    delay = self.first_delay  # it ran: the next attempt starts from the shortest wait
            except asyncio.CancelledError:
                raise
            except (StreamingError, httpx.HTTPError) as exc:
                log.warning("egress: slot %s to %s: %s; again in %.0f s", slot_id, self.url(slot_id), exc, delay)
            finally:
                if session is not None:
                    self.sessions.pop(slot_id, None)
                    await asyncio.shield(close_session(session, self.http, self.token))
            await asyncio.sleep(delay)
            delay = min(self.max_delay, delay * 2)

    async def _hold(self, session: EgressSession, stream: str) -> bool:
        """Wait while the session is good; return whether it ever connected."""
        pc, connected, connected_at = session.pc, False, 0.0
        while True:
            state = pc.connectionState
            now = time.monotonic()
            if state == "connected" and not connected:
                connected, connected_at = True, now
                self.connections += 1
                log.info("egress: %s connected to %s", stream, session.location)
            if state in ("failed", "closed"):
                log.warning("egress: the connection of %s to %s %s", stream, session.location, state)
                session.dropped = True
                return connected
            if connected and now - max(session.heard_at(), connected_at) > self.silence_timeout:
                log.warning("egress: %s has heard nothing from %s for %.0f s", stream, session.location, self.silence_timeout)
                session.dropped = True
                return connected
            if not connected and time.monotonic() - session.started_at > self.connect_timeout:
                log.warning("egress: %s did not connect to %s within %.0f s", stream, session.location, self.connect_timeout)
                return False
            with contextlib.suppress(StreamNotLive):
                if session.codec_changed(self.engine.forwarded_tracks(stream)):
                    log.info("egress: the codec of %s changed; publishing again", stream)
                    return connected
            await asyncio.sleep(0.5)

    def status(self) -> dict[int, str]:
        """Each re-published slot: "connected", "connecting" or "retrying" (for dashboards and tests)."""
        out = {}
        for slot_id in self.runs:
            session = self.sessions.get(slot_id)
            out[slot_id] = "retrying" if session is None else ("connected" if session.pc.connectionState == "connected" else "connecting")
        return out

