"""Task functions for the executor tests: importable by name in worker processes."""

from __future__ import annotations

import os
from pathlib import Path


def square(x: int) -> int:
    return x * x


def seeded(seed: int) -> list[float]:
    import numpy as np

    return [float(v) for v in np.random.default_rng(seed).normal(size=3)]


def die_once(marker: str, value: int) -> int:
    """The first attempt kills its worker; the retry finds the marker and succeeds."""
    m = Path(marker)
    if not m.exists():
        m.write_text("died")
        os._exit(3)
    return value


def always_die() -> None:
    os._exit(4)


def boom() -> None:
    raise ValueError("boom: bad input")
