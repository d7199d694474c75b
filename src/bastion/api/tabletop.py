"""REST routes of tabletop exercises (issue 12, section 6). Thin: one public function of
the incidents room per route; the actor is always the token's identity.

Reading (scenarios, a session) needs ``read``; starting a session, recording a decision,
advancing the clock and recording the after-action report need ``write``. Over the API a
scenario is a shipped one (by id) or a YAML document in the body naming a shipped
playbook: the server never reads a path a caller names."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from bastion.access import Permission, Principal
from bastion.api._deps import Auth, get_ws, needs, read_json
from bastion.core.errors import InputError
from bastion.core.workspace import Workspace

router = APIRouter(tags=["tabletop"])
WS = Annotated[Workspace, Depends(get_ws)]
Writer = Annotated[Principal, Depends(needs(Permission.WRITE))]
MAX_BODY = 96 * 1024


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartBody(_Body):
    #: a shipped scenario id, or ``document`` (scenario YAML)
    scenario: str | None = Field(None, min_length=1, max_length=64)
    document: str | None = Field(None, min_length=1, max_length=64 * 1024)
    speed: float | None = Field(None, gt=0, le=3600)


class DecisionBody(_Body):
    decision: str = Field(min_length=1, max_length=2000)
    step: str | None = Field(None, min_length=1, max_length=64)


class AdvanceBody(_Body):
    by: str = Field(min_length=1, max_length=32)


@router.get("/tabletop/scenarios", summary="The shipped tabletop scenarios")
def list_scenarios(_: Auth) -> list[dict[str, Any]]:
    from bastion.incidents import shipped_scenarios

    return [s.model_dump(mode="json") for s in shipped_scenarios()]


def _start(ws: Workspace, body: StartBody, actor: str) -> dict[str, Any]:
    from bastion.incidents import get_scenario, parse_scenario, start_session

    if (body.scenario is None) == (body.document is None):
        raise InputError("name a shipped scenario or send a scenario document (one of them)")
    sc = (
        get_scenario(body.scenario, files=False)
        if body.scenario is not None
        else parse_scenario(body.document or "")
    )
    return start_session(ws, sc, actor=actor, speed=body.speed, files=False).to_dict()


@router.post("/tabletop/sessions", summary="Start a tabletop session (write)")
async def start_session(request: Request, ws: WS, p: Writer) -> dict[str, Any]:
    body = await read_json(request, StartBody, MAX_BODY)
    return await run_in_threadpool(_start, ws, body, p.actor)


@router.get("/tabletop/sessions/{session_id}", summary="A session: clock, injects, steps")
def get_session(session_id: str, ws: WS, _: Auth) -> dict[str, Any]:
    from bastion.incidents import tabletop_session

    return tabletop_session(ws, session_id).to_dict()


@router.post("/tabletop/sessions/{session_id}/decisions", summary="Record a decision (write)")
async def decide(session_id: str, request: Request, ws: WS, p: Writer) -> dict[str, Any]:
    from bastion.incidents import decide as do

    body = await read_json(request, DecisionBody, MAX_BODY)
    s = await run_in_threadpool(do, ws, session_id, body.decision, actor=p.actor, step=body.step)
    return s.to_dict()


@router.post("/tabletop/sessions/{session_id}/advance", summary="Jump the clock (write)")
async def advance(session_id: str, request: Request, ws: WS, p: Writer) -> dict[str, Any]:
    from bastion.incidents import advance as do

    body = await read_json(request, AdvanceBody, MAX_BODY)
    return (await run_in_threadpool(do, ws, session_id, body.by, actor=p.actor)).to_dict()


@router.post(
    "/tabletop/sessions/{session_id}/report",
    summary="Record the after-action report as evidence (write); ?format=md|html for the text",
    response_model=None,
)
def report(session_id: str, ws: WS, p: Writer, format: str = "json") -> Response | dict[str, Any]:
    from bastion.incidents import after_action

    if format not in ("json", "md", "html"):
        raise InputError("format: expected json, md or html")
    rep = after_action(ws, session_id, actor=p.actor)
    if format == "md":
        return Response(rep.markdown(), media_type="text/markdown; charset=utf-8")
    if format == "html":
        return Response(rep.html(), media_type="text/html; charset=utf-8")
    return rep.to_dict()
