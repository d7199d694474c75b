"""`bastion redteam`: adversarial robustness evaluations of model files. Thin: each
command calls one public function of the robustness room (through the check runner when
the evaluation is recorded)."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import typer

from bastion.cli._common import out, print_json, print_table, workspace

__all__ = ["app"]

app = typer.Typer(
    help="Red-team models: evasion attacks, robustness curves, certified radii.",
    no_args_is_help=True,
)


class Attack(enum.StrEnum):
    FGSM = "fgsm"
    PGD = "pgd"
    SQUARE = "square"
    HOPSKIPJUMP = "hopskipjump"


class NormOpt(enum.StrEnum):
    LINF = "linf"
    L2 = "l2"


class Fmt(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


@app.command("evaluate")
def evaluate(
    model: Path = typer.Argument(..., help="Model file: ONNX, or a scikit-learn pickle."),
    data: Path = typer.Option(..., "--data", help="CSV with a header, or NPZ with x and y."),
    label: str = typer.Option("label", "--label", help="The label column of a CSV."),
    allow: Path | None = typer.Option(
        None, "--allow", help="Scan allowlist (YAML) of extra globals a pickle may name."
    ),
    attack: Attack = typer.Option(Attack.PGD, "--attack", help="The evasion attack."),
    norm: NormOpt = typer.Option(NormOpt.LINF, "--norm", help="Perturbation norm."),
    eps: str = typer.Option("0.1", "--eps", help="Budgets, comma-separated, increasing."),
    steps: int = typer.Option(40, "--steps", min=1, max=10_000, help="PGD steps."),
    step_size: float | None = typer.Option(None, "--step-size", help="PGD step (2.5*eps/steps)."),
    random_start: bool = typer.Option(True, "--random-start/--no-random-start"),
    queries: int = typer.Option(
        1000, "--queries", min=1, help="Square / HopSkipJump queries per input."
    ),
    samples: int | None = typer.Option(None, "--samples", min=1, help="Evaluate the first N rows."),
    seed: int = typer.Option(0, "--seed", min=0),
    cross_check: int = typer.Option(
        100,
        "--cross-check",
        min=0,
        max=10_000,
        help="Inputs the Square attack cross-checks a gradient attack on (0: none).",
    ),
    clip_min: float = typer.Option(0.0, "--clip-min", help="Smallest valid input value."),
    clip_max: float = typer.Option(1.0, "--clip-max", help="Largest valid input value."),
    min_accuracy: float | None = typer.Option(
        None, "--min-accuracy", min=0.0, max=1.0, help="Fail below this robust accuracy."
    ),
    certify_sigma: float | None = typer.Option(
        None, "--certify-sigma", help="Also certify by randomized smoothing with this sigma."
    ),
    certify_n0: int = typer.Option(100, "--certify-n0", min=1),
    certify_n: int = typer.Option(1000, "--certify-n", min=1),
    certify_alpha: float = typer.Option(0.001, "--certify-alpha"),
    chart: Path | None = typer.Option(None, "--chart", help="Write the robustness curve (SVG)."),
    record: bool = typer.Option(
        True, "--record/--no-record", help="Store evidence and ledger it (needs `bastion init`)."
    ),
    name: str | None = typer.Option(
        None, "--name", help="Subject reference for the evidence (default: the model's path)."
    ),
    format: Fmt = typer.Option(Fmt.TABLE, "--format", "-f", help="Output format."),
) -> None:
    """Attack a scanned-safe model over an epsilon grid and report accuracy under attack.

    The model loads only if `bastion model scan` would call it safe. Exit 0 pass, 1 when
    the robust accuracy is below --min-accuracy or the evaluation is not valid (a
    validity check failed), 2 bad input (refused before any work starts).
    """
    from bastion.core.checks import run_check
    from bastion.core.types import Subject, Verdict
    from bastion.robustness import RobustnessCheck, evaluation_from_params, judge

    params: dict[str, Any] = {
        "path": str(model),
        "data": str(data),
        "label": label,
        "allow": str(allow) if allow else None,
        "attack": attack.value,
        "norm": norm.value,
        "eps": eps,
        "steps": steps,
        "step_size": step_size,
        "random_start": random_start,
        "queries": queries,
        "samples": samples,
        "seed": seed,
        "cross_check": cross_check,
        "clip_min": clip_min,
        "clip_max": clip_max,
        "min_accuracy": min_accuracy,
        "certify_sigma": certify_sigma,
        "certify_n0": certify_n0,
        "certify_n": certify_n,
        "certify_alpha": certify_alpha,
    }
    # Everything that can be refused is refused here, before anything is recorded.
    prepared = evaluation_from_params(params)
    report = prepared[0]
    evidence_id: str | None = None
    if record:
        with workspace() as ws:
            subject = Subject("model", name or str(model))
            ev = run_check(ws, RobustnessCheck(prepared), subject, actor="cli", params=params)
        result: dict[str, Any] = dict(ev.data)
        verdict, evidence_id = ev.verdict, ev.id
    else:
        result = report.to_data()
        verdict, _findings = judge(report, min_accuracy)
    svg = report.curve_svg().encode() if chart is not None else None
    if chart is not None and svg is not None:
        chart.write_bytes(svg)
    if format is Fmt.JSON:
        print_json(result | {"verdict": verdict.value, "evidence": evidence_id})
    else:
        print_table(
            f"{attack.value.upper()} ({norm.value}) on {model.name}: {verdict.value}, clean "
            f"accuracy {result['clean_accuracy']:.3f}",
            ["eps", "accuracy", "success rate", "mean perturbation"],
            [
                (
                    f"{p['eps']:g}",
                    f"{p['accuracy']:.3f}",
                    f"{p['success_rate']:.3f}",
                    f"{p['mean_perturbation']:.4f}",
                )
                for p in result["curve"]
            ],
        )
        for v in result["validity"]:
            mark = "ok  " if v["passed"] else "FAIL"
            out.print(f"  validity {mark} {v['name']}: {v['detail']}", highlight=False)
        cert = result.get("certification")
        if cert:
            acc = ", ".join(f"{k}={v:.3f}" for k, v in cert["certified_accuracy"].items())
            out.print(f"  certified accuracy (sigma {cert['sigma']:g}): {acc}", highlight=False)
        cost = result["cost"]
        out.print(
            f"  cost: {cost['cpu_seconds']:.2f} CPU-s, {cost['queries']} queries"
            + (f"; evidence {evidence_id}" if evidence_id else ""),
            highlight=False,
        )
    raise typer.Exit(0 if verdict is Verdict.PASS else 1)
