"""Settings, declared once.

Every setting is a row of :data:`SETTINGS`: its name, type, default, help and an
example of a right value. They are read from ``CLOUDEXPO_<NAME>`` environment
variables, then from an optional TOML file (``--config``) for names the
environment does not set. A wrong value raises :class:`SettingsError`, whose
message is one line naming the variable, what was wrong and a right example.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PREFIX = "CLOUDEXPO_"


class SettingsError(ValueError):
    """A setting has a value Cloud Expo cannot use."""

    def __init__(self, name: str, problem: str, example: str) -> None:
        self.name = name
        self.problem = problem
        self.example = example
        super().__init__(f"{PREFIX}{name.upper()}: {problem} (example: {example})")


@dataclass(frozen=True)
class IceServer:
    """One STUN or TURN server handed to browsers and to aiortc."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"urls": self.urls}
        if self.username is not None:
            out["username"] = self.username
        if self.credential is not None:
            out["credential"] = self.credential
        return out


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    example: str
    cast: Callable[[str, str], Any]


# --- casts: each takes (setting name, raw text) and returns the typed value ---


def _str(name: str, raw: str) -> str:
    return raw.strip()


def _opt_str(name: str, raw: str) -> str | None:
    raw = raw.strip()
    return raw or None


def _path(name: str, raw: str) -> Path:
    if not raw.strip():
        raise SettingsError(name, "is empty", "./data")
    return Path(raw.strip()).expanduser()


def _int_range(low: int, high: int, example: str) -> Callable[[str, str], int]:
    def cast(name: str, raw: str) -> int:
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise SettingsError(name, f"{raw!r} is not a whole number", example) from None
        if not low <= value <= high:
            raise SettingsError(name, f"{value} is outside {low}..{high}", example)
        return value

    return cast


def _bool(name: str, raw: str) -> bool:
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(name, f"{raw!r} is not true or false", "true")


def _choice(*options: str) -> Callable[[str, str], str]:
    def cast(name: str, raw: str) -> str:
        value = str(raw).strip().lower()
        if value not in options:
            raise SettingsError(name, f"{raw!r} is not one of {', '.join(options)}", options[0])
        return value

    return cast


def _database_url(name: str, raw: str) -> str | None:
    raw = raw.strip()
    if not raw:
        return None
    scheme = urlsplit(raw).scheme
    if scheme in {"postgres", "postgresql"}:
        return "postgresql+asyncpg" + raw[len(scheme) :]
    if scheme == "sqlite":
        return "sqlite+aiosqlite" + raw[len(scheme) :]
    if scheme in {"postgresql+asyncpg", "sqlite+aiosqlite"}:
        return raw
    raise SettingsError(
        name,
        f"unsupported database URL scheme {scheme or '(none)'!r}; use postgresql:// or sqlite://",
        "postgresql://cloudexpo@127.0.0.1:5432/cloudexpo",
    )


def _storage_url(name: str, raw: str) -> str | None:
    raw = raw.strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise SettingsError(name, "an s3:// URL needs a bucket name", "s3://cloudexpo-media/prod")
        return raw.rstrip("/")
    if parts.scheme in {"", "file"}:
        return raw
    raise SettingsError(
        name, f"unsupported storage scheme {parts.scheme!r}; use a folder or s3://", "s3://bucket/prefix"
    )


def _redis_url(name: str, raw: str) -> str | None:
    raw = raw.strip()
    if not raw:
        return None
    if urlsplit(raw).scheme not in {"redis", "rediss", "unix"}:
        raise SettingsError(name, f"{raw!r} is not a redis:// URL", "redis://127.0.0.1:6379/0")
    return raw


def _public_url(name: str, raw: str) -> str | None:
    raw = raw.strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SettingsError(name, f"{raw!r} is not an http(s) URL", "https://expo.example.org")
    return raw.rstrip("/")


def _node_url(name: str, raw: str) -> str | None:
    """This node's own base URL inside the deployment: scheme, host and port, nothing else."""
    raw = raw.strip()
    if not raw:
        return None
    example = "http://10.0.0.5:8000"
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise SettingsError(name, f"{raw!r} is not an http(s) URL of this node", example)
    if parts.path not in {"", "/"} or parts.query or parts.fragment or parts.username:
        raise SettingsError(name, f"{raw!r} must be scheme://host:port only (no path, query or credentials)", example)
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise SettingsError(name, f"{raw!r} has no valid port", example) from None
    return raw.rstrip("/")


