"""Booth conversations over HTTP: who may read and write, live delivery on the bus, leads, limits, moderation."""

from __future__ import annotations

from typing import Any

from cloudexpo.app import Runtime
from cloudexpo.mail import SmtpMailer
from cloudexpo.ratelimit import RateLimiter
from cloudexpo.services import Services
from tests.test_engagement_support import make_expo, wait_for

CARD = {"name": "Anna Schmidt", "organisation": "TÜV Süd", "email": "anna@example.org", "consent": True}


async def _events(sub: Any) -> list[dict[str, Any]]:
    return [e.data for e in sub.waiting()]


async def test_a_conversation_is_private_to_its_visitor_and_the_booths_staff(
        signed_in: Any, make_client: Any, services: Services, runtime: Runtime) -> None:
    expo = await make_expo(services)
    booth = expo.booths["1A-001"]
    staff = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    staff_id = (await staff.refresh_csrf())["id"]
    visitor = await signed_in("visitor")
    visitor_id = (await visitor.refresh_csrf())["id"]
    # staff are at the booth: the conversation is live, not a message left for later
    await runtime.booths.presence.here(booth, staff_id, "page-1")
    presence = (await (await make_client()).get(f"/api/booths/{booth}/presence")).json()
    assert presence["open"] and presence["staff"][0]["id"] == staff_id and presence["staff"][0]["initials"]

    anonymous = await make_client()
    refused = await anonymous.post(f"/api/booths/{booth}/conversations", json={"text": "hi"})
    assert refused.status_code == 401 and refused.json()["code"] == "auth.sign_in"
    assert (await anonymous.get("/api/conversations")).status_code == 401

    staff_feed = await services.bus.subscribe(f"user.{staff_id}")
    started = await visitor.post(f"/api/booths/{booth}/conversations", json={"text": "电池检测周期多长？"})
    assert started.status_code == 201, started.text
    conversation = started.json()["conversation"]
    cid = conversation["id"]
    assert conversation["side"] == "visitor" and conversation["left_message"] is False
    assert started.json()["message"]["side"] == "visitor"
    event = await wait_for(lambda: staff_feed.waiting())
    assert event[0].data["type"] == "conversation_message" and event[0].data["unread"] == 1
    assert event[0].data["conversation"]["side"] == "staff" and event[0].data["message"]["text"] == "电池检测周期多长？"

    again = await visitor.post(f"/api/booths/{booth}/conversations", json={"text": "还有一个问题"})
    assert again.status_code == 200 and again.json()["conversation"]["id"] == cid

    inbox = (await staff.get("/api/conversations")).json()
    assert inbox["unread"] == 2 and inbox["conversations"][0]["visitor"]["id"] == visitor_id
    answer = await staff.post(f"/api/conversations/{cid}/messages", json={"text": "大约两周。"})
    assert answer.status_code == 201 and answer.json()["message"]["side"] == "staff"
    assert (await staff.get("/api/conversations")).json()["unread"] == 0  # answering reads
    assert (await visitor.get("/api/conversations")).json()["unread"] == 1
    assert (await visitor.post(f"/api/conversations/{cid}/read")).json()["unread"] == 0
    history = (await visitor.get(f"/api/conversations/{cid}")).json()["messages"]
    assert [m["side"] for m in history] == ["visitor", "visitor", "staff"]

    # nobody else reads or writes it, nor learns that it exists
    other_staff = await signed_in("exhibitor", expo.exhibitors["1A-002"])
    other_visitor = await signed_in("visitor")
    moderator = await signed_in("moderator")
    for outsider in (other_staff, other_visitor, moderator):
        assert (await outsider.get(f"/api/conversations/{cid}")).status_code == 404
        assert (await outsider.post(f"/api/conversations/{cid}/messages", json={"text": "x"})).status_code == 404
        assert (await outsider.get("/api/conversations")).json()["conversations"] == []
    assert (await anonymous.get(f"/api/conversations/{cid}")).status_code == 401
    own = await staff.post(f"/api/booths/{booth}/conversations", json={"text": "me"})
    assert own.status_code == 403 and own.json()["code"] == "conversation.own_booth"
    hidden = await visitor.post(f"/api/booths/{expo.booths['2B-001']}/conversations", json={"text": "hi"})
    assert hidden.status_code == 404

    # bad input says what to fix
    empty = await visitor.post(f"/api/conversations/{cid}/messages", json={"text": "  "})
    assert empty.status_code == 422 and empty.json()["field"] == "text"
    long = await visitor.post(f"/api/conversations/{cid}/messages", json={"text": "长" * 2001})
    assert long.status_code == 422 and "2000" in long.json()["detail"]

    # the card shared in the conversation makes it a lead (the staff cannot share for the visitor)
    assert (await staff.post(f"/api/conversations/{cid}/card", json=CARD)).status_code == 403
    no_consent = await visitor.post(f"/api/conversations/{cid}/card", json=CARD | {"consent": False})
    assert no_consent.status_code == 422 and no_consent.json()["field"] == "consent"
    shared = await visitor.post(f"/api/conversations/{cid}/card", json=CARD)
    assert shared.status_code == 201, shared.text
    assert (await visitor.post(f"/api/conversations/{cid}/card", json=CARD)).status_code == 409
    leads = (await staff.get("/api/leads")).json()["leads"]
    assert [(x["kind"], x["name"], x["id"]) for x in leads] == [("conversation", "Anna Schmidt", shared.json()["lead_id"])]
    assert (await staff.get(f"/api/conversations/{cid}")).json()["conversation"]["lead_id"] == shared.json()["lead_id"]
    assert (await other_staff.get("/api/leads")).json()["leads"] == []
    await staff_feed.close()


