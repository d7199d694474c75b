"""The digits model the detection tests probe: a victim trained on half the rows, the
other half replayed as benign traffic (scaled to [0, 1], 64 features)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.datasets import load_digits  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

from tests.guard.detect._store import DictStore


@dataclass(frozen=True)
class Digits:
    x_train: NDArray[np.float64]
    y_train: NDArray[np.int64]
    x_test: NDArray[np.float64]
    y_test: NDArray[np.int64]
    victim: LogisticRegression

    def predict(self) -> Callable[[NDArray[np.float64]], int]:
        return lambda x: int(self.victim.predict(x.reshape(1, -1))[0])


@pytest.fixture(scope="session")
def digits() -> Digits:
    x, y = load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(x))
    x, y = x[perm] / 16.0, y[perm]
    victim = LogisticRegression(max_iter=2000).fit(x[:1000], y[:1000])
    return Digits(x[:1000], y[:1000], x[1000:], y[1000:], victim)


@pytest.fixture
def store() -> DictStore:
    return DictStore()
