"""REST routes of the threats room. Thin: each route calls one public function."""

from __future__ import annotations

import enum
import json
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bastion.access import Permission, Principal
from bastion.api._deps import Auth, get_ws, needs, read_body
from bastion.core.errors import InputError
from bastion.core.workspace import Workspace

if TYPE_CHECKING:
    from bastion.threats import QuestionnaireArg

router = APIRouter(tags=["threats"])
MAX_QUESTIONNAIRE_BYTES = 256 * 1024  # as the threats room's questionnaire loader
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
    summary="Threat-model a manifest (YAML body, or JSON with questionnaires) without storing it",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["manifest"],
                        "properties": {
                            "manifest": {"type": "string"},
                            "questionnaires": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["questionnaire"],
                                    "properties": {
                                        "asset": {"type": "string"},
                                        "questionnaire": {"type": "string"},
                                    },
                                },
                            },
                        },
                    }
                },
            },
        }
    },
)
async def model(
    request: Request, ws: WS, _p: Annotated[Principal, Depends(needs(Permission.WRITE))]
) -> dict[str, Any]:
    """Needs write: the house rule (tests/api) is that every POST denies viewers.

    A JSON body ``{"manifest": YAML, "questionnaires": [{"asset": ID, "questionnaire":
    YAML}]}`` adds third-party questionnaires (their TP-* findings join the model)."""
    from bastion.threats import model_text, parse_questionnaire

    limit = ws.settings.max_manifest_bytes
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("application/json"):
        body = await read_body(request, limit)
        return model_text(body, source="request body", workspace=ws, max_bytes=limit).to_dict()
    raw = await read_body(request, limit + 16 * MAX_QUESTIONNAIRE_BYTES)
    try:
        doc = json.loads(raw)
    except ValueError:
        raise InputError('request body: not JSON; fix: send {"manifest": YAML}') from None
    items = doc.get("questionnaires", []) if isinstance(doc, dict) else None
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("manifest"), str)
        or not isinstance(items, list)
        or len(items) > 16
        or not all(isinstance(q, dict) and isinstance(q.get("questionnaire"), str) for q in items)
    ):
        raise InputError(
            'request body: expected {"manifest": YAML, "questionnaires": [{"asset": ID, '
            '"questionnaire": YAML}] (at most 16)}; fix: send that shape'
        )
    qs: list[QuestionnaireArg] = [
        (
            q.get("asset") if isinstance(q.get("asset"), str) else None,
            parse_questionnaire(q["questionnaire"], f"request body: questionnaires[{i}]"),
        )
        for i, q in enumerate(items)
    ]
    return model_text(
        doc["manifest"], source="request body", questionnaires=qs, workspace=ws, max_bytes=limit
    ).to_dict()


@router.get("/threats/rules", summary="The threat rule catalog")
def rules(_p: Auth) -> list[dict[str, Any]]:
    from bastion.threats import builtin_rules, rule_catalog

    return rule_catalog(builtin_rules())


@router.get("/systems/{system_id}/threats", summary="Threat model of a stored system")
def system_threats(system_id: str, ws: WS, _p: Auth) -> dict[str, Any]:
    from bastion.threats import system_threats as run

    return run(ws, system_id).to_dict()


@router.get(
    "/systems/{system_id}/threats/suppressions",
    summary="Accepted threats of a stored system (from its latest recorded threat model)",
)
def system_suppressions(system_id: str, ws: WS, _p: Auth) -> dict[str, Any]:
    from bastion.threats import system_threats as run

    m = run(ws, system_id)
    return {"system": m.system_id, "suppressions": m.suppression_rows()}


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