async def test_a_message_left_while_nobody_is_there_reaches_staff_by_mail(
        inbox: Any, app: Any, signed_in: Any, services: Services, runtime: Runtime) -> None:
    expo = await make_expo(services)
    booth = expo.booths["1A-001"]
    runtime.booths.notifier.mailer = SmtpMailer(f"smtp://127.0.0.1:{inbox.port}", "Cloud Expo <noreply@expo.example.org>")
    staff = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    staff_me = await staff.refresh_csrf()
    visitor = await signed_in("visitor")
    presence = (await visitor.get(f"/api/booths/{booth}/presence")).json()
    assert presence == {"booth_id": booth, "staff": [], "open": False, "hours": ""}
    # the booth's staffed hours, written in the booth editor, are shown beside "leave a message"
    hours = {"en": "Weekdays 9:00–17:00", "zh-Hans": "工作日 9:00–17:00"}
    assert (await staff.patch(f"/api/booths/{booth}", json={"hours": hours})).status_code == 200
    assert (await visitor.patch(f"/api/booths/{booth}", json={"hours": hours})).status_code == 403
    long = await staff.patch(f"/api/booths/{booth}", json={"hours": {"en": "x" * 201}})
    assert long.status_code == 422 and long.json()["field"] == "hours.en"
    shown = await visitor.get(f"/api/booths/{booth}/presence", headers={"Accept-Language": "zh-Hans"})
    assert shown.json()["hours"] == "工作日 9:00–17:00"
    page = await visitor.get("/booths/1A-001", headers={"Accept-Language": "en"})
    assert "Weekdays 9:00–17:00" in page.text and "data-talk-start" in page.text
    left = await visitor.post(f"/api/booths/{booth}/conversations", json={"text": "Please call me back"})
    assert left.status_code == 201 and left.json()["conversation"]["left_message"] is True
    await visitor.post(f"/api/conversations/{left.json()['conversation']['id']}/messages", json={"text": "Tomorrow?"})
    await runtime.booths.notifier.drain()
    mails = await wait_for(lambda: inbox.to(staff_me["email"]))
    assert len(mails) == 1  # one mail for the batch of unread messages
    assert "Please call me back" in mails[0].get_body(("plain",)).get_content()
    notes = (await staff.get("/api/notifications")).json()
    assert notes["items"][0]["kind"] == "booth_message"
    assert notes["items"][0]["url"] == f"/conversations/{left.json()['conversation']['id']}"
    # the exhibitor's analytics count the booth's conversations
    await runtime.booths.analytics.flush()
    totals = (await staff.get(f"/api/analytics/booths/{booth}?days=7")).json()["totals"]
    assert totals["conversations"] == 1


