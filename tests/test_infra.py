"""The deployment files name only settings that exist."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from cloudexpo.settings import SETTINGS

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


def test_every_cloudexpo_name_in_infra_is_a_real_setting() -> None:
    for path in INFRA.iterdir():
        if path.is_file():
            unknown = names_in(path.read_text()) - KNOWN - NOT_SETTINGS
            assert not unknown, f"{path.name} uses names that are not settings: {sorted(unknown)}"


def test_sample_env_sets_the_values_every_node_must_share() -> None:
    sample = (INFRA / "cloudexpo.env.sample").read_text()
    for name in ("CLOUDEXPO_SECRET_KEY", "CLOUDEXPO_PUBLIC_URL", "CLOUDEXPO_ICE_HOSTS"):
        assert re.search(rf"^{name}=", sample, re.M), name
