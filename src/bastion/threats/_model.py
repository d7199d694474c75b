"""The threat model: rules applied to the graph, suppressions, diff and the CI gate."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from bastion.core.canonical import canonical_json
from bastion.core.errors import InputError
from bastion.core.types import Severity, Verdict
from bastion.manifest import Asset, DataFlow, SystemManifest
from bastion.threats._atlas import load_atlas
from bastion.threats._engine import Evaluator
from bastion.threats._graph import DATA_KINDS, ThreatGraph, build_graph
from bastion.threats._rules import (
    QUESTIONNAIRE_RULE_IDS,
    ElementType,
    Rule,
    RuleSet,
    builtin_rules,
    safe_yaml,
)

if TYPE_CHECKING:
    from bastion.core.workspace import Workspace

__all__ = [
    "MAX_SUPPRESSION_BYTES",
    "DataAssetRef",
    "Status",
    "Suppression",
    "ThreatDiff",
    "ThreatFinding",
    "ThreatModel",
    "diff_models",
    "gate",
    "load_suppressions",
    "manifest_digest",
    "model_threats",
]

MAX_SUPPRESSION_BYTES = 1024 * 1024


class Status(enum.StrEnum):
    OPEN = "open"
    MITIGATED = "mitigated"
    SUPPRESSED = "suppressed"


_CFG = ConfigDict(extra="forbid", frozen=True)


class Suppression(BaseModel):
    """An accepted threat on one element: who accepted it, why, and until when."""

    model_config = _CFG
    rule: Annotated[str, StringConstraints(min_length=3, max_length=60)]
    element: Annotated[str, StringConstraints(min_length=1, max_length=63)]
    justification: Annotated[str, StringConstraints(min_length=10, max_length=2000)]
    owner: Annotated[str, StringConstraints(min_length=3, max_length=200)]
    expires: date

    def to_dict(self, today: date | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {
            "rule": self.rule,
            "element": self.element,
            "justification": self.justification,
            "owner": self.owner,
            "expires": self.expires.isoformat(),
        }
        if today is not None:
            d["expired"] = self.expires < today
        return d


class _SuppressionFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    api_version: Literal["bastion/v1"] = Field(alias="apiVersion")
    kind: Literal["ThreatSuppressions"]
    suppressions: list[Suppression] = Field(default_factory=list)


def load_suppressions(
    path: Path | str,
    manifest: SystemManifest,
    rules: RuleSet | None = None,
    *,
    skipped: list[str] | None = None,
) -> list[Suppression]:
    """Read a suppressions file; an unknown element or rule is an error, never ignored.

    With ``skipped`` (the old side of a diff, modeled with the new side's file), an entry
    naming an element this manifest lacks is left out and described in ``skipped``.
    """
    name = str(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SUPPRESSION_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{name}: cannot read suppressions file ({exc.strerror})") from None
    data = safe_yaml(raw, name, MAX_SUPPRESSION_BYTES)
    try:
        parsed = _SuppressionFile.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = _fix_index(tuple(e["loc"]))
        raise InputError(
            f"{name}: {loc}: {e['msg']}; each entry needs rule, element, justification "
            "(10+ characters), owner and expires (YYYY-MM-DD)"
        ) from None
    rules = rules or builtin_rules()
    ids = {a.id for a in manifest.assets} | {f.id for f in manifest.flows}
    kept: list[Suppression] = []
    for i, s in enumerate(parsed.suppressions):
        if s.element not in ids and skipped is not None:
            skipped.append(
                f"suppression of {s.rule} on {s.element} skipped: no element '{s.element}' "
                f"in this version of system '{manifest.system.id}'"
            )
            continue
        if s.element not in ids:
            raise InputError(
                f"{name}: suppressions[{i}]: unknown element '{s.element}' (rule {s.rule}); "
                f"use the id of an asset or flow of system '{manifest.system.id}'"
            )
        if rules.get(s.rule) is None and s.rule not in QUESTIONNAIRE_RULE_IDS:
            raise InputError(
                f"{name}: suppressions[{i}]: unknown rule '{s.rule}' (element {s.element}); "
                "list the rule ids with `bastion threats rules`"
            )
        kept.append(s)
    return kept


def _fix_index(loc: tuple[Any, ...]) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "top level"


@dataclass(frozen=True)
class DataAssetRef:
    """A data asset a threat puts at stake; the risk room sizes losses from it."""

    id: str
    kind: str
    classification: str
    pii: tuple[str, ...]
    record_count: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "classification": self.classification,
            "pii_categories": list(self.pii),
            "record_count": self.record_count,
        }


@dataclass(frozen=True)
class ThreatFinding:
    """One rule applying to one element; ``id`` (rule:element) is stable across versions."""

    rule: Rule
    element_id: str
    element_kind: str
    flow_id: str | None
    status: Status
    applies_because: str
    mitigation: str
    suppression: dict[str, Any] | None
    data_assets: tuple[DataAssetRef, ...]
    line: int | None = None

    @property
    def id(self) -> str:
        return f"{self.rule.id}:{self.element_id}"

    @property
    def severity(self) -> Severity:
        return self.rule.severity

    @property
    def open(self) -> bool:
        return self.status is Status.OPEN

    # The shape the risk room reads (bastion.risk.ThreatFinding): FAIR scenarios and
    # register entries are seeded straight from these objects.
    @property
    def rule_id(self) -> str:
        return self.rule.id

    @property
    def title(self) -> str:
        return self.rule.title

    @property
    def stride(self) -> list[str]:
        return [s.value for s in self.rule.stride]

    @property
    def atlas(self) -> list[str]:
        return list(self.rule.atlas)

    @property
    def nist_class(self) -> str:
        return self.rule.nist_ai_100_2.value

    @property
    def mitigated(self) -> bool:
        return self.status is Status.MITIGATED

    @property
    def suppressed(self) -> bool:
        return self.status is Status.SUPPRESSED

    def to_dict(self) -> dict[str, Any]:
        r = self.rule
        return {
            "id": self.id,
            "rule_id": r.id,
            "title": r.title,
            "stride": [s.value for s in r.stride],
            "severity": r.severity.value,
            "status": self.status.value,
            "element_id": self.element_id,
            "element_kind": self.element_kind,
            "flow_id": self.flow_id,
            "applies_because": self.applies_because,
            "mitigation": self.mitigation,
            "mitigated": self.status is Status.MITIGATED,
            "suppressed": self.status is Status.SUPPRESSED,
            "suppression": self.suppression,
            "atlas": list(r.atlas),
            "owasp": list(r.owasp),
            "nist_ai_100_2": r.nist_ai_100_2.value,
            "cwe": list(r.cwe),
            "controls": list(r.controls),
            "remediation": r.remediation,
            "data_assets": [d.to_dict() for d in self.data_assets],
            "line": self.line,
        }


@dataclass(frozen=True)
class ThreatModel:
    """A model run: the findings of every rule on every element, and what it ran on."""

    system_id: str
    system_name: str
    source: str | None
    evaluated_on: date
    rules: RuleSet
    graph: ThreatGraph
    findings: tuple[ThreatFinding, ...]
    notes: tuple[str, ...] = field(default=())
    suppressions: tuple[Suppression, ...] = field(default=())
    questionnaires: tuple[dict[str, Any], ...] = field(default=())

    @cached_property
    def manifest_digest(self) -> str:
        """Computed on first use: hashing is not part of resolving threats."""
        return manifest_digest(self.graph.manifest)

    @property
    def element_count(self) -> int:
        return len(self.graph.assets) + len(self.graph.flows)

    def open_at_least(self, severity: Severity) -> list[ThreatFinding]:
        return [f for f in self.findings if f.open and f.severity.at_least(severity)]

    def counts_by_element(self, *, only_open: bool = True) -> Counter[str]:
        return Counter(f.element_id for f in self.findings if f.open or not only_open)

    def suppression_rows(self) -> list[dict[str, Any]]:
        """Each accepted threat with who accepted it, until when, and what it now covers."""
        by_id = {f.id: f for f in self.findings}
        rows = []
        for s in self.suppressions:
            f = by_id.get(f"{s.rule}:{s.element}")
            rows.append(
                s.to_dict(self.evaluated_on)
                | {
                    "finding": f.id if f is not None else None,
                    "finding_status": f.status.value if f is not None else None,
                    "severity": f.severity.value if f is not None else None,
                }
            )
        return rows

    def summary(self) -> dict[str, Any]:
        by_status = Counter(f.status.value for f in self.findings)
        by_sev = Counter(f.severity.value for f in self.findings if f.open)
        return {
            "elements": self.element_count,
            "findings": len(self.findings),
            "per_element": round(len(self.findings) / max(1, self.element_count), 3),
            "by_status": {s.value: by_status.get(s.value, 0) for s in Status},
            "open_by_severity": {s.value: by_sev.get(s.value, 0) for s in Severity},
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system_id,
            "name": self.system_name,
            "manifest_digest": self.manifest_digest,
            "source": self.source,
            "evaluated_on": self.evaluated_on.isoformat(),
            "rules": {"count": len(self.rules.rules), "digest": self.rules.digest},
            "atlas_version": load_atlas().atlas_version,
            "summary": self.summary(),
            "notes": list(self.notes),
            "suppressions": self.suppression_rows(),
            "questionnaires": list(self.questionnaires),
            "findings": [f.to_dict() for f in self.findings],
        }


def manifest_digest(manifest: SystemManifest) -> str:
    """The same digest the inventory stores for a manifest version."""
    doc = manifest.model_dump(mode="json", exclude_none=True)
    return "sha256:" + hashlib.sha256(canonical_json(doc)).hexdigest()


def _record_count(a: Asset) -> int | None:
    for key in ("record_count", "rows", "records"):
        v = a.properties.get(key)
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            return v
    return None


def _data_ref(a: Asset) -> DataAssetRef:
    return DataAssetRef(
        a.id,
        a.kind.value,
        a.classification.value,
        tuple(p.value for p in a.pii_categories if p.value != "none"),
        _record_count(a),
    )


def _data_assets(
    g: ThreatGraph, rule: Rule, el: Asset | DataFlow, cache: dict[str, DataAssetRef | None]
) -> tuple[DataAssetRef, ...]:
    ids: list[str] = []
    if isinstance(el, DataFlow):
        ids = [el.source, el.target]
    else:
        ids = [el.id]
        if rule.data_scope in ("adjacent", "lineage"):
            ids += [f.source for f in g.flows_in[el.id]] + [f.target for f in g.flows_out[el.id]]
        if rule.data_scope == "lineage":
            ids += list(g.upstream(el.id))
    seen: dict[str, DataAssetRef] = {}
    for i in ids:
        if i in seen:
            continue
        if i not in cache:
            a = g.assets[i]
            cache[i] = _data_ref(a) if a.kind in DATA_KINDS or a.has_pii else None
        ref = cache[i]
        if ref is not None:
            seen[i] = ref
    return tuple(seen.values())


def model_threats(
    manifest: SystemManifest,
    *,
    rules: RuleSet | None = None,
    suppressions: Sequence[Suppression] = (),
    workspace: Workspace | None = None,
    today: date | None = None,
    source: str | None = None,
    lines: dict[str, int] | None = None,
    extra_findings: Sequence[ThreatFinding] = (),
    local_evidence: dict[tuple[str, str], tuple[Verdict, str]] | None = None,
    questionnaires: Sequence[dict[str, Any]] = (),
) -> ThreatModel:
    """Apply every rule to every element of the manifest's data-flow graph.

    ``extra_findings`` (third-party questionnaire findings) join the rule findings, with
    the same suppressions; ``local_evidence`` are verdicts of checks run in this call
    (the questionnaire's ``threats.questionnaire``), counted like recorded evidence.
    """
    rules = rules or builtin_rules()
    today = today or datetime.now(UTC).date()
    g = build_graph(manifest)
    ev = Evaluator(g, workspace, local_evidence)
    lines = lines or {}
    supp = {(s.rule, s.element): s for s in suppressions}
    by_kind: dict[str, list[Rule]] = {}
    flow_rules = [r for r in rules.rules if r.element is ElementType.FLOW]
    for r in rules.rules:
        if r.element is ElementType.ASSET:
            for k in r.kinds or {a.kind for a in manifest.assets}:
                by_kind.setdefault(k.value, []).append(r)
    findings: list[ThreatFinding] = []
    notes: list[str] = []
    used: set[tuple[str, str]] = set()
    data_cache: dict[str, DataAssetRef | None] = {}

    def suppress(rule: Rule, el_id: str, status: Status) -> tuple[Status, dict[str, Any] | None]:
        s = supp.get((rule.id, el_id))
        if s is None:
            return status, None
        used.add((rule.id, el_id))
        expired = s.expires < today
        if expired:
            notes.append(
                f"suppression of {rule.id} on {el_id} by {s.owner} expired on "
                f"{s.expires.isoformat()}; the threat is reported again"
            )
        elif status is Status.OPEN:
            status = Status.SUPPRESSED
        return status, {
            "justification": s.justification,
            "owner": s.owner,
            "expires": s.expires.isoformat(),
            "expired": expired,
        }

    def apply(rule: Rule, el: Asset | DataFlow) -> None:
        ok, why = ev.eval(rule.applies_when, el)
        if not ok:
            return
        status = Status.OPEN
        if rule.mitigated_when is None:
            mitigation = "no mitigation condition: accept or suppress with a justification"
        else:
            mit, reason = ev.eval(rule.mitigated_when, el)
            mitigation = ("mitigated: " if mit else "not mitigated: ") + reason
            if mit:
                status = Status.MITIGATED
        status, sdict = suppress(rule, el.id, status)
        is_flow = isinstance(el, DataFlow)
        findings.append(
            ThreatFinding(
                rule,
                el.id,
                "flow" if is_flow else el.kind.value,  # type: ignore[union-attr]
                el.id if is_flow else None,
                status,
                why,
                mitigation,
                sdict,
                _data_assets(g, rule, el, data_cache),
                lines.get(el.id),
            )
        )

    for a in manifest.assets:
        for r in by_kind.get(a.kind.value, ()):
            apply(r, a)
    for f in manifest.flows:
        for r in flow_rules:
            apply(r, f)
    for x in extra_findings:
        st, sd = suppress(x.rule, x.element_id, x.status)
        findings.append(
            dataclasses.replace(x, status=st, suppression=sd, line=lines.get(x.element_id))
        )
    notes.extend(
        f"suppression of {k[0]} on {k[1]} matched no finding; remove it"
        for k in sorted(supp.keys() - used)
    )
    sev_rank = {s: s.rank for s in Severity}
    findings.sort(key=lambda x: (-sev_rank[x.severity], x.status.value != "open", x.id))
    return ThreatModel(
        manifest.system.id,
        manifest.system.name,
        source,
        today,
        rules,
        g,
        tuple(findings),
        tuple(notes),
        tuple(suppressions),
        tuple(questionnaires),
    )


def gate(model: ThreatModel, fail_on: Severity) -> bool:
    """True when the model passes: no open, unsuppressed threat at or above ``fail_on``."""
    return not model.open_at_least(fail_on)


@dataclass(frozen=True)
class ThreatDiff:
    """What a manifest change did to the threat model, keyed by stable finding id."""

    added: tuple[ThreatFinding, ...]
    removed: tuple[ThreatFinding, ...]
    changed: tuple[tuple[ThreatFinding, ThreatFinding], ...]
    unchanged: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [f.to_dict() for f in self.added],
            "removed": [f.to_dict() for f in self.removed],
            "changed": [
                {
                    "id": new.id,
                    "changes": _changes(old, new),
                    "old": old.to_dict(),
                    "new": new.to_dict(),
                }
                for old, new in self.changed
            ],
            "unchanged": self.unchanged,
        }

    def new_open_at_least(self, severity: Severity) -> list[ThreatFinding]:
        got = [f for f in self.added if f.open and f.severity.at_least(severity)]
        got += [
            n for o, n in self.changed if n.open and not o.open and n.severity.at_least(severity)
        ]
        return got


def _changes(old: ThreatFinding, new: ThreatFinding) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if old.status is not new.status:
        out["status"] = [old.status.value, new.status.value]
    if old.severity is not new.severity:
        out["severity"] = [old.severity.value, new.severity.value]
    if old.mitigation != new.mitigation:
        out["mitigation"] = [old.mitigation, new.mitigation]
    return out


def diff_models(old: ThreatModel, new: ThreatModel) -> ThreatDiff:
    a = {f.id: f for f in old.findings}
    b = {f.id: f for f in new.findings}
    changed = tuple((a[k], b[k]) for k in sorted(a.keys() & b.keys()) if _changes(a[k], b[k]))
    return ThreatDiff(
        tuple(b[k] for k in sorted(b.keys() - a.keys())),
        tuple(a[k] for k in sorted(a.keys() - b.keys())),
        changed,
        len(a.keys() & b.keys()) - len(changed),
    )
