"""Privacy accounting on Google's dp-accounting: events, composition (RDP and PLD) and the
DP-SGD planner.

A :class:`Mechanism` is what one release or training run did (Laplace or Gaussian noise of a
given multiplier, possibly Poisson-subsampled and repeated); it is stored as JSON in the
budget ledger and turned back into a ``dp_accounting`` event to compose. The planner uses
dp-accounting's RDP accountant with Opacus's default orders, so its noise multiplier agrees
with Opacus's ``get_noise_multiplier`` (RDP) without needing Opacus.
"""

from __future__ import annotations

import enum
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bastion.core.errors import InputError

__all__ = [
    "OPACUS_ORDERS",
    "Accounting",
    "Mechanism",
    "MechanismKind",
    "PrivacyPlan",
    "compose_epsilon",
    "dp_sgd_epsilon",
    "dp_sgd_noise_multiplier",
    "plan",
    "validate_delta",
    "validate_epsilon",
]

#: Opacus's ``RDPAccountant.DEFAULT_ALPHAS``: the same orders give the same epsilon.
OPACUS_ORDERS: tuple[float, ...] = tuple(
    [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
)
MAX_STEPS = 10_000_000
MAX_EVENTS = 10_000


class Accounting(enum.StrEnum):
    """How a dataset's releases compose: Rényi DP or privacy loss distributions."""

    RDP = "rdp"
    PLD = "pld"


class MechanismKind(enum.StrEnum):
    LAPLACE = "laplace"
    GAUSSIAN = "gaussian"


def validate_epsilon(epsilon: object, name: str = "epsilon") -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)):
        raise InputError(f"{name}: expected a number")
    e = float(epsilon)
    if not math.isfinite(e) or e <= 0:
        raise InputError(f"{name} must be a finite number above 0 (got {e:g}); fix: pass e.g. 1.0")
    if e > 100:
        raise InputError(f"{name} {e:g} is above 100, which protects nothing; fix: lower it")
    return e


def validate_delta(delta: object, name: str = "delta", *, positive: bool = False) -> float:
    if isinstance(delta, bool) or not isinstance(delta, (int, float)):
        raise InputError(f"{name}: expected a number")
    d = float(delta)
    if not math.isfinite(d) or d < 0 or d >= 1:
        raise InputError(f"{name} must lie in [0, 1) (got {d:g}); fix: pass e.g. 1e-6")
    if positive and d == 0:
        raise InputError(f"{name} must be above 0 for Gaussian noise; fix: pass e.g. 1e-6")
    return d


@dataclass(frozen=True)
class Mechanism:
    """One use of a noise mechanism: ``noise_multiplier`` is the noise scale over the
    sensitivity (Laplace: b / L1 sensitivity; Gaussian: sigma / L2 sensitivity), ``sample_rate`` the Poisson sampling rate
    (1: no sampling) and ``count`` how many times it ran (DP-SGD steps)."""

    kind: MechanismKind
    noise_multiplier: float
    sample_rate: float = 1.0
    count: int = 1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.noise_multiplier) and self.noise_multiplier > 0):
            raise InputError("noise multiplier must be a finite number above 0")
        if not (0 < self.sample_rate <= 1):
            raise InputError("sample rate must lie in (0, 1]")
        if not (1 <= self.count <= MAX_STEPS):
            raise InputError(f"a mechanism runs 1-{MAX_STEPS} times")
        if self.kind is MechanismKind.LAPLACE and self.sample_rate != 1.0:
            raise InputError("subsampled Laplace is not supported; use Gaussian noise")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "noise_multiplier": self.noise_multiplier,
            "sample_rate": self.sample_rate,
            "count": self.count,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Mechanism:
        try:
            return cls(
                MechanismKind(d["kind"]),
                float(d["noise_multiplier"]),
                float(d.get("sample_rate", 1.0)),
                int(d.get("count", 1)),
            )
        except (KeyError, ValueError, TypeError):
            raise InputError("a stored mechanism is malformed") from None

    def dp_event(self) -> Any:
        import dp_accounting

        if self.kind is MechanismKind.LAPLACE:
            inner: Any = dp_accounting.LaplaceDpEvent(self.noise_multiplier)
        else:
            inner = dp_accounting.GaussianDpEvent(self.noise_multiplier)
        if self.sample_rate < 1.0:
            inner = dp_accounting.PoissonSampledDpEvent(self.sample_rate, inner)
        if self.count > 1:
            inner = dp_accounting.SelfComposedDpEvent(inner, self.count)
        return inner


