"""Expiring HMAC-SHA256 signatures for the local store's URLs.

Pure: no I/O, and the clock is an argument. A URL's query carries its
parameters, ``exp`` (Unix seconds) and ``sig``; the signature covers the
purpose (``get``, ``put``, ``part``), the subject (the object key, or key,
upload id and part number) and every other query parameter, so nothing in the
URL can be changed or added without breaking it. The subject is signed
rather than the URL path, so a proxy or a path prefix in ``public_url`` does
not matter.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlencode

from cloudexpo.storage.base import StorageError, check_expires

_KEY_CONTEXT = b"cloudexpo/storage-url/v1"


class SignatureError(StorageError):
    """A signed URL was refused; ``code`` is short, the message says why."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def derive_key(secret_key: str) -> bytes:
    """A key of its own for URLs, so a leaked URL signature says nothing about
    the cookie-signing use of the same secret."""
    if not secret_key:
        raise ValueError("a secret key is needed to sign storage URLs")
    return hmac.new(secret_key.encode(), _KEY_CONTEXT, hashlib.sha256).digest()


def canonical(purpose: str, subject: str, params: Mapping[str, str]) -> bytes:
    query = urlencode(sorted(params.items()), quote_via=quote, safe="")
    return f"{purpose}\n{subject}\n{query}".encode()


class URLSigner:
    def __init__(self, secret_key: str) -> None:
        self._key = derive_key(secret_key)

    def _digest(self, purpose: str, subject: str, params: Mapping[str, str]) -> str:
        mac = hmac.new(self._key, canonical(purpose, subject, params), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()

    def sign(
        self,
        purpose: str,
        subject: str,
        params: Mapping[str, str],
        *,
        expires: int,
        now: float,
    ) -> dict[str, str]:
        """The query parameters of a URL valid ``expires`` seconds from ``now``."""
        check_expires(expires)
        if "exp" in params or "sig" in params:
            raise ValueError("'exp' and 'sig' are reserved query parameters")
        signed = {**params, "exp": str(int(now) + expires)}
        signed["sig"] = self._digest(purpose, subject, signed)
        return signed

    def verify(
        self, purpose: str, subject: str, query: Iterable[tuple[str, str]], *, now: float
    ) -> dict[str, str]:
        """Return the signed parameters (``exp`` included, ``sig`` not) or
        raise :class:`SignatureError` saying what is wrong."""
        params: dict[str, str] = {}
        for name, value in query:
            if name in params:
                raise SignatureError("signature_invalid", f"query parameter {name!r} is repeated")
            params[name] = value
        sig = params.pop("sig", None)
        if not sig or "exp" not in params:
            raise SignatureError(
                "signature_missing", "the URL is not signed (no 'exp' or 'sig'); ask the app for a new URL"
            )
        if not hmac.compare_digest(sig.encode(), self._digest(purpose, subject, params).encode()):
            raise SignatureError(
                "signature_invalid",
                "the signature does not match this URL: it was changed, is for another "
                "object or method, or was signed with another secret key",
            )
        try:
            expires_at = int(params["exp"])
        except ValueError:
            raise SignatureError("signature_invalid", "'exp' is not a number") from None
        if expires_at < now:
            when = dt.datetime.fromtimestamp(expires_at, dt.UTC).isoformat()
            raise SignatureError("signature_expired", f"the URL expired at {when}; ask the app for a new URL")
        return params
