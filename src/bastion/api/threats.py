"""REST routes of the threats room. Thin: each route calls one public function."""

from __future__ import annotations

import enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bastion.access import Permission, Principal
from bastion.api._deps import Auth, get_ws, needs, read_body
from bastion.core.workspace import Workspace

router = APIRouter(tags=["threats"])
WS = Annotated[Workspace, Depends(get_ws)]


class DiagramFormat(enum.StrEnum):
    SVG = "svg"
    DOT = "dot"
    MERMAID = "mermaid"


_MEDIA = {
    DiagramFormat.SVG: "image/svg+xml",
    DiagramFormat.DOT: "text/vnd.graphviz; charset=utf-8",
    DiagramFormat.MERMAID: "text/plain; charset=utf-8",
}


@router.post(
    "/threats/model",
    summary="Threat-model a manifest (YAML body) without storing it",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/yaml": {"schema": {"type": "string"}}},
        }
    },
)
async def model(
    request: Request, ws: WS, _p: Annotated[Principal, Depends(needs(Permission.WRITE))]
) -> dict[str, Any]:
    """Needs write: the house rule (tests/api) is that every POST denies viewers."""
    from bastion.threats import model_text

    limit = ws.settings.max_manifest_bytes
    body = await read_body(request, limit)
    return model_text(body, source="request body", workspace=ws, max_bytes=limit).to_dict()


@router.get("/threats/rules", summary="The threat rule catalog")
def rules(_p: Auth) -> list[dict[str, Any]]:
    from bastion.threats import builtin_rules, rule_catalog

    return rule_catalog(builtin_rules())


@router.get("/systems/{system_id}/threats", summary="Threat model of a stored system")
def system_threats(system_id: str, ws: WS, _p: Auth) -> dict[str, Any]:
    from bastion.threats import system_threats as run

    return run(ws, system_id).to_dict()


@router.get("/systems/{system_id}/threats/diagram", summary="Data-flow diagram of a stored system")
def system_diagram(
    system_id: str, ws: WS, _p: Auth, format: DiagramFormat = DiagramFormat.SVG
) -> Response:
    from bastion.threats import render_dot, render_mermaid, render_svg, system_threats

    m = system_threats(ws, system_id)
    render = {
        DiagramFormat.SVG: render_svg,
        DiagramFormat.DOT: render_dot,
        DiagramFormat.MERMAID: render_mermaid,
    }[format]
    return Response(
        render(m),
        media_type=_MEDIA[format],
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )
