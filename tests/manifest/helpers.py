"""Shared fixtures: a small valid manifest whose line numbers the tests rely on."""

from __future__ import annotations

import pytest

from bastion.core.errors import ManifestError
from bastion.manifest import ManifestProblem, parse_manifest

# Line numbers matter: tests point at them. Keep this text stable.
VALID = """\
apiVersion: bastion/v1
kind: System
system:
  id: demo
  name: Demo
  owner: team@example.com
  purpose: Testing
  decision_impact: [none]
  autonomy_level: autonomous
  data_sensitivity: internal
assets:
  - id: db
    kind: data_store
    name: DB
    owner: team
    classification: internal
  - id: model
    kind: model
    name: Model
    owner: team
    classification: internal
flows:
  - id: feed
    source: db
    target: model
    protocol: sql
    classification: internal
boundaries:
  - id: outer
    name: Outer
    kind: network
    assets: [db]
    boundaries: [inner]
  - id: inner
    name: Inner
    kind: process
    assets: [model]
"""


def problems_of(text: str | bytes, filename: str = "m.yaml") -> list[ManifestProblem]:
    """Every problem parse_manifest reports; fails the test if it does not raise."""
    with pytest.raises(ManifestError) as info:
        parse_manifest(text, filename)
    assert info.value.problems, "ManifestError without problems"
    assert all(isinstance(p, ManifestProblem) for p in info.value.problems)
    return [p for p in info.value.problems if isinstance(p, ManifestProblem)]


def only_problem(text: str | bytes, filename: str = "m.yaml") -> ManifestProblem:
    found = problems_of(text, filename)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def edit(old: str, new: str, text: str = VALID) -> str:
    """Replace exactly one occurrence, so a typo in a test cannot silently do nothing."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)