def _accountant(accounting: Accounting, orders: Sequence[float] | None = None) -> Any:
    if accounting is Accounting.RDP:
        from dp_accounting import rdp

        return rdp.RdpAccountant(orders=list(orders or OPACUS_ORDERS))
    from dp_accounting import pld

    return pld.PLDAccountant(value_discretization_interval=1e-4)


def compose_epsilon(
    mechanisms: Iterable[Mechanism], delta: float, accounting: Accounting = Accounting.PLD
) -> float:
    """Epsilon at ``delta`` of running every mechanism (0 for none)."""
    mechs = list(mechanisms)
    if not mechs:
        return 0.0
    if len(mechs) > MAX_EVENTS:
        raise InputError(f"more than {MAX_EVENTS} mechanisms to compose")
    import dp_accounting

    acc = _accountant(accounting)
    acc.compose(dp_accounting.ComposedDpEvent([m.dp_event() for m in mechs]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "optimal order is the largest alpha" is advisory
        eps = float(acc.get_epsilon(delta))
    return eps


def dp_sgd_epsilon(noise_multiplier: float, delta: float, sample_rate: float, steps: int) -> float:
    """Epsilon of DP-SGD (Poisson-sampled Gaussian, ``steps`` times) under RDP with
    Opacus's orders: the figure Opacus's RDP accountant reports."""
    m = Mechanism(MechanismKind.GAUSSIAN, noise_multiplier, sample_rate, steps)
    return compose_epsilon([m], delta, Accounting.RDP)


def dp_sgd_noise_multiplier(
    epsilon: float, delta: float, sample_rate: float, steps: int, *, rtol: float = 1e-5
) -> float:
    """The smallest noise multiplier whose DP-SGD epsilon is at most ``epsilon``."""
    lo, hi = 0.0, 10.0
    while dp_sgd_epsilon(hi, delta, sample_rate, steps) > epsilon:
        hi *= 2
        if hi > 1e6:
            raise InputError(
                f"no noise multiplier reaches epsilon {epsilon:g}; fix: raise epsilon or delta"
            )
    while hi - lo > rtol * hi:
        mid = (lo + hi) / 2
        if mid > 0 and dp_sgd_epsilon(mid, delta, sample_rate, steps) <= epsilon:
            hi = mid
        else:
            lo = mid
    return hi


@dataclass(frozen=True)
class PrivacyPlan:
    epsilon: float
    delta: float
    sample_rate: float
    steps: int
    noise_multiplier: float
    accountant: str = "rdp (dp-accounting, Opacus orders)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "sample_rate": self.sample_rate,
            "steps": self.steps,
            "noise_multiplier": self.noise_multiplier,
            "accountant": self.accountant,
        }


def plan(
    *,
    delta: float,
    sample_rate: float,
    epsilon: float | None = None,
    noise_multiplier: float | None = None,
    epochs: float | None = None,
    steps: int | None = None,
) -> PrivacyPlan:
    """Plan DP-SGD: the noise multiplier for a target epsilon, or the epsilon of a noise
    multiplier (exactly one of the two). Steps come from ``steps`` or ``epochs /
    sample_rate`` (as Opacus counts them)."""
    delta = validate_delta(delta, positive=True)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float)):
        raise InputError("sample rate: expected a number")
    if not (math.isfinite(sample_rate) and 0 < sample_rate <= 1):
        raise InputError(f"sample rate must lie in (0, 1] (got {sample_rate:g})")
    if (steps is None) == (epochs is None):
        raise InputError("give exactly one of epochs and steps")
    if steps is None:
        assert epochs is not None
        if not (math.isfinite(epochs) and epochs > 0):
            raise InputError(f"epochs must be above 0 (got {epochs:g})")
        steps = int(epochs / sample_rate)
    if not (1 <= steps <= MAX_STEPS):
        raise InputError(f"steps must lie in [1, {MAX_STEPS}] (got {steps})")
    if (epsilon is None) == (noise_multiplier is None):
        raise InputError("give exactly one of epsilon (to get the noise) and noise multiplier")
    if epsilon is not None:
        eps = validate_epsilon(epsilon)
        sigma = dp_sgd_noise_multiplier(eps, delta, sample_rate, steps)
        return PrivacyPlan(eps, delta, float(sample_rate), steps, sigma)
    assert noise_multiplier is not None
    if not (math.isfinite(noise_multiplier) and 0 < noise_multiplier <= 1e4):
        raise InputError(f"noise multiplier must lie in (0, 10000] (got {noise_multiplier:g})")
    eps = dp_sgd_epsilon(noise_multiplier, delta, sample_rate, steps)
    return PrivacyPlan(eps, delta, float(sample_rate), steps, float(noise_multiplier))
