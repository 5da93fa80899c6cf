"""The short-lived token an edge node shows its origin to pull a broadcast.

An edge pulls a slot's broadcast over the origin's ordinary WHEP endpoint with
``Authorization: Bearer <edge token>``. The token names the slot and an expiry
and is signed (HMAC-SHA256) with the deployment's shared secret
(``CLOUDEXPO_SECRET_KEY``, the same on every node), so only a node of this
deployment can mint one, only for that slot, and only for :data:`LIFETIME`
seconds: a token copied from a log is soon worth nothing. The origin lets an
edge watch whatever its preview would show (the green room too) and does not
count it as a viewer.

Format: ``edge.<slot>.<expiry unix seconds>.<base64url signature>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

PREFIX = "edge."
LIFETIME = 60  # seconds: the pull's WHEP POST happens at once; nothing uses the token afterwards


def _signature(secret: str, slot_id: int, expires: int) -> str:
    digest = hmac.new(secret.encode(), f"cloudexpo-edge:{slot_id}:{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def mint(secret: str, slot_id: int, *, now: float | None = None) -> str:
    """A token letting its holder pull ``slot_id`` from its origin for :data:`LIFETIME` seconds."""
    expires = int(now if now is not None else time.time()) + LIFETIME
    return f"{PREFIX}{slot_id}.{expires}.{_signature(secret, slot_id, expires)}"


def looks_like(token: str) -> bool:
    """Whether a bearer token is meant as an edge token (as opposed to a slot's publishing token)."""
    return token.startswith(PREFIX)


def is_valid(secret: str, slot_id: int, token: str, *, now: float | None = None) -> bool:
    """True for an unexpired edge token of this deployment for ``slot_id``."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] + "." != PREFIX or not parts[1].isdigit() or not parts[2].isdigit():
        return False
    if int(parts[1]) != slot_id:
        return False
    expires = int(parts[2])
    current = now if now is not None else time.time()
    if expires < current or expires > current + 2 * LIFETIME:  # expired, or from a clock far ahead
        return False
    return hmac.compare_digest(parts[3], _signature(secret, slot_id, expires))