def _ice_servers(name: str, raw: str) -> list[IceServer]:
    """``stun:host:3478,turn:user:pass@host:3478?transport=udp`` or a JSON list."""
    raw = raw.strip()
    if not raw:
        return []
    example = "stun:stun.example.org:3478,turn:user:secret@turn.example.org:3478"
    if raw.startswith("["):
        try:
            items = json.loads(raw)
            return [
                IceServer(
                    urls=[item["urls"]] if isinstance(item["urls"], str) else list(item["urls"]),
                    username=item.get("username"),
                    credential=item.get("credential"),
                )
                for item in items
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise SettingsError(name, f"not a JSON list of {{urls, username, credential}}: {exc}", example) from None
    servers = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        scheme, _, rest = part.partition(":")
        if scheme not in {"stun", "stuns", "turn", "turns"} or not rest:
            raise SettingsError(name, f"{part!r} is not a stun: or turn: URL", example)
        username = credential = None
        if "@" in rest:
            userinfo, _, rest = rest.rpartition("@")
            username, _, credential = userinfo.partition(":")
        servers.append(IceServer(urls=[f"{scheme}:{rest}"], username=username, credential=credential))
    return servers


TURN_EXAMPLE = "turn:turn.example.org:3478?transport=udp,turn:turn.example.org:3478?transport=tcp,turns:turn.example.org:443?transport=tcp"
_TURN_ADDRESS = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?")


def _turn_urls(name: str, raw: str) -> list[str]:
    """``turn:`` / ``turns:`` URLs (RFC 7065): ``host[:port][?transport=udp|tcp]``, no credentials."""
    urls = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        scheme, _, rest = part.partition(":")
        if scheme not in {"turn", "turns"} or not rest or rest.startswith("//"):
            raise SettingsError(name, f"{part!r} is not a turn: or turns: URL", TURN_EXAMPLE)
        address, _, query = rest.partition("?")
        if "@" in address:
            raise SettingsError(name, f"{part!r} carries credentials; Cloud Expo mints them from CLOUDEXPO_TURN_SECRET", TURN_EXAMPLE)
        shape = _TURN_ADDRESS.fullmatch(address)
        if shape is None or (shape["port"] and not 1 <= int(shape["port"]) <= 65535):
            raise SettingsError(name, f"{part!r} is not host[:port] after {scheme}:", TURN_EXAMPLE)
        if query and query not in {"transport=udp", "transport=tcp"}:
            raise SettingsError(name, f"{part!r}: the only query is ?transport=udp or ?transport=tcp", TURN_EXAMPLE)
        urls.append(part)
    return urls


EGRESS_WHIP_EXAMPLE = "https://media.example.org/whip/expo-{slot}"
EGRESS_WHEP_EXAMPLE = "https://media.example.org/whep/expo-{slot}"


def _url_template(example: str) -> Callable[[str, str], str | None]:
    """An http(s) URL with ``{slot}`` where the slot's id goes (an external media cluster's WHIP or WHEP URL)."""

    def cast(name: str, raw: str) -> str | None:
        raw = raw.strip()
        if not raw:
            return None
        if "{slot}" not in raw:
            raise SettingsError(name, f"{raw!r} has no {{slot}} for the slot's id", example)
        try:
            filled = raw.format(slot=1)
        except (KeyError, IndexError, ValueError):
            raise SettingsError(name, f"{raw!r}: the only placeholder is {{slot}} (write other braces as {{{{ and }}}})", example) from None
        parts = urlsplit(filled)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise SettingsError(name, f"{raw!r} is not an http(s) URL", example)
        return raw

    return cast


def _ice_hosts(name: str, raw: str) -> list[str]:
    hosts = [h.strip() for h in raw.split(",") if h.strip()]
    for host in hosts:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise SettingsError(name, f"{host!r} is not an IP address", "127.0.0.1 or 203.0.113.7") from None
    return hosts


def _timezone(name: str, raw: str) -> str:
    try:
        ZoneInfo(raw.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(name, f"{raw!r} is not a known time zone", "Asia/Shanghai") from None
    return raw.strip()


def _smtp_url(name: str, raw: str) -> str | None:
    raw = raw.strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise SettingsError(name, f"{raw!r} is not an smtp:// or smtps:// URL", "smtp://user:secret@mail.example.org:587")
    return raw


def _language(name: str, raw: str) -> str:
    from cloudexpo.i18n import LANGUAGES

    value = raw.strip()
    if value not in LANGUAGES:
        raise SettingsError(name, f"{value!r} is not one of {', '.join(LANGUAGES)}", "zh-Hans")
    return value


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", Path("./data"), "Folder for the SQLite database, local objects, the media spool and the generated secret key.", "/var/lib/cloudexpo", _path),
    Setting("database_url", None, "Database URL; empty means a SQLite file in the data folder. Use PostgreSQL when several app nodes run.", "postgresql://cloudexpo@127.0.0.1:5432/cloudexpo", _database_url),
    Setting("storage_url", None, "Object storage: empty means a folder in the data folder; s3://bucket[/prefix] uses S3 with endpoint and credentials taken the way boto3 takes them (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...).", "s3://cloudexpo-media/prod", _storage_url),
    Setting("redis_url", None, "Redis for the event bus (chat, presence and live status across nodes); empty means in-process.", "redis://127.0.0.1:6379/0", _redis_url),
    Setting("secret_key", None, "Key that signs session cookies and local storage URLs; generated and kept in the data folder when empty. Set the same value on every node.", "a long random string", _opt_str),
    Setting("public_url", None, "The URL visitors reach Cloud Expo at; used in WHIP/WHEP Location headers, e-mails, QR codes and iCalendar feeds. Defaults to http://HOST:PORT.", "https://expo.example.org", _public_url),
    Setting("node_url", None, "This node's own URL inside the deployment, where the other nodes reach it (never through the public proxy). With several nodes (CLOUDEXPO_REDIS_URL), the node receiving a broadcast registers as its origin under this URL, and any other node asked to play it pulls it from there once and forwards it to its own viewers. Empty: this node plays only what is published to it.", "http://10.0.0.5:8000", _node_url),
    Setting("edge_linger_seconds", 30, "How long a node keeps pulling a broadcast from its origin after its last viewer of it left, in seconds: a viewer coming back within that time gets the picture at once.", "30", _int_range(0, 3600, "30")),
    Setting("host", "127.0.0.1", "Address `cloudexpo serve` listens on.", "0.0.0.0", _str),
    Setting("port", 8000, "Port `cloudexpo serve` listens on.", "8000", _int_range(1, 65535, "8000")),
    Setting("ice_servers", [], "STUN/TURN servers for WebRTC, comma-separated URLs (credentials as user:pass@) or a JSON list. Empty means none: Cloud Expo never falls back to a public STUN server.", "stun:stun.example.org:3478,turn:user:secret@turn.example.org:3478", _ice_servers),
    Setting("ice_hosts", [], "IP addresses for WebRTC, comma-separated. An address of this machine is gathered on and advertised (127.0.0.1 for tests on one machine); any other is taken as the public address of a 1:1 NAT in front of it and advertised beside the local candidates, with the same ports. Empty means every interface.", "127.0.0.1", _ice_hosts),
    Setting("turn_urls", [], "TURN servers (coturn with use-auth-secret) for visitors whose networks block UDP, comma-separated turn:/turns: URLs without credentials: browsers get them with a fresh time-limited credential for every session (RFC 9725 Link headers and the pages). Needs CLOUDEXPO_TURN_SECRET.", TURN_EXAMPLE, _turn_urls),
    Setting("turn_secret", None, "The TURN servers' shared secret (coturn's static-auth-secret); it signs each session's TURN credential and never leaves the server.", "a long random string, the same as in turnserver.conf", _opt_str),
    Setting("turn_credential_seconds", 12 * 3600, "How long a minted TURN credential stays valid, in seconds. coturn checks it again on every allocation refresh, so it must cover the longest session (a launch and its green room).", "43200", _int_range(60, 7 * 24 * 3600, "43200")),
    Setting("max_webrtc_viewers", 0, "WebRTC viewers this node takes at most, over all broadcasts (0: no limit). Past it WHEP answers 503 with Retry-After and a Link to the broadcast's live HLS playlist, and the watch page plays that (a few seconds behind) until a place frees up. One core forwards a 2.5 Mbit/s broadcast to about 400 viewers.", "800", _int_range(0, 1_000_000, "800")),
    Setting("hls_public_url", None, "Where a CDN (or a public-read bucket) serves the object storage's keys, so live HLS viewers fetch the playlist and segments from it: https://cdn.example.org/ + replays/{slot}/live.m3u8. Empty: viewers get signed storage URLs.", "https://cdn.example.org", _public_url),
    Setting("egress_whip_url", None, "Re-publish every live broadcast over WHIP, without transcoding, to this URL of an external media cluster (LiveKit, Cloudflare Stream, SRS, OvenMediaEngine, MediaMTX, Janus); {slot} is replaced by the slot's id.", EGRESS_WHIP_EXAMPLE, _url_template(EGRESS_WHIP_EXAMPLE)),
    Setting("egress_whip_token", None, "The bearer token the external cluster's WHIP endpoint expects (empty: none is sent).", "a token from the media cluster", _opt_str),
    Setting("egress_whep_url", None, "The external cluster's WHEP playback URL for a slot ({slot} is replaced by its id): the watch page plays from there instead of from Cloud Expo, and falls back to the live HLS playlist.", EGRESS_WHEP_EXAMPLE, _url_template(EGRESS_WHEP_EXAMPLE)),
    Setting("green_room_minutes", 15, "Minutes before a slot's start from which its publisher may connect (the green room: a preview for the exhibitor and moderators, \"starting soon\" for visitors).", "30", _int_range(0, 24 * 60, "15")),
    Setting("overrun_minutes", 5, "Minutes a broadcast may run past its slot's end before it ends by itself (the last question, the applause); its publisher may reconnect until then. A moderator extends a slot for longer.", "10", _int_range(0, 12 * 60, "5")),
    Setting("timezone", "Asia/Shanghai", "The exhibition's time zone, used to show the programme.", "Europe/Berlin", _timezone),
    Setting("default_language", "zh-Hans", "Language for visitors whose browser asks for none Cloud Expo speaks.", "en", _language),
    Setting("log_format", "text", "Log lines as text or as JSON objects (one per line).", "json", _choice("text", "json")),
    Setting("log_level", "info", "Lowest level that is logged.", "debug", _choice("info", "debug", "warning", "error")),
    Setting("signin_rate", 10, "Sign-in and sign-up attempts allowed per address (and per e-mail address) and per minute; counted across every node when CLOUDEXPO_REDIS_URL is set.", "10", _int_range(1, 10000, "10")),
    Setting("secure_cookies", None, "Mark cookies Secure; by default on when the public URL is https.", "true", lambda n, r: _bool(n, r)),
    Setting("quota_bytes", 2 * 1024**3, "Booth media each exhibitor may keep, in bytes, counting every file but rejected ones.", "5368709120", _int_range(1, 1024**5, "2147483648")),
    Setting("max_image_bytes", 20 * 1000**2, "Largest picture (logo, banner, gallery image) one upload may be, in bytes.", "20000000", _int_range(1, 5 * 1024**3, "20000000")),
    Setting("max_video_bytes", 2 * 1024**3, "Largest video one upload may be, in bytes.", "2147483648", _int_range(1, 5 * 1024**4, "2147483648")),
    Setting("max_document_bytes", 50 * 1000**2, "Largest document (PDF) one upload may be, in bytes.", "50000000", _int_range(1, 5 * 1024**3, "50000000")),
    Setting("briefcase_max_bytes", 200 * 1000**2, "Largest ZIP of a visitor's briefcase (the sum of its documents), in bytes; a bigger briefcase is refused with the figures and can still be sent by e-mail as links.", "200000000", _int_range(1, 5 * 1024**3, "200000000")),
    Setting("smtp_url", None, "Mail server for notifications: smtp://user:pass@host:587 (STARTTLS when offered) or smtps://...:465; empty writes each mail as an .eml file to the data folder's mail/ folder.", "smtp://user:secret@mail.example.org:587", _smtp_url),
    Setting("mail_from", "", "Sender of notification e-mails; empty means Cloud Expo <noreply@the public URL's host>.", "Cloud Expo <expo@example.org>", _str),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """The typed settings of one Cloud Expo process."""

    data_dir: Path = Path("./data")
    database_url: str | None = None
    storage_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    public_url: str | None = None
    node_url: str | None = None
    edge_linger_seconds: int = 30
    host: str = "127.0.0.1"
    port: int = 8000
    ice_servers: list[IceServer] = field(default_factory=list)
    ice_hosts: list[str] = field(default_factory=list)
    turn_urls: list[str] = field(default_factory=list)
    turn_secret: str | None = None
    turn_credential_seconds: int = 12 * 3600
    max_webrtc_viewers: int = 0
    hls_public_url: str | None = None
    egress_whip_url: str | None = None
    egress_whip_token: str | None = None
    egress_whep_url: str | None = None
    green_room_minutes: int = 15
    overrun_minutes: int = 5
    timezone: str = "Asia/Shanghai"
    default_language: str = "zh-Hans"
    log_format: str = "text"
    log_level: str = "info"
    signin_rate: int = 10
    secure_cookies: bool | None = None
    quota_bytes: int = 2 * 1024**3
    max_image_bytes: int = 20 * 1000**2
    max_video_bytes: int = 2 * 1024**3
    max_document_bytes: int = 50 * 1000**2
    briefcase_max_bytes: int = 200 * 1000**2
    smtp_url: str | None = None
    mail_from: str = ""

    # --- derived values -------------------------------------------------

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'cloudexpo.db').resolve()}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or str((self.data_dir / "objects").resolve())

    @property
    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url
        host = "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host
        return f"http://{host}:{self.port}"

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.resolved_public_url.startswith("https://")

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept in the data folder."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
        return key

    def replace(self, **changes: Any) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)


