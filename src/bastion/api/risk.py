"""REST routes of the risk room. Thin: each route calls one public function of bastion.risk."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from bastion.access import Permission, Principal, require
from bastion.api._deps import Auth, HeavyWork, get_ws, needs, needs_any, read_body
from bastion.core.errors import InputError
from bastion.core.workspace import Workspace

router = APIRouter(tags=["risk"])
WS = Annotated[Workspace, Depends(get_ws)]
Writer = Annotated[Principal, Depends(needs(Permission.WRITE))]
_YAML = {
    "requestBody": {
        "required": True,
        "content": {"application/yaml": {"schema": {"type": "string"}}},
    }
}
MAX_SCENARIO_BODY = 1024 * 1024
#: Scenarios x iterations one request may simulate (what-if counts twice: with and without
#: the control). 4M samples is about 100 MB of working memory.
MAX_SIMULATION_SAMPLES = 4_000_000
#: Simulations running at once, in the thread pool; more are refused with 503 + Retry-After.
SIMULATIONS = HeavyWork("simulations", limit=2, retry_after=5)


def _within_budget(scenarios: int, iterations: int, runs: int = 1) -> None:
    samples = scenarios * iterations * runs
    if samples > MAX_SIMULATION_SAMPLES:
        raise InputError(
            f"{scenarios} scenario(s) x {iterations} iterations"
            + (f" x {runs} runs" if runs > 1 else "")
            + f" is {samples} samples, over the budget of {MAX_SIMULATION_SAMPLES} per request; "
            "fix: lower ?iterations= or split the scenarios"
        )


@router.post(
    "/risk/simulate", summary="Simulate a scenarios document (YAML body)", openapi_extra=_YAML
)
async def simulate_route(
    request: Request,
    ws: WS,
    p: Auth,
    iterations: Annotated[int, Query(ge=1, le=1_000_000)] = 100_000,
    seed: Annotated[int, Query(ge=0)] = 0,
    charts: bool = False,
    tornado_scenario: str | None = None,
    record: bool = False,
) -> dict[str, Any]:
    from bastion.risk import parse_scenarios, record_simulation, simulate

    if record:
        require(p, Permission.WRITE)
    body = await read_body(request, MAX_SCENARIO_BODY)
    ss = parse_scenarios(body, "request body")
    _within_budget(len(ss.scenarios), iterations)

    def run() -> dict[str, Any]:
        res = simulate(ss, iterations=iterations, seed=seed)
        doc = res.to_dict()
        if charts:
            doc["lec_svg"] = res.lec_svg()
            doc["tornado_svg"] = res.tornado_svg(tornado_scenario)
        if record:
            doc["recorded_on"] = record_simulation(ws, res, actor=p.actor)
        return doc

    return await SIMULATIONS.run(run)


@router.post("/risk/whatif", summary="Price a control: scenarios and control YAML in one JSON body")
async def whatif_route(
    request: Request,
    ws: WS,
    _p: Auth,
    iterations: Annotated[int, Query(ge=1, le=1_000_000)] = 100_000,
    seed: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    from bastion.risk import parse_control, parse_scenarios, what_if

    body = await read_body(request, 2 * MAX_SCENARIO_BODY)
    try:
        doc = json.loads(body)
    except ValueError:
        raise InputError(
            'request body: not JSON; fix: send {"scenarios": YAML, "control": YAML}'
        ) from None
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("scenarios"), str)
        or not isinstance(doc.get("control"), str)
    ):
        raise InputError(
            'request body: expected {"scenarios": YAML text, "control": YAML text}; fix: send both'
        )
    ss = parse_scenarios(doc["scenarios"], "scenarios")
    ctl = parse_control(doc["control"], "control", ss)
    _within_budget(len(ss.scenarios), iterations, runs=2)
    return await SIMULATIONS.run(
        lambda: what_if(ss, ctl, iterations=iterations, seed=seed).to_dict()
    )


@router.post(
    "/risk/tier",
    summary="Rate a system's inventory manifest into tier 1-4; records evidence "
    "(admin/approver, MFA)",
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/yaml": {"schema": {"type": "string"}}},
        }
    },
)
async def tier_route(
    request: Request,
    ws: WS,
    p: Annotated[Principal, Depends(needs_any(Permission.ADMIN, Permission.APPROVE))],
    system: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Rates the inventory's stored manifest of ``?system=ID`` (no body); a YAML manifest
    body is accepted only when it IS the inventory's current manifest (409 otherwise)."""
    from bastion.manifest import parse_manifest
    from bastion.risk import assign_tier

    body = await read_body(request, ws.settings.max_manifest_bytes)
    m = parse_manifest(body, filename="request body") if body.strip() else None
    if m is None and not system:
        raise InputError("give ?system=ID to rate its inventory manifest")
    if m is not None and system and m.system.id != system:
        raise InputError(f"the manifest is for system {m.system.id}, not {system}")
    a, evidence_id = assign_tier(ws, m, system=system, principal=p)
    return a.to_dict() | {"evidence": evidence_id}


