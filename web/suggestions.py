"""Recommendations shown to a person: each suggested booth with the sentence that explains it."""

from __future__ import annotations

from typing import Any

from booths.engagement.recommend import Reason, Suggestion
from booths.exhibition.catalog import INDUSTRIES
from cloudexpo.i18n import pick
from cloudexpo.messages import message
from web.i18n import translate
from web.shapes.exhibition import booth_json

BECAUSE_INDUSTRY = message("recommend.because_industry", "Because you bookmarked {booth}: also {industry}")
BECAUSE_ZONE = message("recommend.because_zone", "Because you bookmarked {booth}: same zone, {zone}")
SAME_INDUSTRY = message("recommend.same_industry", "Also {industry}")
SAME_ZONE = message("recommend.same_zone", "Same zone: {zone}")


def explain(reason: Reason, language: str) -> str:
    """One sentence in ``language`` saying why a booth is suggested."""
    industry = pick(INDUSTRIES.get(reason.industry, {}), language).text or reason.industry
    zone = pick(reason.zone, language).text
    if reason.because:
        booth = pick(reason.because, language).text or reason.because_number
        said = (BECAUSE_INDUSTRY(booth=booth, industry=industry) if reason.kind == "same_industry"
                else BECAUSE_ZONE(booth=booth, zone=zone))
    else:
        said = SAME_INDUSTRY(industry=industry) if reason.kind == "same_industry" else SAME_ZONE(zone=zone)
    return translate(said, language)


def explained(suggestions: list[Suggestion], language: str) -> list[tuple[Suggestion, list[str]]]:
    """Each suggestion with its sentences, for a template."""
    return [(s, [explain(r, language) for r in s.reasons]) for s in suggestions]


def suggestion_json(s: Suggestion, language: str, logo: str | None = None) -> dict[str, Any]:
    out = booth_json(s.booth, s.exhibitor, s.zone, logo=logo)
    out.pop("description", None)
    out["score"] = s.score
    out["reasons"] = [
        {"kind": r.kind, "industry": r.industry or None, "because_booth": r.because_number or None,
         "text": explain(r, language)}
        for r in s.reasons
    ]
    return out
