"""Evasion attacks on a native-tensor core: FGSM, PGD (L-inf, L2) and the Square attack.

The gradient attacks take gradients with respect to the input only
(``torch.autograd.grad(loss, x)``, parameters frozen), run in automatically sized batches
and are deterministic for a seed (one ``torch.Generator`` per call). Every attack works in
*scaled* coordinates ``u = (x_adv - x) / scale`` so tabular features with their own units
share one epsilon, and projects onto the budget and the feature constraints after every
step; integer and one-hot features are enforced on the output, within the budget.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from numpy.typing import NDArray

from bastion.robustness.interface import ATTACKS, AttackSpec, Norm, RobustnessError, Target

__all__ = ["AttackOutcome", "auto_batch_size", "check_supported", "run_attack"]

_MEMORY_BUDGET = 256 * 1024 * 1024
_MAX_BATCH = 1024


class _Differentiable(Protocol):
    def logits(self, x: torch.Tensor) -> torch.Tensor: ...
    def frozen(self) -> Any: ...


@dataclass(frozen=True)
class AttackOutcome:
    x_adv: NDArray[np.float32]
    fooled: NDArray[np.bool_]
    perturbation: NDArray[np.float64]  # the norm of each (scaled) perturbation
    gradient_evaluations: int
    queries: int
    zero_gradient_share: float  # share of inputs whose first gradient is exactly zero
    cpu_seconds: float


def auto_batch_size(input_shape: tuple[int, ...]) -> int:
    """A batch that keeps an input, its gradient and ~60 activations of its size in budget."""
    per = max(1, math.prod(input_shape)) * 4 * 64
    return max(1, min(_MAX_BATCH, _MEMORY_BUDGET // per))


class _Box:
    """Budget and constraint projection in scaled coordinates for one batch."""

    def __init__(self, x: torch.Tensor, spec: AttackSpec, eps: float) -> None:
        n, d = x.shape[0], int(np.prod(x.shape[1:]))
        c = spec.constraints
        flat = x.reshape(n, d)
        scale = torch.ones(d) if c is None or c.scale is None else torch.tensor(c.scale)
        lo = torch.full((d,), spec.clip_min)
        hi = torch.full((d,), spec.clip_max)
        if c is not None and c.lower is not None:
            lo = torch.tensor(c.lower, dtype=torch.float32)
        if c is not None and c.upper is not None:
            hi = torch.tensor(c.upper, dtype=torch.float32)
        mask = torch.ones(d)
        if c is not None:
            for i in c.immutable:
                mask[i] = 0.0
        self.shape, self.n, self.d, self.eps, self.norm = x.shape, n, d, eps, spec.norm
        self.x, self.scale, self.mask, self.c = flat, scale.float(), mask, c
        self.lo, self.hi = lo.float(), hi.float()
        # Bounds of u so that x + u * scale stays inside [lo, hi].
        self.ulo = (lo - flat) / self.scale
        self.uhi = (hi - flat) / self.scale

    def project(self, u: torch.Tensor) -> torch.Tensor:
        u = u * self.mask
        if self.norm is Norm.LINF:
            u = u.clamp(-self.eps, self.eps)
        else:
            norms = u.norm(dim=1, keepdim=True).clamp_min(1e-12)
            u = u * torch.clamp(self.eps / norms, max=1.0)
        return torch.max(torch.min(u, self.uhi), self.ulo)

    def image(self, u: torch.Tensor) -> torch.Tensor:
        # Clamped again: float32 rounding of x + u * scale must not step past a bound.
        xa = torch.max(torch.min(self.x + u * self.scale, self.hi), self.lo)
        return xa.reshape(self.shape)

    def finalize(self, u: torch.Tensor) -> torch.Tensor:
        """Integer and one-hot features made valid; a row that then leaves the budget is
        returned unperturbed (never counted as a success it did not earn)."""
        u = self.project(u)
        c = self.c
        if c is None or (not c.integer and not c.one_hot):
            return u
        xa = self.x + u * self.scale
        for i in c.integer:
            col = xa[:, i].round()
            lo = self.x[:, i] + self.ulo[:, i] * self.scale[i]
            hi = self.x[:, i] + self.uhi[:, i] * self.scale[i]
            if self.norm is Norm.LINF:
                b = self.eps * self.scale[i]
                lo, hi = torch.max(lo, self.x[:, i] - b), torch.min(hi, self.x[:, i] + b)
            xa[:, i] = torch.min(torch.max(col, torch.ceil(lo)), torch.floor(hi))
        for group in c.one_hot:
            g = list(group)
            new = torch.zeros_like(xa[:, g])
            new[torch.arange(self.n), xa[:, g].argmax(dim=1)] = 1.0
            xa[:, g] = new
        out = (xa - self.x) / self.scale
        if self.norm is Norm.LINF:
            over = out.abs().amax(dim=1) > self.eps * (1 + 1e-6)
        else:
            over = out.norm(dim=1) > self.eps * (1 + 1e-6)
        out[over] = 0.0
        return out

    def size(self, u: torch.Tensor) -> torch.Tensor:
        return u.abs().amax(dim=1) if self.norm is Norm.LINF else u.norm(dim=1)

    def random(self, gen: torch.Generator) -> torch.Tensor:
        if self.norm is Norm.LINF:
            u = (torch.rand((self.n, self.d), generator=gen) * 2 - 1) * self.eps
        else:
            u = torch.randn((self.n, self.d), generator=gen)
            u = u / u.norm(dim=1, keepdim=True).clamp_min(1e-12)
            r = torch.rand((self.n, 1), generator=gen) ** (1.0 / self.d)
            u = u * r * self.eps
        return self.project(u)


def _step(u: torch.Tensor, g: torch.Tensor, alpha: float, norm: Norm) -> torch.Tensor:
    if norm is Norm.LINF:
        out: torch.Tensor = u + alpha * g.sign()
        return out
    gn = g.norm(dim=1, keepdim=True).clamp_min(1e-12)
    stepped: torch.Tensor = u + alpha * g / gn
    return stepped


def _keep(u: torch.Tensor, hit: torch.Tensor, best: torch.Tensor, fooled: torch.Tensor) -> None:
    """Keep the first adversarial example found for each input."""
    new = hit & ~fooled
    best[new] = u[new]
    fooled |= hit


def _gradient_batch(
    t: _Differentiable, x: torch.Tensor, y: torch.Tensor, eps: float, spec: AttackSpec
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, int]:
    """(adversarial batch, fooled mask, perturbation size, gradient evaluations, zero grads)."""
    box = _Box(x, spec, eps)
    gen = torch.Generator().manual_seed(spec.seed)
    fgsm = spec.name == "fgsm"
    steps = 1 if fgsm else spec.steps
    alpha = eps if fgsm else (spec.step_size or 2.5 * eps / steps)
    u = box.random(gen) if spec.random_start and not fgsm else torch.zeros((box.n, box.d))
    best = torch.zeros_like(u)
    fooled = torch.zeros(box.n, dtype=torch.bool)
    zero = 0
    # Without integer or one-hot features the projected iterate is already valid, so the
    # logits of the gradient's forward pass tell whether it fools the model: no extra pass.
    exact = box.c is None or (not box.c.integer and not box.c.one_hot)
    samples = max(1, spec.eot or 1)
    for k in range(steps):
        xa = box.image(u).detach().requires_grad_(True)
        logits = t.logits(xa)
        loss = torch.nn.functional.cross_entropy(logits, y, reduction="sum")
        (g,) = torch.autograd.grad(loss, xa)
        # Expectation over transformation (Athalye et al. 2018): on a random forward pass
        # the step follows the mean of several gradient samples, not one draw's, and an
        # input counts as fooled when the mean of the samples' logits is (not one lucky draw).
        mean = logits.detach()
        for _ in range(samples - 1):
            z = t.logits(xa)
            more = torch.nn.functional.cross_entropy(z, y, reduction="sum")
            g = g + torch.autograd.grad(more, xa)[0]
            mean = mean + z.detach()
        g = g / samples
        if exact and k > 0:
            _keep(u, mean.argmax(dim=1) != y, best, fooled)
        g = g.reshape(box.n, box.d) * box.scale * box.mask
        if k == 0:
            zero = int((g.abs().amax(dim=1) == 0).sum())
        u = box.project(_step(u.detach(), g, alpha, box.norm))
        if not exact or k == steps - 1:
            with torch.no_grad():
                done = box.finalize(u)
                xd = box.image(done)
                z = sum((t.logits(xd) for _ in range(samples)), torch.zeros(()))
                _keep(done, z.argmax(dim=1) != y, best, fooled)
    with torch.no_grad():
        last = box.finalize(u)
        best[~fooled] = last[~fooled]
    return box.image(best), fooled, box.size(best), steps * samples, zero


def _margin(p: NDArray[np.float32], y: NDArray[np.int64]) -> NDArray[np.float32]:
    true = p[np.arange(len(y)), y]
    other = p.copy()
    other[np.arange(len(y)), y] = -np.inf
    out: NDArray[np.float32] = true - other.max(axis=1)
    return out


def _square_batch(
    target: Target, x: torch.Tensor, y: NDArray[np.int64], eps: float, spec: AttackSpec
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Square attack (Andriushchenko et al. 2020), L-inf, score-based: random square (for
    images) or coordinate-block (tabular) updates at the corners of the budget, kept when
    they lower the true class's margin."""
    if spec.norm is not Norm.LINF:
        raise RobustnessError("the Square attack here is L-inf only")
    box = _Box(x, spec, eps)
    rng = np.random.default_rng(spec.seed)
    signs = torch.from_numpy(rng.choice([-1.0, 1.0], size=(box.n, box.d)).astype(np.float32))
    u = box.project(signs * eps)
    xs = box.image(box.finalize(u)).numpy()
    margin = _margin(target.predict_proba(xs), y)
    queries = box.n
    for i in range(max(0, spec.queries - 1)):
        active = margin > 0
        if not active.any():
            break
        frac = max(0.8 * (1 - i / max(1, spec.queries)) ** 2, 1.0 / box.d)
        k = max(1, round(frac * box.d))
        idx = rng.choice(box.d, size=k, replace=False)
        cand = u.clone()
        flips = torch.from_numpy(rng.choice([-1.0, 1.0], size=(box.n, k)).astype(np.float32))
        cand[:, idx] = flips * eps
        cand = box.project(cand)
        trial = box.image(box.finalize(cand)).numpy()[active]
        m = _margin(target.predict_proba(trial), y[active])
        queries += int(active.sum())
        better = np.zeros(box.n, dtype=bool)
        better[np.flatnonzero(active)[m < margin[active]]] = True
        u[torch.from_numpy(better)] = cand[torch.from_numpy(better)]
        margin[better] = m[better[active]]
    done = box.finalize(u)
    adv = box.image(done)
    fooled = torch.from_numpy(target.predict_labels(adv.numpy()) != y)
    return adv, fooled, box.size(done), queries


