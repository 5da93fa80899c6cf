"""The pages around a replay: its own page (chat, booth, the booth's other replays), and what a broadcast's page
says when its replay is gone (removed, unpublished) instead of promising one."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cloudexpo.services import Services
from tests.test_booths_support import make_expo
from tests.test_replay_api import make_recording
from tests.test_replay_media import make_slot

COMING = "The replay is coming soon"


async def _expo_slot(services: Services, title: str, *, published: bool = True) -> tuple[int, Any]:
    expo = await make_expo(services)
    slot_id = await make_slot(services, exhibitor_id=expo.exhibitors["1A-001"], booth_id=expo.booths["1A-001"], title=title)
    await make_recording(services, slot_id, published=published)
    return slot_id, expo


async def test_replay_page_fills_its_right_column(app: Any, services: Services, make_client: Any) -> None:
    slot_id, expo = await _expo_slot(services, "Wind turbine launch")
    other = await make_slot(services, exhibitor_id=expo.exhibitors["1A-001"], booth_id=expo.booths["1A-001"], title="Robot arm launch")
    await make_recording(services, other)
    visitor = await make_client()
    page = await visitor.get(f"/replays/{slot_id}?lang=en")
    assert page.status_code == 200, page.text
    side = page.text.split('class="replay-page-side"', 1)[1]
    assert 'data-role="replay-chat"' in side  # the chat as it happened, on the right
    assert 'href="/booths/1A-001"' in side and f'href="/booths/{expo.booths["1A-001"]}/contact"' in side
    assert f'href="/replays/{other}"' in side and f'href="/replays/{slot_id}"' not in side
    archive = await visitor.get("/replays?lang=en")
    assert f'href="/replays/{slot_id}"' in archive.text  # a finished replay opens on its own page


async def test_a_removed_replay_is_said_to_be_removed(app: Any, services: Services, make_client: Any, signed_in: Any) -> None:
    slot_id, expo = await _expo_slot(services, "Pickle launch")
    staff = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    assert (await staff.delete(f"/api/replays/{slot_id}")).status_code == 200
    visitor = await make_client()
    page = await visitor.get(f"/live/{slot_id}?lang=en")
    assert page.status_code == 200
    assert COMING not in page.text and "its replay has been removed" in page.text
    assert 'href="/replays"' in page.text and 'href="/programme"' in page.text
    moved = await visitor.get(f"/replays/{slot_id}")
    assert moved.status_code == 303 and moved.headers["location"] == f"/live/{slot_id}"
    page = await visitor.get(f"/live/{slot_id}?lang=zh-Hans")
    assert "回放即将上线" not in page.text and "回放已被删除" in page.text


async def test_an_unpublished_replay_is_not_promised(app: Any, services: Services, make_client: Any, signed_in: Any) -> None:
    slot_id, expo = await _expo_slot(services, "Hidden launch", published=False)
    page = await (await make_client()).get(f"/live/{slot_id}?lang=en")
    assert COMING not in page.text and "Its replay is not published" in page.text
    staff = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    own = await staff.get(f"/replays/{slot_id}?lang=en")
    assert own.status_code == 200 and 'data-role="replay-manage"' in own.text  # its staff still manage it


async def _local_day(services: Services, slot_id: int) -> str:
    """The day a slot starts on in the exhibition's zone."""
    from zoneinfo import ZoneInfo

    from tests.live_support import slot_row

    starts = (await slot_row(services, slot_id)).starts_at
    return starts.astimezone(ZoneInfo(services.settings.timezone)).date().isoformat()


async def _set(services: Services, slot_id: int, *, hours_ago: float | None = None, replay_state: str) -> None:
    import datetime as dt

    from sqlalchemy import select

    from streaming.models import Slot
    from streaming.replay_models import Replay

    async with services.db.session() as db:
        slot = await db.get(Slot, slot_id)
        replay = await db.scalar(select(Replay).where(Replay.slot_id == slot_id))
        assert slot is not None and replay is not None
        if hours_ago is not None:
            now = dt.datetime.now(dt.UTC)
            slot.starts_at, slot.ends_at = now - dt.timedelta(hours=hours_ago + 1), now - dt.timedelta(hours=hours_ago)
        replay.state, slot.state = replay_state, "live"  # the recorder and the slot both still say on air
        await db.commit()


