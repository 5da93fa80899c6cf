"""Q&A and polls at a launch over HTTP: who may ask, vote, approve, answer, run polls; limits and refusals;
the replay's questions and polls placed on its timeline."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from typing import Any

import httpx

from cloudexpo.services import Services
from streaming.audience import per_launch
from streaming.chat import staff_topic, topic
from streaming.polls import TALLY_EVERY
from streaming.replay_models import Replay, ReplayState
from tests.conftest import PASSWORD
from tests.live_support import make_slot
from tests.test_engagement_support import make_expo
from tests.test_live_chat import two_nodes  # noqa: F401  (the fixture: two nodes, one SQLite file, one Redis)

EXHIBITOR = 70  # make_slot's exhibitor


async def test_questions_ask_vote_moderate_and_refusals(signed_in: Any, client: Any, services: Services) -> None:
    slot_id, _ = await make_slot(services, state="live", live_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30))
    alice, bob = await signed_in("visitor"), await signed_in("visitor")
    presenter = await signed_in("exhibitor", EXHIBITOR)
    stranger = await signed_in("exhibitor", EXHIBITOR + 1)
    moderator = await signed_in("moderator")
    base = f"/api/slots/{slot_id}/questions"

    assert (await client.post(base, json={"text": "hi?"})).status_code == 401
    empty = await alice.post(base, json={"text": "   "})
    assert empty.status_code == 422 and empty.json()["field"] == "text"
    too_long = await alice.post(base, json={"text": "问" * 301})
    assert too_long.status_code == 422 and "300" in too_long.json()["detail"]
    asked = await alice.post(base, json={"text": "When does it ship?", "anonymous": True})
    assert asked.status_code == 201, asked.text
    qid = asked.json()["id"]
    assert 25_000 <= asked.json()["offset_ms"] <= 60_000

    # anonymous to the public, not to the presenter
    public = (await client.get(base)).json()
    assert public["questions"][0]["author"] is None and public["runs"] is False
    staff = (await presenter.get(base)).json()
    assert staff["runs"] is True and staff["questions"][0]["author"] and staff["questions"][0]["user_id"]

    # one vote per user, a second takes it back
    assert (await client.post(f"/api/questions/{qid}/vote")).status_code == 401
    first = (await bob.post(f"/api/questions/{qid}/vote")).json()
    assert first["votes"] == 1 and first["voted"] is True
    again = (await bob.post(f"/api/questions/{qid}/vote")).json()
    assert again["votes"] == 0 and again["voted"] is False
    assert (await bob.post(f"/api/questions/{qid}/vote")).json()["votes"] == 1
    assert (await bob.get(base)).json()["questions"][0]["voted"] is True

    # the presenter answers and pins; visitors and other exhibitors cannot
    for who in (alice, stranger):
        refused = await who.patch(f"/api/questions/{qid}", json={"pinned": True})
        assert refused.status_code == 403 and "presenters" in refused.json()["detail"]
    bad = await presenter.patch(f"/api/questions/{qid}", json={"pinned": "yes"})
    assert bad.status_code == 422 and bad.json()["field"] == "pinned"
    answered = await presenter.patch(f"/api/questions/{qid}", json={"answer": "In March.", "pinned": True})
    assert answered.status_code == 200 and answered.json()["answered"] and answered.json()["answered_at"]

    # sorted: pinned first, then by votes
    other = (await bob.post(base, json={"text": "Price?"})).json()["id"]
    await alice.post(f"/api/questions/{other}/vote")
    await moderator.post(f"/api/questions/{other}/vote")
    ids = [q["id"] for q in (await client.get(base)).json()["questions"]]
    assert ids == [qid, other]
    await presenter.patch(f"/api/questions/{qid}", json={"pinned": False})
    assert [q["id"] for q in (await client.get(base)).json()["questions"]] == [other, qid]

    # moderated Q&A: new questions wait for approval
    assert (await alice.put(f"/api/slots/{slot_id}/qa", json={"moderated": True})).status_code == 403
    assert (await stranger.put(f"/api/slots/{slot_id}/qa", json={"moderated": True})).status_code == 403
    assert (await presenter.put(f"/api/slots/{slot_id}/qa", json={"moderated": True})).json()["moderated"] is True
    waiting = (await bob.post(base, json={"text": "Is there a trial?"})).json()["id"]
    assert waiting not in [q["id"] for q in (await client.get(base)).json()["questions"]]
    assert (await alice.post(f"/api/questions/{waiting}/vote")).status_code == 404
    assert waiting in [q["id"] for q in (await moderator.get(base)).json()["questions"]]
    assert (await moderator.patch(f"/api/questions/{waiting}", json={"approved": True})).status_code == 200
    assert waiting in [q["id"] for q in (await client.get(base)).json()["questions"]]

    # dismissing hides; only moderators delete; a chat mute stops questions
    await presenter.patch(f"/api/questions/{other}", json={"dismissed": True})
    assert other not in [q["id"] for q in (await client.get(base)).json()["questions"]]
    assert (await presenter.delete(f"/api/questions/{waiting}")).status_code == 403
    assert (await moderator.delete(f"/api/questions/{waiting}")).status_code == 204
    assert (await moderator.delete(f"/api/questions/{waiting}")).status_code == 404
    bob_id = (await bob.refresh_csrf())["id"]
    await moderator.post(f"/api/slots/{slot_id}/mutes", json={"user_id": bob_id})
    muted = await bob.post(base, json={"text": "let me ask"})
    assert muted.status_code == 403 and muted.json()["error"] == "muted"

    # at most three questions a minute
    await alice.post(base, json={"text": "two"})
    limited = await alice.post(base, json={"text": "three"})
    assert limited.status_code == 201
    refused = await alice.post(base, json={"text": "four"})
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert (await client.get("/api/slots/999999/questions")).status_code == 404


async def test_polls_prepare_open_vote_close_and_refusals(signed_in: Any, client: Any, services: Services) -> None:
    slot_id, _ = await make_slot(services, start_in=dt.timedelta(hours=2))
    alice, bob = await signed_in("visitor"), await signed_in("visitor")
    presenter = await signed_in("exhibitor", EXHIBITOR)
    stranger = await signed_in("exhibitor", EXHIBITOR + 1)
    base = f"/api/slots/{slot_id}/polls"
    poll = {"question": "Which colour?", "options": ["Red", "Blue", "Green"]}

    assert (await alice.post(base, json=poll)).status_code == 403
    assert (await stranger.post(base, json=poll)).status_code == 403
    assert (await client.post(base, json=poll)).status_code == 401
    one = await presenter.post(base, json={**poll, "options": ["Only"]})
    assert one.status_code == 422 and one.json()["field"] == "options"
    twice = await presenter.post(base, json={**poll, "options": ["Red", "red"]})
    assert twice.status_code == 422 and "twice" in twice.json()["detail"]
    draft = await presenter.post(base, json=poll)  # prepared before the launch
    assert draft.status_code == 201 and draft.json()["state"] == "draft"
    pid = draft.json()["id"]
    assert (await client.get(base)).json()["polls"] == []
    assert [p["id"] for p in (await presenter.get(base)).json()["polls"]] == [pid]
    not_open = await alice.post(f"/api/polls/{pid}/vote", json={"choices": [0]})
    assert not_open.status_code == 404  # a draft does not exist for the audience

    assert (await alice.post(f"/api/polls/{pid}/open")).status_code == 404  # nor for opening it
    opened = await presenter.post(f"/api/polls/{pid}/open")
    assert opened.status_code == 200 and opened.json()["state"] == "open"
    assert (await presenter.post(f"/api/polls/{pid}/open")).status_code == 409
    assert (await client.post(f"/api/polls/{pid}/vote", json={"choices": [0]})).status_code == 401
    two = await alice.post(f"/api/polls/{pid}/vote", json={"choices": [0, 1]})
    assert two.status_code == 422 and two.json()["field"] == "choices"
    out_of_range = await alice.post(f"/api/polls/{pid}/vote", json={"choices": [3]})
    assert out_of_range.status_code == 422 and "0 to 2" in out_of_range.json()["detail"]
    voted = (await alice.post(f"/api/polls/{pid}/vote", json={"choices": [1]})).json()
    assert voted["mine"] == [1] and voted["options"][1]["votes"] == 1
    changed = (await alice.post(f"/api/polls/{pid}/vote", json={"choices": [2]})).json()
    assert [o["votes"] for o in changed["options"]] == [0, 0, 1] and changed["voters"] == 1
    await bob.post(f"/api/polls/{pid}/vote", json={"choices": 2})
    listed = (await alice.get(base)).json()["polls"][0]
    assert listed["mine"] == [2] and listed["options"][2]["votes"] == 2  # results live for everyone

    multi = (await presenter.post(base, json={**poll, "question": "Which ones?", "multiple": True, "open": True})).json()
    assert multi["state"] == "open"
    both = (await bob.post(f"/api/polls/{multi['id']}/vote", json={"choices": [0, 2]})).json()
    assert [o["votes"] for o in both["options"]] == [1, 0, 1] and both["voters"] == 1

    assert (await stranger.post(f"/api/polls/{pid}/close")).status_code == 403
    closed = await presenter.post(f"/api/polls/{pid}/close")
    assert closed.status_code == 200 and closed.json()["state"] == "closed" and closed.json()["closed_at"]
    late = await bob.post(f"/api/polls/{pid}/vote", json={"choices": [0]})
    assert late.status_code == 409 and "not open" in late.json()["detail"]
    assert (await alice.delete(f"/api/polls/{multi['id']}")).status_code == 403
    assert (await presenter.delete(f"/api/polls/{multi['id']}")).status_code == 204
    assert [p["id"] for p in (await client.get(base)).json()["polls"]] == [pid]


async def test_replay_places_questions_and_polls_on_its_timeline(signed_in: Any, client: Any, services: Services) -> None:
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    slot_id, _ = await make_slot(services, state="live", live_at=started)
    async with services.db.session() as db:
        db.add(Replay(slot_id=slot_id, state=ReplayState.READY.value, published=True, started_at=started,
                      duration=600.0, segments=100, trim_start=2.0))
        await db.commit()
    visitor, presenter = await signed_in("visitor"), await signed_in("exhibitor", EXHIBITOR)
    qid = (await visitor.post(f"/api/slots/{slot_id}/questions", json={"text": "Battery life?"})).json()["id"]
    pid = (await presenter.post(f"/api/slots/{slot_id}/polls", json={"question": "Buy?", "options": ["Yes", "No"], "open": True})).json()["id"]
    await visitor.post(f"/api/polls/{pid}/vote", json={"choices": [0]})
    await asyncio.sleep(0.3)
    await presenter.patch(f"/api/questions/{qid}", json={"answered_live": True})
    await presenter.post(f"/api/polls/{pid}/close")
    await presenter.post(f"/api/slots/{slot_id}/polls", json={"question": "Never shown", "options": ["a", "b"]})

    body = (await client.get(f"/api/replays/{slot_id}/audience")).json()
    (question,) = body["questions"]
    assert question["id"] == qid and 3.0 <= question["at"] <= 60.0  # 5 s or more into the recording, 2 s trimmed
    assert question["answered_live"] and question["answer_at"] >= question["at"]
    (poll,) = body["polls"]  # the draft never went to the audience
    assert poll["id"] == pid and poll["state"] == "closed" and poll["options"][0]["votes"] == 1
    assert poll["closed_at_s"] >= poll["at"] >= 2.0
    assert (await client.get("/api/replays/999999/audience")).status_code == 404
    async with services.db.session() as db:  # the booth's analytics: questions and poll votes per launch
        (launch,) = await per_launch(db, 7)
    assert launch["slot"].id == slot_id and launch["questions"] == 1 and launch["poll_votes"] == 1


async def test_waiting_questions_reach_only_the_runners_sockets_on_another_node(two_nodes: tuple[str, str, Any]) -> None:  # noqa: F811
    """A moderated Q&A across two nodes: the question waits; only the presenter's socket hears of it (with the
    author of an anonymous question); once approved, every socket gets it without the author."""
    import websockets

    from cloudexpo import accounts
    from cloudexpo.app import import_models
    from cloudexpo.services import Services as Svc

    url_a, url_b, settings = two_nodes
    import_models()
    svc = Svc.from_settings(settings)
    try:
        async with svc.db.session() as db:
            await accounts.create_user(db, "asker@example.org", PASSWORD, display_name="Asker")
            await accounts.create_user(db, "host@example.org", PASSWORD, role="exhibitor", exhibitor_id=EXHIBITOR)
            await db.commit()
        slot_id, _ = await make_slot(svc, state="live", live_at=dt.datetime.now(dt.UTC), qa_moderated=True)
    finally:
        await svc.db.close()

    async def signed_in(base: str, email: str) -> httpx.AsyncClient:
        http = httpx.AsyncClient(base_url=base)
        csrf = (await http.get("/api/me")).json()["csrf_token"]
        assert (await http.post("/api/session", json={"email": email, "password": PASSWORD}, headers={"X-CSRF-Token": csrf})).status_code == 200
        http.headers["X-CSRF-Token"] = (await http.get("/api/me")).json()["csrf_token"]
        return http

    asker, host = await signed_in(url_a, "asker@example.org"), await signed_in(url_b, "host@example.org")
    ws_url = url_b.replace("http://", "ws://") + f"/ws?slots={slot_id}"
    cookie = "; ".join(f"{k}={v}" for k, v in host.cookies.items())
    try:
        async with websockets.connect(ws_url, origin=url_b) as public, \
                websockets.connect(ws_url, origin=url_b, additional_headers={"Cookie": cookie}) as staff:
            async def events(ws: Any, until: str) -> list[dict[str, Any]]:
                seen: list[dict[str, Any]] = []
                while not any(e["type"] == until for e in seen):
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    seen.extend(frame if isinstance(frame, list) else [frame])
                return seen

            await events(public, "snapshot")
            await events(staff, "snapshot")
            asked = await asker.post(f"/api/slots/{slot_id}/questions", json={"text": "Secret roadmap?", "anonymous": True})
            assert asked.status_code == 201 and asked.json()["approved"] is False
            waiting = next(e for e in await events(staff, "question_staff") if e["type"] == "question_staff")["question"]
            assert waiting["author"] == "Asker" and waiting["approved"] is False
            assert (await host.patch(f"/api/questions/{waiting['id']}", json={"approved": True})).status_code == 200
            seen = await events(public, "question")
            shown = [e for e in seen if e["type"] == "question"][-1]["question"]
            assert shown["author"] is None and shown["text"] == "Secret roadmap?" and "user_id" not in shown
            assert not any(e["type"] == "question_staff" for e in seen)  # the public socket never hears the staff topic
    finally:
        await asker.aclose()
        await host.aclose()


async def test_booth_analytics_show_questions_and_poll_votes_per_launch(services: Services, signed_in: Any, runtime: Any) -> None:
    expo = await make_expo(services)
    booth, exhibitor = expo.booths["1A-001"], expo.exhibitors["1A-001"]
    slot_id, _ = await make_slot(services, state="live", live_at=dt.datetime.now(dt.UTC), booth_id=booth, exhibitor_id=exhibitor)
    visitor, staff = await signed_in("visitor"), await signed_in("exhibitor", exhibitor)
    await visitor.post(f"/api/slots/{slot_id}/questions", json={"text": "Warranty?"})
    poll = (await staff.post(f"/api/slots/{slot_id}/polls", json={"question": "Q", "options": ["a", "b"], "multiple": True, "open": True})).json()
    await visitor.post(f"/api/polls/{poll['id']}/vote", json={"choices": [0, 1]})  # one ballot, two choices
    for kind in ("clap", "heart"):
        assert (await visitor.post(f"/api/slots/{slot_id}/reactions", json={"kind": kind})).status_code == 202
    await runtime.streaming.reactions.flush()  # the interval's counts, sent and stored now rather than at its end
    await runtime.streaming.reactions.settled()
    page = await staff.get("/dashboard/analytics?lang=en")
    assert page.status_code == 200
    row = page.text.split(f'href="/live/{slot_id}"')[1].split("</tr>")[0]
    assert [int(n) for n in re.findall(r"<td>(\d+)</td>", row)] == [0, 1, 1, 2]  # peak viewers, questions, poll votes, reactions


async def test_a_burst_of_votes_goes_out_as_a_few_tallies_that_end_on_the_final_count(
        signed_in: Any, services: Services) -> None:
    """Votes answer each voter with the counts at once; pages get the running results at most every
    TALLY_EVERY seconds (a burst of a thousand votes would otherwise be a thousand events to every page)."""
    slot_id, _ = await make_slot(services)
    presenter = await signed_in("exhibitor", EXHIBITOR)
    voters = [await signed_in("visitor") for _ in range(12)]
    made = await presenter.post(f"/api/slots/{slot_id}/polls",
                                json={"question": "Which range?", "options": ["400 km", "600 km"], "open": True})
    pid = made.json()["id"]
    public, staff = await services.bus.subscribe(topic(slot_id)), await services.bus.subscribe(staff_topic(slot_id))
    answers = await asyncio.gather(*(v.post(f"/api/polls/{pid}/vote", json={"choices": [n % 2]})
                                     for n, v in enumerate(voters)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert all(a.json()["options"][n % 2]["votes"] >= 1 and a.json()["mine"] == [n % 2] for n, a in enumerate(answers))
    await asyncio.sleep(TALLY_EVERY * 3)
    for feed, kind in ((public, "poll"), (staff, "poll_staff")):
        tallies = [e.data["poll"] for e in feed.waiting() if e.data["type"] == kind]
        assert 1 <= len(tallies) <= 3, len(tallies)  # not one a vote
        assert [o["votes"] for o in tallies[-1]["options"]] == [6, 6] and tallies[-1]["voters"] == 12

    # closing goes out at once, with the final results; nothing stale follows it
    closed = await presenter.post(f"/api/polls/{pid}/close")
    assert closed.status_code == 200
    late = await voters[0].post(f"/api/polls/{pid}/vote", json={"choices": [1]})
    assert late.status_code == 409
    await asyncio.sleep(TALLY_EVERY * 2)
    after = [e.data["poll"] for e in public.waiting() if e.data["type"] == "poll"]
    assert [(p["state"], p["voters"]) for p in after] == [("closed", 12)]

