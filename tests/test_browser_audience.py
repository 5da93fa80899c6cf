"""Q&A and polls at a launch in Chromium, with the presenter, two visitors and a moderator, the visitors on
two app nodes sharing Redis: a question asked (anonymously), upvoted, answered; a poll made, voted and
closed; then the replay page plays the question and the poll back in sync with the video. Screenshots at
1280 and 375 px in the three languages, and axe-core on every panel. With questions moderated, the asker
is told at once when theirs is approved."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cloudexpo import accounts
from cloudexpo.app import import_models
from cloudexpo.services import Services
from streaming.qa_models import Poll, Question
from tests.browser_support import chromium, wait_until
from tests.conftest import PASSWORD
from tests.test_browser_tour import AXE
from tests.test_live_chat import two_nodes  # noqa: F401  (the fixture: two nodes, one SQLite file, one Redis)
from tests.test_replay_api import make_recording
from tests.test_replay_media import make_slot

pytestmark = [pytest.mark.browser, pytest.mark.media]

EXHIBITOR = 5
PEOPLE = {"presenter": "exhibitor", "ann": "visitor", "bob": "visitor", "mod": "moderator"}
LANGS = ("zh-Hans", "en", "zh-Hant")


def _seed(settings: Any) -> int:
    async def go() -> int:
        import_models()
        svc = Services.from_settings(settings)
        try:
            async with svc.db.session() as db:
                for name, role in PEOPLE.items():
                    await accounts.create_user(db, f"{name}@example.org", PASSWORD, display_name=name.title(), role=role,
                                               exhibitor_id=EXHIBITOR if role == "exhibitor" else None)
                await db.commit()
            return await make_slot(svc, exhibitor_id=EXHIBITOR, title="Q&A launch")
        finally:
            await svc.db.close()

    return asyncio.run(go())


def _record_and_place(settings: Any, slot_id: int) -> None:
    """The broadcast's recording (8 s), and the Q&A's moments moved into it: asked at 1 s, answered at 3 s,
    the poll opened at 2 s and closed at 5 s (the live part above happened minutes after the recording's start)."""
    async def go() -> None:
        svc = Services.from_settings(settings)
        try:
            await make_recording(svc, slot_id)
            async with svc.db.session() as db:
                from streaming.replay_models import Replay

                replay = await db.scalar(select(Replay).where(Replay.slot_id == slot_id))
                assert replay is not None and replay.started_at is not None
                start = replay.started_at
                for question in (await db.scalars(select(Question).where(Question.slot_id == slot_id))).all():
                    question.created_at = start + dt.timedelta(seconds=1)
                    if question.answered_at is not None:
                        question.answered_at = start + dt.timedelta(seconds=3)
                for poll in (await db.scalars(select(Poll).where(Poll.slot_id == slot_id))).all():
                    poll.opened_at, poll.closed_at = start + dt.timedelta(seconds=2), start + dt.timedelta(seconds=5)
                await db.commit()
        finally:
            await svc.db.close()

    with ThreadPoolExecutor(1) as pool:  # Playwright's own event loop runs in this thread
        pool.submit(asyncio.run, go()).result()


def _person(browser: Any, base: str, name: str, width: int = 1280, lang: str = "en-US") -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900 if width > 400 else 812}, locale=lang)
    context.add_init_script(path=str(AXE))
    if name:
        csrf = context.request.get(f"{base}/api/me").json()["csrf_token"]
        response = context.request.post(f"{base}/api/session", data={"email": f"{name}@example.org", "password": PASSWORD},
                                        headers={"X-CSRF-Token": csrf})
        assert response.ok, response.text()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"{name}: {exc}"))
    page.errors = errors  # type: ignore[attr-defined]
    return page


def _tab(page: Any, which: str) -> None:
    page.click(f'[role="tab"][id^="tab-{which}-"]')
    page.wait_for_selector(f'[role="tabpanel"][id^="side-{which}-"]:not([hidden])')


def _question_text(page: Any, text: str) -> str:
    return f"[...document.querySelectorAll('[data-role=qa-list] li')].some(li => li.textContent.includes({text!r}))"


