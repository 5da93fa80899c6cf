"""Reading request bodies the same way for forms and JSON."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from web.errors import ApiError

MAX_JSON = 1024 * 1024


async def read_input(request: Request) -> dict[str, Any]:
    """The body as a dict, from JSON or a form; 400/415 saying what to send instead."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type == "application/json":
        body = await request.body()
        if len(body) > MAX_JSON:
            raise ApiError(413, f"Send at most {MAX_JSON // 1024} KiB of JSON.")
        try:
            data = json.loads(body or b"{}")
        except ValueError as exc:
            raise ApiError(400, f"The body is not valid JSON: {exc}.") from None
        if not isinstance(data, dict):
            raise ApiError(400, "Send a JSON object, like {\"name\": \"...\"}.")
        return data
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}
    raise ApiError(415, "Send application/json or a form (application/x-www-form-urlencoded).")
