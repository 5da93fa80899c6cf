"""The deployment files name only settings that exist."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from cloudexpo.settings import SETTINGS, load_settings

INFRA = Path(__file__).resolve().parent.parent / "infra"
KNOWN = {f"CLOUDEXPO_{s.name.upper()}" for s in SETTINGS}
# Names the deployment uses that are not settings of the app itself.
NOT_SETTINGS = {"CLOUDEXPO_DOMAIN"}


def names_in(text: str) -> set[str]:
    return set(re.findall(r"\bCLOUDEXPO_[A-Z0-9_]+\b", text))


def test_compose_file_parses_and_has_the_scaled_out_services() -> None:
    compose = yaml.safe_load((INFRA / "compose.yaml").read_text())
    services = set(compose["services"])
    assert {"postgres", "redis", "minio", "coturn", "app1", "app2", "proxy", "migrate"} <= services
    for node in ("app1", "app2"):
        env = compose["services"][node]["environment"]
        assert env["CLOUDEXPO_DATABASE_URL"].startswith("postgresql://")
        assert env["CLOUDEXPO_REDIS_URL"].startswith("redis://")
        assert env["CLOUDEXPO_STORAGE_URL"].startswith("s3://")
        assert env["CLOUDEXPO_NODE_URL"] == f"http://{node}:8000"  # where the other nodes pull its broadcasts


def test_the_proxy_sends_any_request_to_any_node() -> None:
    caddyfile = (INFRA / "Caddyfile").read_text()
    assert "lb_policy header" not in caddyfile and "lb_policy cookie" not in caddyfile  # no stickiness
    assert re.search(r"reverse_proxy app1:8000 app2:8000 \{", caddyfile)
    assert caddyfile.count("reverse_proxy") == 1  # WHIP/WHEP like everything else
    assert "lb_try_duration" in caddyfile and "health_uri /healthz" in caddyfile  # a dead node is skipped


def test_every_cloudexpo_name_in_infra_is_a_real_setting() -> None:
    for path in INFRA.iterdir():
        if path.is_file():
            unknown = names_in(path.read_text()) - KNOWN - NOT_SETTINGS
            assert not unknown, f"{path.name} uses names that are not settings: {sorted(unknown)}"


def test_sample_env_sets_the_values_every_node_must_share() -> None:
    sample = (INFRA / "cloudexpo.env.sample").read_text()
    for name in ("CLOUDEXPO_SECRET_KEY", "CLOUDEXPO_PUBLIC_URL", "CLOUDEXPO_ICE_HOSTS"):
        assert re.search(rf"^{name}=", sample, re.M), name


def conf_lines(text: str) -> dict[str, list[str]]:
    """coturn's ``name[=value]`` lines (comments dropped), value lists per name."""
    lines: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, value = line.partition("=")
            lines.setdefault(name.strip(), []).append(value.strip())
    return lines


def test_sample_env_is_valid_settings_and_its_turn_urls_match_coturn() -> None:
    sample = dict(re.findall(r"^(CLOUDEXPO_[A-Z0-9_]+)=(.*)$", (INFRA / "cloudexpo.env.sample").read_text(), re.M))
    settings = load_settings({k: v for k, v in sample.items() if k not in NOT_SETTINGS})
    assert settings.turn_secret and settings.turn_urls
    conf = conf_lines((INFRA / "turnserver.conf").read_text())
    ports = {"turn": conf["listening-port"][0], "turns": conf["tls-listening-port"][0]}
    for url in settings.turn_urls:
        scheme, _, rest = url.partition(":")
        assert rest.split("?")[0].rsplit(":", 1)[1] == ports[scheme], url
    assert {u.partition("?")[2] for u in settings.turn_urls if u.startswith("turn:")} == {"transport=udp", "transport=tcp"}


def test_coturn_checks_the_apps_minted_credentials_and_relays_to_public_peers_only() -> None:
    conf = conf_lines((INFRA / "turnserver.conf").read_text())
    assert "use-auth-secret" in conf and conf["realm"]
    # the secret comes from the same variable the app signs with; no static accounts
    assert not {"static-auth-secret", "lt-cred-mech", "user", "userdb"} & set(conf)
    coturn = yaml.safe_load((INFRA / "compose.yaml").read_text())["services"]["coturn"]
    assert "--static-auth-secret=${CLOUDEXPO_TURN_SECRET}" in coturn["command"]
    assert "-c" in coturn["command"] and "/etc/coturn/turnserver.conf" in coturn["command"]
    # production relays no loopback (coturn's default), multicast or private peers
    assert not {"allow-loopback-peers", "no-loopback-peers"} & set(conf)
    assert "no-multicast-peers" in conf and "no-tcp-relay" in conf
    denied = " ".join(conf["denied-peer-ip"])
    for private in ("10.0.0.0-", "172.16.0.0-", "192.168.0.0-", "169.254.0.0-", "fc00::-"):
        assert private in denied, private
    assert {"no-tlsv1", "no-tlsv1_1", "cert", "pkey"} <= set(conf)