async def test_limits_reports_and_blocks(signed_in: Any, services: Services, runtime: Runtime) -> None:
    expo = await make_expo(services)
    booth = expo.booths["1A-001"]
    visitor = await signed_in("visitor")
    visitor_id = (await visitor.refresh_csrf())["id"]
    staff = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    runtime.booths.conversation_starts = RateLimiter(1, 3600)
    runtime.booths.conversation_messages = RateLimiter(3, 60)
    cid = (await visitor.post(f"/api/booths/{booth}/conversations", json={"text": "one"})).json()["conversation"]["id"]
    second_booth = await visitor.post(f"/api/booths/{expo.booths['1A-002']}/conversations", json={"text": "two"})
    assert second_booth.status_code == 429 and int(second_booth.headers["Retry-After"]) > 0
    assert (await visitor.post(f"/api/conversations/{cid}/messages", json={"text": "2"})).status_code == 201
    assert (await visitor.post(f"/api/conversations/{cid}/messages", json={"text": "3"})).status_code == 201
    too_many = await visitor.post(f"/api/conversations/{cid}/messages", json={"text": "4"})
    assert too_many.status_code == 429 and too_many.json()["code"] == "rate.try_again"
    runtime.booths.conversation_messages = RateLimiter(100, 60)

    moderator = await signed_in("moderator")
    assert (await moderator.get(f"/api/conversations/{cid}")).status_code == 404
    assert (await visitor.get("/api/moderation/conversations")).status_code == 403
    long_reason = await staff.post(f"/api/conversations/{cid}/report", json={"reason": "x" * 501})
    assert long_reason.status_code == 422 and long_reason.json()["field"] == "reason"
    assert (await staff.post(f"/api/conversations/{cid}/report", json={"reason": "abusive"})).json() == {"reported": True}
    reported = (await moderator.get("/api/moderation/conversations")).json()["conversations"]
    assert [(c["id"], c["report_reason"]) for c in reported] == [(cid, "abusive")]
    read = await moderator.get(f"/api/conversations/{cid}")
    assert read.status_code == 200 and [m["text"] for m in read.json()["messages"]] == ["one", "2", "3"]
    assert (await moderator.post(f"/api/conversations/{cid}/messages", json={"text": "x"})).status_code == 404

    assert (await staff.post("/api/moderation/conversation-blocks", json={"user_id": visitor_id})).status_code == 403
    for nobody in (999999, "anna"):  # no such user, or not a user id: said, and nobody is blocked
        unknown = await moderator.post("/api/moderation/conversation-blocks", json={"user_id": nobody})
        assert unknown.status_code == 404 and unknown.json()["field"] == "user_id" and str(nobody) in unknown.json()["detail"]
    assert [c["visitor_blocked"] for c in (await moderator.get("/api/moderation/conversations")).json()["conversations"]] == [False]
    blocked = await moderator.post("/api/moderation/conversation-blocks", json={"user_id": visitor_id, "reason": "spam"})
    assert blocked.status_code == 201
    # the moderator's views say the visitor is blocked (for the block/unblock button); nobody else's say anything
    assert [c["visitor_blocked"] for c in (await moderator.get("/api/moderation/conversations")).json()["conversations"]] == [True]
    assert (await moderator.get(f"/api/conversations/{cid}")).json()["conversation"]["visitor_blocked"] is True
    assert (await staff.get(f"/api/conversations/{cid}")).json()["conversation"]["visitor_blocked"] is None
    refused = await visitor.post(f"/api/conversations/{cid}/messages", json={"text": "still here"})
    assert refused.status_code == 403 and refused.json()["code"] == "conversation.blocked"
    assert (await moderator.delete(f"/api/moderation/conversation-blocks/{visitor_id}")).json()["blocked"] is False
    assert (await moderator.get(f"/api/conversations/{cid}")).json()["conversation"]["visitor_blocked"] is False
    assert (await visitor.post(f"/api/conversations/{cid}/messages", json={"text": "back"})).status_code == 201

    # the visitor's own data: their conversations are in the download and go with "delete my data"
    mine = (await visitor.get("/api/me/data")).json()
    assert [c["id"] for c in mine["conversations"]] == [cid] and len(mine["conversation_messages"]) == 4
    assert (await visitor.delete("/api/me/data")).json()["deleted"]["conversations"] == 1
    assert (await staff.get("/api/conversations")).json()["conversations"] == []


