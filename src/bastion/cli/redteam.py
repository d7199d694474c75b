"""`bastion redteam`: adversarial robustness evaluations of model files. Thin: each
command calls one public function of the robustness room (through the check runner when
the evaluation is recorded)."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import typer

from bastion.cli._common import fail, out, print_json, print_table, progress, workspace

__all__ = ["app"]

app = typer.Typer(
    help="Red-team models: evasion attacks, robustness curves, certified radii, defenses.",
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
    model: Path | None = typer.Argument(
        None, help="Model file: ONNX, or a scikit-learn pickle (or give --endpoint)."
    ),
    data: Path = typer.Option(..., "--data", help="CSV with a header, or NPZ with x and y."),
    endpoint: str | None = typer.Option(
        None, "--endpoint", help="Black-box inference URL instead of a model file."
    ),
    template: Path | None = typer.Option(
        None, "--template", help="Endpoint request template (YAML/JSON) for --endpoint."
    ),
    allow_host: list[str] = typer.Option(
        [], "--allow-host", help="A non-loopback endpoint host you are authorised to test."
    ),
    query_budget: int = typer.Option(
        1_000_000, "--query-budget", min=1, max=10_000_000, help="Rows the endpoint may be sent."
    ),
    concurrency: int = typer.Option(
        4, "--concurrency", min=1, max=64, help="Endpoint requests in flight at most."
    ),
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
    eot: int | None = typer.Option(
        None,
        "--eot",
        min=1,
        max=1000,
        help="Gradient samples averaged per step (EOT); default 16 when the model is random.",
    ),
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

    if (model is None) == (endpoint is None):
        fail("give a model file or --endpoint URL (with --template), not both")
    params: dict[str, Any] = {
        "path": str(model) if model is not None else None,
        "endpoint": endpoint,
        "template": str(template) if template is not None else None,
        "allow_hosts": list(allow_host),
        "query_budget": query_budget,
        "concurrency": concurrency,
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
        "eot": eot,
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
            subject = Subject("model", name or str(model or endpoint))
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
            f"{attack.value.upper()} ({norm.value}) on {model.name if model else endpoint}: "
            f"{verdict.value}, clean "
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


class UseCaseOpt(enum.StrEnum):
    BALANCED = "balanced"
    HIGH_ASSURANCE = "high_assurance"
    ACCURACY_FIRST = "accuracy_first"
    LOW_LATENCY = "low_latency"


def _shape(value: str | None) -> tuple[int, ...] | None:
    if not value:
        return None
    try:
        return tuple(int(p) for p in value.lower().split("x"))
    except ValueError:
        raise typer.BadParameter("expected sizes like 8x8 or 3x32x32") from None


def _csv(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(",") if p.strip())


@app.command("compare")
def compare(
    train: Path | None = typer.Option(
        None, "--train", help="Training data (CSV or NPZ): trains the baseline MLP."
    ),
    model: Path | None = typer.Option(
        None, "--model", help="Or a scanned-safe model file (ONNX, scikit-learn pickle)."
    ),
    data: Path = typer.Option(..., "--data", help="Evaluation data, same format."),
    label: str = typer.Option("label", "--label", help="The label column of a CSV."),
    hidden: str = typer.Option("64", "--hidden", help="The baseline MLP's layer sizes: 64,32."),
    defenses: str | None = typer.Option(
        None,
        "--defenses",
        help="Defenses to compare with the undefended model (default: all that apply).",
    ),
    attacks: str = typer.Option("pgd", "--attacks", help="Attacks: pgd, fgsm, square."),
    eps: str = typer.Option("0.1", "--eps", help="Budgets (L-inf), comma-separated, increasing."),
    steps: int = typer.Option(20, "--steps", min=1, max=1000, help="Attack steps."),
    queries: int = typer.Option(300, "--queries", min=1, max=10_000, help="Square queries."),
    eot: int = typer.Option(16, "--eot", min=1, max=256, help="Draws of the EOT attack."),
    epochs: int = typer.Option(20, "--epochs", min=1, max=1000, help="Training epochs."),
    sigma: float = typer.Option(0.1, "--sigma", help="Randomization noise."),
    temperature: float = typer.Option(20.0, "--temperature", help="Distillation temperature."),
    prune_amount: float = typer.Option(0.5, "--prune-amount", help="Share of weights pruned."),
    image_shape: str | None = typer.Option(
        None, "--image-shape", help="Inputs are images of this shape (8x8): purification."
    ),
    samples: int | None = typer.Option(None, "--samples", min=1, help="Evaluate the first N."),
    seed: int = typer.Option(0, "--seed", min=0),
    clip_min: float = typer.Option(0.0, "--clip-min"),
    clip_max: float = typer.Option(1.0, "--clip-max"),
    use_case: UseCaseOpt = typer.Option(UseCaseOpt.BALANCED, "--use-case"),
    min_accuracy: float | None = typer.Option(
        None, "--min-accuracy", min=0.0, max=1.0, help="Fail below this worst-case accuracy."
    ),
    chart: Path | None = typer.Option(None, "--chart", help="Write the comparison chart (SVG)."),
    record: bool = typer.Option(True, "--record/--no-record", help="Store evidence."),
    name: str | None = typer.Option(None, "--name", help="Subject reference (default: --train)."),
    format: Fmt = typer.Option(Fmt.TABLE, "--format", "-f", help="Output format."),
) -> None:
    """Compare defenses on one baseline model, the same data and the same attacks.

    With --train: trains the baseline MLP, builds every defense from it. With --model: a
    scanned-safe model file, the wrapper defenses (purification, randomization) only.
    Each is attacked on --data (adaptive attacks and transferred examples included).
    Exit 0 pass, 1 when the recommended defense is below --min-accuracy, 2 bad input.
    """
    from bastion.core.types import Subject, Verdict
    from bastion.robustness import (
        CompareSpec,
        TrainSpec,
        compare_from_files,
        compare_model_file,
        comparison_verdict,
    )
    from bastion.robustness import record_comparison as record_it

    if (train is None) == (model is None):
        raise typer.BadParameter("give --train (train a baseline) or --model (a model file)")
    if defenses is None:
        defenses = (
            "purification,randomization"
            if model is not None
            else "adversarial_training,purification,randomization,distillation,pruning"
        )

    try:
        eps_t = tuple(float(e) for e in _csv(eps))
        hidden_t = tuple(int(h) for h in _csv(hidden))
    except ValueError:
        raise typer.BadParameter("--eps and --hidden take comma-separated numbers") from None
    names = _csv(defenses)
    spec = CompareSpec(
        eps=eps_t,
        attacks=_csv(attacks),
        defenses=("none", *names),
        steps=steps,
        queries=queries,
        eot=eot,
        train=TrainSpec(epochs=epochs, seed=seed),
        sigma=sigma,
        temperature=temperature,
        prune_amount=prune_amount,
        image_shape=_shape(image_shape),
        clip_min=clip_min,
        clip_max=clip_max,
        seed=seed,
        use_case=use_case.value,
    )
    steps_total = len(set(names) - {"none"}) + 2
    with progress("comparing defenses", steps_total) as bar:
        done = [0]

        def tick(_stage: str) -> None:
            done[0] += 1
            bar(done[0], steps_total)

        model_digest: str | None = None
        train_digest: str | None = None
        if model is not None:
            comparison, model_digest, data_digest = compare_model_file(
                model, data, label=label, samples=samples, spec=spec, progress=tick
            )
        else:
            assert train is not None  # one of the two, checked above
            comparison, train_digest, data_digest = compare_from_files(
                train, data, label=label, hidden=hidden_t, samples=samples, spec=spec,
                progress=tick,
            )  # fmt: skip
    evidence_id: str | None = None
    if record:
        with workspace() as ws:
            ev = record_it(
                ws,
                comparison,
                Subject("model", name or str(model or train), model_digest),
                min_accuracy=min_accuracy,
                train_digest=train_digest,
                data_digest=data_digest,
                actor="cli",
            )
        verdict, evidence_id = ev.verdict, ev.id
    else:
        verdict, _f = comparison_verdict(comparison, min_accuracy)
    if chart is not None:
        chart.write_bytes(comparison.chart_svg().encode())
    result = comparison.to_data()
    if format is Fmt.JSON:
        print_json(result | {"verdict": verdict.value, "evidence": evidence_id})
    else:
        key = comparison.headline_eps
        labels = sorted({a for r in comparison.rows for a in r.robust})
        print_table(
            f"Defenses at eps {spec.eps[-1]:g} on {data.name}: {verdict.value}",
            ["defense", "clean", *labels, "worst case", "build CPU-s", "predict ms/1k"],
            [
                (
                    r.defense,
                    f"{r.clean_accuracy:.3f}",
                    *(f"{r.robust[a][key]:.3f}" if a in r.robust else "-" for a in labels),
                    f"{r.worst_case[key]:.3f}",
                    f"{r.build_cpu_seconds:.2f}",
                    f"{r.predict_cpu_seconds_per_1000 * 1000:.2f}",
                )
                for r in comparison.rows
            ],
        )
        for r in comparison.rows:
            for note in r.notes:
                out.print(f"  {r.defense}: {note}", highlight=False)
        for uc, rec in result["recommendations"].items():
            mark = "*" if uc == spec.use_case else " "
            out.print(f" {mark}{uc}: {rec['defense']} - {rec['reason']}", highlight=False)
        out.print(
            f"  cost: {comparison.cpu_seconds:.2f} CPU-s"
            + (f"; evidence {evidence_id}" if evidence_id else ""),
            highlight=False,
        )
    raise typer.Exit(0 if verdict is Verdict.PASS else 1)


class MiaAttack(enum.StrEnum):
    LOSS = "loss"
    LIRA = "lira"


@app.command("membership")
def membership(
    model: Path = typer.Argument(..., help="Model file: ONNX, or a scikit-learn pickle."),
    members: Path = typer.Option(..., "--members", help="The model's training points."),
    nonmembers: Path = typer.Option(..., "--nonmembers", help="Points the model never saw."),
    population: Path | None = typer.Option(
        None, "--population", help="LiRA: shadow-model data, disjoint from both."
    ),
    label: str = typer.Option("label", "--label", help="The label column of a CSV."),
    attack: MiaAttack = typer.Option(MiaAttack.LOSS, "--attack"),
    shadow_models: int | None = typer.Option(
        None, "--shadow-models", min=1, max=256, help="LiRA shadow models."
    ),
    shadow_budget: float | None = typer.Option(
        None, "--shadow-budget", help="LiRA: CPU-seconds for shadow models (the planner sizes it)."
    ),
    bootstrap: int = typer.Option(200, "--bootstrap", min=0, max=10_000),
    delta: float = typer.Option(1e-5, "--delta", help="Delta of the empirical epsilon bound."),
    seed: int = typer.Option(0, "--seed", min=0),
    max_auc: float | None = typer.Option(
        None, "--max-auc", min=0.0, max=1.0, help="Fail above this AUC."
    ),
    dp_epsilon: float | None = typer.Option(None, "--dp-epsilon", help="The training's epsilon."),
    dp_delta: float | None = typer.Option(None, "--dp-delta", help="The training's delta."),
    dp_noise_multiplier: float | None = typer.Option(None, "--dp-noise-multiplier"),
    dp_sample_rate: float | None = typer.Option(None, "--dp-sample-rate"),
    dp_steps: int | None = typer.Option(None, "--dp-steps", min=1),
    chart: Path | None = typer.Option(None, "--chart", help="Write the ROC curve (SVG)."),
    record: bool = typer.Option(True, "--record/--no-record", help="Store evidence."),
    name: str | None = typer.Option(None, "--name", help="Subject reference (default: MODEL)."),
    format: Fmt = typer.Option(Fmt.TABLE, "--format", "-f", help="Output format."),
) -> None:
    """Membership inference against a scanned-safe model: AUC, TPR at low FPR.

    Exit 0 pass, 1 when the AUC is above --max-auc (or the attack beats a DP model's
    accountant bound) or a reported FPR is below the sample's resolution, 2 bad input.
    """
    from bastion.core.checks import run_check
    from bastion.core.types import Subject, Verdict
    from bastion.robustness import MembershipCheck, membership_from_params, membership_verdict

    params: dict[str, Any] = {
        "path": str(model),
        "members": str(members),
        "nonmembers": str(nonmembers),
        "population": str(population) if population else None,
        "label": label,
        "attack": attack.value,
        "shadow_models": shadow_models,
        "shadow_budget_seconds": shadow_budget,
        "bootstrap": bootstrap,
        "delta": delta,
        "seed": seed,
        "max_auc": max_auc,
        "dp_epsilon": dp_epsilon,
        "dp_delta": dp_delta,
        "dp_noise_multiplier": dp_noise_multiplier,
        "dp_sample_rate": dp_sample_rate,
        "dp_steps": dp_steps,
    }
    prepared = membership_from_params(params)
    report = prepared[0]
    evidence_id: str | None = None
    if record:
        with workspace() as ws:
            subject = Subject("model", name or str(model))
            ev = run_check(ws, MembershipCheck(prepared), subject, actor="cli", params=params)
        verdict, evidence_id = ev.verdict, ev.id
    else:
        verdict, _f = membership_verdict(report, max_auc)
    if chart is not None:
        chart.write_bytes(report.roc_svg().encode())
    result = report.to_data()
    if format is Fmt.JSON:
        print_json(result | {"verdict": verdict.value, "evidence": evidence_id})
    else:
        lo, hi = report.auc_ci
        print_table(
            f"Membership inference ({attack.value}) on {model.name}: {verdict.value}, AUC "
            f"{report.auc:.3f} ({lo:.3f}-{hi:.3f})",
            ["FPR", "TPR", "interval", "resolved"],
            [
                (
                    k.removeprefix("fpr_").replace("_", "."),
                    f"{v:.4f}",
                    f"{report.tpr_ci[k][0]:.4f}-{report.tpr_ci[k][1]:.4f}",
                    "yes" if report.resolution[k] else "NO",
                )
                for k, v in report.tpr_at.items()
            ],
        )
        out.print(
            f"  advantage {report.advantage:.3f}; empirical epsilon >= "
            f"{report.empirical_epsilon:.3f} at delta {report.delta:g}"
            + (
                f"; accountant's epsilon <= {report.dp.epsilon:.3f} ({report.dp.accountant})"
                if report.dp is not None
                else ""
            ),
            highlight=False,
        )
        if report.shadow is not None:
            out.print(f"  shadow models: {report.shadow.advice}", highlight=False)
        for w in report.warnings:
            out.print(f"  warning: {w}", highlight=False)
        out.print(
            f"  cost: {report.cpu_seconds:.2f} CPU-s, {report.queries} queries"
            + (f"; evidence {evidence_id}" if evidence_id else ""),
            highlight=False,
        )
    raise typer.Exit(0 if verdict is Verdict.PASS else 1)


class Answers(enum.StrEnum):
    AUTO = "auto"
    LABELS = "labels"
    PROBABILITIES = "probabilities"


@app.command("extract")
def extract(
    model: Path = typer.Argument(..., help="Model file: ONNX, or a scikit-learn pickle."),
    pool: Path = typer.Option(..., "--pool", help="The attacker's query inputs (labels unused)."),
    data: Path = typer.Option(..., "--data", help="Held-out inputs and labels to measure on."),
    label: str = typer.Option("label", "--label", help="The label column of a CSV."),
    budgets: str = typer.Option("100,300,1000", "--budgets", help="Query budgets, increasing."),
    answers: Answers = typer.Option(Answers.AUTO, "--answers", help="What the target returns."),
    hidden: str = typer.Option("64", "--hidden", help="The surrogate MLP's layer sizes."),
    epochs: int = typer.Option(60, "--epochs", min=1, max=1000),
    seed: int = typer.Option(0, "--seed", min=0),
    max_fidelity: float | None = typer.Option(
        None, "--max-fidelity", min=0.0, max=1.0, help="Fail when the surrogate reaches it."
    ),
    chart: Path | None = typer.Option(None, "--chart", help="Write the fidelity curve (SVG)."),
    format: Fmt = typer.Option(Fmt.TABLE, "--format", "-f", help="Output format."),
) -> None:
    """Steal a scanned-safe model through its answers: fidelity and accuracy by budget.

    Exit 0, 1 when the surrogate's fidelity at the largest budget reaches --max-fidelity,
    2 bad input.
    """
    from bastion.robustness import extraction_from_files

    try:
        budgets_t = tuple(int(b) for b in _csv(budgets))
        hidden_t = tuple(int(h) for h in _csv(hidden))
    except ValueError:
        raise typer.BadParameter("--budgets and --hidden take comma-separated integers") from None
    report, digest = extraction_from_files(
        model, pool, data, label=label, budgets=budgets_t,
        answers=None if answers is Answers.AUTO else answers.value, hidden=hidden_t,
        epochs=epochs, seed=seed,
    )  # fmt: skip
    if chart is not None:
        chart.write_bytes(report.curve_svg().encode())
    top = report.curve[-1].fidelity
    stolen = max_fidelity is not None and top >= max_fidelity
    result = report.to_data() | {"model_digest": digest, "stolen": stolen}
    if format is Fmt.JSON:
        print_json(result)
    else:
        print_table(
            f"Extraction of {model.name} from {report.answers}: target accuracy "
            f"{report.target_accuracy:.3f}",
            ["queries", "fidelity", "surrogate accuracy", "train CPU-s"],
            [
                (str(p.budget), f"{p.fidelity:.3f}", f"{p.accuracy:.3f}", f"{p.cpu_seconds:.2f}")
                for p in report.curve
            ],
        )
        out.print(
            f"  cost: {report.cpu_seconds:.2f} CPU-s, {report.queries} queries"
            + ("; the model is stealable at this budget" if stolen else ""),
            highlight=False,
        )
    raise typer.Exit(1 if stolen else 0)


class PoisonAttack(enum.StrEnum):
    BACKDOOR = "backdoor"
    LABEL_FLIP = "label_flip"


@app.command("poison")
def poison(
    train: Path = typer.Option(..., "--train", help="Training data: CSV with a header, or NPZ."),
    data: Path = typer.Option(..., "--data", help="Test data, same format."),
    label: str = typer.Option("label", "--label", help="The label column of a CSV."),
    attack: PoisonAttack = typer.Option(PoisonAttack.BACKDOOR, "--attack"),
    rate: float = typer.Option(0.05, "--rate", help="Share of the training set poisoned."),
    target_class: int | None = typer.Option(
        0, "--target-class", help="Backdoor class (label_flip: flip to it; omit: random)."
    ),
    random_flips: bool = typer.Option(
        False, "--random-flips", help="label_flip: flip to random other classes."
    ),
    image_shape: str | None = typer.Option(None, "--image-shape", help="Patch trigger on 8x8."),
    patch: int = typer.Option(2, "--patch", min=1, help="Patch size in pixels."),
    patch_value: float = typer.Option(1.0, "--patch-value"),
    trigger_features: str = typer.Option("", "--trigger-features", help="Tabular trigger: 0,3."),
    trigger_values: str = typer.Option("", "--trigger-values", help="Their values: 1,0."),
    hidden: str = typer.Option("64", "--hidden", help="The MLP's layer sizes."),
    epochs: int = typer.Option(30, "--epochs", min=1, max=1000),
    detect: bool = typer.Option(True, "--detect/--no-detect", help="Run the two detectors."),
    seed: int = typer.Option(0, "--seed", min=0),
    format: Fmt = typer.Option(Fmt.TABLE, "--format", "-f", help="Output format."),
) -> None:
    """Poison a training set, train the same MLP clean and poisoned, measure the damage.

    Reports clean and poisoned accuracy, the backdoor's attack success rate and what
    activation clustering and spectral signatures find. Exit 0, 2 bad input.
    """
    from bastion.robustness import poisoning_from_files

    try:
        feats = tuple(int(f) for f in _csv(trigger_features))
        vals = tuple(float(v) for v in _csv(trigger_values))
        hidden_t = tuple(int(h) for h in _csv(hidden))
    except ValueError:
        raise typer.BadParameter("trigger features, values and --hidden take numbers") from None
    report, _td, _dd = poisoning_from_files(
        train, data, label=label, attack=attack.value, rate=rate,
        target_class=None if random_flips else target_class, image_shape=_shape(image_shape),
        patch=patch, patch_value=patch_value, trigger_features=feats, trigger_values=vals,
        hidden=hidden_t, epochs=epochs, detect=detect, seed=seed,
    )  # fmt: skip
    result = report.to_data()
    if format is Fmt.JSON:
        print_json(result)
        raise typer.Exit(0)
    asr = result["attack_success_rate"]
    print_table(
        f"{attack.value} poisoning of {report.poisoned} training points ({rate:.0%})",
        ["model", "test accuracy", "attack success rate"],
        [
            (
                "clean",
                f"{report.clean_model_accuracy:.3f}",
                "-" if asr is None else f"{result['clean_model_attack_success_rate']:.3f}",
            ),
            (
                "poisoned",
                f"{report.poisoned_model_accuracy:.3f}",
                "-" if asr is None else f"{asr:.3f}",
            ),
        ],
    )
    for d in result["detection"]:
        out.print(
            f"  {d['method']}: flagged {d['flagged']} (precision {d['precision']:.3f}, recall "
            f"{d['recall']:.3f}), classes {d['flagged_classes']}",
            highlight=False,
        )
    out.print(f"  cost: {report.cpu_seconds:.2f} CPU-s", highlight=False)


class DetectAttack(enum.StrEnum):
    PGD = "pgd"
    FGSM = "fgsm"
    SQUARE = "square"


@app.command("detect")
def detect(
    model: Path = typer.Argument(..., help="Model file: ONNX, or a scikit-learn pickle."),
    calibrate: Path = typer.Option(
        ..., "--calibrate", help="Benign inputs held out from training: the threshold."
    ),
    data: Path = typer.Option(..., "--data", help="Other benign inputs with labels."),
    label: str = typer.Option("label", "--label", help="The label column of a CSV."),
    fpr: float = typer.Option(0.05, "--fpr", help="Target false positive rate."),
    image_shape: str | None = typer.Option(None, "--image-shape", help="Images: 8x8."),
    bits: int | None = typer.Option(None, "--bits", help="Bit-depth squeezer."),
    median: int | None = typer.Option(None, "--median", help="Median-filter squeezer size."),
    round_step: float | None = typer.Option(None, "--round", help="Rounding squeezer step."),
    attack: DetectAttack = typer.Option(DetectAttack.PGD, "--attack"),
    eps: str = typer.Option("0.1", "--eps", help="Budgets (L-inf), comma-separated."),
    steps: int = typer.Option(20, "--steps", min=1, max=1000),
    queries: int = typer.Option(300, "--queries", min=1, max=10_000),
    samples: int | None = typer.Option(None, "--samples", min=1),
    clip_min: float = typer.Option(0.0, "--clip-min"),
    clip_max: float = typer.Option(1.0, "--clip-max"),
    seed: int = typer.Option(0, "--seed", min=0),
    min_tpr: float | None = typer.Option(
        None, "--min-tpr", min=0.0, max=1.0, help="Fail below this detection rate."
    ),
    save: Path | None = typer.Option(
        None, "--save", help="Write the calibrated detector's config (JSON) for the guard."
    ),
    record: bool = typer.Option(True, "--record/--no-record", help="Store evidence."),
    name: str | None = typer.Option(None, "--name", help="Subject reference (default: MODEL)."),
    format: Fmt = typer.Option(Fmt.TABLE, "--format", "-f", help="Output format."),
) -> None:
    """Calibrate a feature-squeezing detector and measure how well it detects attacks.

    Exit 0 pass, 1 when the detection rate at the largest eps is below --min-tpr, 2 bad
    input.
    """
    import json

    from bastion.core.types import Subject, Verdict
    from bastion.robustness import detector_from_files, detector_verdict, record_detector

    try:
        eps_t = tuple(float(e) for e in _csv(eps))
    except ValueError:
        raise typer.BadParameter("--eps takes comma-separated numbers") from None
    result, model_digest, data_digest = detector_from_files(
        model, calibrate, data, label=label, image_shape=_shape(image_shape), bits=bits,
        median=median, round_step=round_step, fpr=fpr, eps=eps_t, attack=attack.value,
        steps=steps, queries=queries, samples=samples, clip_min=clip_min, clip_max=clip_max,
        seed=seed,
    )  # fmt: skip
    evidence_id: str | None = None
    if record:
        with workspace() as ws:
            ev = record_detector(
                ws, result, Subject("model", name or str(model), model_digest),
                min_tpr=min_tpr, data_digest=data_digest, actor="cli",
            )  # fmt: skip
        verdict, evidence_id = ev.verdict, ev.id
    else:
        verdict, _f = detector_verdict(result, min_tpr)
    if save is not None:
        save.write_text(json.dumps(result.config, indent=2) + "\n", encoding="utf-8")
    doc = result.to_data()
    if format is Fmt.JSON:
        print_json(doc | {"verdict": verdict.value, "evidence": evidence_id})
    else:
        cal = result.calibration
        print_table(
            f"Feature squeezing ({', '.join(cal.squeezers)}) on {model.name}: {verdict.value}, "
            f"threshold {cal.threshold:.4f} for FPR {cal.target_fpr:g}; benign FPR "
            f"{result.benign_fpr:.3f}",
            ["eps", "adversarial", "AUC", "detected"],
            [
                (
                    k.removeprefix("eps_").replace("_", "."),
                    f"{int(v['adversarial'])}",
                    f"{v['auc']:.3f}",
                    f"{v['tpr']:.3f}",
                )
                for k, v in result.detection.items()
            ],
        )
        out.print(
            f"  cost: {result.cpu_seconds:.2f} CPU-s, {result.microseconds_per_input:.0f} us "
            "per input" + (f"; evidence {evidence_id}" if evidence_id else ""),
            highlight=False,
        )
    raise typer.Exit(0 if verdict is Verdict.PASS else 1)
