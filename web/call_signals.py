"""``call_signal`` over ``/ws``: the two browsers of a call negotiate their connection through the server.

The client sends::

    {"type": "call_signal", "call": 7, "kind": "offer" | "answer" | "candidate" | "ready" | "forwarder" | "connected",
     "sdp": "...", "candidate": {...}, "ref": ...}

and the other party of the call (only them: the message goes to their own bus
topic ``user.{id}``, which their pages follow on whichever node) receives::

    {"type": "call_signal", "call": 7, "from": <user id>, "kind": ..., "sdp": ..., "candidate": ...}

``ready`` says "I (re)joined: send me an offer" (the callee's page reloaded);
``forwarder`` says "direct did not connect: let us both go through the
server"; ``connected`` records that the direct path worked. Anyone not in the
call, or a call not active, is answered with an ``error`` (404 / 409). Offers
carry every candidate (non-trickle), so a call needs two or three messages.
"""

from __future__ import annotations

from typing import Any

from booths.engagement import calls
from booths.engagement.call_models import Call
from booths.errors import BoothsError
from cloudexpo.bus import EventBus
from cloudexpo.db import Database
from cloudexpo.messages import Said, message
from cloudexpo.permissions import Principal
from cloudexpo.values import parse_id

KINDS = ("offer", "answer", "candidate", "ready", "forwarder", "connected")
#: A signalling message may be bigger than other /ws messages: an SDP offer with every candidate.
MAX_SIGNAL = 12 * 1024
MAX_SDP = 10 * 1024

CALL_ID = message("call.signal_call", "'call' is the id of a call you are in.")
KIND = message("call.signal_kind", "'kind' is one of {kinds}.")
SDP = message("call.signal_sdp", "'sdp' is the session description, text of at most {limit} bytes.")
CANDIDATE = message("call.signal_candidate", "'candidate' is an ICE candidate object like {{\"candidate\": \"...\", \"sdpMid\": \"0\"}}.")


class SignalRefused(Exception):
    def __init__(self, status: int, said: Said | str) -> None:
        super().__init__(said)
        self.status, self.said = status, said


def _checked(data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The call id and what goes on to the other party, or :class:`SignalRefused` saying what to fix."""
    call_id = parse_id(data.get("call"))
    if call_id is None:
        raise SignalRefused(422, CALL_ID())
    kind = data.get("kind")
    if kind not in KINDS:
        raise SignalRefused(422, KIND(kinds=", ".join(KINDS)))
    out: dict[str, Any] = {"type": "call_signal", "call": call_id, "kind": kind}
    if kind in ("offer", "answer"):
        sdp = data.get("sdp")
        if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp.encode()) > MAX_SDP:
            raise SignalRefused(422, SDP(limit=MAX_SDP))
        out["sdp"] = sdp
    elif kind == "candidate":
        candidate = data.get("candidate")
        if candidate is not None and not (isinstance(candidate, dict) and isinstance(candidate.get("candidate", ""), str)):
            raise SignalRefused(422, CANDIDATE())
        out["candidate"] = {k: candidate[k] for k in ("candidate", "sdpMid", "sdpMLineIndex") if k in candidate} if candidate else None
    return call_id, out


async def relay(db: Database, bus: EventBus, who: Principal, data: dict[str, Any]) -> None:
    """Pass one signalling message to the other party of the call (:class:`SignalRefused` when it may not go)."""
    call_id, out = _checked(data)
    if who.user_id is None:
        raise SignalRefused(404, calls.NO_CALL(id=call_id))
    async with db.session() as session:
        call = await session.get(Call, call_id)
        if call is None:
            raise SignalRefused(404, calls.NO_CALL(id=call_id))
        try:
            other = calls.signal_target(call, who)
        except BoothsError as exc:
            raise SignalRefused(exc.status, exc.args[0] if exc.args else str(exc)) from None
        if out["kind"] in ("connected", "forwarder"):
            await calls.note_path(session, call_id, "direct" if out["kind"] == "connected" else "forwarder")
            await session.commit()
    await bus.publish(f"user.{other}", {**out, "from": who.user_id})
