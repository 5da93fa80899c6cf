"""Where every page is reached from: the main navigation, each role's workspace, breadcrumbs.

A new page joins the navigation with one row in the table of the people it
is for: :data:`MAIN` (everyone, the visitor's tour), :data:`WORKSPACE` (what a
signed-in visitor, exhibitor, moderator or admin works on, shown as a second
bar under the header) or :data:`MODERATION` (the moderators' tabs). Labels are
msgids, translated when the page renders; the link whose path best matches the
page's is marked ``aria-current="page"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cloudexpo.accounts import Role
from cloudexpo.permissions import Principal


def _(msgid: str) -> str:
    """Marks a label for the catalogs (``scripts/i18n.py`` finds it); translated when a page renders."""
    return msgid


@dataclass(frozen=True)
class Link:
    href: str
    label: str  # a msgid
    also: tuple[str, ...] = ()  # further path prefixes that belong to this entry (its sub-pages)
    count: str = ""  # a count shown beside the label, filled by static/js/engagement.js ("briefcase")


MAIN: tuple[Link, ...] = (
    Link("/", _("Home")),
    Link("/programme", _("Programme"), ("/live/", "/conference")),
    Link("/map", _("Map"), ("/zones/", "/booths/", "/products/")),
    Link("/replays", _("Replays")),
    Link("/experts", _("Experts")),
    Link("/search", _("Search")),
)
"""Everyone's navigation: touring the exhibition."""

_TOUR = Link("/me/tour", _("My tour"), ("/me/",))
_BRIEFCASE = Link("/me/briefcase", _("Briefcase"), count="briefcase")
_MEETINGS = Link("/meetings", _("Meetings"))
_CONVERSATIONS = Link("/conversations", _("Conversations"), ("/conversations/",), count="conversations")
_LAUNCHES = Link("/dashboard/live", _("Launches"))
_ANALYTICS = Link("/dashboard/analytics", _("Analytics"))
_MODERATION = Link("/moderate", _("Moderation"), ("/moderate/applications", "/moderate/booths", "/moderate/map"))
_CONTROL_ROOM = Link("/moderate/live", _("Control room"))
_SCHEDULE = Link("/moderate/schedule", _("Schedule"))

_DASHBOARD = Link("/dashboard", _("Dashboard"), ("/dashboard/booths/",))

WORKSPACE: dict[Role, tuple[Link, ...]] = {
    Role.VISITOR: (_TOUR, _BRIEFCASE, _CONVERSATIONS, _MEETINGS, Link("/dashboard", _("Exhibit here"), ("/dashboard/apply",))),
    Role.EXHIBITOR: (
        _DASHBOARD,
        _LAUNCHES,
        _CONVERSATIONS,
        Link("/dashboard/leads", _("Leads")),
        _ANALYTICS,
        _MEETINGS,
        _TOUR,
        _BRIEFCASE,
    ),
    Role.MODERATOR: (_DASHBOARD, _MODERATION, _SCHEDULE, _CONTROL_ROOM, _LAUNCHES, _ANALYTICS, _CONVERSATIONS, _MEETINGS,
                     _TOUR, _BRIEFCASE),
    Role.ADMIN: (_DASHBOARD, _MODERATION, _SCHEDULE, _CONTROL_ROOM, _LAUNCHES, _ANALYTICS,
                 Link("/moderate/users", _("Users and roles")), _CONVERSATIONS, _MEETINGS, _TOUR, _BRIEFCASE),
}
"""What each signed-in role works on (a second bar under the header)."""

MODERATION: tuple[Link, ...] = (
    Link("/moderate/applications", _("Applications")),
    Link("/moderate/booths", _("Booths")),
    Link("/moderate/map", _("Halls and zones")),
    _SCHEDULE,
    _CONTROL_ROOM,
    Link("/dashboard/live", _("Launch requests")),
    Link("/moderate/users", _("Users and roles")),
)
"""The moderators' tabs (``moderation/_nav.html``)."""


REACHED_FROM: dict[str, tuple[str, Role | None]] = {
    "/signin": ("/", None),  # the header's Sign in button
    "/signup": ("/signin", None),
    "/account": ("/", Role.VISITOR),  # the header's name
    "/notifications": ("/", Role.VISITOR),  # the bell
    "/dashboard/apply": ("/dashboard", Role.VISITOR),
    "/me/data": ("/me/tour", Role.VISITOR),
    "/conference": ("/programme", None),
    "/unsubscribe": ("", None),  # only from the link in an e-mail (it carries a signed token)
}
"""Pages outside the tables: the page (and the role looking at it, None for anyone) that links to each."""

PARTS: dict[str, str] = {
    "/live/strip": "the Live now / Up next strip of the home and booth pages, refreshed by static/js/live_strip.js",
}
"""Addresses that answer a piece of a page, not a page: nobody navigates to them."""


def _matches(link: Link, path: str) -> int:
    """How well ``path`` belongs to ``link``: the length of the matching prefix, 0 for none."""
    best = 0
    for prefix in (link.href, *link.also):
        under = prefix if prefix.endswith("/") else prefix + "/"
        if path == prefix or (prefix != "/" and path.startswith(under)):
            best = max(best, len(prefix))
    return best


def items(links: Sequence[Link], path: str, translate: Any) -> list[dict[str, Any]]:
    """``links`` as the template's items: ``href``, translated ``label``, ``current`` for the best match."""
    scores = [_matches(link, path) for link in links]
    top = max(scores, default=0)
    return [
        {"href": link.href, "label": translate(link.label), "current": top > 0 and score == top, "count": link.count}
        for link, score in zip(links, scores, strict=True)
    ]


def workspace_for(who: Principal) -> tuple[Link, ...]:
    return WORKSPACE[who.role] if who.signed_in else ()


def every_link() -> Iterable[Link]:
    """Every entry of every table (the tests check each one answers)."""
    yield from MAIN
    yield from MODERATION
    for links in WORKSPACE.values():
        yield from links
