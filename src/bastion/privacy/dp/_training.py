"""DP training: DP-SGD logistic regression for tabular data, in numpy or with Opacus.

Both engines run DP-SGD (Abadi et al. 2016): Poisson sampling of each example with rate
``q``, per-example gradients clipped to ``max_grad_norm``, Gaussian noise of standard
deviation ``noise_multiplier * max_grad_norm`` added to the sum. The noise multiplier is
planned for the target (epsilon, delta) with dp-accounting's RDP accountant (the figure
Opacus's RDP accountant gives); the run is spent from the dataset's budget and recorded as
``privacy.dp_training`` evidence. Features are used as given: scale them with public
bounds beforehand (scaling by the data's own mean or range would leak outside the budget).
"""

from __future__ import annotations

import enum
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bastion.core.canonical import canonical_json
from bastion.core.checks import record_evidence
from bastion.core.errors import InputError
from bastion.core.types import Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.privacy.dp._accounting import (
    Mechanism,
    MechanismKind,
    dp_sgd_noise_multiplier,
    validate_delta,
    validate_epsilon,
)
from bastion.privacy.dp._budget import (
    Reservation,
    spend_budget,
    validate_dataset_id,
    would_fit,
)
from bastion.privacy.dp._checks import DpTrainingCheck, DpTrainingData

__all__ = ["DpLogisticModel", "Engine", "fit_dp_logistic", "train_dp_logistic"]

MAX_FEATURES = 1000
MAX_ROWS = 5_000_000


class Engine(enum.StrEnum):
    NUMPY = "numpy"
    OPACUS = "opacus"


@dataclass(frozen=True)
class DpLogisticModel:
    features: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float
    epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    max_grad_norm: float
    engine: Engine

    def decision(self, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        out: np.ndarray[Any, Any] = x @ np.asarray(self.weights) + self.intercept
        return out

    def predict(self, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return (self.decision(x) > 0).astype(int)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "bastion.dp_logistic_regression",
            "features": list(self.features),
            "weights": list(self.weights),
            "intercept": self.intercept,
            "privacy": {
                "epsilon": self.epsilon,
                "delta": self.delta,
                "noise_multiplier": self.noise_multiplier,
                "sample_rate": self.sample_rate,
                "steps": self.steps,
                "max_grad_norm": self.max_grad_norm,
                "engine": self.engine.value,
                "accountant": "rdp",
            },
        }

    def to_json(self) -> bytes:
        return canonical_json(self.to_dict())

    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.to_json()).hexdigest()


def _check_xy(
    x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise InputError("training data: expected an n x d feature matrix and n labels")
    if not (2 <= x.shape[0] <= MAX_ROWS) or not (1 <= x.shape[1] <= MAX_FEATURES):
        raise InputError(
            f"training data: 2-{MAX_ROWS} rows and 1-{MAX_FEATURES} features are supported"
        )
    if not np.isfinite(x).all():
        raise InputError("training data: every feature must be a finite number")
    if not np.isin(y, (0.0, 1.0)).all():
        raise InputError("labels must be 0 or 1")
    return x, y


def _numpy_sgd(
    x: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    *,
    sigma: float,
    q: float,
    steps: int,
    clip: float,
    lr: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray[Any, Any], float]:
    n, d = x.shape
    xa = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    expected = q * n
    for _ in range(steps):
        idx = np.flatnonzero(rng.random(n) < q)
        xb, yb = xa[idx], y[idx]
        z = np.clip(xb @ w, -30, 30)
        g = (1.0 / (1.0 + np.exp(-z)) - yb)[:, None] * xb
        norms = np.linalg.norm(g, axis=1)
        g *= np.minimum(1.0, clip / np.maximum(norms, 1e-12))[:, None]
        noisy = g.sum(axis=0) + rng.normal(0.0, sigma * clip, d + 1)
        w -= lr * noisy / expected
    return w[:d], float(w[d])


def _opacus_sgd(
    x: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    *,
    sigma: float,
    batch_size: int,
    epochs: int,
    clip: float,
    lr: float,
    seed: int | None,
) -> tuple[np.ndarray[Any, Any], float]:
    try:
        import torch
        from opacus import PrivacyEngine
    except ImportError:
        raise InputError(
            "the opacus engine needs torch and opacus installed; fix: use --engine numpy"
        ) from None
    import warnings

    if seed is not None:
        torch.manual_seed(seed)
    d = x.shape[1]
    data = torch.utils.data.TensorDataset(
        torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    )
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size)
    model = torch.nn.Linear(d, 1)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Opacus warns about secure RNG and hooks
        engine = PrivacyEngine(accountant="rdp")
        model, opt, loader = engine.make_private(
            module=model,
            optimizer=opt,
            data_loader=loader,
            noise_multiplier=sigma,
            max_grad_norm=clip,
            poisson_sampling=True,
        )
        loss_fn = torch.nn.BCEWithLogitsLoss()
        for _ in range(epochs):
            for xb, yb in loader:
                if len(xb) == 0:
                    continue
                opt.zero_grad()
                loss_fn(model(xb).squeeze(-1), yb).backward()
                opt.step()
    inner = model._module if hasattr(model, "_module") else model
    w = inner.weight.detach().numpy().reshape(-1).astype(float)
    return w, float(inner.bias.detach().numpy().reshape(-1)[0])


def _schedule(n: int, epochs: int, sample_rate: float, eng: Engine) -> tuple[float, int, int]:
    """Sample rate, steps and (Opacus) batch size, counted as each engine samples."""
    if eng is Engine.OPACUS:
        batch = max(1, round(sample_rate * n))
        batches = math.ceil(n / batch)
        return 1.0 / batches, epochs * batches, batch
    return float(sample_rate), int(epochs / sample_rate), 0