async def test_a_moderator_removes_a_message_both_sides_see_it_removed_until_it_is_restored(
        signed_in: Any, make_client: Any, services: Services) -> None:
    expo = await make_expo(services)
    booth = expo.booths["1A-001"]
    visitor = await signed_in("visitor")
    visitor_id = (await visitor.refresh_csrf())["id"]
    staff = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    staff_id = (await staff.refresh_csrf())["id"]
    other_staff = await signed_in("exhibitor", expo.exhibitors["1A-002"])
    moderator = await signed_in("moderator")
    started = (await visitor.post(f"/api/booths/{booth}/conversations", json={"text": "您好，想了解检测服务"})).json()
    cid = started["conversation"]["id"]
    spam = (await visitor.post(f"/api/conversations/{cid}/messages", json={"text": "BUY CHEAP WATCHES"})).json()["message"]
    url = f"/api/moderation/conversation-messages/{spam['id']}"

    # before anyone reports the conversation, moderators do not see it: its messages are not theirs to remove
    unreported = await moderator.delete(url)
    assert unreported.status_code == 404 and unreported.json()["field"] == "message_id"
    unreported = await moderator.post(url + "/restore", json={})
    assert unreported.status_code == 404 and unreported.json()["field"] == "message_id"
    assert (await staff.post(f"/api/conversations/{cid}/report", json={"reason": "spam"})).status_code == 200

    # nobody but a moderator removes, and an unknown message is named
    anonymous = await make_client()
    assert (await anonymous.delete(url)).status_code == 401
    for who in (visitor, staff, other_staff):
        refused = await who.delete(url)
        assert refused.status_code == 403 and refused.json()["code"] == "conversation.moderators_remove", refused.text
    unknown = await moderator.delete("/api/moderation/conversation-messages/999999")
    assert unknown.status_code == 404 and "999999" in unknown.json()["detail"]
    assert [m["text"] for m in (await visitor.get(f"/api/conversations/{cid}")).json()["messages"]] == [
        "您好，想了解检测服务", "BUY CHEAP WATCHES"]  # nothing refused changed anything

    feeds = {uid: await services.bus.subscribe(f"user.{uid}") for uid in (visitor_id, staff_id)}
    removed = await moderator.delete(url)
    assert removed.status_code == 200, removed.text
    assert removed.json()["message"] == {**spam, "removed": True}  # the moderator's answer keeps the text
    for uid, feed in feeds.items():  # each side's open pages hear it, with their own unread count
        events = await wait_for(lambda feed=feed: feed.waiting())
        event = events[0].data
        assert (event["type"], event["conversation_id"], event["message_id"]) == (
            "conversation_message_removed", cid, spam["id"]), uid
        assert event["conversation"]["last_message"] == {**spam, "text": "", "removed": True}
        assert isinstance(event["unread"], int)

    # the two sides read that it was removed, not what it said; the moderator still reads it, marked
    for side in (visitor, staff):
        messages = (await side.get(f"/api/conversations/{cid}")).json()["messages"]
        assert [(m["text"], m["removed"]) for m in messages] == [("您好，想了解检测服务", False), ("", True)]
        inbox = (await side.get("/api/conversations")).json()["conversations"]
        assert inbox[0]["last_message"]["text"] == "" and inbox[0]["last_message"]["removed"] is True
    read = (await moderator.get(f"/api/conversations/{cid}")).json()["messages"]
    assert [(m["text"], m["removed"]) for m in read] == [("您好，想了解检测服务", False), ("BUY CHEAP WATCHES", True)]

    # removing it again answers the same and changes nothing; the conversation goes on
    assert (await moderator.delete(url)).json()["message"]["removed"] is True
    assert (await visitor.post(f"/api/conversations/{cid}/messages", json={"text": "抱歉"})).status_code == 201

    # a removal is undone only by a moderator, and an unknown message is named
    restore = url + "/restore"
    assert (await anonymous.post(restore, json={})).status_code == 401
    for who in (visitor, staff, other_staff):
        refused = await who.post(restore, json={})
        assert refused.status_code == 403 and refused.json()["code"] == "conversation.moderators_restore", refused.text
    unknown = await moderator.post("/api/moderation/conversation-messages/999999/restore", json={})
    assert unknown.status_code == 404 and unknown.json()["field"] == "message_id"
    assert (await visitor.get(f"/api/conversations/{cid}")).json()["messages"][1]["removed"] is True

    # restored: both sides' open pages hear it with the message's text, and read it again; twice changes nothing
    heard: dict[int, list[dict[str, Any]]] = {uid: [] for uid in feeds}

    def restored_heard() -> bool:
        for uid, feed in feeds.items():
            heard[uid] += [e.data for e in feed.waiting() if e.data["type"] == "conversation_message_restored"]
        return all(heard.values())

    answer = await moderator.post(restore, json={})
    assert answer.status_code == 200 and answer.json()["message"] == {**spam, "removed": False}, answer.text
    await wait_for(restored_heard)
    for uid, events in heard.items():
        assert events[0]["conversation_id"] == cid and events[0]["message"] == {**spam, "removed": False}, uid
        assert events[0]["conversation"]["id"] == cid and isinstance(events[0]["unread"], int), uid
    for side in (visitor, staff, moderator):
        messages = (await side.get(f"/api/conversations/{cid}")).json()["messages"]
        assert [(m["text"], m["removed"]) for m in messages[:2]] == [
            ("您好，想了解检测服务", False), ("BUY CHEAP WATCHES", False)]
    assert (await moderator.post(restore, json={})).json()["message"]["removed"] is False
