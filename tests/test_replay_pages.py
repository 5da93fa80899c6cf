"""The pages around a replay: its own page (chat, booth, the booth's other replays), and what a broadcast's page
says when its replay is gone (removed, unpublished) instead of promising one."""

from __future__ import annotations

from typing import Any

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
