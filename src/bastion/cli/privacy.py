"""`bastion privacy`: differential privacy (plan, budget, release, train) and synthetic data.

Thin: each command calls one public function of bastion.privacy.dp or .synthetic. Output
files are written whole or not at all (a temporary file renamed into place).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import typer

from bastion.cli._common import Format, FormatOpt, out, print_json, print_table, workspace
from bastion.core.errors import InputError

__all__ = ["app"]

app = typer.Typer(
    help="Privacy: DP budgets, releases and training; synthetic data with its gate.",
    no_args_is_help=True,
)
budget_app = typer.Typer(help="Per-dataset privacy budgets.", no_args_is_help=True)
app.add_typer(budget_app, name="budget")


def _write(path: Path, data: bytes) -> None:
    """Atomically: a failure leaves no partial file behind."""
    target = path.resolve()
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _csv_list(v: str | None) -> list[str]:
    return [x.strip() for x in v.split(",") if x.strip()] if v else []


@app.command("plan")
def plan_cmd(
    delta: float = typer.Option(..., "--delta", help="Target delta (above 0)."),
    sample_rate: float = typer.Option(..., "--sample-rate", help="Poisson sampling rate q."),
    epsilon: float | None = typer.Option(None, "--epsilon", help="Target epsilon -> noise."),
    noise_multiplier: float | None = typer.Option(
        None, "--noise-multiplier", help="Noise multiplier -> epsilon."
    ),
    epochs: float | None = typer.Option(None, "--epochs", help="Epochs (steps = epochs / q)."),
    steps: int | None = typer.Option(None, "--steps", help="Steps, instead of epochs."),
    format: Format = FormatOpt,
) -> None:
    """DP-SGD noise multiplier for a target epsilon, or the epsilon of a noise multiplier."""
    from bastion.privacy.dp import plan

    p = plan(
        epsilon=epsilon,
        noise_multiplier=noise_multiplier,
        delta=delta,
        sample_rate=sample_rate,
        epochs=epochs,
        steps=steps,
    )
    if format is Format.JSON:
        print_json(p.to_dict())
        return
    print_table(
        "DP-SGD plan",
        ["epsilon", "delta", "sample rate", "steps", "noise multiplier"],
        [(f"{p.epsilon:.4f}", p.delta, p.sample_rate, p.steps, f"{p.noise_multiplier:.4f}")],
    )


@budget_app.command("set")
def budget_set(
    dataset: str,
    epsilon: float = typer.Option(..., "--epsilon"),
    delta: float = typer.Option(1e-6, "--delta"),
    accounting: str = typer.Option("pld", "--accounting", help="pld or rdp."),
    format: Format = FormatOpt,
) -> None:
    """Set or change a dataset's budget (never below what is already spent)."""
    from bastion.privacy.dp import set_budget

    with workspace() as ws:
        b = set_budget(ws, dataset, epsilon=epsilon, delta=delta, accounting=accounting)
    if format is Format.JSON:
        print_json(b.to_dict())
        return
    out.print(
        f"budget of {b.dataset}: epsilon {b.epsilon:g} at delta {b.delta:g} ({b.accounting}); "
        f"spent {b.spent_epsilon:.4g}",
        highlight=False,
    )


@budget_app.command("show")
def budget_show(
    dataset: str,
    chart: Path | None = typer.Option(None, "--chart", help="Write epsilon-over-time SVG."),
    format: Format = FormatOpt,
) -> None:
    """A dataset's budget, what was spent and by what."""
    from bastion.privacy.dp import budget_chart_svg, budget_status

    with workspace() as ws:
        b = budget_status(ws, dataset)
        if chart is not None:
            _write(chart, budget_chart_svg(ws, dataset).encode())
    if format is Format.JSON:
        print_json(b.to_dict())
        return
    out.print(
        f"[bold]{b.dataset}[/]: spent {b.spent_epsilon:.4g} of epsilon {b.epsilon:g} at delta "
        f"{b.delta:g} ({b.accounting}), {b.remaining_epsilon:.4g} left",
        highlight=False,
    )
    print_table(
        None,
        ["#", "when", "kind", "what", "epsilon", "delta", "spent after", "actor"],
        [
            (
                s.seq,
                s.at.strftime("%Y-%m-%d %H:%M:%S"),
                s.kind,
                s.description,
                f"{s.epsilon:g}",
                f"{s.delta:g}",
                f"{s.spent_epsilon:.4g}",
                s.actor,
            )
            for s in b.spends
        ],
    )


