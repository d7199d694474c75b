"""`bastion risk` commands. Thin: each calls one public function of bastion.risk."""

from __future__ import annotations

import enum
import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
import yaml

from bastion.cli._common import (
    Format,
    FormatOpt,
    err,
    out,
    print_json,
    print_table,
    progress,
    settings,
    workspace,
)

if TYPE_CHECKING:
    from bastion.threats import ThreatModel

app = typer.Typer(
    help="Risk: FAIR Monte Carlo quantification, risk tiers and the risk register.",
    no_args_is_help=True,
)
register_app = typer.Typer(help="The risk register.", no_args_is_help=True)
app.add_typer(register_app, name="register")


def _money(x: float) -> str:
    return f"{x:,.0f}"


@app.command("simulate")
def simulate_cmd(
    scenarios: Path = typer.Argument(..., help="Scenarios YAML file."),
    iterations: int = typer.Option(100_000, "--iterations", "-n", min=1, max=10_000_000),
    seed: int = typer.Option(0, "--seed", min=0),
    chart: Path | None = typer.Option(
        None, "--chart", help="Write the loss exceedance curve SVG here."
    ),
    tornado: Path | None = typer.Option(
        None, "--tornado", help="Write the tornado chart SVG here."
    ),
    tornado_scenario: str | None = typer.Option(
        None, help="Scenario for the tornado (default: largest mean)."
    ),
    record: bool = typer.Option(
        False, "--record", help="Store summaries on the linked register risks."
    ),
    manifest: Path | None = typer.Option(
        None,
        "--manifest",
        "-m",
        help="System manifest: every threat a scenario cites must be one of its findings.",
    ),
    format: Format = FormatOpt,
) -> None:
    """Simulate annual loss per scenario and for the portfolio (FAIR, Monte Carlo)."""
    from bastion.risk import check_references, load_scenarios, record_simulation, simulate

    ss = load_scenarios(scenarios)
    if manifest is not None:
        check_references(ss, threats=[f.id for f in _threat_model(manifest).findings])
    with progress("Simulating scenarios", len(ss.scenarios)) as bar:
        res = simulate(ss, iterations=iterations, seed=seed, progress=bar)
    if chart is not None:
        chart.write_text(res.lec_svg(), encoding="utf-8")
    if tornado is not None:
        tornado.write_text(res.tornado_svg(tornado_scenario), encoding="utf-8")
    doc = res.to_dict()
    if record:
        with workspace() as ws:
            doc["recorded_on"] = record_simulation(ws, res, actor="cli")
    if format is Format.JSON:
        print_json(doc)
        return
    cur = ss.currency
    rows = [
        (
            r.scenario.id,
            *(_money(getattr(r.summary, k)) for k in ("p10", "p50", "mean", "p90", "p95", "p99")),
            f"{r.summary.mean_events:.2f}",
        )
        for r in res.results
    ]
    p = res.portfolio
    rows.append(
        (
            "PORTFOLIO",
            *(_money(getattr(p, k)) for k in ("p10", "p50", "mean", "p90", "p95", "p99")),
            f"{p.mean_events:.2f}",
        )
    )
    print_table(
        f"Annualized loss exposure ({cur}, {iterations:,} years, seed {seed})",
        ["scenario", "P10", "P50", "mean", "P90", "P95", "P99", "events/yr"],
        rows,
    )
    for amount, prob in p.exceedance:
        out.print(f"P(annual loss > {_money(amount)} {cur}) = {prob:.2%}")
    for b in res.tolerance_breaches():
        out.print(
            f"[red]above tolerance[/]: P(loss > {_money(b['loss'])}) = {b['simulated']:.2%} (tolerated {b['tolerated']:.2%})"
        )


def _threat_model(manifest: Path, suppressions: Path | None = None) -> ThreatModel:
    from bastion.threats import model_file

    return model_file(manifest, suppressions=suppressions, max_bytes=settings().max_manifest_bytes)


class SeedFormat(enum.StrEnum):
    YAML = "yaml"
    JSON = "json"


SuppressOpt = typer.Option(
    None, "--suppressions", "-s", help="Accepted threats (threats suppressions YAML)."
)


