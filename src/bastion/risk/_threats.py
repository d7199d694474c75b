"""From threats to money: seed a FAIR scenario from each open threat finding.

Default ranges come from the threat's NIST AI 100-2 class (how often it is attempted),
its severity (how likely an attempt succeeds) and the data assets involved (how many
records, how sensitive), following the table in docs/risk.md. They are a starting point:
the user overrides any field in a scenarios YAML file (same scenario id).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from bastion.core.errors import InputError
from bastion.manifest import SystemManifest
from bastion.risk._model import Scenario, ScenarioSet, load_scenarios, parse_scenarios

if TYPE_CHECKING:
    from bastion.threats import ThreatModel

__all__ = [
    "ThreatFinding",
    "check_references",
    "risk_id",
    "scenario_id",
    "scenarios_from_threats",
    "seed_scenarios",
]


@runtime_checkable
class ThreatFinding(Protocol):
    """The shape of a threats-room finding that this room reads."""

    id: str
    rule_id: str
    title: str
    stride: Sequence[str]
    element_id: str
    element_kind: str
    severity: str
    atlas: Sequence[str]
    nist_class: str
    mitigated: bool
    suppressed: bool
    data_assets: Sequence[Mapping[str, Any]]


def risk_id(system_id: str, rule_id: str, element_id: str) -> str:
    """Stable across manifest versions: the same rule on the same element is the same risk."""
    h = hashlib.sha256(f"{system_id}\x00{rule_id}\x00{element_id}".encode()).hexdigest()
    return f"risk-{h[:12]}"


def scenario_id(rule_id: str, element_id: str) -> str:
    """Lowercase (scenario ids are), unlike the finding id: AI-EXTRACTION:scoring-api seeds
    scenario ``ai-extraction.scoring-api``."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", f"{rule_id}.{element_id}".lower()).strip("-.")
    return slug[:100] or "threat"


# Threat event frequency per year (PERT min, mode, max) by NIST AI 100-2 attack class.
TEF_BY_CLASS: dict[str, tuple[float, float, float]] = {
    "evasion": (0.5, 2.0, 12.0),
    "poisoning": (0.05, 0.2, 1.0),
    "privacy": (0.2, 1.0, 4.0),
    "abuse": (1.0, 4.0, 24.0),
}
TEF_OTHER = (0.1, 0.5, 2.0)
# Probability an attempt becomes a loss event, by severity.
VULN_BY_SEVERITY: dict[str, tuple[float, float, float]] = {
    "critical": (0.3, 0.6, 0.9),
    "high": (0.15, 0.35, 0.6),
    "medium": (0.05, 0.15, 0.35),
    "low": (0.01, 0.05, 0.15),
    "info": (0.0, 0.01, 0.05),
}
# Cost per exposed record (response, notification) and regulatory exposure per record.
PER_RECORD: dict[str, float] = {
    "public": 0.0,
    "internal": 5.0,
    "confidential": 60.0,
    "restricted": 180.0,
}
FINE_PER_RECORD: dict[str, float] = {
    "public": 0.0,
    "internal": 0.0,
    "confidential": 20.0,
    "restricted": 100.0,
}
DEFAULT_RECORDS: dict[str, int] = {
    "public": 0,
    "internal": 1_000,
    "confidential": 10_000,
    "restricted": 10_000,
}
_RANK = ("public", "internal", "confidential", "restricted")


def _get(f: Any, name: str) -> Any:
    if isinstance(f, Mapping):
        if name == "nist_class" and name not in f and "nist_ai_100_2" in f:
            name = "nist_ai_100_2"  # the key the threats room's JSON uses
        if name not in f:
            raise InputError(
                f"threat finding {f.get('id', '?')!r}: missing field '{name}'; fix: pass findings of the threats room"
            )
        return f[name]
    return getattr(f, name)


def _mapping(a: Any) -> Mapping[str, Any]:
    """A data asset as a mapping, whether given as a dict or as the threats room's object."""
    if isinstance(a, Mapping):
        return a
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return dataclasses.asdict(a)
    return dict(vars(a))


def _pert(lo: float, mode: float, hi: float) -> dict[str, Any]:
    return {"dist": "pert", "min": lo, "mode": mode, "max": hi}