@pytest.mark.exhibition_zone(local_hour=0)
async def test_a_slot_past_its_end_shows_as_a_replay_everywhere(app: Any, services: Services, make_client: Any) -> None:
    """A node stopped mid-broadcast: the slot still says live and its replay recording, an hour after its end.
    Its replay page, the booth page, the live strip, the programme, the archive and the API show it as over;
    a broadcast really on air stays live. It is just past midnight in the exhibition's zone, so the stale
    launch is on yesterday's programme."""
    stale, expo = await _expo_slot(services, "Stale launch")
    await _set(services, stale, hours_ago=1, replay_state="recording")
    live = await make_slot(services, exhibitor_id=expo.exhibitors["1A-001"], booth_id=expo.booths["1A-001"], title="On air")
    await make_recording(services, live)
    await _set(services, live, replay_state="recording")
    visitor = await make_client()

    page = await visitor.get(f"/replays/{stale}?lang=en")
    assert page.status_code == 200, page.status_code  # its replay, not the watch page
    side = page.text.split('class="replay-page-side"', 1)[1]
    assert f'href="/live/{live}"' in side and side.count('class="badge live"') == 1  # only the one on air
    info = (await visitor.get(f"/api/replays/{stale}")).json()
    assert info["on_air"] is False and (await visitor.get(f"/api/replays/{live}")).json()["on_air"] is True
    watch = await visitor.get(f"/live/{stale}?lang=en")
    assert 'data-role="live-badge" hidden' in watch.text
    assert 'data-role="live-badge" hidden' not in (await visitor.get(f"/live/{live}?lang=en")).text

    booth = await visitor.get("/booths/1A-001?lang=en")
    launches = booth.text.split('id="launches-title"', 1)[1].split("</section>", 1)[0]
    assert f'href="/replays/{stale}"' in launches and f'href="/live/{stale}"' not in launches
    stale_item = launches.split(f'data-slot="{stale}"', 1)[1].split("</li>", 1)[0]
    assert "Live now" not in stale_item and launches.count("Live now") == 2  # the launch on air, and its recording

    strip = await visitor.get(f"/live/strip?booth={expo.booths['1A-001']}&lang=en")
    assert f"/live/{live}" in strip.text and f"/live/{stale}" not in strip.text
    now = (await visitor.get("/api/live/now")).json()
    assert [s["id"] for s in now["live"]] == [live]

    archive = (await visitor.get("/api/replays")).json()
    states = {item["slot_id"]: item["on_air"] for item in archive["replays"]}
    assert states == {stale: False, live: True}, states
    listing = await visitor.get("/replays?lang=en")
    assert f'href="/replays/{stale}"' in listing.text and f'href="/live/{live}"' in listing.text
    day = await _local_day(services, stale)
    programme = await visitor.get(f"/programme?day={day}&lang=en")
    row = programme.text.split(f'href="/live/{stale}"', 1)[1].split("</li>", 1)[0]
    assert "Ended" in row and "Live now" not in row


@pytest.mark.exhibition_zone(local_hour=1)
async def test_a_launch_nobody_went_live_for_is_over_after_its_end(app: Any, services: Services, make_client: Any) -> None:
    """Past its end plus the overrun, a slot still marked scheduled offers no reminder: the programme shows it
    ended and its watch page has no "Remind me"; one still to come keeps them."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from tests import live_support

    zone = ZoneInfo(services.settings.timezone)
    visitor = await make_client()
    for start_in, over in ((dt.timedelta(hours=-2), True), (dt.timedelta(hours=2), False)):
        slot_id, _ = await live_support.make_slot(services, start_in=start_in, minutes=30, booth_id=None, exhibitor_id=None)
        watch = await visitor.get(f"/live/{slot_id}?lang=en")
        assert watch.status_code == 200 and ("Remind me" in watch.text) is not over, slot_id
        day = (dt.datetime.now(dt.UTC) + start_in).astimezone(zone).date()
        programme = await visitor.get(f"/programme?day={day.isoformat()}&lang=en")
        found = re.search(rf'<li class="slot-card state-(\w+)" data-slot="{slot_id}">(.*?)</li>', programme.text, re.S)
        assert found is not None, programme.text
        state, row = found.groups()
        assert (state == "ended", "Ended" in row, "Remind me" in row) == (over, over, not over), row
