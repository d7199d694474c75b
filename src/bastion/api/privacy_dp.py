"""REST routes of differential privacy and synthetic data (``/api/v1/privacy/...``).

Thin: each route calls one public function of bastion.privacy.dp or .synthetic. Remote
callers send their values or CSV in the body (size-limited) and never name server paths;
no route lets a caller choose the noise seed. Reading a budget needs ``read``; a release or
a synthetic generation spends budget or records evidence and needs ``write``; setting a
budget is a privacy decision and needs ``admin`` or ``approve`` (with MFA).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from bastion.access import Permission, Principal
from bastion.api._deps import Auth, HeavyWork, get_ws, needs, needs_any, read_body, read_json
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


class BudgetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: str = Field(max_length=200)
    epsilon: float
    delta: float = 1e-6
    accounting: str = Field(default="pld", max_length=16)


class ReleaseBody(BaseModel):
    """Values keep their JSON types (no coercion): numbers, strings or nulls."""

    model_config = ConfigDict(extra="forbid")
    dataset: str = Field(max_length=200)
    column: str | None = Field(default=None, max_length=200)
    values: list[StrictInt | StrictFloat | StrictStr | None] = Field(max_length=MAX_RELEASE_VALUES)
    aggregate: str = Field(max_length=32)
    epsilon: float
    delta: float = 0.0
    noise: str = Field(default="laplace", max_length=32)
    lower: float | None = None
    upper: float | None = None
    categories: list[str] = Field(default_factory=list, max_length=100_000)
    bins: int | None = None
    quantiles: list[float] = Field(default_factory=list, max_length=1_000)


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

    b = await read_json(request, BudgetBody, 64 * 1024)
    return set_budget(
        ws, b.dataset, epsilon=b.epsilon, delta=b.delta, accounting=b.accounting, actor=p.actor
    ).to_dict()


@router.post(
    "/privacy/dp/release",
    summary="A DP aggregate over the values in the body, spent from the dataset's budget",
    openapi_extra=_JSON,
)
async def release_route(request: Request, ws: WS, p: Writer) -> dict[str, Any]:
    from bastion.privacy.dp import make_query, release

    b = await read_json(request, ReleaseBody, MAX_RELEASE_BODY)
    query = make_query(
        b.aggregate,
        epsilon=b.epsilon,
        delta=b.delta,
        noise=b.noise,
        lower=b.lower,
        upper=b.upper,
        categories=b.categories,
        bins=b.bins,
        quantiles=b.quantiles,
    )
    return release(ws, b.dataset, b.values, query, column=b.column, actor=p.actor).to_dict()


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