def _default_raw(system_id: str, f: Any) -> dict[str, Any]:
    cls = str(_get(f, "nist_class")).lower()
    sev = str(_get(f, "severity")).lower()
    stride = [str(s).lower() for s in _get(f, "stride")]
    rule, element = str(_get(f, "rule_id")), str(_get(f, "element_id"))
    assets = [_mapping(a) for a in _get(f, "data_assets") or []]
    classes = [str(a.get("classification", "internal")) for a in assets] or ["internal"]
    top = max(classes, key=lambda c: _RANK.index(c) if c in _RANK else 1)
    records = sum(
        int(a["record_count"])
        if a.get("record_count") is not None
        else DEFAULT_RECORDS.get(str(a.get("classification")), 1_000)
        for a in assets
    )
    sev_k = {"critical": 3.0, "high": 2.0, "medium": 1.0}.get(sev, 0.5)
    primary: dict[str, Any] = {"response": _pert(5_000 * sev_k, 25_000 * sev_k, 150_000 * sev_k)}
    disclosure = cls == "privacy" or any("disclosure" in s for s in stride)
    if cls in ("evasion", "abuse"):
        primary["productivity"] = _pert(2_000, 10_000, 80_000)
    if cls == "poisoning":
        primary["replacement"] = _pert(10_000, 50_000, 300_000)
    if any(k in rule.lower() for k in ("extraction", "theft", "stealing", "weights")):
        primary["competitive_advantage"] = _pert(20_000, 200_000, 2_000_000)
    raw: dict[str, Any] = {
        "id": scenario_id(rule, element),
        "name": str(_get(f, "title"))[:200],
        "threats": [str(_get(f, "id"))],
        "risk": risk_id(system_id, rule, element),
        "tef": _pert(*TEF_BY_CLASS.get(cls, TEF_OTHER)),
        "vulnerability": _pert(*VULN_BY_SEVERITY.get(sev, VULN_BY_SEVERITY["medium"])),
        "primary_loss": primary,
    }
    if disclosure and records and PER_RECORD.get(top, 0) > 0:
        per = PER_RECORD[top]
        # A breach rarely exposes every record: 1% to 100%, most likely 10%.
        primary["response"] = _pert(
            primary["response"]["min"] + 0.01 * records * per,
            primary["response"]["mode"] + 0.10 * records * per,
            primary["response"]["max"] + records * per,
        )
        fine = FINE_PER_RECORD.get(top, 0.0)
        if fine > 0:
            raw["secondary_loss"] = {
                "frequency": _pert(0.05, 0.2, 0.5),
                "magnitude": {
                    "fines_judgments": _pert(
                        0.01 * records * fine, 0.1 * records * fine, records * fine
                    ),
                    "reputation": _pert(10_000, 100_000, 1_000_000),
                },
            }
    return raw


def scenarios_from_threats(
    manifest: SystemManifest,
    findings: Iterable[Any],
    overrides: Path | Mapping[str, Any] | str | bytes | None = None,
    *,
    source: str = "threat findings",
) -> ScenarioSet:
    """One scenario per open (unmitigated, unsuppressed) finding, overrides merged by id.

    ``findings`` are dicts or objects of the :class:`ThreatFinding` shape. ``overrides`` is a
    scenarios file (a ``Path``), a parsed document or YAML text; its entries replace fields of the seeded
    scenario with the same id and may add scenarios of their own.
    """
    seeded: dict[str, dict[str, Any]] = {}
    for f in findings:
        if bool(_get(f, "mitigated")) or bool(_get(f, "suppressed")):
            continue
        raw = _default_raw(manifest.system.id, f)
        if raw["id"] in seeded:  # two findings of one rule on one element: one scenario
            seeded[raw["id"]]["threats"] += raw["threats"]
            continue
        seeded[raw["id"]] = raw
    base_doc: dict[str, Any] = {"kind": "RiskScenarios", "scenarios": list(seeded.values())}
    if not seeded and overrides is None:
        return ScenarioSet(source=source, scenarios=())
    base: Sequence[Scenario] = parse_scenarios(base_doc, source).scenarios if seeded else ()
    if overrides is None:
        return parse_scenarios(base_doc, source)
    if isinstance(overrides, Path):
        return load_scenarios(overrides, base=base)
    return parse_scenarios(overrides, "scenario overrides", base=base)


def check_references(
    ss: ScenarioSet,
    *,
    threats: Iterable[str] | None = None,
    risks: Iterable[str] | None = None,
) -> None:
    """Refuse a scenario citing a threat finding or a risk that does not exist.

    ``threats`` are the finding ids of the system's threat model, ``risks`` the ids in the
    register; either is checked only when given (a scenarios file alone cannot know them).
    A dangling link is the silent failure this prevents: a simulation that prices a threat
    nobody modeled, or that updates no risk in the register.
    """
    known_t = set(threats) if threats is not None else None
    known_r = set(risks) if risks is not None else None
    for s in ss.scenarios:
        where = f"{ss.source}: scenario '{s.id}'"
        if known_t is not None:
            for t in s.threats:
                if t not in known_t:
                    near = difflib.get_close_matches(t, sorted(known_t), n=1, cutoff=0.5)
                    hint = f" (did you mean {near[0]}?)" if near else ""
                    raise InputError(
                        f"{where}, field 'threats': unknown threat finding '{t}'{hint}; fix: "
                        "cite a finding id of `bastion threats model` (RULE:element, e.g. "
                        "AI-EXTRACTION:scoring-api)"
                    )
        if known_r is not None and s.risk is not None and s.risk not in known_r:
            raise InputError(
                f"{where}, field 'risk': no risk '{s.risk}' in the register; fix: register "
                "the threats first (`bastion risk register import MANIFEST`) or remove the link"
            )


def seed_scenarios(
    model: ThreatModel,
    overrides: Path | Mapping[str, Any] | str | bytes | None = None,
    *,
    source: str | None = None,
) -> ScenarioSet:
    """Scenarios seeded from a threat model's open findings, with the user's overrides
    merged by scenario id; every threat the overrides cite must be a finding of the model."""
    ss = scenarios_from_threats(
        model.graph.manifest,
        model.findings,
        overrides,
        source=source or f"threat model of {model.system_id}",
    )
    check_references(ss, threats=[f.id for f in model.findings])
    return ss