@router.post(
    "/risk/seed",
    summary="Seed a scenarios document from a manifest's open threats (YAML manifest body)",
    openapi_extra=_YAML,
)
async def seed_route(request: Request, ws: WS, _p: Writer) -> dict[str, Any]:
    """Stores nothing, but needs write: the house rule is that a POST denies viewers."""
    from bastion.risk import scenario_document, seed_scenarios
    from bastion.threats import model_text

    limit = ws.settings.max_manifest_bytes
    body = await read_body(request, limit)
    model = model_text(body, source="request body", max_bytes=limit)
    return scenario_document(seed_scenarios(model))


@router.post(
    "/risk/register/import",
    summary="Register one risk per open threat of a manifest (YAML body); existing kept",
    openapi_extra=_YAML,
)
async def register_import(request: Request, ws: WS, p: Writer) -> list[dict[str, Any]]:
    from bastion.risk import register_from_threats
    from bastion.threats import model_text

    limit = ws.settings.max_manifest_bytes
    body = await read_body(request, limit)
    model = model_text(body, source="request body", max_bytes=limit)
    risks = register_from_threats(ws, model.graph.manifest, model.findings, actor=p.actor)
    return [r.to_dict() for r in risks]


@router.get("/risk/tiers/{system_id}", summary="A system's latest tier assignment")
def latest_tier_route(system_id: str, ws: WS, _p: Auth) -> dict[str, Any]:
    from bastion.core.errors import NotFoundError
    from bastion.risk import latest_tier

    t = latest_tier(ws, system_id)
    if t is None:
        raise NotFoundError(f"no tier assigned to system {system_id!r}")
    return t.to_dict()


@router.get("/risk/policy", summary="The tier policy in force (shipped default)")
def policy_route(_p: Auth) -> dict[str, Any]:
    from bastion.risk import load_tier_policy

    return load_tier_policy().model_dump(mode="json", by_alias=True)


@router.get("/risk/register", summary="List risks, with filters")
def register_list(
    ws: WS, _p: Auth, system: str | None = None, status: str | None = None, owner: str | None = None
) -> list[dict[str, Any]]:
    from bastion.risk import list_risks

    return [r.to_dict() for r in list_risks(ws, system=system, status=status, owner=owner)]


@router.get("/risk/register/{risk_id}", summary="A risk with its history")
def register_show(risk_id: str, ws: WS, _p: Auth) -> dict[str, Any]:
    from bastion.risk import get_risk

    return get_risk(ws, risk_id).to_dict(with_history=True)


class NewRisk(BaseModel):
    model_config = ConfigDict(extra="forbid")
    system: str = Field(max_length=64)
    rule_id: str = Field(max_length=200)
    element_id: str = Field(max_length=200)
    title: str = Field(max_length=300)
    owner: str = Field(max_length=200)
    treatment: str | None = Field(default=None, max_length=4000)
    threats: list[str] = Field(default_factory=list, max_length=200)
    scenarios: list[str] = Field(default_factory=list, max_length=200)


@router.post("/risk/register", summary="Register a risk", status_code=201)
def register_add(body: NewRisk, ws: WS, p: Writer) -> dict[str, Any]:
    from bastion.risk import add_risk

    return add_risk(
        ws,
        system_id=body.system,
        rule_id=body.rule_id,
        element_id=body.element_id,
        title=body.title,
        owner=body.owner,
        treatment=body.treatment,
        threats=body.threats,
        scenarios=body.scenarios,
        actor=p.actor,
    ).to_dict()


class RiskChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str | None = None
    owner: str | None = Field(default=None, max_length=200)
    treatment: str | None = Field(default=None, max_length=4000)
    note: str | None = Field(default=None, max_length=4000)
    expected_version: int | None = None


@router.patch("/risk/register/{risk_id}", summary="Change a risk's status, owner or treatment")
def register_update(risk_id: str, body: RiskChange, ws: WS, p: Writer) -> dict[str, Any]:
    from bastion.risk import update_risk

    return update_risk(
        ws,
        risk_id,
        status=body.status,
        owner=body.owner,
        treatment=body.treatment,
        note=body.note,
        expected_version=body.expected_version,
        actor=p.actor,
    ).to_dict()


class Acceptance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    until: date
    note: str | None = Field(default=None, max_length=4000)
    expected_version: int | None = None


@router.post(
    "/risk/register/{risk_id}/accept",
    summary="Accept a risk until a date (above appetite: approver token with X-Bastion-OTP)",
)
def register_accept(
    risk_id: str,
    body: Acceptance,
    ws: WS,
    p: Annotated[Principal, Depends(needs_any(Permission.WRITE, Permission.APPROVE))],
) -> dict[str, Any]:
    from bastion.risk import accept_risk

    # Within appetite a writer may accept; above it accept_risk demands an approver with MFA.
    return accept_risk(
        ws,
        risk_id,
        expires=body.until,
        note=body.note,
        approver=p,
        expected_version=body.expected_version,
        actor=p.actor,
    ).to_dict()