class _Labels:
    """Label queries of one input against its true class, counted."""

    def __init__(self, target: Target, shape: tuple[int, ...], y: int) -> None:
        self.target, self.shape, self.y, self.count = target, shape, y, 0

    def adversarial(self, rows: NDArray[np.float32]) -> NDArray[np.bool_]:
        self.count += len(rows)
        pred = self.target.predict_labels(rows.reshape((len(rows), *self.shape)))
        out: NDArray[np.bool_] = pred != self.y
        return out


def _boundary(
    q: _Labels, x: NDArray[np.float32], adv: NDArray[np.float32], tol: float
) -> NDArray[np.float32]:
    """Binary search on the segment x..adv for the adversarial point nearest x."""
    lo, hi = 0.0, 1.0
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if q.adversarial((x + mid * (adv - x))[None])[0]:
            hi = mid
        else:
            lo = mid
    out: NDArray[np.float32] = (x + hi * (adv - x)).astype(np.float32)
    return out


def _hsj_one(
    q: _Labels,
    x: NDArray[np.float32],
    lo: NDArray[np.float32],
    hi: NDArray[np.float32],
    mask: NDArray[np.float32],
    budget: int,
    rng: np.random.Generator,
) -> NDArray[np.float32] | None:
    """HopSkipJump (Chen, Jordan and Wainwright 2020), L2, untargeted: a near-minimal
    adversarial example from label queries only, or None when none was found."""
    d = x.size
    theta = 1.0 / (d * math.sqrt(d))
    start = None
    for _ in range(50):
        cand = (x + mask * (rng.uniform(lo, hi) - x)).astype(np.float32)
        if q.adversarial(cand[None])[0]:
            start = cand
            break
    if start is None:
        return None
    xb = _boundary(q, x, start, max(theta, 1e-4))
    k = 0
    while q.count < budget:
        k += 1
        dist = float(np.linalg.norm(xb - x))
        if dist == 0:
            break
        delta = math.sqrt(d) * theta * dist
        n = min(int(100 * math.sqrt(k)), 1000, max(1, budget - q.count))
        u = rng.standard_normal((n, d)).astype(np.float32) * mask
        u /= np.linalg.norm(u, axis=1, keepdims=True).clip(1e-12)
        phi = np.where(q.adversarial(np.clip(xb + delta * u, lo, hi)), 1.0, -1.0)
        if abs(phi.mean()) < 1.0:
            phi = phi - phi.mean()
        g = (phi[:, None] * u).mean(axis=0)
        gn = float(np.linalg.norm(g))
        if gn == 0:
            break
        g /= gn
        step = dist / math.sqrt(k)
        new = None
        for _ in range(12):
            cand = np.clip(xb + step * g, lo, hi).astype(np.float32)
            if q.adversarial(cand[None])[0]:
                new = cand
                break
            step /= 2
        if new is None:
            break
        nb = _boundary(q, x, new, max(theta, 1e-4))
        if np.linalg.norm(nb - x) < dist:
            xb = nb
    return xb