def load_settings(
    environ: Mapping[str, str] | None = None,
    config_file: str | os.PathLike[str] | None = None,
    **overrides: Any,
) -> Settings:
    """Read settings from the environment, then the TOML file, then defaults.

    ``overrides`` (already typed, e.g. from command-line options) win over both.
    """
    env = os.environ if environ is None else environ
    file_values: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        try:
            with path.open("rb") as fh:
                file_values = tomllib.load(fh)
        except FileNotFoundError:
            raise SettingsError("config", f"file {path} does not exist", "cloudexpo.toml") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError("config", f"{path} is not valid TOML: {exc}", 'port = 8000') from None
        unknown = sorted(set(file_values) - set(_BY_NAME))
        if unknown:
            raise SettingsError(unknown[0], f"unknown setting in {path}", "see `cloudexpo settings`")
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in overrides and overrides[setting.name] is not None:
            values[setting.name] = overrides[setting.name]
            continue
        env_name = PREFIX + setting.name.upper()
        if env_name in env:
            values[setting.name] = setting.cast(setting.name, env[env_name])
        elif setting.name in file_values:
            raw = file_values[setting.name]
            if isinstance(raw, list):
                raw = json.dumps(raw) if raw and isinstance(raw[0], dict) else ",".join(map(str, raw))
            values[setting.name] = setting.cast(setting.name, str(raw))
    _check_together(values)
    return Settings(**values)


def _check_together(values: Mapping[str, Any]) -> None:
    """Settings that only work in pairs."""
    if values.get("turn_urls") and not values.get("turn_secret"):
        raise SettingsError("turn_secret", "is needed with CLOUDEXPO_TURN_URLS (coturn's static-auth-secret)", "a long random string")
    if values.get("node_url") and not values.get("redis_url"):
        raise SettingsError("redis_url", "is needed with CLOUDEXPO_NODE_URL: nodes find a broadcast's origin in Redis", "redis://10.0.0.2:6379/0")
    if values.get("turn_secret") and not values.get("turn_urls"):
        raise SettingsError("turn_urls", "is needed with CLOUDEXPO_TURN_SECRET: the TURN servers to hand out", TURN_EXAMPLE)
    if values.get("egress_whip_token") and not values.get("egress_whip_url"):
        raise SettingsError("egress_whip_token", "is set but CLOUDEXPO_EGRESS_WHIP_URL is not: set where to re-publish", EGRESS_WHIP_EXAMPLE)
