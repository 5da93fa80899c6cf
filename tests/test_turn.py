"""TURN credentials: coturn's use-auth-secret scheme, their expiry, and the settings behind them."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from cloudexpo.settings import TURN_EXAMPLE, IceServer, Settings, SettingsError, load_settings
from cloudexpo.turn import client_ice_servers, mint, turn_password

TURN = "turn:127.0.0.1:3478?transport=udp,turn:127.0.0.1:3478?transport=tcp,turns:127.0.0.1:5349?transport=tcp"


def test_password_matches_a_vector_made_with_openssl() -> None:
    # printf '%s' '1700003600:viewer-42' | openssl dgst -sha1 -hmac 'north-hall-secret' -binary | base64
    assert turn_password("north-hall-secret", "1700003600:viewer-42") == "yxAGUc83ToN7vceuJLUFi7ijslo="


def test_minted_username_is_expiry_colon_id_and_password_its_hmac() -> None:
    username, password = mint("s3cret", "session-1", 3600, now=1_700_000_000.7)
    assert username == "1700003600:session-1"
    expected = base64.b64encode(hmac.new(b"s3cret", b"1700003600:session-1", hashlib.sha1).digest()).decode()
    assert password == expected


def test_client_ice_servers_mint_fresh_credentials_for_each_session() -> None:
    settings = Settings(
        ice_servers=[IceServer(["stun:127.0.0.1:3478"])],
        turn_urls=TURN.split(","),
        turn_secret="s3cret",
        turn_credential_seconds=600,
    )
    stun, turn = client_ice_servers(settings, "abc", now=1000)
    assert stun == IceServer(["stun:127.0.0.1:3478"])
    assert turn.urls == TURN.split(",")
    assert turn.username == "1600:abc"
    assert turn.credential == turn_password("s3cret", "1600:abc")
    later = client_ice_servers(settings, "abc", now=2000)[1]
    assert later.username == "2600:abc" and later.credential != turn.credential
    anonymous = [(client_ice_servers(settings)[1].username or "").split(":") for _ in range(2)]
    assert anonymous[0][1] != anonymous[1][1] and all(len(who) == 16 for _, who in anonymous)
    assert all(int(expiry) > 1_700_000_000 for expiry, _ in anonymous)

def test_no_turn_servers_unless_configured() -> None:
    assert client_ice_servers(Settings(), "abc") == []
    static = [IceServer(["turn:127.0.0.1:3478"], "u", "p")]
    assert client_ice_servers(Settings(ice_servers=static), "abc") == static


def test_turn_settings_are_read_and_checked_together() -> None:
    settings = load_settings({"CLOUDEXPO_TURN_URLS": TURN, "CLOUDEXPO_TURN_SECRET": "s3cret", "CLOUDEXPO_TURN_CREDENTIAL_SECONDS": "600"})
    assert settings.turn_urls == TURN.split(",")
    assert settings.turn_secret == "s3cret" and settings.turn_credential_seconds == 600
    assert load_settings({"CLOUDEXPO_TURN_URLS": "turn:[2001:db8::1]:3478, turns:turn.example.org", "CLOUDEXPO_TURN_SECRET": "x"}).turn_urls == [
        "turn:[2001:db8::1]:3478",
        "turns:turn.example.org",
    ]
    assert load_settings({}).turn_urls == []
    assert load_settings({"CLOUDEXPO_TURN_URLS": TURN_EXAMPLE, "CLOUDEXPO_TURN_SECRET": "x"}).turn_urls == TURN_EXAMPLE.split(",")
    with pytest.raises(SettingsError, match=r"^CLOUDEXPO_TURN_SECRET: is needed with CLOUDEXPO_TURN_URLS"):
        load_settings({"CLOUDEXPO_TURN_URLS": TURN})
    with pytest.raises(SettingsError, match=r"^CLOUDEXPO_TURN_URLS: is needed with CLOUDEXPO_TURN_SECRET"):
        load_settings({"CLOUDEXPO_TURN_SECRET": "s3cret"})


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("TURN_URLS", "stun:turn.example.org:3478", "not a turn: or turns: URL"),
        ("TURN_URLS", "https://turn.example.org", "not a turn: or turns: URL"),
        ("TURN_URLS", "turn://turn.example.org:3478", "not a turn: or turns: URL"),
        ("TURN_URLS", "turn:user:pass@turn.example.org:3478", "carries credentials"),
        ("TURN_URLS", "turn:turn.example.org:99999", "is not host[:port]"),
        ("TURN_URLS", "turn:turn.example.org:port", "is not host[:port]"),
        ("TURN_URLS", "turns:turn.example.org:443?transport=sctp", "?transport=udp or ?transport=tcp"),
        ("TURN_CREDENTIAL_SECONDS", "10", "outside"),
    ],
)
def test_a_wrong_turn_setting_names_the_variable_and_an_example(name: str, value: str, words: str) -> None:
    env = {"CLOUDEXPO_TURN_URLS": TURN, "CLOUDEXPO_TURN_SECRET": "s3cret", f"CLOUDEXPO_{name}": value}
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    message = str(info.value)
    assert message.startswith(f"CLOUDEXPO_{name}: ")
    assert words in message and "(example: " in message and "\n" not in message