@app.command("release")
def release_cmd(
    dataset: str = typer.Argument(..., help="Dataset id (its budget is spent)."),
    csv: Path = typer.Argument(..., help="CSV file holding the column."),
    column: str = typer.Option(..., "--column", "-c"),
    aggregate: str = typer.Option(
        ..., "--aggregate", "-a", help="count|sum|mean|histogram|quantiles"
    ),
    epsilon: float = typer.Option(..., "--epsilon"),
    delta: float = typer.Option(0.0, "--delta"),
    noise: str = typer.Option("laplace", "--noise", help="laplace or gaussian"),
    lower: float | None = typer.Option(None, "--lower", help="Clamping bound (public)."),
    upper: float | None = typer.Option(None, "--upper", help="Clamping bound (public)."),
    categories: str | None = typer.Option(None, "--categories", help="Histogram categories a,b,c"),
    bins: int | None = typer.Option(None, "--bins"),
    quantiles: str | None = typer.Option(None, "--quantiles", help="e.g. 0.25,0.5,0.75"),
    format: Format = FormatOpt,
) -> None:
    """A DP aggregate over one CSV column, spent from the dataset's budget."""
    from bastion.privacy.dp import make_query, release
    from bastion.privacy.synthetic import read_csv

    try:
        qs = [float(q) for q in _csv_list(quantiles)]
    except ValueError:
        raise InputError("--quantiles: expected numbers such as 0.25,0.5") from None
    query = make_query(
        aggregate,
        epsilon=epsilon,
        delta=delta,
        noise=noise,
        lower=lower,
        upper=upper,
        categories=_csv_list(categories),
        bins=bins,
        quantiles=qs,
    )
    table, digest = read_csv(csv, categorical=[column] if query.categories else [])
    col = table.column(column)
    values = [col.cell(i) for i in range(table.n_rows)]
    with workspace() as ws:
        r = release(ws, dataset, values, query, column=column, input_digest=digest)
    if format is Format.JSON:
        print_json(r.to_dict())
        return
    out.print(
        f"{query.aggregate.value} of {column}: {json.dumps(r.value)}\n"
        f"spent epsilon {r.spent_epsilon:.4g} of {r.budget_epsilon:g} (evidence {r.evidence_id[:8]})",
        highlight=False,
    )


