"""Settings: typed, documented, and a wrong value names itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudexpo.settings import SETTINGS, Settings, SettingsError, load_settings


def test_defaults_are_embedded(tmp_path: Path) -> None:
    settings = load_settings({"CLOUDEXPO_DATA_DIR": str(tmp_path)})
    assert settings.data_dir == tmp_path
    assert settings.resolved_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.resolved_database_url.endswith("cloudexpo.db")
    assert settings.resolved_storage_url == str((tmp_path / "objects").resolve())
    assert settings.redis_url is None
    assert settings.ice_servers == []  # never a public STUN server by default
    assert settings.resolved_public_url == "http://127.0.0.1:8000"


def test_environment_values_are_cast() -> None:
    settings = load_settings(
        {
            "CLOUDEXPO_DATABASE_URL": "postgresql://u@127.0.0.1:5432/x",
            "CLOUDEXPO_STORAGE_URL": "s3://media/prod",
            "CLOUDEXPO_REDIS_URL": "redis://127.0.0.1:6379/0",
            "CLOUDEXPO_PORT": "8080",
            "CLOUDEXPO_ICE_SERVERS": "stun:stun.example.org:3478,turn:u:p@turn.example.org:3478?transport=udp",
            "CLOUDEXPO_ICE_HOSTS": "127.0.0.1, ::1",
            "CLOUDEXPO_PUBLIC_URL": "https://expo.example.org/",
        }
    )
    assert settings.database_url == "postgresql+asyncpg://u@127.0.0.1:5432/x"
    assert settings.storage_url == "s3://media/prod"
    assert settings.port == 8080
    assert [s.urls for s in settings.ice_servers] == [["stun:stun.example.org:3478"], ["turn:turn.example.org:3478?transport=udp"]]
    assert settings.ice_servers[1].username == "u" and settings.ice_servers[1].credential == "p"
    assert settings.ice_hosts == ["127.0.0.1", "::1"]
    assert settings.resolved_public_url == "https://expo.example.org"
    assert settings.cookies_secure is True


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("PORT", "eighty", "not a whole number"),
        ("PORT", "70000", "outside"),
        ("DATABASE_URL", "mysql://x", "unsupported database URL scheme"),
        ("STORAGE_URL", "s3://", "needs a bucket"),
        ("REDIS_URL", "http://x", "not a redis:// URL"),
        ("PUBLIC_URL", "expo.example.org", "not an http(s) URL"),
        ("ICE_SERVERS", "http://x", "not a stun: or turn: URL"),
        ("ICE_HOSTS", "localhost", "not an IP address"),
        ("TIMEZONE", "Mars/Olympus", "not a known time zone"),
        ("DEFAULT_LANGUAGE", "fr", "not one of"),
        ("LOG_FORMAT", "xml", "not one of"),
        ("MAX_WEBRTC_VIEWERS", "-1", "outside"),
        ("HLS_PUBLIC_URL", "cdn.example.org", "not an http(s) URL"),
        ("EGRESS_WHIP_URL", "https://media.example.org/whip/expo", "has no {slot}"),
        ("EGRESS_WHIP_URL", "rtmp://media.example.org/{slot}", "not an http(s) URL"),
        ("EGRESS_WHEP_URL", "https://media.example.org/{slot}/{stream}", "the only placeholder is {slot}"),
        ("EGRESS_WHIP_TOKEN", "abc", "CLOUDEXPO_EGRESS_WHIP_URL is not"),
    ],
)
def test_a_wrong_value_names_the_variable_and_an_example(name: str, value: str, words: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({f"CLOUDEXPO_{name}": value})
    message = str(info.value)
    assert message.startswith(f"CLOUDEXPO_{name}: ")
    assert words in message
    assert "(example: " in message
    assert "\n" not in message


def test_toml_file_and_environment_precedence(tmp_path: Path) -> None:
    config = tmp_path / "cloudexpo.toml"
    config.write_text('port = 9000\nhost = "0.0.0.0"\nice_hosts = ["127.0.0.1"]\n')
    settings = load_settings({"CLOUDEXPO_PORT": "9100"}, config_file=config)
    assert settings.port == 9100  # the environment wins
    assert settings.host == "0.0.0.0"
    assert settings.ice_hosts == ["127.0.0.1"]
    config.write_text("colour = 'red'\n")
    with pytest.raises(SettingsError, match="unknown setting"):
        load_settings({}, config_file=config)
    config.write_text("port = [\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings({}, config_file=config)


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = settings.resolved_secret_key()
    assert len(first) > 40
    assert settings.resolved_secret_key() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for setting in SETTINGS:
        assert f"CLOUDEXPO_{setting.name.upper()}" in readme, setting.name
        assert setting.help and setting.example
