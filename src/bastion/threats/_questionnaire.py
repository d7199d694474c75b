"""Third-party model and API risk: a vendor questionnaire scored into threat findings.

Unanswered questions count against the vendor (fail closed): "unknown" retention is
treated like retention. Findings have the same shape as rule findings, attached to the
questionnaire's asset, so SARIF, the gate and the risk room consume them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from bastion.core.errors import InputError
from bastion.core.types import Severity, Verdict
from bastion.manifest import AssetKind, Classification, SystemManifest
from bastion.threats._model import DataAssetRef, Status, ThreatFinding, _data_ref
from bastion.threats._rules import Condition, ElementType, NistClass, Rule, Stride, safe_yaml

__all__ = [
    "MAX_QUESTIONNAIRE_BYTES",
    "Questionnaire",
    "QuestionnaireResult",
    "load_questionnaire",
    "parse_questionnaire",
    "score_questionnaire",
]

MAX_QUESTIONNAIRE_BYTES = 256 * 1024
_CFG = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Region = Annotated[str, StringConstraints(pattern=r"^(?:[A-Z]{2}(?:-[A-Z0-9]{1,3})?|EEA|EU)$")]
EEA = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
        "LI",
        "NO",
    ]
)
_BASELINE_CERTS = frozenset({"ISO27001", "SOC2", "SOC2-TYPE2", "ISO27701", "C5", "FEDRAMP"})


class DataSent(BaseModel):
    model_config = _CFG
    categories: list[Text] = Field(min_length=1)
    classification: Classification
    personal_data: bool


class Retention(BaseModel):
    model_config = _CFG
    prompts_retained: bool | None = None
    retention_days: int | None = Field(default=None, ge=0, le=36500)


class Regions(BaseModel):
    model_config = _CFG
    processing: list[Region] = Field(min_length=1)
    storage: list[Region] = Field(default_factory=list)


class Incident(BaseModel):
    model_config = _CFG
    date: date
    severity: Severity
    summary: Text
    disclosed: bool = True


class Provenance(BaseModel):
    model_config = _CFG
    provider: Text | None = None
    model: Text | None = None
    version: Text | None = None
    version_pinned: bool = False
    model_card: Text | None = None
    change_notice_days: int | None = Field(default=None, ge=0, le=3650)


class Answers(BaseModel):
    model_config = _CFG
    data_sent: DataSent
    retention: Retention = Field(default_factory=Retention)
    training_on_customer_data: bool | None = None
    region: Regions | None = None
    certifications: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.-]{2,40}$")]] = (
        Field(default_factory=list)
    )
    incident_history: list[Incident] = Field(default_factory=list)
    model_provenance: Provenance = Field(default_factory=Provenance)


class Questionnaire(BaseModel):
    """A vendor's answers about an external model or API (``kind: ThirdPartyQuestionnaire``)."""

    model_config = _CFG
    api_version: Literal["bastion/v1"] = Field(alias="apiVersion")
    kind: Literal["ThirdPartyQuestionnaire"]
    # The third-party asset of the manifest the answers are about (or name it on the
    # command line: --asset ID, --questionnaire ID=FILE).
    asset: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] | None = None
    vendor: Text
    service: Text
    answered_by: Text
    answered_on: date
    answers: Answers


def load_questionnaire(path: Path | str) -> Questionnaire:
    name = str(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_QUESTIONNAIRE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{name}: cannot read questionnaire ({exc.strerror})") from None
    return parse_questionnaire(raw, name)


def parse_questionnaire(raw: bytes | str, name: str) -> Questionnaire:
    """Validate questionnaire YAML (size-limited, safe loader); errors name ``name``."""
    data = safe_yaml(raw if isinstance(raw, bytes) else raw.encode(), name, MAX_QUESTIONNAIRE_BYTES)
    try:
        return Questionnaire.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(p) for p in e["loc"]) or "top level"
        fix = "remove it" if e["type"] == "extra_forbidden" else "see docs/threats.md#questionnaire"
        raise InputError(f"{name}: {loc}: {e['msg']}; {fix}") from None


def _rule(
    rid: str,
    title: str,
    severity: Severity,
    stride: list[Stride],
    nist: NistClass,
    owasp: list[str],
    remediation: str,
    atlas: list[str] | None = None,
    cwe: list[str] | None = None,
) -> Rule:
    return Rule.model_validate(
        {
            "id": rid,
            "title": title,
            "element": ElementType.ASSET,
            "stride": stride,
            "severity": severity,
            "description": f"Third-party questionnaire: {title.lower()}.",
            "applies_when": Condition.model_validate(
                {"kind": [AssetKind.THIRD_PARTY_MODEL_API, AssetKind.EXTERNAL_SERVICE]}
            ),
            "atlas": atlas or [],
            "owasp": owasp,
            "nist_ai_100_2": nist,
            "cwe": cwe or [],
            "remediation": remediation,
            "controls": ["threats questionnaire"],
            "data_scope": "element",
        }
    )