def _hsj_batch(
    target: Target, x: torch.Tensor, y: NDArray[np.int64], eps: float, spec: AttackSpec
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Label-only: find a near-minimal adversarial example per input with HopSkipJump,
    then project it onto the budget (fooled only if the projected point still fools)."""
    box = _Box(x, spec, eps)
    rng = np.random.default_rng(spec.seed)
    flat = box.x.numpy()
    scale = box.scale.numpy()
    # Search in scaled coordinates u: the model sees x + u * scale.
    lo_u, hi_u = box.ulo.numpy(), box.uhi.numpy()
    mask = box.mask.numpy()
    u = np.zeros_like(flat)
    queries = 0
    for i in range(box.n):
        q = _ScaledLabels(target, tuple(x.shape[1:]), int(y[i]), flat[i], scale)
        found = _hsj_one(q, np.zeros_like(flat[i]), lo_u[i], hi_u[i], mask, spec.queries, rng)
        queries += q.count
        if found is not None:
            u[i] = found
    done = box.finalize(torch.from_numpy(u))
    adv = box.image(done)
    fooled = torch.from_numpy(target.predict_labels(adv.numpy()) != y)
    return adv, fooled, box.size(done), queries + box.n


class _ScaledLabels(_Labels):
    def __init__(
        self,
        target: Target,
        shape: tuple[int, ...],
        y: int,
        x: NDArray[np.float32],
        scale: NDArray[np.float32],
    ) -> None:
        super().__init__(target, shape, y)
        self.x, self.scale = x, scale

    def adversarial(self, rows: NDArray[np.float32]) -> NDArray[np.bool_]:
        return super().adversarial((self.x + rows * self.scale).astype(np.float32))


def check_supported(target: Target, attack: str) -> None:
    needs = ATTACKS.get(attack)
    if needs is None:
        raise RobustnessError(f"unknown attack {attack[:40]!r} (known: {', '.join(ATTACKS)})")
    missing = needs - set(target.capabilities)
    if missing:
        raise RobustnessError(
            f"attack {attack} needs {', '.join(sorted(missing))}, which this {target.kind} "
            f"target does not give (it gives {', '.join(sorted(target.capabilities))})"
        )


def run_attack(
    target: Target, x: NDArray[np.float32], y: NDArray[np.int64], eps: float, spec: AttackSpec
) -> AttackOutcome:
    """Run ``spec`` at budget ``eps`` on every input, in batches."""
    check_supported(target, spec.name)
    t0 = time.process_time()
    bs = spec.batch_size or auto_batch_size(tuple(x.shape[1:]))
    advs, fooled, sizes = [], [], []
    grads = queries = zero = 0
    for start in range(0, len(x), bs):
        xb = torch.from_numpy(np.ascontiguousarray(x[start : start + bs], dtype=np.float32))
        yb = y[start : start + bs]
        if spec.name == "square":
            a, f, s, q = _square_batch(target, xb, yb, eps, spec)
            queries += q
        elif spec.name == "hopskipjump":
            a, f, s, q = _hsj_batch(target, xb, yb, eps, spec)
            queries += q
        else:
            diff: Any = target
            with diff.frozen():
                a, f, s, g, z = _gradient_batch(diff, xb, torch.from_numpy(yb), eps, spec)
            grads += g * len(xb)
            queries += g * len(xb) * 2
            zero += z
        advs.append(a.detach().numpy())
        fooled.append(f.numpy())
        sizes.append(s.detach().numpy().astype(np.float64))
    return AttackOutcome(
        x_adv=np.concatenate(advs).astype(np.float32),
        fooled=np.concatenate(fooled).astype(bool),
        perturbation=np.concatenate(sizes),
        gradient_evaluations=grads,
        queries=queries,
        zero_gradient_share=zero / max(1, len(x)),
        cpu_seconds=time.process_time() - t0,
    )
