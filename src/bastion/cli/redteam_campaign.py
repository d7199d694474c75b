"""`bastion redteam run CAMPAIGN`: run a red-team campaign file through the Executor, write
its HTML report, record its evidence. Thin: one call each into the robustness room's
campaign part."""

from __future__ import annotations

import enum
from pathlib import Path

import typer

from bastion.cli._common import out, print_json, print_table, progress, workspace
from bastion.cli.redteam import app

__all__ = ["run"]


class RunFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


def _f(v: float | bool | None) -> str:
    return "-" if v is None or isinstance(v, bool) else f"{v:.3f}"


@app.command("run")
def run(
    campaign: Path = typer.Argument(..., help="Campaign file (YAML, kind: RedTeamCampaign)."),
    report: Path | None = typer.Option(None, "--report", help="Write the HTML report here."),
    executor: str | None = typer.Option(
        None,
        "--executor",
        help="local, local:N, ray or ray://HOST:PORT (default: BASTION_EXECUTOR, else local).",
    ),
    retries: int = typer.Option(2, "--retries", min=0, max=10, help="Retries of a dead worker."),
    record: bool = typer.Option(
        True, "--record/--no-record", help="Store evidence and ledger it (needs `bastion init`)."
    ),
    format: RunFormat = typer.Option(RunFormat.TABLE, "--format", "-f"),
) -> None:
    """Run every attack of the campaign on every target and judge its thresholds.

    Everything that can be refused (an unknown attack, a missing file, a model the scanner
    does not call safe, an attack the target cannot support, a budget exceeded) is refused
    before any work starts. Exit 0 when every threshold holds and every task ran, 1 when
    not, 2 bad input. A re-run on a new model version is compared with the last run.
    """
    from bastion.core.executor import executor_from_env
    from bastion.robustness.campaign import (
        campaign_report_html,
        load_campaign,
        record_campaign,
        run_campaign,
    )

    spec = load_campaign(campaign)
    ex = executor_from_env(executor) if executor is not None else None
    total = len(spec.targets) * len(spec.attacks)
    with progress(f"Campaign {spec.name}", total=total) as bar:
        result = run_campaign(
            spec, executor=ex, retries=retries, on_progress=lambda _r, d, t: bar(d, t)
        )
    if ex is not None:
        ex.close()
    evidence: dict[str, str] = {}
    if record:
        with workspace() as ws:
            for t, ev in zip(result.targets, record_campaign(ws, result, actor="cli"), strict=True):
                evidence[t.id] = ev.id
    if report is not None:
        report.write_text(campaign_report_html(result), encoding="utf-8")
    if format is RunFormat.JSON:
        print_json(
            {
                "campaign": spec.name,
                "campaign_digest": spec.digest,
                "executor": result.executor,
                "passed": result.passed,
                "wall_seconds": result.wall_seconds,
                "targets": [
                    {
                        "id": t.id,
                        "name": t.name,
                        "model_digest": t.model_digest,
                        "metrics": t.metrics,
                        "thresholds": [th.to_dict() for th in t.thresholds],
                        "failures": t.failures,
                        "retried": t.retried,
                        "cpu_seconds": t.cpu_seconds,
                        "evidence": evidence.get(t.id),
                        "previous": result.previous.get(t.id),
                    }
                    for t in result.targets
                ],
                "report": str(report) if report else None,
            }
        )
    else:
        rows = []
        for t in result.targets:
            for a in spec.attacks:
                m = t.metrics.get(a.id)
                if m is None:
                    rows.append(
                        (t.id, a.id, "-", "-", "-", f"failed: {t.failures.get(a.id, '')[:60]}")
                    )
                    continue
                ra = m.get("robust_accuracy")
                rows.append((
                    t.id, a.id, _f(m.get("clean_accuracy")),
                    "withheld" if ra is None else _f(ra),
                    _f(m.get("attack_success_rate")),
                    "valid" if m.get("valid") else "NOT valid",
                ))  # fmt: skip
        print_table(
            f"Campaign {spec.name}: {'PASS' if result.passed else 'FAIL'} "
            f"({result.executor}, {result.wall_seconds:.1f} s)",
            ["target", "attack", "clean", "robust", "success rate", "evaluation"],
            rows,
        )
        for t in result.targets:
            for th in t.thresholds:
                mark = "ok  " if th.passed else "FAIL"
                got = "withheld" if th.value is None else f"{th.value:.4f}"
                out.print(f"  threshold {mark} {t.id} {th.metric} = {got}", highlight=False)
            if t.id in evidence:
                out.print(f"  evidence {evidence[t.id]} ({t.id})", highlight=False)
        if report is not None:
            out.print(f"  report {report}", highlight=False)
    raise typer.Exit(0 if result.passed else 1)
