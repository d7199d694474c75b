"""REST routes for privacy governance (issue 9 sections 4, 7-10): minimization, training-
data validation, lineage, retention and privacy impact assessments.

Thin: each route calls one public function of the privacy room. Remote callers upload
content (size-limited before it is held, staged in a server-chosen temporary directory);
they never name a server path. Reads need ``read``, anything recorded needs ``write``.
"""

from __future__ import annotations

import base64
import binascii
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from bastion.access import Permission, Principal
from bastion.api._deps import HeavyWork, get_ws, needs, read_json
from bastion.core.errors import InputError
from bastion.core.workspace import Workspace

__all__ = ["router"]

router = APIRouter(tags=["privacy"])
WS = Annotated[Workspace, Depends(get_ws)]
Writer = Annotated[Principal, Depends(needs(Permission.WRITE))]
Reader = Annotated[Principal, Depends(needs(Permission.READ))]

MAX_UPLOAD_BODY = 64 * 1024 * 1024
#: Importance runs and validations at once, in the thread pool; more are refused with 503.
WORK = HeavyWork("minimization and validation runs", limit=2, retry_after=10)
_NAME = r"^[\w.\-]{1,100}$"


def _b64(field: str, value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{field}: not base64") from None


class MinimizeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_base64: str
    model_name: str = Field("model.pkl", pattern=_NAME)
    data_csv: str = Field(max_length=32 * 1024 * 1024)
    target: str = Field(min_length=1, max_length=200)
    features: list[str] | None = Field(None, max_length=200)
    metric: str = Field("accuracy", pattern=r"^(accuracy|log_loss)$")
    tolerance: float = Field(0.01, ge=0.0, le=1.0)
    repeats: int = Field(5, ge=1, le=100)
    bootstrap: int = Field(1000, ge=100, le=10_000)
    drop_column: bool = True
    seed: int = Field(0, ge=0)
    ref: str | None = Field(None, pattern=r"^[\w.:@/\-]{1,200}$")


@router.post(
    "/data/minimize",
    summary="Which features an uploaded model needs of uploaded data (privacy.minimization)",
)
async def minimize(request: Request, ws: WS, p: Writer) -> dict[str, Any]:
    """The model (scikit-learn pickle or ONNX, base64) is loaded only when the integrity
    scanner calls it safe; the CSV travels as text. Answers the report and the evidence."""
    from bastion.privacy.minimize import minimize as run

    body: MinimizeBody = await read_json(request, MinimizeBody, MAX_UPLOAD_BODY)
    model = _b64("model_base64", body.model_base64)

    def work() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="bastion-min-") as tmp:
            mp, dp = Path(tmp) / body.model_name, Path(tmp) / "data.csv"
            mp.write_bytes(model)
            dp.write_text(body.data_csv, encoding="utf-8")
            rep = run(
                ws, mp, dp, body.target, features=body.features, metric=body.metric,
                tolerance=body.tolerance, repeats=body.repeats, bootstrap=body.bootstrap,
                drop_column=body.drop_column, seed=body.seed, ref=body.ref or body.model_name,
                actor=p.actor,
            )  # fmt: skip
            return rep.to_dict()

    result: dict[str, Any] = await WORK.run(work)
    return result


class ValidateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data_csv: str = Field(max_length=32 * 1024 * 1024)
    constraints: str = Field(max_length=512 * 1024)
    reference_csv: str | None = Field(None, max_length=32 * 1024 * 1024)
    ref: str | None = Field(None, pattern=r"^[\w.:@/\-]{1,200}$")


@router.post(
    "/data/validate",
    summary="Validate an uploaded training batch against constraints (data.validation)",
)
async def validate(request: Request, ws: WS, p: Writer) -> dict[str, Any]:
    """Body ``{"data_csv", "constraints": YAML, "reference_csv", "ref"}``: the schema and
    distribution checks, recorded; ``verdict`` is ``fail`` for a batch to refuse."""
    from bastion.privacy.validate import validate_file

    body: ValidateBody = await read_json(request, ValidateBody, MAX_UPLOAD_BODY)

    def work() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="bastion-val-") as tmp:
            d, c = Path(tmp) / "data.csv", Path(tmp) / "constraints.yaml"
            d.write_text(body.data_csv, encoding="utf-8")
            c.write_text(body.constraints, encoding="utf-8")
            r = None
            if body.reference_csv is not None:
                r = Path(tmp) / "reference.csv"
                r.write_text(body.reference_csv, encoding="utf-8")
            rep = validate_file(ws, d, c, reference=r, ref=body.ref or "upload", actor=p.actor)
            return rep.to_dict()

    result: dict[str, Any] = await WORK.run(work)
    return result


