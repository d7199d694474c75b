"""REST routes of the incidents room (incidents, playbooks, chain of custody). Thin: each
route calls one public function; the actor is always the token's identity.

Reading needs ``read``; opening, noting, completing steps and closing need ``write``;
running a playbook (it revokes tokens and rolls models back) needs ``approve`` or
``admin``, both with a current TOTP code."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from bastion.access import Permission, Principal
from bastion.api._deps import Auth, get_ws, needs, needs_any, read_json
from bastion.core.errors import InputError
from bastion.core.workspace import Workspace

router = APIRouter(tags=["incidents"])
WS = Annotated[Workspace, Depends(get_ws)]
Writer = Annotated[Principal, Depends(needs(Permission.WRITE))]
Responder = Annotated[Principal, Depends(needs_any(Permission.ADMIN, Permission.APPROVE))]
MAX_BODY = 256 * 1024
Scalar = str | int | float | bool


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenBody(_Body):
    title: str = Field(min_length=1, max_length=300)
    kind: str = Field("manual", min_length=1, max_length=64)
    severity: str = Field("high", max_length=16)
    owner: str = Field(min_length=1, max_length=200)
    params: dict[str, Scalar] = Field(default_factory=dict, max_length=50)
    links: list[tuple[str, str]] = Field(default_factory=list, max_length=200)
    #: a detection from 'monitor detect' instead of kind/severity/links
    detection: dict[str, Any] | None = None


class NoteBody(_Body):
    note: str = Field(min_length=1, max_length=4000)


class CloseBody(_Body):
    resolution: str = Field(min_length=1, max_length=4000)


class StepBody(_Body):
    note: str = Field(min_length=1, max_length=4000)


class RunBody(_Body):
    #: a shipped playbook id (files are for the CLI: the API never reads server paths)
    playbook: str = Field(min_length=1, max_length=64)
    params: dict[str, Scalar] = Field(default_factory=dict, max_length=50)


@router.get("/incidents", summary="Incidents, newest first")
def list_incidents(
    ws: WS, _: Auth, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    from bastion.incidents import list_incidents as do

    return [i.to_dict(full=False) for i in do(ws, status=status, limit=limit)]


@router.post("/incidents", summary="Open an incident (by hand or from a detection)")
async def open_incident(request: Request, ws: WS, p: Writer) -> dict[str, Any]:
    from bastion.incidents import open_from_detection, open_incident

    body = await read_json(request, OpenBody, MAX_BODY)
    if body.detection is not None:
        inc = await run_in_threadpool(
            open_from_detection, ws, body.detection, owner=body.owner, actor=p.actor,
            params=body.params,
        )  # fmt: skip
    else:
        inc = await run_in_threadpool(
            open_incident, ws, body.title, kind=body.kind, severity=body.severity,
            owner=body.owner, actor=p.actor, params=body.params, links=body.links,
        )  # fmt: skip
    return inc.to_dict()


@router.get("/incidents/playbooks", summary="The shipped playbooks")
def list_playbooks(_: Auth) -> list[dict[str, Any]]:
    from bastion.incidents import shipped_playbooks

    return [b.model_dump(mode="json", by_alias=True) for b in shipped_playbooks()]


@router.get("/incidents/{incident_id}", summary="An incident: links, steps, timeline")
def get_incident(incident_id: str, ws: WS, _: Auth) -> dict[str, Any]:
    from bastion.incidents import get_incident as do

    return do(ws, incident_id).to_dict()


@router.get(
    "/incidents/{incident_id}/timeline.svg",
    summary="The response chart: each step against its deadline (SVG)",
    response_class=Response,
)
def incident_svg(incident_id: str, ws: WS, _: Auth) -> Response:
    from bastion.incidents import get_incident as get
    from bastion.incidents import timeline_svg

    return Response(timeline_svg(get(ws, incident_id)), media_type="image/svg+xml")


@router.post("/incidents/{incident_id}/notes", summary="Add a note to the timeline")
async def add_note(incident_id: str, request: Request, ws: WS, p: Writer) -> dict[str, Any]:
    from bastion.incidents import add_note as do

    body = await read_json(request, NoteBody, MAX_BODY)
    return (await run_in_threadpool(do, ws, incident_id, body.note, actor=p.actor)).to_dict()


@router.post(
    "/incidents/{incident_id}/playbook-runs",
    summary="Run a shipped playbook on the incident (approve or admin, with MFA)",
)
async def run_playbook(incident_id: str, request: Request, ws: WS, p: Responder) -> dict[str, Any]:
    from bastion.incidents import run_playbook, shipped_playbooks

    body = await read_json(request, RunBody, MAX_BODY)
    books = {b.id: b for b in shipped_playbooks()}
    if body.playbook not in books:
        raise InputError(f"playbook: {body.playbook!r} is not a shipped playbook id")
    book = books[body.playbook]
    from bastion.incidents import RunOptions

    # remote callers name no server files: freeze_evidence paths stay under the check roots
    res = await run_in_threadpool(
        run_playbook, ws, incident_id, book, actor=p.actor, params=body.params,
        options=RunOptions(confine_paths=True),
    )  # fmt: skip
    return res.to_dict()


@router.post("/incidents/{incident_id}/steps/{step}/complete", summary="Complete a pending step")
async def complete_step(
    incident_id: str, step: str, request: Request, ws: WS, p: Writer
) -> dict[str, Any]:
    from bastion.incidents import complete_step as do

    body = await read_json(request, StepBody, MAX_BODY)
    inc = await run_in_threadpool(do, ws, incident_id, step, actor=p.actor, note=body.note)
    return inc.to_dict()


@router.post("/incidents/{incident_id}/close", summary="Close an incident")
async def close_incident(incident_id: str, request: Request, ws: WS, p: Writer) -> dict[str, Any]:
    from bastion.incidents import close_incident as do

    body = await read_json(request, CloseBody, MAX_BODY)
    inc = await run_in_threadpool(do, ws, incident_id, resolution=body.resolution, actor=p.actor)
    return inc.to_dict()


@router.get("/custody/artifacts", summary="Artifacts under custody")
def list_artifacts(ws: WS, _: Auth, incident: str | None = None) -> list[dict[str, Any]]:
    from bastion.incidents import list_artifacts as do

    return [a.to_dict() for a in do(ws, incident_id=incident)]


@router.get("/custody/artifacts/{artifact_id}", summary="One artifact and its custody events")
def get_artifact(artifact_id: str, ws: WS, _: Auth) -> dict[str, Any]:
    from bastion.incidents import get_artifact as do

    return do(ws, artifact_id).to_dict()


@router.get("/custody/report", summary="The custody report (verifiable offline)")
def custody_report(
    ws: WS, _: Auth, artifact: str | None = None, incident: str | None = None
) -> dict[str, Any]:
    from bastion.incidents import custody_report as do

    return do(ws, artifact_id=artifact, incident_id=incident)


@router.post("/custody/verify", summary="Verify a chain of custody against the blob store")
def verify_custody(
    ws: WS, p: Writer, artifact: str | None = None, incident: str | None = None
) -> dict[str, Any]:
    from bastion.incidents import verify_custody as do

    return do(ws, artifact_id=artifact, incident_id=incident, actor=p.actor).to_dict()
