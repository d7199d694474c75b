"""Documented threat scenarios (narrative, preconditions, impact, mitigations)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bastion.threats._rules import builtin_rules, safe_yaml

__all__ = ["Scenario", "load_scenarios"]

_CFG = ConfigDict(extra="forbid", frozen=True)
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class Scenario(BaseModel):
    model_config = _CFG
    id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]+$")]
    title: Text
    rules: list[str] = Field(min_length=1)
    narrative: Text
    preconditions: list[Text] = Field(min_length=1)
    impact: Text
    mitigations: list[Text] = Field(min_length=1)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    api_version: Literal["bastion/v1"] = Field(alias="apiVersion")
    kind: Literal["ThreatScenarios"]
    scenarios: list[Scenario]


@cache
def load_scenarios() -> tuple[Scenario, ...]:
    """The shipped scenarios; every rule they cite must exist in the catalog."""
    raw = resources.files("bastion.threats").joinpath("data/scenarios.yaml").read_bytes()
    parsed = _File.model_validate(safe_yaml(raw, "scenarios.yaml", 1024 * 1024))
    ids = builtin_rules().ids
    for s in parsed.scenarios:
        unknown = [r for r in s.rules if r not in ids]
        if unknown:
            raise ValueError(f"scenario {s.id} cites unknown rules {unknown}")
    return tuple(parsed.scenarios)