@app.command("train")
def train_cmd(
    dataset: str = typer.Argument(..., help="Dataset id (its budget is spent)."),
    csv: Path = typer.Argument(..., help="Training CSV (numerical features, 0/1 label)."),
    label: str = typer.Option(..., "--label"),
    features: str | None = typer.Option(None, "--features", help="a,b,c (default: all others)"),
    epsilon: float = typer.Option(..., "--epsilon"),
    delta: float = typer.Option(..., "--delta"),
    epochs: int = typer.Option(5, "--epochs", min=1, max=1000),
    sample_rate: float = typer.Option(0.01, "--sample-rate"),
    max_grad_norm: float = typer.Option(1.0, "--max-grad-norm"),
    learning_rate: float = typer.Option(1.0, "--learning-rate"),
    engine: str = typer.Option("numpy", "--engine", help="numpy or opacus (PyTorch)"),
    output: Path = typer.Option(..., "--out", help="Write the model (JSON) here."),
    format: Format = FormatOpt,
) -> None:
    """DP-SGD logistic regression on a CSV, spent from the dataset's budget."""
    from bastion.privacy.dp import train_dp_logistic
    from bastion.privacy.synthetic import ColumnKind, read_csv

    table, digest = read_csv(csv)
    names = _csv_list(features) or [n for n in table.names if n != label]
    cols = [table.column(n) for n in names]
    for c in cols:
        if c.kind is not ColumnKind.NUMERICAL or c.missing().any():
            raise InputError(f"feature {c.name[:200]!r} must be numerical with no missing cells")
    x = np.column_stack([c.values.astype(float) for c in cols])
    y = table.column(label).values
    try:
        y = np.asarray(y, dtype=float)
    except ValueError:
        raise InputError(f"label {label[:200]!r} must be 0 or 1") from None
    with workspace() as ws:
        model, evidence_id = train_dp_logistic(
            ws,
            dataset,
            x,
            y,
            epsilon=epsilon,
            delta=delta,
            input_digest=digest,
            epochs=epochs,
            sample_rate=sample_rate,
            max_grad_norm=max_grad_norm,
            learning_rate=learning_rate,
            features=names,
            engine=engine,
        )
    _write(output, model.to_json())
    doc = {**model.to_dict(), "evidence_id": evidence_id, "model_digest": model.digest()}
    if format is Format.JSON:
        print_json(doc)
        return
    out.print(
        f"trained {output} with epsilon {model.epsilon:g}, delta {model.delta:g} "
        f"(noise {model.noise_multiplier:.4f}, {model.steps} steps); evidence {evidence_id[:8]}",
        highlight=False,
    )


@app.command("synth")
def synth_cmd(
    csv: Path = typer.Argument(..., help="Real CSV to model."),
    output: Path = typer.Option(..., "--out", help="Write the synthetic CSV here."),
    rows: int | None = typer.Option(None, "--rows", min=1, max=5_000_000),
    holdout_fraction: float = typer.Option(0.2, "--holdout-fraction"),
    categorical: str | None = typer.Option(
        None, "--categorical", help="Columns read as categories."
    ),
    min_quality: float = typer.Option(0.8, "--min-quality"),
    seed: int | None = typer.Option(None, "--seed", min=0),
    report: Path | None = typer.Option(None, "--report", help="Write the full report (JSON)."),
    keep_failed: bool = typer.Option(
        False, "--keep-failed", help="Write the synthetic CSV even when the gate fails."
    ),
    format: Format = FormatOpt,
) -> None:
    """Fit a Gaussian copula, sample, and check fidelity and privacy (privacy.synthetic).
    Exit 1 when the gate fails; the synthetic CSV is then not written."""
    from bastion.core.types import Verdict
    from bastion.privacy.synthetic import Thresholds, read_csv, synthesize

    table, _digest = read_csv(csv, categorical=_csv_list(categorical))
    with workspace() as ws:
        s = synthesize(
            ws,
            table,
            rows=rows,
            holdout_fraction=holdout_fraction,
            seed=seed,
            thresholds=Thresholds(min_quality=min_quality),
            source=csv.name,
        )
    doc = s.to_dict()
    failed = s.evidence.verdict in (Verdict.FAIL, Verdict.ERROR)
    if not failed or keep_failed:
        _write(output, s.table.to_csv())
        doc["written"] = str(output)
    if report is not None:
        _write(report, json.dumps(doc, indent=2).encode())
    if format is Format.JSON:
        print_json(doc)
    else:
        out.print(
            f"privacy.synthetic: {s.evidence.verdict.value}  quality {doc['quality']:.3f}  "
            f"copies {s.privacy.get('exact_copy_rate', 0):.1%}  "
            f"MIA AUC {s.privacy.get('mia_auc')}  (evidence {s.evidence.id[:8]})",
            highlight=False,
        )
        for f in s.evidence.findings:
            out.print(f"  [{f.severity.value}] {f.title}: {f.message}", highlight=False)
        if "written" not in doc:
            out.print(f"{output} not written: the gate failed", highlight=False)
    if failed:
        raise typer.Exit(1)