def _no_axe_problems(page: Any, where: str, scope: str = "[data-role=side-tabs]") -> None:
    """axe-core on this feature's part of the page (the tour walks the whole pages)."""
    result = page.evaluate("async (scope) => await axe.run({include: [[scope]]}, {resultTypes: ['violations']})", scope)
    found = [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes'][:3]]}"
             for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not found, f"{where}: {found}"


def test_question_and_poll_across_nodes_then_the_replay(two_nodes: tuple[str, str, Any], artifacts: Path) -> None:  # noqa: F811
    url_a, url_b, settings = two_nodes
    slot_id = _seed(settings)
    shots = artifacts / "audience"
    shots.mkdir(parents=True, exist_ok=True)
    asked = "Will the battery last a whole day?"
    with chromium() as browser:
        presenter = _person(browser, url_a, "presenter")
        ann = _person(browser, url_a, "ann")
        bob = _person(browser, url_b, "bob")
        mod = _person(browser, url_b, "mod")
        presenter.goto(f"{url_a}/dashboard/live/{slot_id}?lang=en")
        ann.goto(f"{url_a}/live/{slot_id}?lang=en")
        bob.goto(f"{url_b}/live/{slot_id}?lang=en")
        mod.goto(f"{url_b}/moderate/live?qa={slot_id}&lang=en")
        for page in (presenter, ann, bob):
            _tab(page, "qa")
        for page in (presenter, ann, bob, mod):  # each page's socket is subscribed before anything happens
            wait_until(page, "document.querySelector('[data-role=qa-empty]') && !document.querySelector('[data-role=qa-empty]').hidden")
        presenter.wait_for_timeout(1000)

        # Ann (node A) asks anonymously; Bob (node B) sees it without her name and upvotes it
        ann.fill('[data-role="qa-form"] textarea', asked)
        ann.check('[data-role="qa-form"] input[name="anonymous"]')
        ann.click('[data-role="qa-form"] button[type="submit"]')
        wait_until(bob, _question_text(bob, asked))
        item = bob.locator("[data-role=qa-list] li", has_text=asked)
        assert "Anonymous" in item.inner_text() and "Ann" not in item.inner_text()
        item.locator(".qa-vote").click()
        wait_until(bob, "document.querySelector('[data-role=qa-list] li .qa-vote').getAttribute('aria-pressed') === 'true'")
        # the presenter (node A) and the moderator (node B) see the vote and who asked
        wait_until(presenter, "document.querySelector('[data-role=qa-list] li .qa-vote').textContent.includes('1')")
        assert "Ann" in presenter.locator("[data-role=qa-list] li").first.inner_text()
        wait_until(mod, "document.querySelector('[data-role=qa-list] li .qa-vote') && document.querySelector('[data-role=qa-list] li .qa-vote').textContent.includes('1')")
        # a second question, no votes: sorted below the first on the presenter's console
        bob.fill('[data-role="qa-form"] textarea', "Which colours?")
        bob.click('[data-role="qa-form"] button[type="submit"]')
        wait_until(presenter, _question_text(presenter, "Which colours?"))
        order = presenter.evaluate("[...document.querySelectorAll('[data-role=qa-list] .qa-text')].map(p => p.textContent)")
        assert order == [asked, "Which colours?"], order
        # the presenter answers; everyone sees the answer
        first = presenter.locator("[data-role=qa-list] li", has_text=asked)
        first.get_by_role("button", name="Answer", exact=True).click()
        presenter.fill(".qa-answer-form textarea", "Yes: 26 hours in our tests.")
        presenter.click(".qa-answer-form button[type=submit]")
        for page in (ann, bob, mod):
            wait_until(page, "[...document.querySelectorAll('.qa-answer')].some(p => p.textContent.includes('26 hours'))")
        presenter.screenshot(path=str(shots / "en-1280-console-qa.png"), full_page=True)
        _no_axe_problems(presenter, "console, Q&A")
        _no_axe_problems(bob, "watch page, Q&A")

        # a poll: made on air by the presenter, voted on both nodes, results live, closed
        _tab(presenter, "polls")
        presenter.click('[data-role="poll-new"] summary')
        presenter.fill('[data-role="poll-form"] input[name="question"]', "Which model would you buy?")
        presenter.fill('[data-role="poll-form"] textarea[name="options"]', "Standard\nLong range\nPerformance")
        presenter.click('[data-role="poll-form"] button[value="open"]')
        for page in (ann, bob):
            _tab(page, "polls")
            wait_until(page, "document.querySelector('[data-role=poll-list] .poll-ballot') !== null")
        ann.check('[data-role="poll-list"] input[value="1"]')
        ann.click('[data-role="poll-list"] .poll-ballot button[type=submit]')
        bob.check('[data-role="poll-list"] input[value="1"]')
        bob.click('[data-role="poll-list"] .poll-ballot button[type=submit]')
        mod.click('[role="tab"][id^="tab-polls-"]')
        for page in (presenter, mod, ann):
            wait_until(page, "[...document.querySelectorAll('.poll-figure')].some(s => s.textContent === '100% (2)')")
        assert bob.locator("[data-role=poll-live]").get_attribute("aria-live") == "polite"
        bob.screenshot(path=str(shots / "en-1280-watch-polls.png"), full_page=True)
        _no_axe_problems(bob, "watch page, polls")
        _no_axe_problems(mod, "control room, polls", "#audience")
        mod.screenshot(path=str(shots / "en-1280-control-room.png"), full_page=True)
        presenter.get_by_role("button", name="Close poll").click()
        for page in (ann, bob):
            wait_until(page, "document.querySelector('[data-role=poll-list] .poll.poll-closed') !== null"
                             " && document.querySelector('[data-role=poll-list] .poll-ballot') === null")

        # three languages at 1280 and 375 px: the watch page's Q&A and polls tabs
        for lang in LANGS:
            for width in (1280, 375):
                page = _person(browser, url_b, "bob", width, lang)
                page.goto(f"{url_b}/live/{slot_id}?lang={lang}")
                _tab(page, "qa")
                wait_until(page, _question_text(page, asked))
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                if width == 375:  # thumb-sized tabs and vote buttons
                    assert page.locator('[role="tab"]').first.bounding_box()["height"] >= 44
                    assert page.locator(".qa-vote").first.bounding_box()["height"] >= 44
                page.screenshot(path=str(shots / f"{lang}-{width}-watch-qa.png"), full_page=width > 400)
                _tab(page, "polls")
                wait_until(page, "document.querySelector('.poll.poll-closed') !== null")
                page.screenshot(path=str(shots / f"{lang}-{width}-watch-polls.png"), full_page=width > 400)
                _no_axe_problems(page, f"watch page {lang} {width}")
                assert not page.errors, page.errors  # type: ignore[attr-defined]
                page.context.close()
        # the keyboard moves between the tabs
        ann.focus('[role="tab"][id^="tab-polls-"]')
        ann.keyboard.press("ArrowLeft")
        assert ann.evaluate("document.activeElement.id.startsWith('tab-qa-')")
        assert not ann.locator('[role="tabpanel"][id^="side-qa-"]').is_hidden()
        for page in (presenter, ann, bob, mod):
            assert not page.errors, page.errors  # type: ignore[attr-defined]

        # the replay plays the question and the poll back at the moments they happened
        _record_and_place(settings, slot_id)
        viewer = _person(browser, url_b, "")
        viewer.goto(f"{url_b}/replays/{slot_id}?lang=en")
        if not viewer.evaluate("window.MediaSource && MediaSource.isTypeSupported('video/mp4; codecs=\"avc1.42E01E,mp4a.40.2\"')"):
            pytest.skip("this Chromium has no H.264/AAC in MSE")
        viewer.wait_for_selector('[data-role="replay-audience"]:not([hidden])', timeout=15000)
        wait_until(viewer, "document.getElementById('replay-video').readyState >= 1", timeout=15000)
        shown = "document.querySelectorAll('[data-role=replay-questions] li').length"
        assert viewer.evaluate(shown) == 0  # 0 s: nothing asked yet
        viewer.evaluate("document.getElementById('replay-video').currentTime = 1.5")
        wait_until(viewer, f"{shown} === 2", timeout=15000)  # both questions, asked at 1 s
        assert viewer.evaluate("document.querySelectorAll('[data-role=replay-polls] .poll').length") == 0
        assert viewer.locator(".qa-answer").count() == 0  # answered at 3 s
        viewer.evaluate("document.getElementById('replay-video').currentTime = 4.0")
        wait_until(viewer, "document.querySelector('[data-role=replay-questions] .qa-answer') !== null", timeout=15000)
        wait_until(viewer, "document.querySelectorAll('[data-role=replay-polls] .poll').length === 1", timeout=15000)
        assert viewer.locator("[data-role=replay-polls] .poll-figure").count() == 0  # results at its close, 5 s
        viewer.screenshot(path=str(shots / "en-1280-replay-4s.png"), full_page=True)
        viewer.evaluate("document.getElementById('replay-video').currentTime = 6.0")
        wait_until(viewer, "[...document.querySelectorAll('[data-role=replay-polls] .poll-figure')].some(s => s.textContent === '100% (2)')",
                   timeout=15000)
        viewer.screenshot(path=str(shots / "en-1280-replay-6s.png"), full_page=True)
        _no_axe_problems(viewer, "replay page", "[data-role=replay-audience]")
        viewer.evaluate("document.getElementById('replay-video').currentTime = 0.2")  # back: it all goes again
        wait_until(viewer, f"{shown} === 0", timeout=15000)
        assert not viewer.errors, viewer.errors  # type: ignore[attr-defined]


def test_an_asker_is_told_at_once_when_their_question_is_approved(live_server: Any, artifacts: Path) -> None:
    """The presenter makes new questions wait for approval. Ann asks (a Chinese page): she is told hers waits,
    and Bob does not see it. The presenter approves it: Ann is told at once, in her page's language, and it
    joins her list and Bob's."""
    base = live_server.url
    slot_id = _seed(live_server.settings)
    asked = "有没有保修？"
    with chromium() as browser:
        presenter = _person(browser, base, "presenter")
        ann = _person(browser, base, "ann", lang="zh-CN")
        bob = _person(browser, base, "bob")
        presenter.goto(f"{base}/dashboard/live/{slot_id}?lang=en")
        ann.goto(f"{base}/live/{slot_id}?lang=zh-Hans")
        bob.goto(f"{base}/live/{slot_id}?lang=en")
        for page in (presenter, ann, bob):
            _tab(page, "qa")
            wait_until(page, "document.querySelector('[data-role=qa-empty]') && !document.querySelector('[data-role=qa-empty]').hidden")
        with presenter.expect_response(lambda r: r.url.endswith(f"/api/slots/{slot_id}/qa")) as answer:
            presenter.check('[data-role="qa-moderated"]')
        assert answer.value.ok, answer.value.text()

        ann.fill('[data-role="qa-form"] textarea', asked)
        ann.click('[data-role="qa-form"] button[type="submit"]')
        told = "document.querySelector('[data-role=qa-error]').textContent"
        wait_until(ann, f"{told} === '等待审核'")
        wait_until(presenter, _question_text(presenter, asked))  # the staff see it, marked as waiting
        assert "Waiting for approval" in presenter.locator("[data-role=qa-list] li", has_text=asked).inner_text()
        assert not bob.evaluate(_question_text(bob, asked)) and not ann.evaluate(_question_text(ann, asked))

        presenter.locator("[data-role=qa-list] li", has_text=asked).get_by_role("button", name="Approve").click()
        wait_until(ann, f"{told} === '你的问题已通过审核，现在所有人都能看到。'")
        assert ann.evaluate("document.querySelector('[data-role=qa-error]').classList.contains('ok')")  # good news, not an error
        wait_until(ann, _question_text(ann, asked))
        wait_until(bob, _question_text(bob, asked))
        assert bob.evaluate(f"{told} === ''") or bob.locator("[data-role=qa-error]").is_hidden()  # only the asker is told
        ann.screenshot(path=str(artifacts / "audience" / "zh-Hans-1280-question-approved.png"), full_page=True)
        for page in (presenter, ann, bob):
            assert not page.errors, page.errors  # type: ignore[attr-defined]
