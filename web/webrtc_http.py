"""What the WHIP and WHEP endpoints share: bearer tokens, SDP offers in, ICE servers out as ``Link`` headers."""

from __future__ import annotations

from starlette.requests import Request

from cloudexpo.settings import IceServer
from web.errors import ApiError
from web.forms import read_body

MAX_SDP = 64 * 1024


def bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def link_header(servers: list[IceServer]) -> str | None:
    """ICE servers as RFC 9725 ``Link`` values."""
    links = []
    for server in servers:
        for url in server.urls:
            value = f'<{url}>; rel="ice-server"'
            if server.username is not None:
                value += f'; username="{server.username}"; credential="{server.credential or ""}"; credential-type="password"'
            links.append(value)
    return ", ".join(links) or None


async def read_offer(request: Request) -> str:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/sdp":
        raise ApiError(
            415,
            f"Send the SDP offer as 'Content-Type: application/sdp' (got {content_type or 'none'}).",
            headers={"Accept-Post": "application/sdp"},
        )
    body = await read_body(request, MAX_SDP, "SDP offer")
    try:
        offer = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "The SDP offer is not UTF-8 text.") from None
    if not offer.lstrip().startswith("v=0"):
        raise ApiError(400, "The body is not an SDP offer (it must start with 'v=0').")
    return offer
