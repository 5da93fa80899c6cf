"""The streaming area's long-lived parts in one process, and how they start and stop.

Built by the composition root through :data:`streaming.area.AREA`; the web
reaches them with ``web.context.streaming_runtime(request)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cloudexpo.areas import close_all
from cloudexpo.bus import RedisBus
from cloudexpo.services import Services

from . import call_media
from .chat import RATE_LIMIT, RATE_WINDOW, Chat
from .edges import EdgeService
from .egress import EgressService
from .engine import MediaEngine
from .live import LiveService
from .live_hls import LiveHls
from .origins import OriginRegistry
from .pins import Pins
from .polls import VOTE_LIMIT as POLL_VOTE_LIMIT
from .polls import VOTE_WINDOW as POLL_VOTE_WINDOW
from .polls import Polls
from .qa import ASK_LIMIT, ASK_WINDOW, VOTE_LIMIT, VOTE_WINDOW, Questions
from .reactions import Reactions
from .recorder import RecorderService
from .replays import ReplayFiles


@dataclass
class StreamingRuntime:
    """One of each per process."""

    engine: MediaEngine  # receives each broadcast once and forwards it to every viewer
    live: LiveService  # slot states, WHIP/WHEP sessions, viewer counts; closes the engine
    chat: Chat  # chat rules and the rate limit
    pins: Pins  # the message pinned at each launch
    reactions: Reactions  # taps counted per interval, published and stored once per interval
    questions: Questions  # Q&A at launches: asking, votes, approving, answering
    polls: Polls  # polls at launches
    replay_files: ReplayFiles  # playlists read from storage, download MP4 jobs
    recorder: RecorderService  # records every broadcast; completes what a killed process left in the spool
    live_hls: LiveHls  # the live HLS playlists in storage: written by the recorder, linked for viewers past WebRTC
    egress: EgressService | None = None  # re-publishes every broadcast to CLOUDEXPO_EGRESS_WHIP_URL

    @classmethod
    def build(cls, services: Services) -> StreamingRuntime:
        settings = services.settings
        # No grace period: a broadcast outlives its publisher's sessions until the schedule ends it (LiveService).
        engine = MediaEngine(settings.ice_servers, settings.ice_hosts, grace_period=None)
        engine.add_state_listener(call_media.end_when_source_gone(engine))  # a call has no "back in a moment"
        spool = Path(settings.data_dir) / "spool"
        files = ReplayFiles(services.db, services.store, spool)
        cluster = None
        bus = services.bus
        if settings.node_url and isinstance(bus, RedisBus):  # several nodes: any of them plays any broadcast
            registry = OriginRegistry(lambda: bus.client, settings.node_url, services.secret_key)
            cluster = EdgeService(engine, registry, bus, services.secret_key, linger=settings.edge_linger_seconds)
        live_hls = LiveHls(services.store, settings.hls_public_url)
        chat = Chat(services.bus, services.rate_limiter(RATE_LIMIT, RATE_WINDOW))
        return cls(
            engine=engine,
            live=LiveService(services.db, services.bus, engine, services.secret_key,
                             dt.timedelta(minutes=settings.green_room_minutes), cluster=cluster,
                             max_viewers=settings.max_webrtc_viewers,
                             overrun=dt.timedelta(minutes=settings.overrun_minutes)),
            chat=chat,
            pins=Pins(services.bus),
            reactions=Reactions(services.db, services.bus),
            questions=Questions(services.bus, chat, ask_limiter=services.rate_limiter(ASK_LIMIT, ASK_WINDOW),
                                vote_limiter=services.rate_limiter(VOTE_LIMIT, VOTE_WINDOW)),
            polls=Polls(services.db, services.bus, services.rate_limiter(POLL_VOTE_LIMIT, POLL_VOTE_WINDOW)),
            replay_files=files,
            recorder=RecorderService(engine, services.db, services.store, spool, files=files, live_hls=live_hls),
            live_hls=live_hls,
            egress=EgressService(engine, services.db, settings.egress_whip_url, settings.egress_whip_token)
            if settings.egress_whip_url else None,
        )

    async def start(self) -> None:
        await self.live.start()
        try:
            await self.recorder.recover()
        except BaseException:
            await self.live.close()
            raise
        await self.reactions.start()

    async def close(self) -> None:
        if self.egress is not None:
            await self.egress.close()  # ends its WHIP sessions at the cluster while the engine still runs
        await self.reactions.close()  # stores the last interval's counts
        await self.polls.close()  # sends the results still waiting for their turn
        await self.recorder.close()  # finishes every recording (the engine may have ended them already)
        await close_all([self.live, self.replay_files])  # then the MP4 jobs; the live service closes the engine
