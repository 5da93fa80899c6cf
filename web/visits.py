"""Counting booth visits: who a visit counts as, and a booth page view."""

from __future__ import annotations

from starlette.requests import Request

from web.context import counter, csrf_token, principal

#: Set in the request's scope once its booth view is counted (the page's beacon then only reports time).
COUNTED = "cloudexpo.analytics"


def visitor_key(request: Request) -> str:
    """Who a visit counts as: the signed-in user, else this browser session (hashed before storing)."""
    who = principal(request)
    if who.user_id is not None:
        return f"u{who.user_id}"
    token = csrf_token(request)
    return f"s{token}" if token else ""


def count_booth_view(request: Request, booth_id: int) -> None:
    """Count a booth page view (and the visitor, once a day); ``?src=qr`` counts it as a QR visit.

    For the booth page's handler: costs a few dictionary operations; the
    counter writes to the database in the background.
    """
    request.scope[COUNTED] = True
    counter(request).visit(booth_id, visitor_key(request), source="qr" if request.query_params.get("src") == "qr" else "")
