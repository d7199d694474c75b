"""Model extraction by query-based stealing (Tramèr et al. 2016; Papernot et al. 2017):
the attacker sends inputs from a query pool to the target, trains a surrogate on its
answers (labels, or probability vectors when the target gives them) and is measured by
**fidelity** (agreement of surrogate and target on held-out inputs) and **accuracy** (of
the surrogate on their true labels), as a function of the query budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bastion.robustness.interface import Capability, RobustnessError, Target

__all__ = [
    "ExtractionPoint",
    "ExtractionReport",
    "extract_model",
    "extraction_from_files",
    "mlp_surrogate",
]

MAX_BUDGETS = 16
MAX_QUERIES = 1_000_000

#: ``(x, answers, soft, seed) -> Target``: answers are class indices, or probability rows
#: when ``soft``.
SurrogateTrainer = Callable[[NDArray[np.float32], NDArray[Any], bool, int], Target]


def mlp_surrogate(
    hidden: tuple[int, ...] = (64,), epochs: int = 60, lr: float = 1e-2
) -> SurrogateTrainer:
    """A ReLU MLP surrogate trained with Adam (on soft labels when the target gives
    probabilities: distillation of the target)."""
    from bastion.robustness._compare import mlp
    from bastion.robustness._defenses import TrainSpec, train_classifier
    from bastion.robustness._targets import TorchTarget

    def train(x: NDArray[np.float32], answers: NDArray[Any], soft: bool, seed: int) -> Target:
        shape = tuple(x.shape[1:])
        k = answers.shape[1] if soft else max(2, int(answers.max()) + 1)
        module = mlp(math.prod(shape), k, hidden, seed=seed)
        hard = answers.argmax(axis=1) if soft else answers
        train_classifier(
            module, x.reshape(len(x), -1), hard, input_shape=(math.prod(shape),),
            spec=TrainSpec(epochs=epochs, lr=lr, batch_size=64, seed=seed),
            soft_labels=answers if soft else None,
        )  # fmt: skip
        return _Flat(TorchTarget(module, (math.prod(shape),)), shape)

    return train


class _Flat:
    """A flat-input target seen with the original input shape."""

    def __init__(self, inner: Any, shape: tuple[int, ...]) -> None:
        self.inner, self.input_shape = inner, shape
        self.kind, self.capabilities, self.n_classes = (
            inner.kind,
            inner.capabilities,
            inner.n_classes,
        )

    def predict_proba(self, x: NDArray[Any]) -> NDArray[np.float32]:
        out: NDArray[np.float32] = self.inner.predict_proba(np.asarray(x).reshape(len(x), -1))
        return out

    def predict_labels(self, x: NDArray[Any]) -> NDArray[np.int64]:
        out: NDArray[np.int64] = self.inner.predict_labels(np.asarray(x).reshape(len(x), -1))
        return out


@dataclass(frozen=True)
class ExtractionPoint:
    budget: int  # queries sent to the target
    fidelity: float
    accuracy: float
    cpu_seconds: float  # training the surrogate


@dataclass(frozen=True)
class ExtractionReport:
    answers: str  # "labels" or "probabilities"
    target_accuracy: float
    curve: tuple[ExtractionPoint, ...]
    queries: int
    cpu_seconds: float

    def to_data(self) -> dict[str, Any]:
        return {
            "answers": self.answers,
            "target_accuracy": self.target_accuracy,
            "curve": [
                {
                    "budget": p.budget,
                    "fidelity": p.fidelity,
                    "accuracy": p.accuracy,
                    "cpu_seconds": round(p.cpu_seconds, 4),
                }
                for p in self.curve
            ],
            "fidelity_at": {f"q_{p.budget}": p.fidelity for p in self.curve},
            "cost": {"cpu_seconds": round(self.cpu_seconds, 4), "queries": self.queries},
        }

    def curve_svg(self) -> str:
        """Fidelity and surrogate accuracy against the query budget (log scale)."""
        from matplotlib.figure import Figure
        from matplotlib.ticker import PercentFormatter

        from bastion.core.charts import render_svg

        fig = Figure(figsize=(6, 3.6))
        ax = fig.add_subplot()
        b = [p.budget for p in self.curve]
        ax.plot(b, [p.fidelity for p in self.curve], marker="o", color="#1f4e79",
                label="fidelity (agrees with the target)")  # fmt: skip
        ax.plot(b, [p.accuracy for p in self.curve], marker="s", linestyle="--",
                color="#b03a2e", label="surrogate accuracy")  # fmt: skip
        ax.axhline(self.target_accuracy, color="#888888", linestyle=":", label="target accuracy")
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_xlabel("queries to the target")
        ax.set_title(f"Model extraction from {self.answers}")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        return render_svg(fig, "bastion-robustness")


def extract_model(
    target: Target,
    pool: NDArray[Any],
    x_test: NDArray[Any],
    y_test: NDArray[Any],
    *,
    budgets: tuple[int, ...] = (100, 300, 1000),
    answers: str | None = None,
    trainer: SurrogateTrainer | None = None,
    seed: int = 0,
) -> ExtractionReport:
    """Steal ``target`` with the first ``budget`` inputs of a shuffled query ``pool`` for
    each budget; ``answers``: ``labels`` or ``probabilities`` (None: probabilities when
    the target gives them)."""
    from bastion.robustness._evaluate import prepare_data

    if not budgets or len(budgets) > MAX_BUDGETS or list(budgets) != sorted(set(budgets)):
        raise RobustnessError(f"budgets: 1-{MAX_BUDGETS} increasing query counts")
    if budgets[0] < 2 or budgets[-1] > MAX_QUERIES:
        raise RobustnessError(f"budgets must lie in 2..{MAX_QUERIES}")
    gives_proba = Capability.PROBABILITIES in target.capabilities
    mode = answers or ("probabilities" if gives_proba else "labels")
    if mode not in ("labels", "probabilities"):
        raise RobustnessError("answers: labels or probabilities")
    if mode == "probabilities" and not gives_proba:
        raise RobustnessError(f"this {target.kind} target answers labels only")
    xp = np.asarray(pool)
    if len(xp) < budgets[-1]:
        raise RobustnessError(f"the query pool holds {len(xp)} inputs, fewer than {budgets[-1]}")
    xs, ys = prepare_data(target, x_test, y_test)
    xq, _ = prepare_data(target, xp, np.zeros(len(xp), dtype=np.int64))
    train = trainer or mlp_surrogate()
    t0 = time.process_time()
    xq = xq[np.random.default_rng(seed).permutation(len(xq))[: budgets[-1]]]
    answered = target.predict_proba(xq) if mode == "probabilities" else target.predict_labels(xq)
    truth = target.predict_labels(xs)
    points = []
    for b in budgets:
        c0 = time.process_time()
        surrogate = train(xq[:b], np.asarray(answered[:b]), mode == "probabilities", seed)
        pred = surrogate.predict_labels(xs)
        points.append(
            ExtractionPoint(
                budget=b,
                fidelity=float((pred == truth).mean()),
                accuracy=float((pred == ys).mean()),
                cpu_seconds=time.process_time() - c0,
            )
        )
    return ExtractionReport(
        answers=mode,
        target_accuracy=float((truth == ys).mean()),
        curve=tuple(points),
        queries=budgets[-1] + len(xs),
        cpu_seconds=time.process_time() - t0,
    )


def extraction_from_files(
    model: Path,
    pool: Path,
    data: Path,
    *,
    label: str = "label",
    budgets: tuple[int, ...] = (100, 300, 1000),
    answers: str | None = None,
    hidden: tuple[int, ...] = (64,),
    epochs: int = 60,
    seed: int = 0,
) -> tuple[ExtractionReport, str]:
    """Steal a scanned-safe model file (loaded only through ``load_target``) with the
    inputs of the ``pool`` file, measured on the ``data`` file: (report, model digest).
    The pool's labels are ignored: the target's answers are what the surrogate learns."""
    from bastion.robustness._data import load_dataset
    from bastion.robustness._targets import load_target

    if not 1 <= epochs <= 1000:
        raise RobustnessError("epochs must lie in 1..1000")
    qp = load_dataset(pool, label=label)
    ev = load_dataset(data, label=label)
    loaded = load_target(model)
    report = extract_model(
        loaded.target,
        qp.x,
        ev.x,
        ev.y,
        budgets=budgets,
        answers=answers,
        trainer=mlp_surrogate(hidden, epochs),
        seed=seed,
    )
    return report, loaded.digest