def fit_dp_logistic(
    x: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    *,
    epsilon: float,
    delta: float,
    epochs: int = 5,
    sample_rate: float = 0.01,
    max_grad_norm: float = 1.0,
    learning_rate: float = 1.0,
    features: Sequence[str] | None = None,
    engine: Engine | str = Engine.NUMPY,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
) -> DpLogisticModel:
    """DP-SGD logistic regression for (epsilon, delta) (no ledger: see
    :func:`train_dp_logistic`). ``rng``/``seed`` only for tests."""
    x, y = _check_xy(x, y)
    eps = validate_epsilon(epsilon)
    d = validate_delta(delta, positive=True)
    eng = Engine(engine)
    if not (isinstance(epochs, int) and 1 <= epochs <= 1000):
        raise InputError("epochs must be an integer in [1, 1000]")
    if not (math.isfinite(max_grad_norm) and max_grad_norm > 0):
        raise InputError("max grad norm must be above 0")
    if not (math.isfinite(learning_rate) and 0 < learning_rate <= 100):
        raise InputError("learning rate must lie in (0, 100]")
    n = x.shape[0]
    if not (0 < sample_rate <= 1) or sample_rate * n < 1:
        raise InputError(
            f"sample rate must lie in (0, 1] and give batches of at least one row (n={n})"
        )
    names = tuple(features) if features is not None else tuple(f"x{i}" for i in range(x.shape[1]))
    if len(names) != x.shape[1]:
        raise InputError("features: one name per column")
    q, steps, batch = _schedule(n, epochs, sample_rate, eng)
    sigma = dp_sgd_noise_multiplier(eps, d, q, steps)
    if eng is Engine.OPACUS:
        w, b = _opacus_sgd(
            x,
            y,
            sigma=sigma,
            batch_size=batch,
            epochs=epochs,
            clip=max_grad_norm,
            lr=learning_rate,
            seed=seed,
        )
    else:
        g = rng if rng is not None else np.random.default_rng(seed)
        if rng is None and seed is None:
            import secrets

            g = np.random.default_rng(secrets.randbits(128))
        w, b = _numpy_sgd(
            x, y, sigma=sigma, q=q, steps=steps, clip=max_grad_norm, lr=learning_rate, rng=g
        )
    return DpLogisticModel(
        names,
        tuple(float(v) for v in w),
        b,
        eps,
        d,
        sigma,
        q,
        steps,
        float(max_grad_norm),
        eng,
    )


def train_dp_logistic(
    ws: Workspace,
    dataset: str,
    x: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    *,
    epsilon: float,
    delta: float,
    input_digest: str,
    actor: str = "cli",
    **kwargs: Any,
) -> tuple[DpLogisticModel, str]:
    """Train under ``dataset``'s budget; returns the model and the evidence id. A run that
    would exceed the budget is refused before training, and again under the budget lock
    after it (the model is then discarded): nothing is spent either way."""
    validate_dataset_id(dataset)
    eps = validate_epsilon(epsilon)
    d = validate_delta(delta, positive=True)
    n = int(np.asarray(x).shape[0]) if np.asarray(x).ndim == 2 else 0
    q, steps, _b = _schedule(
        max(n, 1),
        int(kwargs.get("epochs", 5)),
        float(kwargs.get("sample_rate", 0.01)),
        Engine(kwargs.get("engine", Engine.NUMPY)),
    )
    if 0 < q <= 1 and steps >= 1:
        # Refuse before training when it cannot fit (the spend below decides, under lock).
        planned = Mechanism(
            MechanismKind.GAUSSIAN, dp_sgd_noise_multiplier(eps, d, q, steps), q, steps
        )
        would_fit(ws, dataset, epsilon=eps, delta=d, mechanisms=[planned], kind="training")
    model = fit_dp_logistic(x, y, epsilon=eps, delta=d, **kwargs)
    mech = Mechanism(MechanismKind.GAUSSIAN, model.noise_multiplier, model.sample_rate, model.steps)

    def act(r: Reservation) -> tuple[str, str | None]:
        ev = record_evidence(
            ws,
            DpTrainingCheck,
            Subject("dataset", dataset, input_digest),
            verdict=Verdict.PASS,
            data=DpTrainingData(
                dataset=dataset,
                model=model.digest(),
                epsilon=model.epsilon,
                delta=model.delta,
                noise_multiplier=model.noise_multiplier,
                sample_rate=model.sample_rate,
                steps=model.steps,
                max_grad_norm=model.max_grad_norm,
                engine=model.engine.value,
                spent_epsilon=r.spent_after,
                budget_epsilon=r.budget.epsilon,
                accounting=r.budget.accounting.value,
                input_digest=input_digest,
                output_digest=model.digest(),
            ),
            actor=actor,
            session=r.session,
        )
        from bastion.privacy.lineage import dp_training_lineage

        dp_training_lineage(
            ws, dataset=dataset, input_digest=input_digest, model_digest=model.digest(),
            features=model.features, evidence_id=ev.id, actor=actor, session=r.session,
        )  # fmt: skip
        return ev.id, ev.id

    evidence_id, _after = spend_budget(
        ws,
        dataset,
        kind="training",
        description=f"DP-SGD logistic regression ({model.engine.value}, {model.steps} steps)",
        epsilon=model.epsilon,
        delta=model.delta,
        mechanisms=[mech],
        action=act,
        actor=actor,
    )
    return model, evidence_id
