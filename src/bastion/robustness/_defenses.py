"""Defenses against evasion, each a function returning a new target (the model given is
never changed).

- :func:`adversarial_training`: PGD adversarial training (Madry et al. 2018), fine-tuning
  a copy of a PyTorch module on the worst-case PGD example of each training input.
- :func:`purified`: input purification, any target behind feature squeezers (bit depth,
  median smoothing, rounding: the squeezers of the detector).
- :func:`randomized`: input randomization, Gaussian noise added to every query and the
  probabilities averaged over draws.
- :func:`distilled`: defensive distillation (Papernot et al. 2016): a teacher trained at
  temperature T, a student trained on its soft labels at T and run at 1.
- :func:`pruned`: defensive pruning, global magnitude pruning of the weights
  (``torch.nn.utils.prune``), optionally fine-tuned.

Each defended target also offers ``adaptive()``: the target an adaptive attacker would
attack white-box instead (Athalye, Carlini and Wagner 2018): BPDA through the purifier,
expectation over transformation through the noise, the student's logits divided by T.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from bastion.robustness._attacks import _Box, _step
from bastion.robustness._detect import Squeezer, default_squeezers
from bastion.robustness._targets import TorchTarget
from bastion.robustness.interface import AttackSpec, Capability, Norm, RobustnessError, Target

__all__ = [
    "DistilledTarget",
    "PurifiedTarget",
    "RandomizedTarget",
    "TrainSpec",
    "adversarial_training",
    "distilled",
    "pruned",
    "purified",
    "randomized",
    "train_classifier",
]

MAX_EPOCHS = 1000
MAX_TRAIN_ROWS = 1_000_000


@dataclass(frozen=True)
class TrainSpec:
    """How a defense trains: epochs over the data, Adam's learning rate, the batch size and
    the seed of the shuffling and of PGD's random starts."""

    epochs: int = 20
    lr: float = 1e-2
    batch_size: int = 128
    seed: int = 0

    def validate(self) -> None:
        if not 1 <= self.epochs <= MAX_EPOCHS:
            raise RobustnessError(f"epochs must lie in 1..{MAX_EPOCHS}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise RobustnessError("lr must be a positive number")
        if not 1 <= self.batch_size <= 65_536:
            raise RobustnessError("batch_size must lie in 1..65536")


@contextmanager
def _one_thread() -> Iterator[None]:
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def _data(
    module: torch.nn.Module, x: NDArray[Any], y: NDArray[Any], input_shape: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor, int]:
    xa, ya = np.asarray(x), np.asarray(y)
    if len(xa) == 0 or len(xa) > MAX_TRAIN_ROWS or ya.shape != (len(xa),):
        raise RobustnessError(f"training data: give 1-{MAX_TRAIN_ROWS} inputs and one label each")
    if xa.size != len(xa) * math.prod(input_shape):
        raise RobustnessError(
            f"training data: inputs of shape {tuple(xa.shape[1:])} do not match the input "
            f"shape {input_shape}"
        )
    if not np.isfinite(xa).all() or not np.all(np.equal(np.mod(ya, 1), 0)):
        raise RobustnessError("training data: finite inputs and whole-number labels")
    xt = torch.from_numpy(np.ascontiguousarray(xa, dtype=np.float32).reshape(len(xa), *input_shape))
    yt = torch.from_numpy(ya.astype(np.int64))
    with torch.no_grad():
        k = int(module.eval()(xt[:1]).shape[1])
    if yt.min() < 0 or yt.max() >= max(k, 2):
        raise RobustnessError(f"training data: labels outside the model's classes 0..{k - 1}")
    return xt, yt, k


def _batches(n: int, size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    order = torch.randperm(n, generator=gen)
    for i in range(0, n, size):
        yield order[i : i + size]


def train_classifier(
    module: torch.nn.Module,
    x: NDArray[Any],
    y: NDArray[Any],
    *,
    input_shape: tuple[int, ...],
    spec: TrainSpec = TrainSpec(),
    temperature: float = 1.0,
    soft_labels: NDArray[Any] | None = None,
    noise_sigma: float = 0.0,
) -> torch.nn.Module:
    """Train ``module`` in place with Adam on cross-entropy (of ``logits / temperature``,
    against ``soft_labels`` when given; with Gaussian input noise when ``noise_sigma``)."""
    spec.validate()
    xt, yt, _k = _data(module, x, y, input_shape)
    soft = None if soft_labels is None else torch.from_numpy(np.asarray(soft_labels, np.float32))
    gen = torch.Generator().manual_seed(spec.seed)
    opt = torch.optim.Adam(module.parameters(), lr=spec.lr)
    with _one_thread():
        module.train()
        for _ in range(spec.epochs):
            for idx in _batches(len(xt), spec.batch_size, gen):
                xb = xt[idx]
                if noise_sigma > 0:
                    xb = xb + noise_sigma * torch.randn(xb.shape, generator=gen)
                z = module(xb) / temperature
                if soft is not None:
                    loss = -(soft[idx] * torch.log_softmax(z, dim=1)).sum(dim=1).mean()
                else:
                    loss = torch.nn.functional.cross_entropy(z, yt[idx])
                opt.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
        module.eval()
    return module


def _pgd_max_loss(
    module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, spec: AttackSpec, eps: float
) -> torch.Tensor:
    """The last PGD iterate (the worst case Madry et al. train on), input gradients only."""
    box = _Box(x, spec, eps)
    gen = torch.Generator().manual_seed(spec.seed)
    alpha = spec.step_size or 2.5 * eps / spec.steps
    u = box.random(gen) if spec.random_start else torch.zeros((box.n, box.d))
    for _ in range(spec.steps):
        xa = box.image(u).detach().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(module(xa), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, xa)
        g = g.reshape(box.n, box.d) * box.scale * box.mask
        u = box.project(_step(u.detach(), g, alpha, box.norm))
    return box.image(u).detach()


def adversarial_training(
    module: torch.nn.Module,
    x: NDArray[Any],
    y: NDArray[Any],
    *,
    input_shape: tuple[int, ...],
    eps: float,
    steps: int = 7,
    step_size: float | None = None,
    norm: Norm = Norm.LINF,
    clip_min: float = 0.0,
    clip_max: float = 1.0,
    clean_weight: float = 0.0,
    spec: TrainSpec = TrainSpec(),
) -> TorchTarget:
    """PGD adversarial training (Madry et al. 2018) of a copy of ``module``, from its
    current weights: each batch is replaced by its PGD-``steps`` example at ``eps`` (the
    last iterate, the worst case), ``clean_weight`` of the loss kept on the clean batch."""
    spec.validate()
    if not (math.isfinite(eps) and 0 < eps <= clip_max - clip_min):
        raise RobustnessError("eps must lie in (0, clip_max - clip_min]")
    if not 1 <= steps <= 1000 or not 0 <= clean_weight <= 1:
        raise RobustnessError("steps must lie in 1..1000 and clean_weight in [0, 1]")
    model = copy.deepcopy(module)
    xt, yt, _k = _data(model, x, y, input_shape)
    gen = torch.Generator().manual_seed(spec.seed)
    opt = torch.optim.Adam(model.parameters(), lr=spec.lr)
    with _one_thread():
        for epoch in range(spec.epochs):
            for b, idx in enumerate(_batches(len(xt), spec.batch_size, gen)):
                xb, yb = xt[idx], yt[idx]
                attack = AttackSpec(
                    "pgd",
                    norm=norm,
                    steps=steps,
                    step_size=step_size,
                    clip_min=clip_min,
                    clip_max=clip_max,
                    seed=spec.seed + epoch * 100_003 + b,
                )
                model.eval()
                params = [p for p in model.parameters() if p.requires_grad]
                for p in params:
                    p.requires_grad_(False)
                try:
                    xa = _pgd_max_loss(model, xb, yb, attack, eps)
                finally:
                    for p in params:
                        p.requires_grad_(True)
                model.train()
                loss = (1 - clean_weight) * torch.nn.functional.cross_entropy(model(xa), yb)
                if clean_weight:
                    loss = loss + clean_weight * torch.nn.functional.cross_entropy(model(xb), yb)
                opt.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
        model.eval()
    return TorchTarget(model, input_shape)


# --- wrappers: purification and randomization ---------------------------------------------


class PurifiedTarget:
    """A target that answers for the squeezed input. Its own gradient treats the squeezer
    as a gradient attack sees a rounding step: zero (``bpda=False``); ``adaptive()`` is the
    BPDA view (Athalye et al. 2018): forward through the squeezer, backward as identity."""

    def __init__(self, inner: Target, squeezers: Sequence[Squeezer], *, bpda: bool = False) -> None:
        if not squeezers:
            raise RobustnessError("purification needs at least one squeezer")
        self.inner, self.squeezers, self.bpda = inner, tuple(squeezers), bpda
        self.kind = f"purified {inner.kind}"
        self.capabilities = frozenset(inner.capabilities)
        self.input_shape = tuple(inner.input_shape)
        self.n_classes = inner.n_classes

    def squeeze(self, x: NDArray[Any]) -> NDArray[np.float32]:
        out = np.ascontiguousarray(x, dtype=np.float32)
        for s in self.squeezers:
            out = s(out).reshape(out.shape)
        return out

    def predict_proba(self, x: NDArray[Any]) -> NDArray[np.float32]:
        return self.inner.predict_proba(self.squeeze(x))

    def predict_labels(self, x: NDArray[Any]) -> NDArray[np.int64]:
        return self.inner.predict_labels(self.squeeze(x))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        inner: Any = self.inner
        sq = torch.from_numpy(self.squeeze(x.detach().numpy()))
        xs = x + (sq - x).detach() if self.bpda else sq + 0.0 * x
        z: torch.Tensor = inner.logits(xs)
        return z

    def frozen(self) -> Any:
        inner: Any = self.inner
        return inner.frozen()

    def adaptive(self) -> PurifiedTarget:
        return PurifiedTarget(self.inner, self.squeezers, bpda=True)


class RandomizedTarget:
    """A target that adds N(0, sigma^2) noise to every query (clipped to the data's range)
    and averages the probabilities over ``samples`` draws. Its forward pass is random (the
    validity check ``deterministic_forward`` says so); its gradient is one draw's, and
    ``adaptive()`` is the expectation-over-transformation view averaging ``eot`` draws."""

    def __init__(
        self,
        inner: Target,
        sigma: float,
        *,
        samples: int = 8,
        eot: int = 1,
        clip_min: float = 0.0,
        clip_max: float = 1.0,
        seed: int = 0,
    ) -> None:
        if not (math.isfinite(sigma) and sigma > 0):
            raise RobustnessError("sigma must be a positive number")
        if not 1 <= samples <= 1000 or not 1 <= eot <= 1000:
            raise RobustnessError("samples and eot must lie in 1..1000")
        self.inner, self.sigma, self.samples, self.eot = inner, float(sigma), samples, eot
        self.clip_min, self.clip_max, self.seed = clip_min, clip_max, seed
        self.kind = f"randomized {inner.kind}"
        self.capabilities = frozenset(inner.capabilities)
        self.input_shape = tuple(inner.input_shape)
        self.n_classes = inner.n_classes
        self._rng = np.random.default_rng(seed)
        self._gen = torch.Generator().manual_seed(seed)

    def predict_proba(self, x: NDArray[Any]) -> NDArray[np.float32]:
        xs = np.asarray(x, dtype=np.float32)
        if Capability.PROBABILITIES not in self.inner.capabilities:
            raise RobustnessError("this randomized target's model answers labels only")
        total = np.zeros((len(xs), self.n_classes), dtype=np.float64)
        for _ in range(self.samples):
            noisy = np.clip(
                xs + self._rng.normal(0, self.sigma, xs.shape), self.clip_min, self.clip_max
            )
            total += self.inner.predict_proba(noisy.astype(np.float32))
        out: NDArray[np.float32] = (total / self.samples).astype(np.float32)
        return out

    def predict_labels(self, x: NDArray[Any]) -> NDArray[np.int64]:
        if Capability.PROBABILITIES in self.inner.capabilities:
            out: NDArray[np.int64] = self.predict_proba(x).argmax(axis=1).astype(np.int64)
            return out
        xs = np.asarray(x, dtype=np.float32)
        votes = np.zeros((len(xs), self.n_classes), dtype=np.int64)
        for _ in range(self.samples):
            noisy = np.clip(
                xs + self._rng.normal(0, self.sigma, xs.shape), self.clip_min, self.clip_max
            )
            pred = self.inner.predict_labels(noisy.astype(np.float32))
            votes[np.arange(len(xs)), pred] += 1
        labels: NDArray[np.int64] = votes.argmax(axis=1).astype(np.int64)
        return labels

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        inner: Any = self.inner
        probs = torch.zeros(())
        for _ in range(self.eot):
            noise = self.sigma * torch.randn(x.shape, generator=self._gen)
            xn = (x + noise).clamp(self.clip_min, self.clip_max)
            probs = probs + torch.softmax(inner.logits(xn), dim=1)
        out: torch.Tensor = torch.log((probs / self.eot).clamp_min(1e-12))
        return out

    def frozen(self) -> Any:
        inner: Any = self.inner
        return inner.frozen()

    def adaptive(self, eot: int = 16) -> RandomizedTarget:
        return RandomizedTarget(
            self.inner,
            self.sigma,
            samples=self.samples,
            eot=max(eot, self.eot),
            clip_min=self.clip_min,
            clip_max=self.clip_max,
            seed=self.seed + 1,
        )


def purified(
    target: Target,
    squeezers: Sequence[Squeezer] | None = None,
    *,
    image_shape: tuple[int, ...] | None = None,
    clip_min: float = 0.0,
    clip_max: float = 1.0,
) -> PurifiedTarget:
    """Input purification: ``target`` behind ``squeezers`` (None: the detector's defaults)."""
    sq = squeezers or default_squeezers(
        tuple(target.input_shape), image_shape=image_shape, clip_min=clip_min, clip_max=clip_max
    )
    return PurifiedTarget(target, sq)


def randomized(
    target: Target,
    sigma: float,
    *,
    samples: int = 8,
    clip_min: float = 0.0,
    clip_max: float = 1.0,
    seed: int = 0,
) -> RandomizedTarget:
    """Input randomization: Gaussian noise on every query, probabilities averaged."""
    return RandomizedTarget(
        target, sigma, samples=samples, clip_min=clip_min, clip_max=clip_max, seed=seed
    )


# --- distillation and pruning ---------------------------------------------------------------


class _Scaled(torch.nn.Module):
    def __init__(self, module: torch.nn.Module, temperature: float) -> None:
        super().__init__()
        self.module, self.temperature = module, temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z: torch.Tensor = self.module(x)
        return z / self.temperature


class DistilledTarget(TorchTarget):
    """The distilled student, run at temperature 1 (its logits are about T times larger
    than a normally trained model's, so softmax saturates and cross-entropy gradients
    vanish). ``adaptive()``: the same student with its logits divided by T."""

    def __init__(
        self, module: torch.nn.Module, input_shape: tuple[int, ...], temperature: float
    ) -> None:
        super().__init__(module, input_shape)
        self.temperature = float(temperature)
        self.kind = "distilled pytorch"

    def adaptive(self) -> TorchTarget:
        return TorchTarget(_Scaled(self.module, self.temperature), self.input_shape)


def _reset(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    for m in module.modules():
        reset = getattr(m, "reset_parameters", None)
        if callable(reset):
            reset()
    return module


def distilled(
    module: torch.nn.Module,
    x: NDArray[Any],
    y: NDArray[Any],
    *,
    input_shape: tuple[int, ...],
    temperature: float = 20.0,
    spec: TrainSpec = TrainSpec(),
) -> DistilledTarget:
    """Defensive distillation (Papernot et al. 2016): a copy of ``module`` fine-tuned at
    ``temperature`` is the teacher; a freshly initialised copy of the same architecture is
    trained at that temperature on the teacher's soft labels and run at temperature 1."""
    if not (math.isfinite(temperature) and 1 <= temperature <= 1000):
        raise RobustnessError("temperature must lie in [1, 1000]")
    teacher = train_classifier(
        copy.deepcopy(module), x, y, input_shape=input_shape, spec=spec, temperature=temperature
    )
    xt, _yt, _k = _data(teacher, x, y, input_shape)
    with torch.no_grad():
        soft = torch.softmax(teacher(xt) / temperature, dim=1).numpy()
    student = _reset(copy.deepcopy(module), spec.seed + 1)
    train_classifier(
        student, x, y, input_shape=input_shape, spec=spec, temperature=temperature, soft_labels=soft
    )
    return DistilledTarget(student, input_shape, temperature)


def pruned(
    module: torch.nn.Module,
    *,
    input_shape: tuple[int, ...],
    amount: float = 0.5,
    x: NDArray[Any] | None = None,
    y: NDArray[Any] | None = None,
    spec: TrainSpec | None = None,
) -> TorchTarget:
    """Defensive pruning: the ``amount`` of the smallest-magnitude weights of every Linear
    and Conv layer, taken globally, set to zero (``torch.nn.utils.prune``); fine-tuned on
    ``(x, y)`` with ``spec`` when given, the pruned weights staying zero."""
    from torch.nn.utils import prune

    if not 0 < amount < 1:
        raise RobustnessError("amount must lie in (0, 1)")
    model = copy.deepcopy(module)
    layers = [
        (m, "weight")
        for m in model.modules()
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d))
    ]
    if not layers:
        raise RobustnessError("the module has no Linear or Conv layers to prune")
    prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount=amount)
    if x is not None and y is not None and spec is not None:
        train_classifier(model, x, y, input_shape=input_shape, spec=spec)
    for m, name in layers:
        prune.remove(m, name)  # type: ignore[no-untyped-call]
    return TorchTarget(model.eval(), input_shape)
