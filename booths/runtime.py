"""The booths area's long-lived parts in one process, and how they start and stop.

Built by the composition root through :data:`booths.area.AREA`; the web
reaches them with ``web.context.booths_runtime(request)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudexpo.areas import Part, close_all, start_all
from cloudexpo.ratelimit import RateLimiter, SharedRateLimiter
from cloudexpo.services import Services

from .engagement.analytics import Counter
from .engagement.notify import Notifier, ReminderLoop
from .engagement.presence import PresenceBoard
from .media.worker import MediaWorker


@dataclass
class BoothsRuntime:
    """One of each per process; started in field order, closed in reverse."""

    analytics: Counter  # booth visits and views, counted in memory and written every few seconds
    notifier: Notifier  # in-app notifications and e-mails
    reminders: ReminderLoop  # meeting and launch reminders through the notifier (every 10 s: "live now" is news)
    media: MediaWorker  # thumbnails, posters and facts of checked uploads; resumes unfinished work at start
    presence: PresenceBoard  # which staff are at which booth (heartbeats; in Redis with the Redis bus)
    conversation_starts: RateLimiter | SharedRateLimiter  # new conversations per visitor and hour
    conversation_messages: RateLimiter | SharedRateLimiter  # messages per user and minute

    @classmethod
    def build(cls, services: Services, *, analytics_interval: float = 2.0,
              reminder_interval: float = 10.0) -> BoothsRuntime:
        settings = services.settings
        notifier = Notifier.from_services(services)
        return cls(
            analytics=Counter(services.db, services.secret_key, settings.timezone, interval=analytics_interval,
                              bus=services.bus),
            notifier=notifier,
            reminders=ReminderLoop(services, notifier, reminder_interval),
            media=MediaWorker(services.db, services.store),
            presence=PresenceBoard(services.bus, services.secret_key),
            conversation_starts=services.rate_limiter(10, 3600),
            conversation_messages=services.rate_limiter(20, 60),
        )

    def parts(self) -> list[Part]:
        # The reminder loop closes after the worker and before the counter: it waits for the e-mails
        # on their way; the counter writes what is still counted in memory last.
        return [self.analytics, self.reminders, self.media]

    async def start(self) -> None:
        await start_all(self.parts())

    async def close(self) -> None:
        await close_all(self.parts())
