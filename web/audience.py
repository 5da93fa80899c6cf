"""What the Q&A and polls panel (live/audience_panel.html) is given, on the watch page, the presenter's
console and the control room; its lists load from the JSON API (web/routes/qa.py)."""

from __future__ import annotations

from typing import Any

from cloudexpo.permissions import Principal
from streaming.audience import runs
from streaming.models import Slot


def audience_panel(slot: Slot, who: Principal, muted: bool, *, own_socket: bool = False) -> dict[str, Any]:
    """``runs``: the presenters' and moderators' tools; ``own_socket``: the page has no /ws of its own."""
    return {"slot_id": slot.id, "runs": runs(who, slot), "moderated": slot.qa_moderated, "signed_in": who.signed_in,
            "moderator": who.is_moderator, "muted": muted, "own_socket": own_socket}