# --- lineage -------------------------------------------------------------------------------

_DATASET_Q = Query(min_length=1, max_length=1100, description="NAMESPACE:NAME or a name")
_DIRECTION = Query(pattern=r"^(upstream|downstream|both)$")


@router.get("/data/lineage", summary="The lineage graph (around a dataset, or all of it)")
def lineage(
    ws: WS,
    _p: Reader,
    dataset: Annotated[str | None, _DATASET_Q] = None,
    direction: Annotated[str, _DIRECTION] = "both",
    depth: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    from bastion.privacy.lineage import lineage_graph

    return lineage_graph(ws, dataset, direction=direction, depth=depth).to_dict()  # type: ignore[arg-type]


@router.get(
    "/data/lineage/svg",
    summary="The lineage graph as SVG",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
def lineage_svg(
    ws: WS,
    _p: Reader,
    dataset: Annotated[str | None, _DATASET_Q] = None,
    direction: Annotated[str, _DIRECTION] = "both",
) -> Response:
    from bastion.privacy.lineage import graph_svg, lineage_graph

    g = lineage_graph(ws, dataset, direction=direction)  # type: ignore[arg-type]
    svg = graph_svg(g, f"Lineage of {dataset}" if dataset else "Lineage")
    return Response(svg, media_type="image/svg+xml")


@router.get("/data/lineage/impacted", summary="Every model downstream of a dataset")
def lineage_impacted(
    ws: WS, _p: Reader, dataset: Annotated[str, Query(min_length=1, max_length=1100)]
) -> dict[str, Any]:
    from bastion.privacy.lineage import impacted

    return {"dataset": dataset, "models": impacted(ws, dataset)}


@router.get("/data/lineage/events", summary="Stored OpenLineage run events, in order")
def lineage_events(
    ws: WS,
    _p: Reader,
    since: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    from bastion.privacy.lineage import list_events

    evs = list_events(ws, since=since, limit=limit)
    return {"events": [e.to_dict() for e in evs], "last_seq": evs[-1].seq if evs else since}


@router.post(
    "/data/lineage",
    summary="Receive an OpenLineage RunEvent (the OpenLineage HTTP transport's body)",
)
async def lineage_ingest(request: Request, ws: WS, p: Writer) -> dict[str, Any]:
    """The body is one RunEvent (1 MiB at most), validated against the RunEvent schema."""
    import json

    from bastion.api._deps import read_body
    from bastion.privacy.lineage import record_event

    raw = await read_body(request, 1024 * 1024)
    try:
        doc = json.loads(raw)
    except ValueError:
        raise InputError("request body: not JSON") from None
    st = record_event(ws, doc, actor=p.actor)
    return {"seq": st.seq, "run_id": st.run_id, "digest": st.digest}


# --- retention -----------------------------------------------------------------------------

Admin = Annotated[Principal, Depends(needs(Permission.ADMIN))]


class RetentionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: str = Field(max_length=256 * 1024)
    as_of: datetime | None = None
    dry_run: bool = False


class HoldBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field("dataset", max_length=32)
    ref: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=3, max_length=500)


class ErasureBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identifier: str = Field(min_length=3, max_length=500)
    namespaces: list[str] = Field(default_factory=list, max_length=50)
    hash_keys: list[str] = Field(default_factory=lambda: ["default"], max_length=50)
    jurisdiction: str | None = Field(None, max_length=20)
    dry_run: bool = False


@router.get("/data/retention/items", summary="Items under retention (files registered by CLI)")
def retention_items(ws: WS, _p: Reader, disposed: bool = False) -> dict[str, Any]:
    from bastion.privacy.retention import list_items

    return {"items": [i.to_dict() for i in list_items(ws, include_disposed=disposed)]}


@router.post("/data/retention/plan", summary="What a retention sweep would do (changes nothing)")
async def retention_plan(request: Request, ws: WS, _p: Writer) -> dict[str, Any]:
    from bastion.privacy.retention import parse_policies, plan_retention

    body: RetentionBody = await read_json(request, RetentionBody, 512 * 1024)
    pol = parse_policies(body.policy)
    return {"plan": [e.to_dict() for e in plan_retention(ws, pol, now=body.as_of)]}


@router.post(
    "/data/retention/apply",
    summary="Run the retention sweep: delete or anonymize expired items (admin with MFA)",
)
async def retention_apply(request: Request, ws: WS, p: Admin) -> dict[str, Any]:
    from bastion.privacy.retention import apply_retention, parse_policies

    body: RetentionBody = await read_json(request, RetentionBody, 512 * 1024)
    pol = parse_policies(body.policy)
    run = apply_retention(ws, pol, now=body.as_of, dry_run=body.dry_run, actor=p.actor)
    return run.to_dict()


@router.post("/data/retention/holds", summary="Place a legal hold on an item")
async def retention_hold(request: Request, ws: WS, p: Writer) -> dict[str, Any]:
    from bastion.privacy.retention import set_hold

    body: HoldBody = await read_json(request, HoldBody)
    return set_hold(ws, body.kind, body.ref, reason=body.reason, actor=p.actor).to_dict()


@router.delete(
    "/data/retention/holds/{kind}/{ref:path}", summary="Lift a legal hold (admin with MFA)"
)
def retention_release(kind: str, ref: str, ws: WS, p: Admin) -> dict[str, Any]:
    from bastion.privacy.retention import release_hold

    return release_hold(ws, kind[:32], ref[:200], actor=p.actor).to_dict()


@router.post(
    "/data/erasure",
    summary="Carry out an erasure request for a data subject (admin with MFA)",
)
async def erasure(request: Request, ws: WS, p: Admin) -> dict[str, Any]:
    """The identifier is used for the joins and never stored (the request keeps its keyed
    hash); answers what was removed and which models were trained on it."""
    from bastion.privacy.retention import erase_subject

    body: ErasureBody = await read_json(request, ErasureBody)
    r = erase_subject(
        ws, body.identifier, namespaces=body.namespaces, hash_keys=body.hash_keys,
        jurisdiction=body.jurisdiction, dry_run=body.dry_run, actor=p.actor,
    )  # fmt: skip
    return r.to_dict()


# --- privacy impact assessment -------------------------------------------------------------


class PiaBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    manifest: str = Field(max_length=2 * 1024 * 1024)
    answers: str | None = Field(None, max_length=256 * 1024)
    format: str = Field("markdown", pattern=r"^(markdown|html|json)$")


def _staged(tmp: str, name: str, text: str) -> Path:
    p = Path(tmp) / name
    p.write_text(text, encoding="utf-8")
    return p


@router.post(
    "/data/pia/questionnaire",
    summary="The PIA answers file, prefilled from a manifest and the evidence (YAML)",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {}}}},
)
async def pia_questionnaire(request: Request, ws: WS, _p: Writer) -> Response:
    from bastion.privacy.pia import questionnaire

    body: PiaBody = await read_json(request, PiaBody, 3 * 1024 * 1024)
    with tempfile.TemporaryDirectory(prefix="bastion-pia-") as tmp:
        text = questionnaire(ws, _staged(tmp, "system.yaml", body.manifest))
    return Response(text, media_type="application/yaml")


@router.post("/data/pia", summary="Score a PIA, record privacy.pia, return the report")
async def pia_report(request: Request, ws: WS, p: Writer) -> dict[str, Any]:
    """Body ``{"manifest": YAML, "answers": YAML, "format": "markdown"|"html"|"json"}``."""
    from bastion.privacy.pia import assess, render_html, render_markdown

    body: PiaBody = await read_json(request, PiaBody, 3 * 1024 * 1024)
    with tempfile.TemporaryDirectory(prefix="bastion-pia-") as tmp:
        m = _staged(tmp, "system.yaml", body.manifest)
        a_path = _staged(tmp, "answers.yaml", body.answers) if body.answers is not None else None
        a = assess(ws, m, a_path, actor=p.actor)
    doc = a.to_dict()
    if body.format == "markdown":
        doc["report"] = render_markdown(a)
    elif body.format == "html":
        doc["report"] = render_html(a)
    return doc
