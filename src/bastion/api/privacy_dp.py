"""REST routes of differential privacy and synthetic data (``/api/v1/privacy/...``).

Thin: each route calls one public function of bastion.privacy.dp or .synthetic. Remote
callers send their values or CSV in the body (size-limited) and never name server paths;
no route lets a caller choose the noise seed. Reading a budget needs ``read``; a release or
a synthetic generation spends budget or records evidence and needs ``write``; setting a
budget is a privacy decision and needs ``admin`` or ``approve`` (with MFA).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from bastion.access import Permission, Principal
from bastion.api._deps import Auth, HeavyWork, get_ws, needs, needs_any, read_body
from bastion.core.errors import InputError
from bastion.core.workspace import Workspace

router = APIRouter(tags=["privacy"])
WS = Annotated[Workspace, Depends(get_ws)]
Writer = Annotated[Principal, Depends(needs(Permission.WRITE))]
Decider = Annotated[Principal, Depends(needs_any(Permission.ADMIN, Permission.APPROVE))]
MAX_RELEASE_BODY = 16 * 1024 * 1024
MAX_RELEASE_VALUES = 1_000_000
MAX_SYNTH_BODY = 16 * 1024 * 1024
MAX_SYNTH_ROWS = 200_000
#: Copula fits and privacy reports running at once; more are refused with 503.
SYNTHESES = HeavyWork("synthetic generations", limit=2, retry_after=10)
_JSON = {"requestBody": {"required": True, "content": {"application/json": {"schema": {}}}}}
_CSV = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError:
        raise InputError("request body: not JSON") from None
    if not isinstance(doc, dict):
        raise InputError("request body: expected a JSON object")
    return doc


@router.get("/privacy/dp/plan", summary="DP-SGD plan: noise multiplier for epsilon, or back")
def plan_route(
    _p: Auth,
    delta: Annotated[float, Query(gt=0, lt=1)],
    sample_rate: Annotated[float, Query(gt=0, le=1)],
    epsilon: Annotated[float | None, Query(gt=0, le=100)] = None,
    noise_multiplier: Annotated[float | None, Query(gt=0, le=10_000)] = None,
    epochs: Annotated[float | None, Query(gt=0, le=100_000)] = None,
    steps: Annotated[int | None, Query(ge=1, le=10_000_000)] = None,
) -> dict[str, Any]:
    from bastion.privacy.dp import plan

    return plan(
        epsilon=epsilon,
        noise_multiplier=noise_multiplier,
        delta=delta,
        sample_rate=sample_rate,
        epochs=epochs,
        steps=steps,
    ).to_dict()


@router.get("/privacy/dp/budget", summary="A dataset's privacy budget and its spends")
def budget_route(
    ws: WS, _p: Auth, dataset: Annotated[str, Query(max_length=200)]
) -> dict[str, Any]:
    from bastion.privacy.dp import budget_status

    return budget_status(ws, dataset).to_dict()


@router.get("/privacy/dp/budget/chart", summary="Epsilon spent over time (SVG)")
def budget_chart_route(
    ws: WS, _p: Auth, dataset: Annotated[str, Query(max_length=200)]
) -> Response:
    from bastion.privacy.dp import budget_chart_svg

    return Response(budget_chart_svg(ws, dataset), media_type="image/svg+xml")


@router.put(
    "/privacy/dp/budget",
    summary="Set a dataset's budget {dataset, epsilon, delta, accounting} (admin/approver, MFA)",
    openapi_extra=_JSON,
)
async def set_budget_route(request: Request, ws: WS, p: Decider) -> dict[str, Any]:
    from bastion.privacy.dp import set_budget

    doc = _json_body(await read_body(request, 64 * 1024))
    extra = set(doc) - {"dataset", "epsilon", "delta", "accounting"}
    if extra:
        raise InputError(f"request body: unknown field {sorted(extra)[0][:64]!r}")
    return set_budget(
        ws,
        doc.get("dataset"),  # type: ignore[arg-type]  # validated by set_budget
        epsilon=doc.get("epsilon"),  # type: ignore[arg-type]
        delta=doc.get("delta", 1e-6),
        accounting=str(doc.get("accounting", "pld")),
        actor=p.actor,
    ).to_dict()


_RELEASE_FIELDS = {
    "dataset",
    "column",
    "values",
    "aggregate",
    "epsilon",
    "delta",
    "noise",
    "lower",
    "upper",
    "categories",
    "bins",
    "quantiles",
}


@router.post(
    "/privacy/dp/release",
    summary="A DP aggregate over the values in the body, spent from the dataset's budget",
    openapi_extra=_JSON,
)
async def release_route(request: Request, ws: WS, p: Writer) -> dict[str, Any]:
    from bastion.privacy.dp import make_query, release

    doc = _json_body(await read_body(request, MAX_RELEASE_BODY))
    extra = set(doc) - _RELEASE_FIELDS
    if extra:
        raise InputError(f"request body: unknown field {sorted(extra)[0][:64]!r}")
    values = doc.get("values")
    if not isinstance(values, list) or len(values) > MAX_RELEASE_VALUES:
        raise InputError(f"values: expected a list of at most {MAX_RELEASE_VALUES} values")
    if any(isinstance(v, (dict, list)) for v in values):
        raise InputError("values: expected numbers, strings or nulls")
    for k in ("categories", "quantiles"):
        if doc.get(k) is not None and not isinstance(doc[k], list):
            raise InputError(f"{k}: expected a list")
    column = doc.get("column")
    if column is not None and (not isinstance(column, str) or len(column) > 200):
        raise InputError("column: expected a name of at most 200 characters")
    query = make_query(
        str(doc.get("aggregate", "")),
        epsilon=doc.get("epsilon"),  # type: ignore[arg-type]  # validated by make_query
        delta=doc.get("delta", 0.0),
        noise=str(doc.get("noise", "laplace")),
        lower=doc.get("lower"),
        upper=doc.get("upper"),
        categories=doc.get("categories") or (),
        bins=doc.get("bins"),
        quantiles=doc.get("quantiles") or (),
    )
    dataset = doc.get("dataset")
    return release(
        ws,
        dataset,  # type: ignore[arg-type]  # validated by release
        values,
        query,
        column=column,
        actor=p.actor,
    ).to_dict()


@router.post(
    "/privacy/synthetic",
    summary="Generate synthetic rows from the CSV body and run the privacy.synthetic gate",
    openapi_extra=_CSV,
)
async def synthetic_route(
    request: Request,
    ws: WS,
    p: Writer,
    rows: Annotated[int | None, Query(ge=1, le=MAX_SYNTH_ROWS)] = None,
    holdout_fraction: Annotated[float, Query(ge=0, lt=0.9)] = 0.2,
    min_quality: Annotated[float, Query(ge=0, le=1)] = 0.8,
    categorical: Annotated[str | None, Query(max_length=4000)] = None,
    include_rows: bool = False,
) -> dict[str, Any]:
    from bastion.core.types import Verdict
    from bastion.privacy.synthetic import Thresholds, parse_csv, synthesize

    body = await read_body(request, MAX_SYNTH_BODY)
    cats = [c for c in (categorical or "").split(",") if c]
    table = parse_csv(body, "request body", categorical=cats, max_rows=MAX_SYNTH_ROWS)

    def run() -> dict[str, Any]:
        s = synthesize(
            ws,
            table,
            rows=rows,
            holdout_fraction=holdout_fraction,
            thresholds=Thresholds(min_quality=min_quality),
            source="api",
            actor=p.actor,
        )
        doc = s.to_dict()
        # Rows leave only when the gate passed (or warned) and the caller asked for them.
        if include_rows and s.evidence.verdict not in (Verdict.FAIL, Verdict.ERROR):
            doc["csv"] = s.table.to_csv().decode()
        return doc

    return await SYNTHESES.run(run)
