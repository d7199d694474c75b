"""The YAML documents of a policy directory, as pydantic models (read by core/documents)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bastion.access.interface import Action, IdentityKind, LogLevel, ResourceKind

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "Baselines",
    "EntitiesFile",
    "ObligationRule",
    "ObligationsFile",
    "PolicyTest",
    "PrincipalSpec",
    "ResourceSpec",
    "TestsFile",
]

MAX_DOCUMENT_BYTES = 1024 * 1024
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:@/+-]{0,199}$"
Name = Annotated[str, StringConstraints(pattern=_ID)]
Label = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
AttrValue = str | int | bool | list[str]
ATTR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObligationRule(_Strict):
    """The obligations one policy attaches when it is among those that allow."""

    policy: Name
    redact_fields: list[Label] = Field(default_factory=list, max_length=200)
    coarsen_scores: bool = False
    rate_class: Label | None = None
    log_level: LogLevel | None = None
    require_mfa: bool = False


class ObligationsFile(_Strict):
    #: rate classes from least to most restrictive; a merge keeps the latest named
    rate_classes: list[Label] = Field(default_factory=lambda: ["default"], min_length=1)
    obligations: list[ObligationRule] = Field(default_factory=list, max_length=10_000)


class ResourceSpec(_Strict):
    kind: ResourceKind
    id: Name
    attributes: dict[str, AttrValue] = Field(default_factory=dict)


class EntitiesFile(_Strict):
    resources: list[ResourceSpec] = Field(default_factory=list, max_length=100_000)


class Baselines(_Strict):
    #: role -> the actions it normally holds
    roles: dict[Label, list[Action]] = Field(default_factory=dict)


class PrincipalSpec(_Strict):
    id: Name
    kind: IdentityKind
    roles: list[Label] = Field(default_factory=list, max_length=100)
    attributes: dict[str, AttrValue] = Field(default_factory=dict)
    mfa: bool = False


class ExpectedObligations(_Strict):
    redact_fields: list[Label] | None = None
    coarsen_scores: bool | None = None
    rate_class: Label | None = None
    log_level: LogLevel | None = None
    require_mfa: bool | None = None


class PolicyTest(_Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    principal: PrincipalSpec
    action: Action
    #: a resource of entities.yaml by kind and id, or one with its own attributes
    resource: ResourceSpec
    context: dict[str, AttrValue] = Field(default_factory=dict)
    expect: Literal["allow", "deny"]
    obligations: ExpectedObligations | None = None
    #: policy ids that must be among the determining ones
    policies: list[Name] | None = None


class TestsFile(_Strict):
    tests: list[PolicyTest] = Field(min_length=1, max_length=10_000)
