"""Time-limited TURN credentials, minted per session.

The TURN REST API scheme (draft-uberti-behave-turn-rest-00), which coturn
checks with ``use-auth-secret`` and ``static-auth-secret``: the username is
``<expiry>:<id>`` (expiry in Unix seconds, id naming the user or session) and
the password is ``base64(HMAC-SHA1(secret, username))``. The TURN server needs
no account list: it recomputes the password from the username and refuses it
once the expiry has passed. The secret never leaves Cloud Expo's server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from cloudexpo.settings import IceServer, Settings


def turn_password(secret: str, username: str) -> str:
    """``base64(HMAC-SHA1(secret, username))``, the password coturn expects for ``username``."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def mint(secret: str, who: str, lifetime: int, now: float) -> tuple[str, str]:
    """A username valid ``lifetime`` seconds from ``now``, and its password."""
    username = f"{int(now) + lifetime}:{who}"
    return username, turn_password(secret, username)


def client_ice_servers(settings: Settings, who: str | None = None, now: float | None = None) -> list[IceServer]:
    """The ICE servers a browser or WHIP/WHEP client gets for one session.

    ``CLOUDEXPO_ICE_SERVERS`` as configured, then the ``CLOUDEXPO_TURN_URLS``
    with a credential minted for ``who`` (a user or session id; random when
    None). Empty when neither is set: never a public STUN server.
    """
    servers = list(settings.ice_servers)
    if settings.turn_urls and settings.turn_secret:
        username, password = mint(
            settings.turn_secret,
            who or secrets.token_hex(8),
            settings.turn_credential_seconds,
            time.time() if now is None else now,
        )
        servers.append(IceServer(urls=list(settings.turn_urls), username=username, credential=password))
    return servers
