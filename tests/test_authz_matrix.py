"""The authorization matrix: every route and method of the app × six principals.

The routes come from the app's own route table (mounts included), so a route
added without a row below fails :func:`test_every_route_has_a_row`. Each row
says who may use the route and how to call it with real objects (a booth of
the owner's, a slot on its stage, a replay, a card …); the test asserts that
everybody else is refused (401 or a redirect to /signin for the anonymous,
403/404 for the others) **and** that each allowed principal succeeds (2xx/3xx,
never a redirect to /signin).

Principals: ``anonymous``; ``visitor``; ``other`` (staff of another booth's
exhibitor); ``owner`` (staff of the booth's exhibitor); ``moderator``; ``admin``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Mount, Route, WebSocketRoute

from booths.engagement.notify import unsubscribe_token
from cloudexpo.app import create_app
from cloudexpo.services import Services
from cloudexpo.settings import Settings
from tests.authz_world import CARD, PRINCIPALS, VTT, World, build_world
from tests.conftest import PASSWORD

ALL = frozenset(PRINCIPALS)
SIGNED = ALL - {"anonymous"}
STAFF = frozenset({"other", "owner", "moderator", "admin"})  # any exhibitor's staff, and moderators
OWNER = frozenset({"owner", "moderator", "admin"})
MOD = frozenset({"moderator", "admin"})
ADMIN = frozenset({"admin"})
NOBODY: frozenset[str] = frozenset()
HOSTS = frozenset({"other", "owner"})  # meeting hosts: exhibitor staff (and experts)
TALKING = frozenset({"owner", "visitor"})  # a booth conversation: its visitor and the booth's staff

FINDING_SLOT_REQUEST = "issue 12 finding 1: no launch for another exhibitor's booth"
FINDING_UNAPPROVED_CHAT = "issue 12 finding 2: an unapproved slot's chat is as hidden as the slot"


@dataclass(frozen=True)
class Row:
    route: str  # "METHOD /path" exactly as in the route table
    allow: frozenset[str]
    url: str  # with {placeholders} from World.values and the per-request ones below
    body: Any = None  # JSON (dict) or (bytes, content type)
    fresh: str = ""  # World.fresh(kind) before every request: each principal meets a new object
    client: str = ""  # "copy": the principal's cookies in a client of its own; "again": a second session
    # of the principal's account; "new_user": a new account (only for the allowed principals)
    refused: int = 0  # the status everybody gets when nobody may (405, 400 …); 0: the usual refusals
    expect: tuple[tuple[str, int], ...] = ()  # a principal's own refusal, e.g. (("owner", 422),)
    headers: tuple[tuple[str, str], ...] = ()
    why: str = ""


def row(route: str, allow: frozenset[str], url: str | None = None, body: Any = None, **kw: Any) -> Row:
    return Row(route, allow, url if url is not None else route.split(" ", 1)[1], body, **kw)


SLOT_BODY = {"stage": "{stage}", "title": {"en": "Launch"}, "booth_id": "{booth}", "exhibitor_id": "{exhibitor}",
             "starts_at": "{future}", "minutes": 30}
MEETING_BODY = {"starts_at": "{future}", "minutes": 30, "mode": "online"}
APPLICATION = {"organisation": "成都蓉城精密仪器有限公司", "organisation_en": "Chengdu Rongcheng Precision Instruments",
               "region": "sichuan", "industry": "heavy-equipment", "zone": "innovation", "description": "Gauges",
               "contact_name": "张经理", "contact_phone": "+86 28 8888 6666", "contact_email": "zhang@example.org"}
PREFLIGHT = (("Origin", "http://testserver"), ("Access-Control-Request-Method", "PUT"))
UNSUBSCRIBE = {"u": "{visitor_id}", "k": "card_received", "t": "{unsubscribe_token}"}

AREAS: dict[str, list[Row]] = {
    # health, accounts, language
    "health, accounts, language": [
        row("GET /healthz", ALL), row("GET /readyz", ALL), row("GET /metrics", ALL),
        row("GET /signin", ALL), row("GET /signup", ALL), row("GET /api/me", ALL), row("GET /lang/{lang}", ALL, "/lang/en"),
        row("POST /signin", ALL, body={"email": "{visitor_email}", "password": PASSWORD}, client="copy"),
        row("POST /api/session", ALL, body={"email": "{visitor_email}", "password": PASSWORD}, client="copy"),
        row("POST /signup", ALL, body={"email": "{new_email}", "password": PASSWORD, "display_name": "Ada"}, client="copy"),
        row("POST /api/users", ALL, body={"email": "{new_email}", "password": PASSWORD, "display_name": "Ada"}, client="copy"),
        row("POST /signout", ALL, client="again"), row("DELETE /api/session", ALL, client="again"),
    ],
    # storage: the signature is the authority, never the cookie
    "storage": [
        row("GET /storage/o/{key:path}", NOBODY, "/storage/o/booths/1/x.png", why="unsigned"),
        row("GET /storage/o/{key:path}", ALL, "{signed_asset_url}", why="signed URL (embedded storage)"),
        row("PUT /storage/o/{key:path}", NOBODY, "/storage/o/booths/1/x.png", body=(b"x", "image/png"), why="unsigned"),
        row("OPTIONS /storage/o/{key:path}", ALL, "/storage/o/booths/1/x.png", headers=PREFLIGHT),
        row("PUT /storage/part/{upload_id}/{part_number:int}", NOBODY, "/storage/part/abc/1", body=(b"x", "application/octet-stream")),
        row("OPTIONS /storage/part/{upload_id}/{part_number:int}", ALL, "/storage/part/abc/1", headers=PREFLIGHT),
    ],
    # uploads and assets
    "uploads and assets": [
        row("POST /api/uploads", OWNER, body={"booth_id": "{booth}", "kind": "image", "filename": "a.png", "size": 1000,
                                              "content_type": "image/png"}),
        row("GET /api/uploads/{upload_id:int}", OWNER, "/api/uploads/{upload}"),
        row("DELETE /api/uploads/{upload_id:int}", OWNER, "/api/uploads/{upload}", fresh="upload"),
        row("POST /api/uploads/{upload_id:int}/parts", OWNER, "/api/uploads/{upload}/parts", {"part_numbers": [1]}, fresh="multipart"),
        row("POST /api/uploads/{upload_id:int}/complete", OWNER, "/api/uploads/{upload}/complete", {}, fresh="uploaded"),
        row("GET /api/exhibitors/{exhibitor_id:int}/quota", OWNER, "/api/exhibitors/{exhibitor}/quota"),
        row("GET /api/booths/{booth_id:int}/assets", ALL, "/api/booths/{booth}/assets"),
        row("POST /api/booths/{booth_id:int}/assets/order", OWNER, "/api/booths/{booth}/assets/order", {"ids": ["{asset}"]}),
        row("GET /api/assets/{asset_id:int}", ALL, "/api/assets/{asset}"),
        row("GET /documents/{asset_id:int}", ALL, "/documents/{document}"),
        row("PATCH /api/assets/{asset_id:int}", OWNER, "/api/assets/{asset}", {"title": {"en": "Saloon, side"}}),
        row("DELETE /api/assets/{asset_id:int}", OWNER, "/api/assets/{asset}", fresh="asset"),
        row("GET /dashboard/booths/{booth_id:int}/media", OWNER, "/dashboard/booths/{booth}/media"),
    ],
    # the exhibition
    "the exhibition": [
        row("GET /", ALL), row("GET /map", ALL), row("GET /zones/{slug}", ALL, "/zones/{zone_slug}"),
        row("GET /booths/{ref}", ALL, "/booths/{booth}"), row("GET /products/{product_id:int}", ALL, "/products/{product}"),
        row("GET /search", ALL, "/search?q=car"), row("GET /api/halls", ALL), row("GET /api/zones", ALL),
        row("GET /api/zones/{ref}", ALL, "/api/zones/{zone_slug}"), row("GET /api/booths", ALL),
        row("GET /api/booths/{ref}", ALL, "/api/booths/{booth_number}"),
        row("PATCH /api/booths/{booth_id:int}", OWNER, "/api/booths/{booth}", {"tagline": {"en": "Edited"}}),
        row("GET /api/booths/{booth_id:int}/products", ALL, "/api/booths/{booth}/products"),
        row("POST /api/booths/{booth_id:int}/products", OWNER, "/api/booths/{booth}/products", {"name": {"en": "Van"}}),
        row("GET /api/products/{product_id:int}", ALL, "/api/products/{product}"),
        row("PATCH /api/products/{product_id:int}", OWNER, "/api/products/{product}", {"name": {"en": "Saloon"}}),
        row("DELETE /api/products/{product_id:int}", OWNER, "/api/products/{product}", fresh="product"),
        row("GET /api/search", ALL, "/api/search?q=car"), row("GET /api/catalog", ALL),
        row("GET /api/booths/{booth_id:int}/similar", ALL, "/api/booths/{booth}/similar"),
        row("GET /api/recommendations", SIGNED),
    ],
    # exhibitors' dashboard and applications
    "exhibitors' dashboard and applications": [
        row("GET /dashboard", SIGNED), row("GET /dashboard/apply", SIGNED),
        row("POST /dashboard/apply", frozenset({"visitor"}), body=APPLICATION, client="new_user"),
        row("GET /dashboard/booths/{booth_id:int}", OWNER, "/dashboard/booths/{booth}"),
        row("POST /dashboard/booths/{booth_id:int}", OWNER, "/dashboard/booths/{booth}",
            {"name_en": "BYD New Energy Vehicles", "name_zh_hans": "比亚迪新能源汽车展台", "tagline_en": "Edited"}),
        row("POST /dashboard/booths/{booth_id:int}/publish", OWNER, "/dashboard/booths/{booth}/publish", {"published": "true"}),
        row("GET /dashboard/booths/{booth_id:int}/products/new", OWNER, "/dashboard/booths/{booth}/products/new"),
        row("POST /dashboard/booths/{booth_id:int}/products/new", OWNER, "/dashboard/booths/{booth}/products/new",
            {"name_en": "Van"}),
        row("GET /dashboard/booths/{booth_id:int}/products/{product_id:int}", OWNER, "/dashboard/booths/{booth}/products/{product}"),
        row("POST /dashboard/booths/{booth_id:int}/products/{product_id:int}", OWNER,
            "/dashboard/booths/{booth}/products/{product}", {"name_en": "Saloon"}),
        row("POST /api/applications", frozenset({"visitor"}), body=APPLICATION, client="new_user"),
        row("GET /api/applications", SIGNED),
        row("GET /api/applications/{application_id:int}", MOD, "/api/applications/{application}"),
        row("POST /api/applications/{application_id:int}/approve", MOD, "/api/applications/{application}/approve", {},
            fresh="application"),
        row("POST /api/applications/{application_id:int}/reject", MOD, "/api/applications/{application}/reject",
            {"reason": "Send the recommendation letter"}, fresh="application"),
    ],
    # moderation
    "moderation": [
        row("GET /moderate", MOD), row("GET /moderate/applications", MOD), row("GET /moderate/booths", MOD),
        row("GET /moderate/map", MOD), row("GET /moderate/users", MOD),
        row("POST /moderate/applications/{application_id:int}/{action:str}", MOD,
            "/moderate/applications/{application}/approve", {}, fresh="application"),
        row("POST /moderate/booths/{booth_id:int}/visibility", MOD, "/moderate/booths/{booth}/visibility", {"hidden": "false"}),
        row("POST /moderate/zones/{zone_id:int}", MOD, "/moderate/zones/{zone}", {"map_x": "25"}),
        row("POST /moderate/halls/{hall_id:int}", MOD, "/moderate/halls/{hall}", {"name_en": "Hall 1"}),
        row("POST /moderate/users/{user_id:int}/role", MOD, "/moderate/users/{spare_user}/role", {"role": "visitor"}),
        row("POST /api/booths/{booth_id:int}/visibility", MOD, "/api/booths/{booth}/visibility", {"hidden": False}),
        row("PATCH /api/zones/{zone_id:int}", MOD, "/api/zones/{zone}", {"map_x": 25}),
        row("PATCH /api/halls/{hall_id:int}", MOD, "/api/halls/{hall}", {"name": {"en": "Hall 1"}}),
        row("GET /api/users", MOD),
        row("POST /api/users/{user_id:int}/role", MOD, "/api/users/{spare_user}/role", {"role": "visitor"}),
        row("POST /moderate/users/{user_id:int}/active", ADMIN, "/moderate/users/{spare_user}/active", {"active": True}),
        row("POST /api/users/{user_id:int}/active", ADMIN, "/api/users/{spare_user}/active", {"active": True}),
        # one's own account: new accounts, since these end the account's sessions
        row("GET /account", SIGNED),
        row("POST /account/password", SIGNED, body={"current_password": PASSWORD, "new_password": "another horse battery"},
            client="new_user"),
        row("POST /api/me/password", SIGNED, body={"current_password": PASSWORD, "new_password": "another horse battery"},
            client="new_user"),
        row("POST /account/sign-out-everywhere", SIGNED, client="new_user"),
        row("DELETE /api/me/sessions", SIGNED, client="new_user"),
        row("GET /api/openapi.json", ALL),
    ],
    # WHIP/WHEP: the bearer token is the authority (tests/test_live_whip.py, test_live_media.py)
    "WHIP/WHEP": [
        row("POST /whip/{slot_id}", NOBODY, "/whip/{slot}", (b"v=0\r\n", "application/sdp"), refused=401,
            why="no bearer token: the cookie never authorises a publisher"),
        row("OPTIONS /whip/{slot_id}", ALL, "/whip/{slot}"),
        *(row(f"{m} /whip/{{slot_id}}", NOBODY, "/whip/{slot}", refused=405) for m in ("DELETE", "GET", "PATCH", "PUT")),
        row("DELETE /whip/{slot_id}/{session_id}", NOBODY, "/whip/{slot}/nosession", why="no bearer token"),
        row("PATCH /whip/{slot_id}/{session_id}", NOBODY, "/whip/{slot}/nosession", (b"a=end-of-candidates\r\n",
            "application/trickle-ice-sdpfrag"), refused=405,
            why="trickle ICE is not supported"),
        row("OPTIONS /whip/{slot_id}/{session_id}", ALL, "/whip/{slot}/nosession"),
        row("POST /whep/{slot_id}", NOBODY, "/whep/{slot}", (b"v=0\r\n", "application/sdp"), refused=409,
            why="not on air; watching a publisher is tests/test_live_media.py"),
        row("OPTIONS /whep/{slot_id}", ALL, "/whep/{slot}"),
        *(row(f"{m} /whep/{{slot_id}}", NOBODY, "/whep/{slot}", refused=405) for m in ("DELETE", "GET", "PATCH", "PUT")),
        row("DELETE /whep/{slot_id}/{session_id}", NOBODY, "/whep/{slot}/nosession"),
        row("PATCH /whep/{slot_id}/{session_id}", NOBODY, "/whep/{slot}/nosession", (b"a=end-of-candidates\r\n",
            "application/trickle-ice-sdpfrag"), refused=405,
            why="trickle ICE is not supported"),
        row("OPTIONS /whep/{slot_id}/{session_id}", ALL, "/whep/{slot}/nosession"),
        row("WS /ws", ALL, why="websocket: tests/test_live_chat.py"),
    ],
    # programme, replays
    "programme, replays": [
        row("GET /api/live/now", ALL), row("GET /live/strip", ALL), row("GET /programme.ics", ALL), row("GET /programme/{stage}.ics", ALL, "/programme/{stage}.ics"),
        row("GET /programme", ALL), row("GET /programme/{stage}", ALL, "/programme/{stage}"), row("GET /api/programme", ALL),
        row("GET /conference", ALL), row("GET /replays", ALL), row("GET /replays/{slot_id}", ALL, "/replays/{replay}"),
        row("GET /replays/{slot_id}/index.m3u8", ALL, "/replays/{replay}/index.m3u8"),
        row("GET /live/{slot_id}/dvr.m3u8", ALL, "/live/{replay}/dvr.m3u8"),
        row("GET /api/replays", ALL), row("GET /api/replays/{slot_id}", ALL, "/api/replays/{replay}"),
        row("PATCH /api/replays/{slot_id}", OWNER, "/api/replays/{replay}", {"published": True}),
        row("DELETE /api/replays/{slot_id}", OWNER, "/api/replays/{replay}", fresh="replay"),
        row("GET /api/replays/{slot_id}/chat", ALL, "/api/replays/{replay}/chat"),
        row("POST /api/replays/{slot_id}/progress", ALL, "/api/replays/{replay}/progress", {"position": 3}),
        row("GET /api/replays/{slot_id}/stats", OWNER, "/api/replays/{replay}/stats"),
        row("PUT /api/replays/{slot_id}/captions/{lang}", OWNER, "/api/replays/{replay}/captions/en", (VTT, "text/vtt")),
        row("DELETE /api/replays/{slot_id}/captions/{lang}", OWNER, "/api/replays/{replay}/captions/en", fresh="captioned"),
    ],
    # slots, watching, going live
    "slots, watching, going live": [
        row("POST /api/slots", MOD, body=SLOT_BODY),
        row("POST /api/slot-requests", OWNER, body=SLOT_BODY, why=FINDING_SLOT_REQUEST),
        row("GET /api/slots/{slot_id:int}", ALL, "/api/slots/{slot}"),
        row("GET /api/slots/{slot_id:int}", OWNER, "/api/slots/{requested_slot}", why="unapproved: its staff and moderators"),
        row("GET /api/slots/{slot_id:int}/token", OWNER, "/api/slots/{slot}/token"),
        row("GET /api/slots/{slot_id:int}/stats", OWNER, "/api/slots/{slot}/stats"),
        row("GET /live/{slot_id:int}", ALL, "/live/{slot}"),
        row("GET /live/{slot_id:int}", OWNER, "/live/{requested_slot}", why="unapproved"),
        row("GET /dashboard/live", STAFF), row("GET /dashboard/live/{slot_id:int}", OWNER, "/dashboard/live/{slot}"),
        row("PATCH /api/slots/{slot_id:int}", MOD, "/api/slots/{slot}", {"minutes": 45}, fresh="slot"),
        row("POST /api/slots/{slot_id:int}/cancel", MOD, "/api/slots/{slot}/cancel", {}, fresh="slot"),
        row("POST /api/slots/{slot_id:int}/approve", MOD, "/api/slots/{slot}/approve", {}, fresh="requested_slot"),
        row("POST /api/slots/{slot_id:int}/decline", MOD, "/api/slots/{slot}/decline", {"reason": "The stage is taken"},
            fresh="requested_slot"),
        row("GET /api/booth-choices", STAFF, "/api/booth-choices?q=1A"),
        row("GET /api/schedule", MOD), row("GET /moderate/schedule", MOD),
        row("POST /api/slot-requests", OWNER, body={**SLOT_BODY, "booth_id": None, "booth": "{booth_number}"},
            why="the booth by its number, as the dashboard's picker sends it"),
        row("POST /api/slots/{slot_id:int}/on-air", MOD, "/api/slots/{slot}/on-air", {}, fresh="live_slot"),
        row("POST /api/slots/{slot_id:int}/end", OWNER, "/api/slots/{slot}/end", {}, fresh="on_air_slot"),
        row("POST /api/slots/{slot_id:int}/kick", MOD, "/api/slots/{slot}/kick", {}, fresh="live_slot"),
        row("POST /api/slots/{slot_id:int}/token", MOD, "/api/slots/{slot}/token", {}, fresh="slot"),
        row("GET /api/live/status", MOD), row("GET /moderate/live", MOD),
    ],
    # chat
    "chat": [
        row("GET /api/slots/{slot_id:int}/chat", ALL, "/api/slots/{slot}/chat"),
        row("POST /api/slots/{slot_id:int}/chat", SIGNED, "/api/slots/{slot}/chat", {"text": "你好"},
            client="new_user", why="new accounts: the chat's rate limit is per user"),
        row("GET /api/slots/{slot_id:int}/chat", OWNER, "/api/slots/{requested_slot}/chat", why=FINDING_UNAPPROVED_CHAT),
        row("POST /api/slots/{slot_id:int}/chat", OWNER, "/api/slots/{requested_slot}/chat", {"text": "hello"},
            client="new_user", why=FINDING_UNAPPROVED_CHAT),
        row("DELETE /api/chat/{message_id:int}", MOD, "/api/chat/{message}", fresh="message"),
        row("POST /api/slots/{slot_id:int}/mutes", MOD, "/api/slots/{slot}/mutes", {"user_id": "{spare_user}"}),
        row("DELETE /api/slots/{slot_id:int}/mutes/{user_id:int}", MOD, "/api/slots/{slot}/mutes/{visitor_id}"),
    ],
    # the visitor's own things
    "the visitor's own things": [
        row("GET /me/tour", SIGNED), row("GET /me/tour.ics", SIGNED), row("GET /me/data", SIGNED),
        row("POST /me/data/delete", SIGNED, body={"confirm": "yes"}, client="new_user"),
        row("GET /api/me/data", SIGNED), row("DELETE /api/me/data", SIGNED, client="new_user"),
        row("GET /booths/{booth_id:int}/contact", ALL, "/booths/{booth}/contact"),
        row("POST /booths/{booth_id:int}/card", ALL, "/booths/{booth}/card", CARD),
        row("POST /api/booths/{booth_id:int}/cards", ALL, "/api/booths/{booth}/cards", CARD),
        row("GET /api/cards/prefill", ALL), row("GET /api/me/cards", SIGNED),
        row("DELETE /api/cards/{card_id:int}", frozenset({"visitor"}), "/api/cards/{card}", fresh="card"),
        row("DELETE /api/cards/{card_id:int}", ALL, "/api/cards/{card}?token={card_token}", fresh="card",
            why="the withdraw link in the card's receipt is the authority"),
        row("POST /me/cards/{card_id:int}/withdraw", frozenset({"visitor"}), "/me/cards/{card}/withdraw", {}, fresh="card"),
        row("POST /me/bookmarks", SIGNED, body={"kind": "booth", "id": "{booth}"}),
        row("GET /api/bookmarks", SIGNED), row("POST /api/bookmarks", SIGNED, body={"kind": "booth", "id": "{booth}"}),
        row("GET /api/bookmarks/{kind}/{target_id:int}", ALL, "/api/bookmarks/booth/{booth}"),
        row("DELETE /api/bookmarks/{kind}/{target_id:int}", SIGNED, "/api/bookmarks/booth/{booth}"),
        # the briefcase: everyone signed in collects (in this order: the ZIP and the mail need something in it)
        row("GET /me/briefcase", SIGNED), row("GET /api/briefcase", SIGNED),
        row("POST /me/briefcase", SIGNED, body={"kind": "product", "id": "{product}"}),
        row("POST /api/briefcase", SIGNED, body={"kind": "document", "id": "{document}"}),
        row("GET /me/briefcase.zip", SIGNED), row("POST /me/briefcase/mail", SIGNED, body={}),
        row("POST /me/briefcase/remove", SIGNED, body={"kind": "product", "id": "{product}"}),
        row("DELETE /api/briefcase/{kind}/{target_id:int}", SIGNED, "/api/briefcase/document/{document}"),
        row("GET /api/profile", SIGNED), row("PUT /api/profile", SIGNED, body={"organisation": "NIM", "title": "Engineer"}),
    ],
    # experts and meetings
    "experts and meetings": [
        row("GET /experts", ALL), row("GET /experts/{user_id:int}", ALL, "/experts/{owner_id}"), row("GET /meetings", SIGNED),
        row("GET /api/experts", ALL), row("PUT /api/experts/{user_id:int}", MOD, "/api/experts/{spare_user}", {"is_expert": True}),
        row("GET /api/meeting-slots", ALL, "/api/meeting-slots?host={owner_id}"),
        row("POST /meetings/slots", HOSTS, body=MEETING_BODY), row("POST /api/meeting-slots", HOSTS, body=MEETING_BODY),
        row("POST /meetings/slots/{slot_id:int}/cancel", OWNER, "/meetings/slots/{meeting_slot}/cancel", {},
            fresh="meeting_slot"),
        row("DELETE /api/meeting-slots/{slot_id:int}", OWNER, "/api/meeting-slots/{meeting_slot}",
            fresh="meeting_slot"),
        row("POST /meetings/slots/{slot_id:int}/request", SIGNED - {"owner"}, "/meetings/slots/{meeting_slot}/request",
            {"note": "Battery"}, fresh="meeting_slot", expect=(("owner", 422),)),
        row("POST /api/meeting-slots/{slot_id:int}/requests", SIGNED - {"owner"}, "/api/meeting-slots/{meeting_slot}/requests",
            {"note": "Battery"}, fresh="meeting_slot", expect=(("owner", 422),)),
        row("GET /api/meetings", SIGNED),
        *(row(f"POST {prefix}/{{meeting_id:int}}/{action}", frozenset({"owner"}), f"{prefix}/{{meeting}}/{action}", {},
              fresh="meeting") for prefix in ("/meetings", "/api/meetings") for action in ("accept", "decline")),
        *(row(f"POST {prefix}/{{meeting_id:int}}/cancel", frozenset({"owner", "visitor"}), f"{prefix}/{{meeting}}/cancel", {},
              fresh="meeting") for prefix in ("/meetings", "/api/meetings")),
        row("GET /api/meetings/{meeting_id:int}.ics", frozenset({"owner", "visitor", "moderator", "admin"}), "/api/meetings/{meeting}.ics"),
    ],
    # leads and analytics
    "leads and analytics": [
        *(row(f"GET {path}", OWNER, f"{path}?exhibitor={{exhibitor}}") for path in ("/dashboard/leads", "/api/leads",
                                                                                      "/api/leads.csv")),
        row("PATCH /api/leads/{lead_id:int}", OWNER, "/api/leads/{lead}", {"status": "qualified"}),
        row("POST /dashboard/leads/{lead_id:int}", OWNER, "/dashboard/leads/{lead}", {"status": "qualified"}),
        row("GET /dashboard/analytics", STAFF),
        row("POST /api/analytics/events", ALL, body={"booth_id": "{booth}", "visit": True, "events": {}}),
        row("GET /api/analytics/booths/{booth_id:int}", OWNER, "/api/analytics/booths/{booth}"),
        row("GET /api/analytics/booths/{booth_id:int}.csv", OWNER, "/api/analytics/booths/{booth}.csv"),
        row("GET /api/analytics/booths/{booth_id:int}/chart.svg", OWNER, "/api/analytics/booths/{booth}/chart.svg"),
        row("GET /api/analytics/overview", MOD), row("GET /api/analytics/overview.csv", MOD),
        row("GET /api/analytics/overview/chart.svg", MOD),
        row("GET /qr/{kind}/{ref:int}.{fmt}", ALL, "/qr/booth/{booth}.svg"),
        row("GET /booths/{booth_id:int}/poster", ALL, "/booths/{booth}/poster"),
    ],
    # video calls from booth conversations (tests/test_calls.py): the visitor rings the booth's staff
    "video calls from booth conversations": [
        row("POST /api/conversations/{conversation_id}/calls", frozenset({"visitor", "owner"}),
            "/api/conversations/{conversation}/calls", {}, fresh="conversation_no_call"),
        row("GET /api/calls/ringing", SIGNED),
        *(row(route, frozenset({"visitor", "owner"}), url, fresh="call")
          for route, url in (("GET /calls/{call_id}", "/calls/{call}"), ("GET /api/calls/{call_id}", "/api/calls/{call}"))),
        *(row(f"POST /api/calls/{{call_id}}/{action}", frozenset({"owner"}), f"/api/calls/{{call}}/{action}", {},
              fresh="call", expect=(("visitor", 409),)) for action in ("accept", "decline")),
        row("POST /api/calls/{call_id}/hangup", frozenset({"visitor"}), "/api/calls/{call}/hangup", {}, fresh="call"),
        row("GET /api/booths/{booth_id}/calls", OWNER, "/api/booths/{booth}/calls"),
        *(row(f"POST /{kind}/calls/{{call_id}}", NOBODY, f"/{kind}/calls/{{call}}", (b"v=0\r\n", "application/sdp"),
              fresh="call", refused=401, why="the party's forwarder token is the authority") for kind in ("whip", "whep")),
        *(row(f"DELETE /{kind}/calls/{{call_id}}/{{session_id}}", NOBODY, f"/{kind}/calls/{{call}}/nosession",
              fresh="call", refused=401, why="the party's forwarder token is the authority") for kind in ("whip", "whep")),
    ],
    # notifications
    "notifications": [
        row("GET /notifications", SIGNED), row("POST /notifications/read", SIGNED, body={}),
        row("POST /notifications/preferences", SIGNED, body={"card_received": "on"}),
        row("GET /api/notifications", ALL), row("POST /api/notifications/read", SIGNED, body={}),
        row("GET /unsubscribe", ALL, "/unsubscribe?u={visitor_id}&k=card_received&t={unsubscribe_token}"),
        row("GET /unsubscribe", NOBODY, "/unsubscribe?u={visitor_id}&k=card_received&t=" + "0" * 32, refused=400),
        row("POST /unsubscribe", ALL, body=UNSUBSCRIBE),
    ],
    # booth conversations: the visitor who started one and the booth's staff; moderators once it is reported
    "booth conversations": [
        row("GET /api/booths/{booth_id:int}/presence", ALL, "/api/booths/{booth}/presence"),
        row("POST /api/booths/{booth_id:int}/conversations", SIGNED - {"owner"}, "/api/booths/{booth}/conversations",
            {"text": "你好"}),
        row("GET /conversations", SIGNED), row("GET /api/conversations", SIGNED),
        row("GET /conversations/{conversation_id:int}", TALKING, "/conversations/{conversation}"),
        row("GET /api/conversations/{conversation_id:int}", TALKING, "/api/conversations/{conversation}"),
        row("POST /api/conversations/{conversation_id:int}/messages", TALKING, "/api/conversations/{conversation}/messages",
            {"text": "Battery tests?"}),
        row("POST /api/conversations/{conversation_id:int}/read", TALKING, "/api/conversations/{conversation}/read", {}),
        row("POST /api/conversations/{conversation_id:int}/card", frozenset({"visitor"}),
            "/api/conversations/{conversation}/card", CARD),
        row("GET /api/moderation/conversations", MOD),
        row("POST /api/moderation/conversation-blocks", MOD, body={"user_id": "{spare_user}"}),
        row("DELETE /api/moderation/conversation-blocks/{user_id:int}", MOD,
            "/api/moderation/conversation-blocks/{spare_user}"),
        row("DELETE /api/moderation/conversation-messages/{message_id:int}", MOD,
            "/api/moderation/conversation-messages/{conversation_message}", fresh="conversation_message"),
        row("POST /api/moderation/conversation-messages/{message_id:int}/restore", MOD,
            "/api/moderation/conversation-messages/{conversation_message}/restore", {}, fresh="conversation_message"),
        row("POST /api/conversations/{conversation_id:int}/report", TALKING, "/api/conversations/{conversation}/report",
            {"reason": "spam"}),  # last: a reported conversation is open to moderators
        row("GET /api/conversations/{conversation_id:int}", TALKING | MOD, "/api/conversations/{conversation}"),
    ],
    # Q&A and polls at a launch: everyone reads; the signed-in ask and vote; its presenters and moderators run them
    "Q&A and polls at a launch": [
        row("GET /api/slots/{slot_id:int}/questions", ALL, "/api/slots/{slot}/questions"),
        row("POST /api/slots/{slot_id:int}/questions", SIGNED, "/api/slots/{slot}/questions", {"text": "Range in winter?"},
            client="new_user", why="new accounts: asking's rate limit is per user"),
        row("PUT /api/slots/{slot_id:int}/qa", OWNER, "/api/slots/{slot}/qa", {"moderated": False}),
        row("POST /api/questions/{question_id:int}/vote", SIGNED, "/api/questions/{question}/vote", {}, fresh="question"),
        row("PATCH /api/questions/{question_id:int}", OWNER, "/api/questions/{question}", {"pinned": True}),
        row("DELETE /api/questions/{question_id:int}", MOD, "/api/questions/{question}", fresh="question"),
        row("GET /api/slots/{slot_id:int}/polls", ALL, "/api/slots/{slot}/polls"),
        row("POST /api/slots/{slot_id:int}/polls", OWNER, "/api/slots/{slot}/polls",
            {"question": "Which colour?", "options": ["Red", "Blue"]}),
        row("POST /api/polls/{poll_id:int}/open", OWNER, "/api/polls/{poll}/open", {}, fresh="poll",
            why="a draft: only those who run the launch's polls know it exists"),
        row("POST /api/polls/{poll_id:int}/close", OWNER, "/api/polls/{poll}/close", {}, fresh="open_poll"),
        row("POST /api/polls/{poll_id:int}/vote", SIGNED, "/api/polls/{poll}/vote", {"choices": [1]}, fresh="open_poll"),
        row("DELETE /api/polls/{poll_id:int}", OWNER, "/api/polls/{poll}", fresh="poll"),
        row("GET /api/replays/{slot_id:int}/audience", ALL, "/api/replays/{replay}/audience"),
    ],
    # a launch's pin, slow mode and reactions
    "a launch's pin, slow mode and reactions": [
        row("POST /api/slots/{slot_id:int}/pin", OWNER, "/api/slots/{slot}/pin", {"text": "Test drives at booth 1A-001"}),
        row("DELETE /api/slots/{slot_id:int}/pin", OWNER, "/api/slots/{slot}/pin"),
        row("PUT /api/slots/{slot_id:int}/slow-mode", MOD, "/api/slots/{slot}/slow-mode", {"seconds": 0}),
        row("POST /api/slots/{slot_id:int}/reactions", SIGNED, "/api/slots/{slot}/reactions", {"kind": "like"},
            fresh="on_air_slot", why="reactions open when the broadcast is on air"),
        row("GET /api/replays/{slot_id}/reactions", ALL, "/api/replays/{replay}/reactions"),
    ],
    # static files (a mount)
    "static files": [
        row("GET /static", ALL, "/static/css/app.css"),
    ],
}
ROWS: list[Row] = [r for rows in AREAS.values() for r in rows]


def _chunks(count: int) -> dict[str, list[str]]:
    """The areas in order, cut into ``count`` runs of about as many rows: one test and one world each
    (a world takes ~10-20 s to build here, so not one per area; the whole matrix in one test neared its timeout)."""
    per = len(ROWS) / count
    chunks: list[list[str]] = [[]]
    done = 0
    for name in AREAS:
        if done + len(AREAS[name]) / 2 > per * len(chunks):
            chunks.append([])
        chunks[-1].append(name)
        done += len(AREAS[name])
    return {f"{c[0]} … {c[-1]}" if len(c) > 1 else c[0]: c for c in chunks if c}


CHUNKS = _chunks(4)


# --- the route table ---------------------------------------------------------------------------


def route_table(app: Any) -> set[str]:
    """Every "METHOD /path" the app answers, walking mounts; HEAD rides on GET."""
    found: set[str] = set()

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                inner = getattr(route, "routes", None) or []
                if inner:
                    walk(list(inner), prefix + route.path)
                else:
                    found.add(f"GET {prefix}{route.path}")
            elif isinstance(route, WebSocketRoute):
                found.add(f"WS {prefix}{route.path}")
            elif isinstance(route, Route):
                for method in route.methods or ():
                    if method != "HEAD":
                        found.add(f"{method} {prefix}{route.path}")
            else:
                raise AssertionError(f"unknown kind of route {route!r}: teach route_table about it")

    walk(list(app.routes), "")
    return found


def test_every_route_has_a_row(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", secret_key="matrix-" + secrets.token_hex(8)))
    table = route_table(app)
    covered = {r.route for r in ROWS}
    missing = sorted(table - covered)
    assert not missing, "routes without a row in the authorization matrix (say who may use them):\n" + "\n".join(missing)
    stale = sorted(covered - table)
    assert not stale, "rows for routes that no longer exist:\n" + "\n".join(stale)


# --- running a row -----------------------------------------------------------------------------


def _fill(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str):
        if value.startswith("{") and value.endswith("}") and value[1:-1] in values:
            return values[value[1:-1]]  # a whole placeholder keeps its type (ids stay integers)
        return value.format(**values)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


async def _per_request(world: World, r: Row, who: str) -> dict[str, Any]:
    values = dict(world.values)
    n = next(_serial)
    values["future"] = (dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(days=30 + n)).isoformat()
    values["new_email"] = f"new-{secrets.token_hex(5)}@example.org"
    if r.fresh and who in r.allow:  # a refusal leaves the object as it was
        values.update(await world.fresh(r.fresh))
    return values


_serial = itertools.count(1)


async def _request(world: World, r: Row, who: str) -> tuple[int, str]:
    """(status, location or a short body) of ``who`` calling the row."""
    values = await _per_request(world, r, who)
    if r.client == "copy":
        client = await world.copy_of(who)
    elif r.client == "again":
        client = await world.signed_in_again(who)
    elif r.client == "new_user" and who in r.allow:
        client = await world.client_for(who, fresh_user=True)
    else:
        client = world.clients[who]
    method, _ = r.route.split(" ", 1)
    url = _fill(r.url, values)
    kw: dict[str, Any] = {"headers": {"Accept": "application/json"} if method != "GET" else {}}
    kw["headers"].update(dict(r.headers))
    if isinstance(r.body, tuple):
        kw["content"] = r.body[0]
        kw["headers"]["Content-Type"] = r.body[1]
    elif r.body is not None:
        kw["json"] = _fill(r.body, values)
    if method in ("GET", "OPTIONS") or r.route.startswith(("PUT /storage", "POST /whip", "POST /whep")):
        response = await client.http.request(method, url, **kw)
    else:
        response = await getattr(client, method.lower())(url, **kw)
    if method == "GET" and who in r.allow:  # HEAD answers as GET does
        head = await client.http.head(url)
        if head.status_code != response.status_code:
            return head.status_code, f"HEAD {head.status_code} but GET {response.status_code}"
    return response.status_code, response.headers.get("location") or response.text[:160]


def _verdict(r: Row, who: str, status: int, info: str, is_page: bool) -> str:
    """'' when the answer is right for ``who``; else what is wrong."""
    if who in r.allow:
        if status >= 400 or info.startswith("/signin"):
            return f"should succeed, got {status} {info}"
        return ""
    if who in dict(r.expect):
        want = dict(r.expect)[who]
        return "" if status == want else f"should be refused with {want}, got {status} {info}"
    if r.refused:
        return "" if status == r.refused else f"should be refused with {r.refused}, got {status} {info}"
    if who == "anonymous":
        ok = status in (401, 403, 404) or (is_page and status in (302, 303) and info.startswith("/signin"))
        return "" if ok else f"should be refused (401 or to /signin), got {status} {info}"
    if status in (403, 404):
        return ""
    return f"should be refused (403/404), got {status} {info}"


async def check_rows(world: World, rows: list[Row]) -> list[str]:
    problems = []
    for r in rows:
        if r.route.startswith("WS "):
            continue
        is_page = not r.url.startswith(("/api/", "/storage/", "/whip/", "/whep/"))
        # The refusals first: the allowed principals' requests may change the object.
        for who in sorted(PRINCIPALS, key=lambda p: p in r.allow):
            status, info = await _request(world, r, who)
            wrong = _verdict(r, who, status, info, is_page)
            if wrong:
                problems.append(f"{r.route} [{r.url}] as {who}: {wrong}")
    return problems


@pytest.fixture
async def world(app: Any, services: Services, make_client: Any, make_user: Any) -> World:
    w = await build_world(services, make_client, make_user)
    w.values["unsubscribe_token"] = unsubscribe_token(services.secret_key, w.values["visitor_id"], "card_received")
    w.values["visitor_email"] = w.users["visitor"][0]
    return w


def for_backend(rows: list[Row], world: World) -> list[Row]:
    """With S3, signed URLs point at S3 and the app's own /storage/ answers 404 to everybody."""
    if str(world.values["signed_asset_url"]).startswith("/storage/"):
        return rows
    return [replace(r, allow=NOBODY, refused=404) if r.url.startswith("/storage/") else r
            for r in rows if "signed_asset_url" not in r.url]


@pytest.mark.parametrize("chunk", list(CHUNKS))
async def test_authorization_matrix(chunk: str, world: World) -> None:
    """A run of areas, each area's rows in order, against a world of its own (no row leans on another area's)."""
    rows = for_backend([r for area in CHUNKS[chunk] for r in AREAS[area]], world)
    problems = await check_rows(world, rows)
    assert not problems, f"{len(problems)} wrong answers:\n" + "\n".join(problems)
