"""Log lines carry the request id; JSON logs are one object per line."""

from __future__ import annotations

import json
import logging

import pytest

from cloudexpo.logs import JsonFormatter, configure_logging, request_id


def test_json_lines_carry_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "info")
    token = request_id.set("req-42")
    try:
        logging.getLogger("cloudexpo.test").info("booth %s opened", "1A-001")
    finally:
        request_id.reset(token)
        configure_logging("text", "warning")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["message"] == "booth 1A-001 opened"
    assert record["request_id"] == "req-42"
    assert record["level"] == "info"
    assert record["logger"] == "cloudexpo.test"


def test_exceptions_are_kept_in_the_json_record() -> None:
    try:
        raise ValueError("bad thing")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    out = json.loads(JsonFormatter().format(record))
    assert "ValueError: bad thing" in out["exception"]


async def test_access_log_names_the_request(client: object, caplog: pytest.LogCaptureFixture) -> None:
    from tests.conftest import Client

    assert isinstance(client, Client)
    with caplog.at_level(logging.INFO, logger="cloudexpo.access"):
        response = await client.get("/healthz", headers={"X-Request-ID": "trace-7"})
    assert response.status_code == 200
    assert any("GET /healthz 200" in r.getMessage() for r in caplog.records)
