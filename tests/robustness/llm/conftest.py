"""Fixtures of the LLM red-team tests: the vulnerable and the hardened chat servers,
each started once on 127.0.0.1 (any free port) from the package's testservers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bastion.robustness.llm.testservers import RunningServer, serve


@pytest.fixture(scope="session")
def vulnerable() -> Iterator[RunningServer]:
    with serve("vulnerable") as srv:
        yield srv


@pytest.fixture(scope="session")
def hardened() -> Iterator[RunningServer]:
    with serve("hardened") as srv:
        yield srv