@app.command("seed")
def seed_cmd(
    manifest: Path = typer.Argument(..., help="System manifest (system.yaml)."),
    overrides: Path | None = typer.Option(
        None, "--overrides", help="Scenarios YAML whose entries override the seeded ones by id."
    ),
    suppressions: Path | None = SuppressOpt,
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to a file."),
    format: SeedFormat = typer.Option(SeedFormat.YAML, "--format", "-f"),
) -> None:
    """Seed a scenarios file from the system's open threats (one FAIR scenario per finding)."""
    from bastion.risk import scenario_document, seed_scenarios

    ss = seed_scenarios(_threat_model(manifest, suppressions), overrides)
    doc = scenario_document(ss)
    if format is SeedFormat.JSON:
        text = json.dumps(doc, indent=2) + "\n"
    else:
        text = yaml.safe_dump(doc, sort_keys=False, width=100)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}: {len(ss.scenarios)} scenarios", highlight=False, markup=False)


@register_app.command("import")
def register_import(
    manifest: Path = typer.Argument(..., help="System manifest (system.yaml)."),
    owner: str | None = typer.Option(None, help="Owner of new risks (default: system owner)."),
    suppressions: Path | None = SuppressOpt,
    format: Format = FormatOpt,
) -> None:
    """Register one risk per open threat of the manifest (existing risks are kept)."""
    from bastion.risk import register_from_threats

    model = _threat_model(manifest, suppressions)
    with workspace() as ws:
        risks = register_from_threats(
            ws, model.graph.manifest, model.findings, owner=owner, actor="cli"
        )
    docs = [r.to_dict() for r in risks]
    print_json(docs) if format is Format.JSON else _print_risks(docs)


@app.command("whatif")
def whatif_cmd(
    scenarios: Path = typer.Argument(..., help="Scenarios YAML file."),
    control: Path = typer.Option(..., "--control", help="Control YAML file (cost and effects)."),
    iterations: int = typer.Option(100_000, "--iterations", "-n", min=1, max=10_000_000),
    seed: int = typer.Option(0, "--seed", min=0),
    format: Format = FormatOpt,
) -> None:
    """Before/after a control, and its return: (reduction in mean ALE - cost) / cost."""
    from bastion.risk import load_control, load_scenarios, what_if

    ss = load_scenarios(scenarios)
    ctl = load_control(control, ss)
    with progress("Simulating before and after"):
        res = what_if(ss, ctl, iterations=iterations, seed=seed)
    doc = res.to_dict()
    if format is Format.JSON:
        print_json(doc)
        return
    rows = [
        (
            sid,
            _money(v["before"]["mean"]),
            _money(v["after"]["mean"]),
            _money(v["before"]["p90"]),
            _money(v["after"]["p90"]),
        )
        for sid, v in [*doc["scenarios"].items(), ("PORTFOLIO", doc["portfolio"])]
    ]
    print_table(
        f"What-if: {ctl.name} ({ss.currency})",
        ["scenario", "mean before", "mean after", "P90 before", "P90 after"],
        rows,
    )
    out.print(
        f"Reduction in mean annual loss {_money(res.reduction)} for {_money(ctl.annual_cost)} a year: ROI {res.roi:.1%}"
    )


@app.command("tier")
def tier_cmd(
    manifest: Path = typer.Argument(..., help="System manifest (system.yaml)."),
    policy: Path | None = typer.Option(
        None, "--policy", help="Your tier policy YAML (default: shipped)."
    ),
    format: Format = FormatOpt,
) -> None:
    """Rate the system into tier 1-4 and record it as risk.tier evidence."""
    from bastion.manifest import load_manifest
    from bastion.risk import assign_tier

    m = load_manifest(manifest)
    with workspace() as ws:
        a, evidence_id = assign_tier(ws, m, policy=policy, actor="cli")
    doc = a.to_dict() | {"evidence": evidence_id}
    if format is Format.JSON:
        print_json(doc)
        return
    out.print(f"System {a.system_id}: tier {a.tier} ({a.name}), policy {a.policy_version}")
    out.print(f"  why: {a.why}; scores {a.scores}")
    out.print(f"  appetite: P90 annual loss <= {_money(a.appetite_p90)}")
    out.print(f"  required controls: {', '.join(a.spec.required_controls) or '-'}")
    out.print(f"  required approvals: {', '.join(a.spec.required_approvals) or '-'}")
    out.print(f"  evidence {evidence_id}")


