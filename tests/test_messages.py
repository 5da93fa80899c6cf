"""Server messages (cloudexpo/messages.py): every code has a text in all three languages, and
answers come in the asker's language with a stable code."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

import web.app  # noqa: F401  (imports every route, so every message is declared)
from cloudexpo.i18n import LANGUAGES
from cloudexpo.messages import REGISTRY, Said, message, said_by
from cloudexpo.ratelimit import RateLimited
from cloudexpo.services import Services
from tests.live_support import make_slot
from web.i18n import gettext_for, translate

FIELD = re.compile(r"{([a-z_]+)}")


def test_every_message_code_has_a_text_in_each_language() -> None:
    assert len(REGISTRY) >= 40
    missing = []
    for code, declared in sorted(REGISTRY.items()):
        for language in LANGUAGES:
            text = gettext_for(language).gettext(declared.text)
            if language != "en" and (text == declared.text or not re.search(r"[\u4e00-\u9fff]", text)):
                missing.append(f"{language}: {code}")
                continue
            # A translation fills in the same values as the English (and no others).
            assert set(FIELD.findall(text)) == set(declared.fields), (language, code, text)
            text.format(**dict.fromkeys(declared.fields, "x"))
    assert not missing, "messages without a translation:\n" + "\n".join(missing)


def test_a_message_keeps_its_code_through_an_exception_and_reads_as_english() -> None:
    exc = RateLimited(1.2)
    said = said_by(exc)
    assert isinstance(said, Said) and said.code == "rate.try_again"
    assert str(exc) == "Too many attempts; try again in 2 s."
    assert translate(said, "zh-Hans") == "尝试次数过多，请 2 秒后再试。"
    assert translate(said, "zh-Hant") == "嘗試次數過多，請 2 秒後再試。"
    assert translate("a text no catalog has", "zh-Hans") == "a text no catalog has"
    with pytest.raises(TypeError):
        REGISTRY["rate.try_again"]()  # its value is required
    with pytest.raises(ValueError):
        message("rate.try_again", "Another text under a published code.")
    with pytest.raises(ValueError):
        message("NotDotted", "A code says its area.")


async def test_answers_come_in_the_askers_language(signed_in: Any, client: Any, services: Services) -> None:
    nothing = await client.get("/api/does-not-exist", headers={"Accept-Language": "zh-TW"})
    assert nothing.json()["code"] == "http.not_found" and nothing.json()["message"] == "此地址沒有內容。"
    assert nothing.json()["detail"] == "There is nothing at this address."  # English for logs and scripts

    slot_id, _ = await make_slot(services, state="live", live_at=dt.datetime.now(dt.UTC))
    visitor = await signed_in("visitor")
    me = (await visitor.refresh_csrf())["id"]
    zh = {"Accept-Language": "zh-CN,zh;q=0.9"}
    assert (await visitor.post(f"/api/slots/{slot_id}/chat", json={"text": "你好"}, headers=zh)).status_code == 201
    fast = await visitor.post(f"/api/slots/{slot_id}/chat", json={"text": "再来"}, headers=zh)
    assert fast.status_code == 429
    assert fast.json()["code"] == "rate.try_again"
    assert re.fullmatch(r"尝试次数过多，请 \d 秒后再试。", fast.json()["message"]), fast.json()
    too_long = await visitor.post(f"/api/slots/{slot_id}/chat", json={"text": "长" * 501}, headers=zh)
    assert too_long.json()["code"] == "chat.too_long"
    assert too_long.json()["message"] == "每条消息不能超过 500 个字符，这条有 501 个。"

    moderator = await signed_in("moderator")
    assert (await moderator.post(f"/api/slots/{slot_id}/mutes", json={"user_id": me})).status_code == 201
    muted = await visitor.post(f"/api/slots/{slot_id}/chat", json={"text": "让我说"}, headers={"Accept-Language": "en"})
    assert muted.status_code == 403
    assert muted.json()["code"] == "chat.muted" and muted.json()["message"] == "A moderator muted you in this chat."
    muted_zh = await visitor.post(f"/api/slots/{slot_id}/chat?lang=zh-Hans", json={"text": "让我说"})
    assert muted_zh.json()["message"] == "管理员已将您在此聊天中禁言。"

    bad = await visitor.get("/api/programme?day=tomorrow", headers=zh)
    assert bad.status_code == 400 and re.search(r"[\u4e00-\u9fff]", bad.json()["message"]), bad.json()
    refused = await visitor.post("/api/slots", json={}, headers=zh)
    assert refused.status_code == 403 and re.search(r"[\u4e00-\u9fff]", refused.json()["message"]), refused.json()
