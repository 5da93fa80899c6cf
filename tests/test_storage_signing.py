"""The local store's URL signatures: pure functions, a clock passed in."""

from __future__ import annotations

import pytest

from cloudexpo.storage.base import MAX_URL_EXPIRES, content_disposition, normalize_etag
from cloudexpo.storage.signing import SignatureError, URLSigner, canonical, derive_key

NOW = 1_800_000_000.0


def test_round_trip() -> None:
    signer = URLSigner("secret")
    query = signer.sign("get", "a/b.mp4", {"fn": "b.mp4"}, expires=60, now=NOW)
    assert query["exp"] == str(int(NOW) + 60)
    assert set(query) == {"fn", "exp", "sig"}
    assert signer.verify("get", "a/b.mp4", query.items(), now=NOW + 60) == {"fn": "b.mp4", "exp": query["exp"]}


@pytest.mark.parametrize(
    ("purpose", "subject", "changes"),
    [
        ("put", "a/b.mp4", {}),  # another method
        ("get", "a/c.mp4", {}),  # another object
        ("get", "a/b.mp4", {"fn": "evil.html"}),  # a changed parameter
        ("get", "a/b.mp4", {"ct": "text/html"}),  # an added parameter
        ("get", "a/b.mp4", {"exp": str(int(NOW) + 9999)}),  # a longer life
    ],
)
def test_any_change_breaks_the_signature(purpose: str, subject: str, changes: dict[str, str]) -> None:
    signer = URLSigner("secret")
    query = {**signer.sign("get", "a/b.mp4", {"fn": "b.mp4"}, expires=60, now=NOW), **changes}
    with pytest.raises(SignatureError) as caught:
        signer.verify(purpose, subject, query.items(), now=NOW)
    assert caught.value.code == "signature_invalid"


def test_another_secret_is_refused() -> None:
    query = URLSigner("one").sign("get", "k", {}, expires=60, now=NOW)
    with pytest.raises(SignatureError, match="another secret key"):
        URLSigner("two").verify("get", "k", query.items(), now=NOW)


def test_expired() -> None:
    signer = URLSigner("secret")
    query = signer.sign("get", "k", {}, expires=60, now=NOW)
    with pytest.raises(SignatureError) as caught:
        signer.verify("get", "k", query.items(), now=NOW + 61)
    assert caught.value.code == "signature_expired"
    assert "expired at 2027-01-15T08:01:00+00:00" in caught.value.detail


def test_missing_and_repeated_parameters() -> None:
    signer = URLSigner("secret")
    query = signer.sign("get", "k", {}, expires=60, now=NOW)
    with pytest.raises(SignatureError) as caught:
        signer.verify("get", "k", [("exp", query["exp"])], now=NOW)
    assert caught.value.code == "signature_missing"
    with pytest.raises(SignatureError) as caught:
        signer.verify("get", "k", [*query.items(), ("exp", "1")], now=NOW)
    assert caught.value.code == "signature_invalid"


def test_lifetime_bounds_and_reserved_names() -> None:
    signer = URLSigner("secret")
    for expires in (0, -1, MAX_URL_EXPIRES + 1):
        with pytest.raises(ValueError):
            signer.sign("get", "k", {}, expires=expires, now=NOW)
    with pytest.raises(ValueError):
        signer.sign("get", "k", {"sig": "x"}, expires=60, now=NOW)
    with pytest.raises(ValueError):
        derive_key("")


def test_canonical_form_is_unambiguous() -> None:
    # Separators inside values are escaped, so parameters cannot be shifted around.
    assert canonical("get", "k", {"a": "1&b=2"}) != canonical("get", "k", {"a": "1", "b": "2"})
    assert canonical("get", "k", {"b": "2", "a": "1"}) == canonical("get", "k", {"a": "1", "b": "2"})
    assert derive_key("secret") != b"secret" and len(derive_key("secret")) == 32


def test_content_disposition_is_safe() -> None:
    header = content_disposition('Bü"ro\r\nX-Evil: 1.pdf')
    assert "\r" not in header and "\n" not in header
    assert header.startswith('attachment; filename="B__ro__X-Evil: 1.pdf"')
    assert "filename*=UTF-8''B%C3%BC_ro__X-Evil%3A%201.pdf" in header


def test_normalize_etag() -> None:
    assert normalize_etag('"abc"') == normalize_etag('W/"abc"') == normalize_etag("abc") == "abc"
