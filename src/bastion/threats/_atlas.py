"""MITRE ATLAS tactics, techniques and mitigations, shipped as versioned data.

The data is validated on load (IDs well formed and unique, every link resolves), so a
corrupted or hand-edited file fails loudly instead of producing rules that cite nothing.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from bastion.core.errors import InputError

__all__ = ["Atlas", "AtlasMitigation", "AtlasTactic", "AtlasTechnique", "load_atlas"]

_CFG = ConfigDict(extra="forbid", frozen=True)
TacticId = Annotated[str, StringConstraints(pattern=r"^AML\.TA\d{4}$")]
TechniqueId = Annotated[str, StringConstraints(pattern=r"^AML\.T\d{4}(\.\d{3})?$")]
MitigationId = Annotated[str, StringConstraints(pattern=r"^AML\.M\d{4}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class AtlasTactic(BaseModel):
    model_config = _CFG
    id: TacticId
    name: Name
    shortname: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]+$")]


class AtlasTechnique(BaseModel):
    model_config = _CFG
    id: TechniqueId
    name: Name
    tactics: list[TacticId]
    parent: TechniqueId | None = None


class AtlasMitigation(BaseModel):
    model_config = _CFG
    id: MitigationId
    name: Name
    techniques: list[TechniqueId]


class Atlas(BaseModel):
    """The shipped subset of ATLAS; ``technique(id)`` resolves sub-techniques' tactics."""

    model_config = _CFG
    format: Literal["bastion.atlas/v1"]
    atlas_version: Annotated[str, StringConstraints(pattern=r"^\d+\.\d+(\.\d+)?$")]
    source: str
    license: Literal["Apache-2.0"]
    attribution: Annotated[str, StringConstraints(min_length=10)]
    quirks_fixed: list[str]
    tactics: list[AtlasTactic]
    techniques: list[AtlasTechnique]
    mitigations: list[AtlasMitigation]
    _techs: dict[str, AtlasTechnique] = PrivateAttr(default_factory=dict)
    _tactics: dict[str, AtlasTactic] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _links_resolve(self) -> Atlas:
        tactic_ids = {t.id for t in self.tactics}
        tech_ids = {t.id for t in self.techniques}
        for what, ids in (
            ("tactic", [t.id for t in self.tactics]),
            ("technique", [t.id for t in self.techniques]),
            ("mitigation", [m.id for m in self.mitigations]),
        ):
            if len(ids) != len(set(ids)):
                raise ValueError(f"duplicate {what} IDs")
        for t in self.techniques:
            if t.parent is not None and t.parent not in tech_ids:
                raise ValueError(f"technique {t.id}: unknown parent {t.parent}")
            if t.parent is None and not t.tactics:
                raise ValueError(f"technique {t.id}: a top-level technique needs a tactic")
            for ta in t.tactics:
                if ta not in tactic_ids:
                    raise ValueError(f"technique {t.id}: unknown tactic {ta}")
        for m in self.mitigations:
            for tid in m.techniques:
                if tid not in tech_ids:
                    raise ValueError(f"mitigation {m.id}: unknown technique {tid}")
        self._techs = {t.id: t for t in self.techniques}
        self._tactics = {t.id: t for t in self.tactics}
        return self

    def technique(self, technique_id: str) -> AtlasTechnique | None:
        return self._techs.get(technique_id)

    def tactics_of(self, technique_id: str) -> list[AtlasTactic]:
        """A technique's tactics; a sub-technique inherits its parent's."""
        techs, tactics = self._techs, self._tactics
        t = techs.get(technique_id)
        while t is not None and not t.tactics and t.parent is not None:
            t = techs.get(t.parent)
        return [tactics[x] for x in (t.tactics if t else [])]

    def mitigations_for(self, technique_id: str) -> list[AtlasMitigation]:
        return [m for m in self.mitigations if technique_id in m.techniques]


@cache
def load_atlas() -> Atlas:
    """The shipped ATLAS data, validated once per process."""
    raw = resources.files("bastion.threats").joinpath("data/atlas.json").read_bytes()
    try:
        return Atlas.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise InputError(
            f"bastion/threats/data/atlas.json: invalid ATLAS data ({exc}); "
            "regenerate it with scripts/threats_generate_atlas.py"
        ) from None
