"""The JSON of who is asking (``/api/me``, sign-up and sign-in answers)."""

from __future__ import annotations

from typing import Any

from cloudexpo.permissions import Principal


def user_json(p: Principal) -> dict[str, Any]:
    return {
        "id": p.user_id,
        "email": p.email,
        "display_name": p.display_name,
        "role": p.role.value,
        "exhibitor_id": p.exhibitor_id,
        "signed_in": p.signed_in,
    }