_I = Stride.INFORMATION_DISCLOSURE
_T = Stride.TAMPERING


@dataclass(frozen=True)
class QuestionnaireResult:
    asset_id: str
    vendor: str
    service: str
    score: int
    findings: tuple[ThreatFinding, ...]
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not any(f.open and f.severity.at_least(Severity.HIGH) for f in self.findings)

    @property
    def verdict(self) -> Verdict:
        """The verdict of check ``threats.questionnaire``: fail on an open high answer,
        warn on any other open answer, pass when every answer is satisfactory."""
        if not self.passed:
            return Verdict.FAIL
        return Verdict.WARN if any(f.open for f in self.findings) else Verdict.PASS

    def to_dict(self) -> dict[str, Any]:
        return {
            "asset": self.asset_id,
            "vendor": self.vendor,
            "service": self.service,
            "score": self.score,
            "passed": self.passed,
            "verdict": self.verdict.value,
            "notes": list(self.notes),
            "findings": [f.to_dict() for f in self.findings],
        }


_WEIGHT = {
    Severity.CRITICAL: 40,
    Severity.HIGH: 25,
    Severity.MEDIUM: 10,
    Severity.LOW: 5,
    Severity.INFO: 0,
}


def score_questionnaire(
    q: Questionnaire,
    asset_id: str,
    manifest: SystemManifest | None = None,
    *,
    today: date | None = None,
) -> QuestionnaireResult:
    """Score the answers into findings on ``asset_id`` (checked against the manifest if given)."""
    today = today or datetime.now(UTC).date()
    kind = "third_party_model_api"
    data: tuple[DataAssetRef, ...] = ()
    jurisdictions: list[str] = []
    if manifest is not None:
        try:
            asset = manifest.asset(asset_id)
        except Exception:
            raise InputError(
                f"--asset {asset_id}: no such asset in system '{manifest.system.id}'; "
                "use the id of its third_party_model_api or external_service asset"
            ) from None
        if asset.kind not in (AssetKind.THIRD_PARTY_MODEL_API, AssetKind.EXTERNAL_SERVICE):
            raise InputError(
                f"--asset {asset_id}: is a {asset.kind.value}; a questionnaire describes a "
                "third_party_model_api or external_service"
            )
        kind = asset.kind.value
        data = (_data_ref(asset),) if asset.has_pii else ()
        jurisdictions = list(manifest.system.jurisdictions)
    a = q.answers
    out: list[ThreatFinding] = []
    notes: list[str] = []

    def add(rule: Rule, open_: bool, why: str, mitigation: str) -> None:
        out.append(
            ThreatFinding(
                rule,
                asset_id,
                kind,
                None,
                Status.OPEN if open_ else Status.MITIGATED,
                why,
                ("not mitigated: " if open_ else "mitigated: ") + mitigation,
                None,
                data,
            )
        )

    sensitive = a.data_sent.personal_data or a.data_sent.classification.at_least(
        Classification.CONFIDENTIAL
    )
    sent = f"{', '.join(a.data_sent.categories)} ({a.data_sent.classification.value}" + (
        ", personal data)" if a.data_sent.personal_data else ")"
    )
    # retention
    r = _rule(
        "TP-RETENTION",
        "Vendor retains the data sent to it",
        Severity.HIGH if sensitive else Severity.MEDIUM,
        [_I],
        NistClass.PRIVACY,
        ["LLM02:2025"],
        "Contract zero retention (or the shortest period) and opt out of "
        "abuse-monitoring storage for sensitive prompts.",
        cwe=["CWE-359"],
    )
    ret = a.retention
    if ret.prompts_retained is None and ret.retention_days is None:
        add(r, True, f"sent: {sent}", "retention unanswered (treated as retained)")
    elif ret.prompts_retained or (ret.retention_days or 0) > 0:
        add(
            r,
            True,
            f"sent: {sent}",
            f"vendor retains prompts for {ret.retention_days or 'an unstated number of'} day(s)",
        )
    else:
        add(r, False, f"sent: {sent}", "vendor states prompts are not retained")
    # training on customer data
    r = _rule(
        "TP-TRAINING",
        "Vendor trains its models on customer data",
        Severity.CRITICAL if sensitive else Severity.MEDIUM,
        [_I],
        NistClass.PRIVACY,
        ["LLM02:2025"],
        "Require a contractual no-training clause; otherwise send no "
        "personal or confidential data.",
        atlas=["AML.T0057"],
        cwe=["CWE-359"],
    )
    if a.training_on_customer_data is None:
        add(r, True, f"sent: {sent}", "training on customer data unanswered (treated as yes)")
    else:
        add(
            r,
            a.training_on_customer_data,
            f"sent: {sent}",
            "vendor trains on customer data"
            if a.training_on_customer_data
            else "vendor states it does not train on customer data",
        )
    # region
    r = _rule(
        "TP-REGION",
        "Data processed outside the system's jurisdictions",
        Severity.HIGH,
        [_I],
        NistClass.PRIVACY,
        [],
        "Pin processing and storage to a region inside the "
        "system's jurisdictions, or document the transfer mechanism (SCCs).",
    )
    if a.region is None:
        add(
            r,
            True,
            "the system has declared jurisdictions" if jurisdictions else f"sent: {sent}",
            "processing region unanswered",
        )
    elif not jurisdictions:
        why = (
            "no manifest was given (pass --manifest)"
            if manifest is None
            else f"system '{manifest.system.id}' declares no jurisdictions "
            "(set system.jurisdictions)"
        )
        notes.append(
            f"TP-REGION not evaluated for {asset_id}: vendor regions "
            f"{', '.join(sorted(set(a.region.processing) | set(a.region.storage)))} cannot be "
            f"compared with the system's jurisdictions because {why}"
        )
    else:
        allowed = set(jurisdictions) | (EEA if {"EU", "EEA"} & set(jurisdictions) else set())
        regions = sorted(set(a.region.processing) | set(a.region.storage))
        outside = [x for x in regions if x.split("-")[0] not in allowed and x not in allowed]
        add(
            r,
            bool(outside),
            f"system jurisdictions {', '.join(jurisdictions)}; vendor regions {', '.join(regions)}",
            (
                f"outside: {', '.join(outside)}"
                if outside
                else "every region lies inside the jurisdictions"
            ),
        )
    # certifications
    r = _rule(
        "TP-CERTIFICATIONS",
        "Vendor holds no baseline security certification",
        Severity.MEDIUM,
        [_T, _I],
        NistClass.SUPPLY_CHAIN,
        ["LLM03:2025"],
        "Obtain an ISO/IEC 27001 certificate or a SOC 2 Type II report and review it yearly.",
    )
    certs = {c.upper() for c in a.certifications}
    have = sorted(certs & _BASELINE_CERTS)
    add(
        r,
        not have,
        "certifications listed: " + (", ".join(sorted(certs)) or "none"),
        ("holds " + ", ".join(have)) if have else "none of ISO27001, SOC2, C5, FedRAMP",
    )
    # incidents
    r = _rule(
        "TP-INCIDENTS",
        "Recent or undisclosed security incidents at the vendor",
        Severity.HIGH,
        [_I, _T],
        NistClass.SUPPLY_CHAIN,
        ["LLM03:2025"],
        "Review the incidents' root causes and remediation with the vendor; require "
        "notification within 72 hours contractually.",
    )
    recent = [i for i in a.incident_history if (today - i.date).days <= 730]
    bad = [i for i in recent if not i.disclosed or i.severity.at_least(Severity.HIGH)]
    add(
        r,
        bool(bad),
        f"{len(recent)} incident(s) in the last two years",
        (
            "; ".join(f"{i.date} {i.severity.value}: {i.summary}" for i in bad)
            if bad
            else "no high-severity or undisclosed incident in two years"
        ),
    )
    # provenance
    r = _rule(
        "TP-PROVENANCE",
        "Unknown or unpinned model provenance",
        Severity.MEDIUM,
        [_T],
        NistClass.SUPPLY_CHAIN,
        ["LLM03:2025", "ML06:2023"],
        "Name the model provider and version, pin the version, and get change notice "
        "before the vendor swaps the model.",
        atlas=["AML.T0010.003"],
        cwe=["CWE-1357"],
    )
    p = a.model_provenance
    missing = [
        n
        for n, v in (("provider", p.provider), ("model", p.model), ("version", p.version))
        if not v
    ]
    problems = [f"unanswered: {', '.join(missing)}"] if missing else []
    if not p.version_pinned:
        problems.append("version not pinned")
    add(
        r,
        bool(problems),
        f"model {p.provider or '?'} / {p.model or '?'} / {p.version or '?'}",
        "; ".join(problems) if problems else "provider, model and pinned version are declared",
    )
    score = max(0, 100 - sum(_WEIGHT[f.severity] for f in out if f.open))
    return QuestionnaireResult(asset_id, q.vendor, q.service, score, tuple(out), tuple(notes))
