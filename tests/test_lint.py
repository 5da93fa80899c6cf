"""The project is ruff and mypy clean (settings in pyproject.toml); CI keeps it that way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=280
    )


@pytest.mark.parametrize(
    "command",
    [("ruff", "check", "."), ("mypy",)],
    ids=["ruff", "mypy"],
)
def test_clean(command: tuple[str, ...]) -> None:
    result = run(*command)
    assert result.returncode == 0, (
        f"`{' '.join(command)}` exited {result.returncode}:\n{result.stdout}{result.stderr}"
    )
