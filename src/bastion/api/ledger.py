"""Ledger routes: entries, checkpoints, proofs, verification."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse

from bastion.api._deps import Auth, get_ws
from bastion.core.errors import NotFoundError
from bastion.core.ledger import ledger_key
from bastion.core.workspace import Workspace

router = APIRouter(tags=["ledger"], prefix="/ledger")
WS = Annotated[Workspace, Depends(get_ws)]


@router.get("/entries", summary="Ledger events, newest first")
def entries(
    ws: WS,
    _p: Auth,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    return [
        e.to_dict()
        for e in ws.ledger.entries(start=offset, limit=limit, kind=kind, newest_first=True)
    ]


@router.get("/entries/{event_id}", summary="One ledger event")
def entry(event_id: str, ws: WS, _p: Auth) -> dict[str, Any]:
    return ws.ledger.get(event_id).to_dict()


@router.get(
    "/checkpoint",
    summary="The latest signed checkpoint (C2SP signed note)",
    response_class=PlainTextResponse,
)
def checkpoint(ws: WS, _p: Auth) -> PlainTextResponse:
    note = ws.ledger.latest_checkpoint()
    if note is None:
        raise NotFoundError("the ledger has no checkpoint yet")
    return PlainTextResponse(note, media_type="text/plain; charset=utf-8")


@router.get(
    "/key",
    summary="The ledger's public verifier key (C2SP name+hash+key) and PEM public key",
)
def key(ws: WS, _p: Auth) -> dict[str, Any]:
    """Public: what a witness configures to check checkpoints without Bastion installed."""
    return ledger_key(ws.ledger).to_dict()


@router.get("/proof/{event_id}", summary="Inclusion proof of an event against a signed checkpoint")
def proof(
    event_id: str, ws: WS, _p: Auth, tree_size: Annotated[int | None, Query(ge=1)] = None
) -> dict[str, Any]:
    return ws.ledger.inclusion_proof(event_id, tree_size).to_dict()


@router.get("/consistency", summary="Consistency proof between two signed checkpoints")
def consistency(
    ws: WS,
    _p: Auth,
    old_size: Annotated[int, Query(ge=1)],
    new_size: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    return ws.ledger.consistency_proof(old_size, new_size)


@router.get("/verify", summary="Recompute the tree and check every checkpoint")
def verify(ws: WS, _p: Auth) -> dict[str, Any]:
    return ws.ledger.verify().to_dict()
