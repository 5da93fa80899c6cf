"""Q&A and polls at a launch over JSON.

Everyone who may see the slot reads its questions and polls; signed-in users
ask, upvote (a second vote takes the first back) and vote in polls; the
slot's presenters and moderators (:func:`streaming.audience.runs`) approve,
answer, pin and dismiss questions and make, open, close and delete polls;
moderators delete questions. Every change goes out on the bus
(``question``, ``question_removed``, ``poll``, ``poll_removed`` on the
slot's topic; ``question_staff``, ``poll_staff``, ``qa_settings`` on its
staff topic), so pages on every node update live over ``/ws``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from streaming import replays
from streaming.audience import runs
from streaming.polls import Polls, polls_timeline
from streaming.qa import Questions, question_json, questions_timeline
from streaming.qa_models import PollState
from web.context import principal, services, streaming_runtime
from web.forms import read_input
from web.params import path_int


def _questions(request: Request) -> Questions:
    return streaming_runtime(request).questions


def _polls(request: Request) -> Polls:
    return streaming_runtime(request).polls


async def api_questions(request: Request) -> Response:
    who = principal(request)
    slot_id = path_int(request, "slot_id")
    async with services(request).db.session() as db:
        slot, rows, voted = await _questions(request).listing(db, who, slot_id)
    staff = runs(who, slot)
    return JSONResponse({
        "slot": slot_id, "moderated": slot.qa_moderated, "runs": staff,
        "questions": [{**question_json(q, staff=staff), "voted": q.id in voted} for q in rows],
    })


async def api_ask(request: Request) -> Response:
    data = await read_input(request)
    async with services(request).db.session() as db:
        question = await _questions(request).ask(
            db, principal(request), path_int(request, "slot_id"), data.get("text", ""), anonymous=data.get("anonymous") is True
        )
    return JSONResponse(question_json(question, staff=True), status_code=201)


async def api_vote_question(request: Request) -> Response:
    async with services(request).db.session() as db:
        question, voted = await _questions(request).vote(db, principal(request), path_int(request, "question_id"))
    return JSONResponse({**question_json(question), "voted": voted})


async def api_change_question(request: Request) -> Response:
    data = await read_input(request)
    async with services(request).db.session() as db:
        question = await _questions(request).change(db, principal(request), path_int(request, "question_id"), data)
    return JSONResponse(question_json(question, staff=True))


async def api_delete_question(request: Request) -> Response:
    async with services(request).db.session() as db:
        await _questions(request).delete(db, principal(request), path_int(request, "question_id"))
    return Response(status_code=204)


async def api_qa_settings(request: Request) -> Response:
    data = await read_input(request)
    async with services(request).db.session() as db:
        slot = await _questions(request).set_moderated(db, principal(request), path_int(request, "slot_id"), data.get("moderated"))
    return JSONResponse({"slot": slot.id, "moderated": slot.qa_moderated})


async def api_polls(request: Request) -> Response:
    slot_id = path_int(request, "slot_id")
    async with services(request).db.session() as db:
        polls = await _polls(request).listing(db, principal(request), slot_id)
    return JSONResponse({"slot": slot_id, "polls": polls})


async def api_create_poll(request: Request) -> Response:
    data = await read_input(request)
    async with services(request).db.session() as db:
        poll = await _polls(request).create(db, principal(request), path_int(request, "slot_id"), data)
    return JSONResponse(poll, status_code=201)


async def api_open_poll(request: Request) -> Response:
    async with services(request).db.session() as db:
        poll = await _polls(request).move(db, principal(request), path_int(request, "poll_id"), PollState.OPEN)
    return JSONResponse(poll)


async def api_close_poll(request: Request) -> Response:
    async with services(request).db.session() as db:
        poll = await _polls(request).move(db, principal(request), path_int(request, "poll_id"), PollState.CLOSED)
    return JSONResponse(poll)


async def api_delete_poll(request: Request) -> Response:
    async with services(request).db.session() as db:
        await _polls(request).remove(db, principal(request), path_int(request, "poll_id"))
    return Response(status_code=204)


async def api_vote_poll(request: Request) -> Response:
    data = await read_input(request)
    async with services(request).db.session() as db:
        poll = await _polls(request).vote(db, principal(request), path_int(request, "poll_id"), data.get("choices"))
    return JSONResponse(poll)


async def api_replay_audience(request: Request) -> Response:
    """The replay's questions and polls, each with its place in the replay (like its chat)."""
    runtime = streaming_runtime(request)
    async with services(request).db.session() as db:
        _, replay = await replays.get_replay(db, path_int(request, "slot_id"), principal(request))
        clock = await replays.replay_clock(runtime.replay_files, replay)
        questions = await questions_timeline(db, replay.slot_id, clock)
        polls = await polls_timeline(db, runtime.polls, replay.slot_id, clock)
    return JSONResponse({"questions": questions, "polls": polls}, headers={"Cache-Control": "private, max-age=10"})


routes: list[BaseRoute] = [
    Route("/api/slots/{slot_id:int}/questions", api_questions, methods=["GET"]),
    Route("/api/slots/{slot_id:int}/questions", api_ask, methods=["POST"]),
    Route("/api/slots/{slot_id:int}/qa", api_qa_settings, methods=["PUT"]),
    Route("/api/questions/{question_id:int}/vote", api_vote_question, methods=["POST"]),
    Route("/api/questions/{question_id:int}", api_change_question, methods=["PATCH"]),
    Route("/api/questions/{question_id:int}", api_delete_question, methods=["DELETE"]),
    Route("/api/slots/{slot_id:int}/polls", api_polls, methods=["GET"]),
    Route("/api/slots/{slot_id:int}/polls", api_create_poll, methods=["POST"]),
    Route("/api/polls/{poll_id:int}/open", api_open_poll, methods=["POST"]),
    Route("/api/polls/{poll_id:int}/close", api_close_poll, methods=["POST"]),
    Route("/api/polls/{poll_id:int}/vote", api_vote_poll, methods=["POST"]),
    Route("/api/polls/{poll_id:int}", api_delete_poll, methods=["DELETE"]),
    Route("/api/replays/{slot_id:int}/audience", api_replay_audience, methods=["GET"]),
]