def _print_risks(risks: list[dict[str, object]]) -> None:
    print_table(
        "Risk register",
        ["id", "system", "status", "owner", "title", "P90", "accepted until"],
        [
            (
                r["id"],
                r["system"],
                r["status"],
                r["owner"],
                r["title"],
                _money(float(r["summary"]["p90"])) if isinstance(r.get("summary"), dict) else "-",  # type: ignore[index]
                r["accepted_until"] or "",
            )
            for r in risks
        ],
    )


@register_app.command("list")
def register_list(
    system: str | None = typer.Option(None),
    status: str | None = typer.Option(None),
    owner: str | None = typer.Option(None),
    format: Format = FormatOpt,
) -> None:
    """List risks, with filters."""
    from bastion.risk import list_risks

    with workspace() as ws:
        risks = [r.to_dict() for r in list_risks(ws, system=system, status=status, owner=owner)]
    print_json(risks) if format is Format.JSON else _print_risks(risks)


@register_app.command("show")
def register_show(risk_id: str, format: Format = FormatOpt) -> None:
    """Show one risk with its history."""
    from bastion.risk import get_risk

    with workspace() as ws:
        d = get_risk(ws, risk_id).to_dict(with_history=True)
    print_json(d) if format is Format.JSON else out.print_json(data=d)


@register_app.command("add")
def register_add(
    system: str = typer.Option(..., help="System id."),
    rule: str = typer.Option(..., help="Threat rule id (or your own risk key)."),
    element: str = typer.Option(..., help="Element (asset or flow) id."),
    title: str = typer.Option(...),
    owner: str = typer.Option(...),
    treatment: str | None = typer.Option(None, help="Treatment plan."),
    threat: list[str] = typer.Option([], "--threat", help="Linked threat finding id (repeatable)."),
    scenario: list[str] = typer.Option([], "--scenario", help="Linked scenario id (repeatable)."),
    format: Format = FormatOpt,
) -> None:
    """Register a risk; its id is stable: derived from system, rule and element."""
    from bastion.risk import add_risk

    with workspace() as ws:
        r = add_risk(
            ws,
            system_id=system,
            rule_id=rule,
            element_id=element,
            title=title,
            owner=owner,
            treatment=treatment,
            threats=threat,
            scenarios=scenario,
            actor="cli",
        )
    print_json(r.to_dict()) if format is Format.JSON else out.print(
        f"Registered {r.id} ({r.status.value})"
    )


@register_app.command("update")
def register_update(
    risk_id: str,
    status: str | None = typer.Option(None, help="New status (see the transition table)."),
    owner: str | None = typer.Option(None),
    treatment: str | None = typer.Option(None),
    note: str | None = typer.Option(None),
    format: Format = FormatOpt,
) -> None:
    """Change a risk's status, owner or treatment plan (ledgered)."""
    from bastion.risk import update_risk

    with workspace() as ws:
        r = update_risk(
            ws, risk_id, status=status, owner=owner, treatment=treatment, note=note, actor="cli"
        )
    print_json(r.to_dict()) if format is Format.JSON else out.print(
        f"{r.id}: {r.status.value} (version {r.version})"
    )


@register_app.command("accept")
def register_accept(
    risk_id: str,
    until: str = typer.Option(..., "--until", help="Acceptance expiry date (YYYY-MM-DD)."),
    note: str | None = typer.Option(None),
    approver_token: str | None = typer.Option(
        None,
        "--approver-token",
        envvar="BASTION_APPROVER_TOKEN",
        help="Approver's API token (needed above appetite).",
    ),
    otp: str | None = typer.Option(None, "--otp", help="Approver's current TOTP code."),
    format: Format = FormatOpt,
) -> None:
    """Accept a risk until a date; above the tier's appetite an approver with MFA must sign."""
    from bastion.access import authenticate
    from bastion.core.errors import InputError
    from bastion.risk import accept_risk

    try:
        expires = date.fromisoformat(until)
    except ValueError:
        raise InputError(f"--until {until!r} is not a date; fix: write YYYY-MM-DD") from None
    with workspace() as ws:
        principal = authenticate(ws, approver_token, otp) if approver_token else None
        r = accept_risk(ws, risk_id, expires=expires, note=note, approver=principal, actor="cli")
    if format is Format.JSON:
        print_json(r.to_dict())
    else:
        until_s = r.accepted_until.isoformat() if isinstance(r.accepted_until, datetime) else ""
        out.print(f"{r.id}: accepted by {r.accepted_by} until {until_s}")
