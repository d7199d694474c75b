"""Declarative threat rules: YAML data validated by pydantic, evaluated without ``eval``.

A rule says *when a threat applies* (``applies_when``) separately from *when it is
mitigated* (``mitigated_when``), so a mitigated threat is reported as mitigated, with the
reason, instead of either vanishing or nagging (pytm mixes the two in one Python
expression). Conditions are a closed set of typed tests combined with ``all``/``any``/``not``.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from bastion.core.documents import parse_yaml
from bastion.core.errors import InputError
from bastion.core.types import Severity, Verdict
from bastion.manifest import (
    AssetKind,
    Authentication,
    AutonomyLevel,
    BoundaryKind,
    Classification,
    DecisionImpact,
    HostingEnvironment,
    Protocol,
)
from bastion.threats._atlas import load_atlas

__all__ = [
    "MAX_RULE_FILE_BYTES",
    "QUESTIONNAIRE_RULE_IDS",
    "Condition",
    "ElementType",
    "NistClass",
    "PropertyTest",
    "Rule",
    "RuleSet",
    "Stride",
    "builtin_rules",
    "load_rule_file",
    "load_rules",
    "safe_yaml",
]

MAX_RULE_FILE_BYTES = 1024 * 1024
# Findings of the third-party questionnaire (``_questionnaire.py``): not catalog rules, but
# ids a suppression may name.
QUESTIONNAIRE_RULE_IDS = frozenset(
    {
        "TP-RETENTION",
        "TP-TRAINING",
        "TP-REGION",
        "TP-CERTIFICATIONS",
        "TP-INCIDENTS",
        "TP-PROVENANCE",
    }
)
_CFG = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
Scalar = str | int | float | bool


class Stride(enum.StrEnum):
    SPOOFING = "spoofing"
    TAMPERING = "tampering"
    REPUDIATION = "repudiation"
    INFORMATION_DISCLOSURE = "information_disclosure"
    DENIAL_OF_SERVICE = "denial_of_service"
    ELEVATION_OF_PRIVILEGE = "elevation_of_privilege"

    @property
    def letter(self) -> str:
        return "E" if self is Stride.ELEVATION_OF_PRIVILEGE else self.value[0].upper()


class NistClass(enum.StrEnum):
    """Attack classes of NIST AI 100-2 (Adversarial Machine Learning taxonomy)."""

    EVASION = "evasion"
    POISONING = "poisoning"
    PRIVACY = "privacy"
    ABUSE = "abuse"
    SUPPLY_CHAIN = "supply_chain"
    DIRECT_PROMPTING = "direct_prompting"
    INDIRECT_PROMPT_INJECTION = "indirect_prompt_injection"
    AVAILABILITY = "availability"
    NONE = "none"


class ElementType(enum.StrEnum):
    ASSET = "asset"
    FLOW = "flow"


class PropertyTest(BaseModel):
    """A test of ``properties.<name>``; with no operator it tests that the property is set."""

    model_config = _CFG
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    contains: str | None = None
    gte: float | None = None
    lte: float | None = None
    exists: bool | None = None


class ClassificationTest(BaseModel):
    model_config = _CFG
    at_least: Classification


class TagTest(BaseModel):
    model_config = _CFG
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    equals: str | None = None


class BoundaryTest(BaseModel):
    model_config = _CFG
    kinds: list[BoundaryKind] | None = None


class EvidenceTest(BaseModel):
    model_config = _CFG
    check: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{2,99}$")]
    verdict: Verdict = Verdict.PASS


class SystemTest(BaseModel):
    model_config = _CFG
    autonomy_level: list[AutonomyLevel] | None = None
    decision_impact: list[DecisionImpact] | None = None


class Condition(BaseModel):
    """Exactly one test, or a combination; see docs/threats.md for the vocabulary."""

    model_config = _CFG

    all_: list[Condition] | None = Field(default=None, alias="all", min_length=1)
    any_: list[Condition] | None = Field(default=None, alias="any", min_length=1)
    not_: Condition | None = Field(default=None, alias="not")
    kind: list[AssetKind] | None = Field(default=None, min_length=1)
    property: PropertyTest | None = None
    classification: ClassificationTest | None = None
    pii: Literal["any", "special"] | None = None
    authenticated: bool | None = None
    authentication: list[Authentication] | None = Field(default=None, min_length=1)
    encrypted: Literal["at_rest", "in_transit"] | None = None
    hosting: list[HostingEnvironment] | None = Field(default=None, min_length=1)
    tag: TagTest | None = None
    protocol: list[Protocol] | None = Field(default=None, min_length=1)
    crosses_boundary: BoundaryTest | None = None
    source: Condition | None = None
    target: Condition | None = None
    receives_from: Condition | None = None
    sends_to: Condition | None = None
    lineage: Condition | None = None
    evidence: EvidenceTest | None = None
    system: SystemTest | None = None
    _op: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        set_ = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(set_) != 1:
            names = ", ".join(_alias(k) for k in set_) or "nothing"
            raise ValueError(f"a condition holds exactly one test, got {names}")
        self._op = set_[0]
        return self

    def op(self) -> str:
        """The name of the one field set (``all_``, ``kind``, ...)."""
        return self._op


def _alias(field: str) -> str:
    return field.rstrip("_")


RuleId = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+){1,5}$")]
TechniqueId = Annotated[str, StringConstraints(pattern=r"^AML\.T\d{4}(\.\d{3})?$")]
OwaspId = Annotated[str, StringConstraints(pattern=r"^(LLM(0[1-9]|10):2025|ML(0[1-9]|10):2023)$")]
CweId = Annotated[str, StringConstraints(pattern=r"^CWE-\d{1,5}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class Rule(BaseModel):
    """One threat: when it applies, when it is mitigated, and what it maps to."""

    model_config = _CFG

    id: RuleId
    title: Annotated[str, StringConstraints(min_length=5, max_length=160)]
    element: ElementType
    stride: list[Stride] = Field(min_length=1)
    severity: Severity
    description: Text
    applies_when: Condition
    mitigated_when: Condition | None = None
    atlas: list[TechniqueId] = Field(default_factory=list)
    owasp: list[OwaspId] = Field(default_factory=list)
    nist_ai_100_2: NistClass
    cwe: list[CweId] = Field(default_factory=list)
    remediation: Text
    controls: list[Annotated[str, StringConstraints(min_length=3, max_length=100)]] = Field(
        default_factory=list
    )
    data_scope: Literal["element", "adjacent", "lineage"] = "adjacent"
    references: list[str] = Field(default_factory=list)

    @field_validator("atlas")
    @classmethod
    def _atlas_known(cls, v: list[str]) -> list[str]:
        atlas = load_atlas()
        for tid in v:
            if atlas.technique(tid) is None:
                raise ValueError(f"unknown ATLAS technique {tid} (ATLAS {atlas.atlas_version})")
        return v

    @property
    def kinds(self) -> frozenset[AssetKind] | None:
        """Asset kinds this rule can apply to, read from applies_when, for indexing."""
        c = self.applies_when
        if c.kind is not None:
            return frozenset(c.kind)
        for sub in c.all_ or ():
            if sub.kind is not None:
                return frozenset(sub.kind)
        return None


class RuleFile(BaseModel):
    model_config = _CFG
    api_version: Literal["bastion/v1"] = Field(alias="apiVersion")
    kind: Literal["ThreatRules"]
    rules: list[Rule] = Field(min_length=1)


@dataclass(frozen=True)
class RuleSet:
    """The rules in force and a digest of them, recorded in evidence to pin the catalog."""

    rules: tuple[Rule, ...]
    digest: str
    sources: tuple[str, ...]

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(r.id for r in self.rules)


def safe_yaml(raw: bytes, name: str, max_bytes: int) -> Any:
    """Parse size-limited YAML with the safe loader, refusing aliases (no billion laughs)."""
    if len(raw) > max_bytes:
        raise InputError(f"{name}: file is larger than {max_bytes} bytes; split or trim it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{name}: not UTF-8 text; save the file as UTF-8") from None
    return parse_yaml(text, name)


def _loc(data: Any, loc: tuple[int | str, ...]) -> str:
    """Name the rule an error is in by its id, not only its index."""
    parts: list[str] = []
    node = data
    for p in loc:
        if isinstance(node, dict) and p == "rules":
            parts.append("rules")
        elif isinstance(p, int) and parts and parts[-1] == "rules" and isinstance(node, list):
            rid = node[p].get("id") if p < len(node) and isinstance(node[p], dict) else None
            parts[-1] = f"rules[{p}]" + (f" (rule {rid})" if rid else "")
        elif isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(str(p))
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts).replace(".[", "[")


def load_rule_file(raw: bytes, name: str) -> list[Rule]:
    """Validate one rule file; any problem names the file, the rule and the fix."""
    data = safe_yaml(raw, name, MAX_RULE_FILE_BYTES)
    try:
        return list(RuleFile.model_validate(data).rules)
    except ValidationError as exc:
        errs = sorted(exc.errors(), key=lambda x: x["type"] != "extra_forbidden")
        e = errs[0]
        where = _loc(data, tuple(e["loc"])) or "top level"
        if e["type"] == "extra_forbidden":
            fix = "remove it or fix its spelling (see `bastion threats rules` and docs/threats.md)"
            msg = f"{name}: {where}: unknown property"
        else:
            fix = "see docs/threats.md for the rule format"
            msg = f"{name}: {where}: {e['msg']}"
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise InputError(f"{msg}; {fix}{more}") from None


def _digest(rules: Iterable[Rule]) -> str:
    h = hashlib.sha256()
    for r in rules:
        h.update(r.model_dump_json(by_alias=True).encode())
    return "sha256:" + h.hexdigest()


@cache
def builtin_rules() -> RuleSet:
    """The shipped catalog (``bastion/threats/data/rules/*.yaml``)."""
    rules: list[Rule] = []
    names: list[str] = []
    base = resources.files("bastion.threats").joinpath("data/rules")
    for entry in sorted(base.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            names.append(f"builtin:{entry.name}")
            rules.extend(
                load_rule_file(entry.read_bytes(), f"bastion/threats/data/rules/{entry.name}")
            )
    return _assemble(rules, names)


def _assemble(rules: list[Rule], names: list[str]) -> RuleSet:
    seen: set[str] = set()
    for r in rules:
        if r.id in seen:
            raise InputError(f"rule {r.id} is defined twice ({', '.join(names)}); rename one")
        seen.add(r.id)
    return RuleSet(tuple(rules), _digest(rules), tuple(names))


def load_rules(extra: Iterable[Path] = (), *, builtin: bool = True) -> RuleSet:
    """The builtin catalog plus user rule files (their IDs must not collide)."""
    rules = list(builtin_rules().rules) if builtin else []
    names = list(builtin_rules().sources) if builtin else []
    for path in extra:
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_RULE_FILE_BYTES + 1)
        except OSError as exc:
            raise InputError(f"{path}: cannot read rule file ({exc.strerror})") from None
        rules.extend(load_rule_file(raw, str(path)))
        names.append(str(path))
    return _assemble(rules, names)
