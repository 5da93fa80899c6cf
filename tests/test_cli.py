"""The `cloudexpo` command: help everywhere, one clear line for user errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner

from cloudexpo.cli import cli
from tests.conftest import free_port


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in list(os.environ):
        if name.startswith("CLOUDEXPO_") and not name.startswith("CLOUDEXPO_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CLOUDEXPO_DATA_DIR", str(tmp_path / "data"))
    return CliRunner()


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, command in group.commands.items():
        out.append((*prefix, name))
        if isinstance(command, click.Group):
            out.extend(all_commands(command, (*prefix, name)))
    return out


def test_every_command_has_useful_help(runner: CliRunner) -> None:
    commands = all_commands(cli)
    assert {("serve",), ("demo",), ("migrate",), ("check",), ("user", "add"), ("user", "list")} <= set(commands)
    for path in commands:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Usage:" in result.output
        summary = result.output.split("\n\n")[1].strip()
        assert len(summary) > 15, f"{' '.join(path)} --help says too little: {summary!r}"


def test_every_command_is_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for path in all_commands(cli):
        command = cli.commands[path[0]]
        if isinstance(command, click.Group) and len(path) == 1:
            continue
        assert f"cloudexpo {' '.join(path)}" in readme, path


def test_a_bad_setting_is_one_line_and_exit_code_2(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["check"], env={"CLOUDEXPO_PORT": "eighty"})
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == ["cloudexpo: CLOUDEXPO_PORT: 'eighty' is not a whole number (example: 8000)"]
    assert "Traceback" not in result.output


def test_a_database_that_does_not_answer_is_one_line(runner: CliRunner) -> None:
    port = free_port()
    result = runner.invoke(cli, ["migrate"], env={"CLOUDEXPO_DATABASE_URL": f"postgresql://nobody@127.0.0.1:{port}/x"})
    assert result.exit_code == 3
    assert result.output.startswith("cloudexpo: database postgresql+asyncpg://nobody@127.0.0.1")
    assert "does not answer" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_check_reports_each_service(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["check"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^database\s+sqlite\+aiosqlite:///.*cloudexpo\.db\s+ok$", result.output, re.M)
    assert re.search(r"^storage\s+local: .*objects\s+ok$", result.output, re.M)
    assert re.search(r"^bus\s+in-process\s+ok$", result.output, re.M)
    dead = runner.invoke(cli, ["check"], env={"CLOUDEXPO_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert dead.exit_code == 3
    assert "bus" in dead.output and "FAILED" in dead.output


def test_user_add_and_list(runner: CliRunner) -> None:
    added = runner.invoke(cli, ["user", "add", "mod@example.org", "--role", "moderator", "--password-stdin"], input="a good password\n")
    assert added.exit_code == 0, added.output
    assert "Created moderator mod@example.org" in added.output
    again = runner.invoke(cli, ["user", "add", "mod@example.org", "--password-stdin"], input="a good password\n")
    assert again.exit_code == 1
    assert "already exists" in again.output
    weak = runner.invoke(cli, ["user", "add", "x@example.org", "--password-stdin"], input="short\n")
    assert weak.exit_code == 1 and "at least 8" in weak.output
    staff = runner.invoke(cli, ["user", "add", "staff@example.org", "--role", "exhibitor", "--password-stdin"], input="a good password\n")
    assert staff.exit_code == 2 and "--exhibitor" in staff.output
    listed = runner.invoke(cli, ["user", "list", "--json"])
    rows = json.loads(listed.output)
    assert [(r["email"], r["role"]) for r in rows] == [("mod@example.org", "moderator")]


def test_wrong_arguments_are_usage_errors(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["user", "add", "a@example.org", "--role", "king"])
    assert result.exit_code == 2
    assert "Invalid value for '--role'" in result.output
    assert runner.invoke(cli, ["serve", "--port", "0"]).exit_code == 2


def test_settings_lists_every_variable(runner: CliRunner) -> None:
    from cloudexpo.settings import SETTINGS

    result = runner.invoke(cli, ["settings", "--json"])
    names = {row["variable"] for row in json.loads(result.output)}
    assert names == {f"CLOUDEXPO_{s.name.upper()}" for s in SETTINGS}


def test_demo_starts_a_server_that_is_ready(tmp_path: Path) -> None:
    """The README's first command, minus the install: the server answers /healthz and /readyz."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDEXPO_") or k.startswith("CLOUDEXPO_TEST_")}
    env.update({"CLOUDEXPO_DATA_DIR": str(tmp_path / "data"), "CLOUDEXPO_PORT": str(port), "CLOUDEXPO_ICE_HOSTS": "127.0.0.1"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudexpo.cli", "demo"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output = []
        deadline = time.monotonic() + 240
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Press Ctrl+C to stop" in line:
                break
        text = "".join(output)
        assert "Cloud Expo demo is ready" in text, text[-3000:]
        assert f"http://127.0.0.1:{port}" in text
        assert "moderator@demo.cloudexpo" in text
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(base + "/healthz", timeout=10).status_code == 200
        ready = httpx.get(base + "/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert httpx.get(base + "/", timeout=10).status_code == 200
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
