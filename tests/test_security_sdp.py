"""Strict WHIP/WHEP offers: hostile variants of a real Chromium offer are refused with a 400
that says what is wrong (RFC 8866, 8839, 8842, 8122, 9725); the real offers still pass."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cloudexpo.services import Services
from streaming.errors import UnusableOffer
from streaming.sdp import CodecChoice, check_offer_structure, check_publish_offer, check_view_offer
from tests.live_support import make_slot, slot_row

FIXTURES = Path(__file__).parent / "fixtures" / "sdp"
ALL = sorted(p.name for p in FIXTURES.glob("*.sdp"))
CHROMIUM = (FIXTURES / "chromium-156-offer.sdp").read_bytes().decode()
H264_CB = CodecChoice("video", "H264", 96, 90000, None, {}, None, "constrained-baseline")
OPUS = CodecChoice("audio", "opus", 111, 48000, 2)


def without(prefixes: tuple[str, ...]) -> str:
    return "".join(line for line in CHROMIUM.splitlines(keepends=True) if not line.startswith(prefixes))


def with_codec_name(name: str) -> str:
    return CHROMIUM.replace("a=rtpmap:96 VP8/90000", f"a=rtpmap:96 {name}/90000")


# name: (offer, what the refusal must say)
HOSTILE: dict[str, tuple[str, str]] = {
    "cut in half": (CHROMIUM[: len(CHROMIUM) // 2], "cut short"),
    "cut at a line end": (CHROMIUM[: CHROMIUM.index("a=rtpmap:97")], "cut short"),
    "no m= sections": (CHROMIUM[: CHROMIUM.index("m=")], "no media sections"),
    "no a=fingerprint": (without(("a=fingerprint",)), "no a=fingerprint"),
    "no ICE credentials": (without(("a=ice-ufrag", "a=ice-pwd")), "no ICE credentials"),
    "no ice-pwd": (without(("a=ice-pwd",)), "no ICE credentials"),
    "port 0 on every section": (re.sub(r"(?m)^(m=\S+) \d+", r"\1 0", CHROMIUM), "port 0"),
    "md5 fingerprint": (CHROMIUM.replace("a=fingerprint:sha-256 ", "a=fingerprint:md5 "), "uses 'md5'"),
    "sha-1 fingerprint": (CHROMIUM.replace("a=fingerprint:sha-256 ", "a=fingerprint:sha-1 "), "uses 'sha-1'"),
    "short fingerprint": (re.sub(r"(a=fingerprint:sha-256 )\S+", r"\1AB:CD", CHROMIUM), "32 hexadecimal bytes"),
    "NUL in a codec name": (with_codec_name("VP\x008"), "U+0000"),
    "ESC in a codec name": (with_codec_name("VP\x1b8"), "U+001B"),
    "DEL in a codec name": (with_codec_name("VP8\x7f"), "U+007F"),
    "bare CR in a codec name": (with_codec_name("VP\r8"), "U+000D"),
    "vertical tab in a line": (CHROMIUM.replace("a=sendonly", "a=send\x0bonly", 1), "U+000B"),
    "space in a codec name": (with_codec_name("VP 8"), "a=rtpmap"),
    "short ice-pwd": (re.sub(r"a=ice-pwd:\S+", "a=ice-pwd:short", CHROMIUM), "a=ice-pwd must be 22"),
    "no a=setup": (without(("a=setup",)), "no a=setup"),
    "not a line": (CHROMIUM.replace("a=sendonly\r\n", "sendonly\r\n", 1), "not an SDP line"),
    "no o= line": (without(("o=",)), "no o= line"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_offers_are_refused_with_what_is_wrong(name: str) -> None:
    text, says = HOSTILE[name]
    with pytest.raises(UnusableOffer) as refused:
        check_publish_offer(text)
    assert says in str(refused.value), str(refused.value)
    # a viewer's (WHEP) offer goes through the same checks
    with pytest.raises(UnusableOffer):
        check_view_offer(text, H264_CB, OPUS)


@pytest.mark.parametrize("name", ALL)
def test_real_offers_pass_the_structure_checks(name: str) -> None:
    crlf = (FIXTURES / name).read_bytes().decode()
    for text in (crlf, crlf.replace("\r\n", "\n")):
        active = check_offer_structure(text)
        assert active == set(range(text.count("\nm=")))


async def test_whip_answers_400_to_each_hostile_offer(client: Any, services: Services) -> None:
    slot_id, token = await make_slot(services)
    headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"}
    for name, (text, says) in HOSTILE.items():
        response = await client.http.post(f"/whip/{slot_id}", content=text.encode(), headers=headers)
        assert response.status_code == 400, f"{name}: {response.status_code} {response.text[:200]}"
        assert response.json()["error"] == "unusable_offer" and says in response.json()["detail"], name
    assert (await slot_row(services, slot_id)).live_at is None  # nothing went on air
    # and the real publisher's offer still goes through
    accepted = await client.http.post(f"/whip/{slot_id}", content=CHROMIUM.encode(), headers=headers)
    assert accepted.status_code == 201, accepted.text
