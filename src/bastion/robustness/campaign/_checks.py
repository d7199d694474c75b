"""``robustness.campaign`` evidence: one record per campaign target, with the metrics gate
policies name (``metrics.pgd.robust_accuracy_at_eps_0_1 >= 0.6``), the thresholds, the
tasks that failed, and the change since the last recorded run of the same campaign on the
same subject (a new model version is compared with the last one)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from bastion.core.checks import EvidenceData, RecordedCheck, record_evidence
from bastion.core.evidence import EvidenceQuery
from bastion.core.types import Evidence, Finding, Severity, Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.robustness.campaign._run import CampaignResult, TargetResult

__all__ = ["CampaignCheck", "CampaignData", "record_campaign"]


class CampaignData(EvidenceData):
    campaign: str
    campaign_digest: str
    target: str
    executor: str
    model_digest: str | None
    data_digest: str | None
    metrics: dict[str, dict[str, float | bool | None]]
    thresholds: tuple[dict[str, Any], ...] = ()
    failures: dict[str, str] = Field(default_factory=dict)
    invalid: tuple[str, ...] = ()
    tasks: int
    retried: int = 0
    cpu_seconds: float = 0.0
    #: the previous recorded run of this campaign on this subject, and the metric deltas
    previous_evidence: str | None = None
    changes: dict[str, dict[str, float]] = Field(default_factory=dict)


class CampaignCheck(RecordedCheck[CampaignData]):
    """A red-team campaign's result on one target: per attack, clean and robust accuracy
    (by epsilon), attack success rate and minimal perturbation, with pass thresholds.

    Verdict: ``fail`` when a threshold does not hold or a task failed (an incomplete
    campaign proves nothing), ``warn`` when an evaluation is not valid, ``pass`` otherwise."""

    id = "robustness.campaign"
    title = "Red-team campaign"
    description = (
        "A campaign file's attacks run against a model (through the Executor): metrics per "
        "attack, thresholds, failed tasks, and the change since the last run."
    )
    subject_kinds = ("model",)
    severity = Severity.HIGH
    references = ("MITRE ATLAS AML.T0043", "NIST AI RMF MEASURE 2.7", "OWASP ML01")
    recorded_by = "bastion redteam run (record_campaign)"


def _previous(ws: Workspace, ref: str, campaign: str) -> Evidence | None:
    for ev in ws.evidence.list(EvidenceQuery(check_id=CampaignCheck.id, subject_ref=ref)):
        if ev.data.get("campaign") == campaign:
            return ev
    return None


def _changes(
    now: dict[str, dict[str, float | bool | None]], before: dict[str, dict[str, Any]]
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for attack, m in now.items():
        for key, value in m.items():
            old = before.get(attack, {}).get(key)
            if isinstance(value, bool) or isinstance(old, bool):
                continue
            if isinstance(value, (int, float)) and isinstance(old, (int, float)):
                out.setdefault(attack, {})[key] = round(float(value) - float(old), 6)
    return out


def _verdict(t: TargetResult) -> tuple[Verdict, tuple[Finding, ...]]:
    findings: list[Finding] = []
    for attack, why in t.failures.items():
        findings.append(Finding("campaign.task_failed", "A campaign task failed", Severity.HIGH,
                                f"attack {attack}: {why[:500]}", location=attack))  # fmt: skip
    for th in t.thresholds:
        if not th.passed:
            bound = f">= {th.min:g}" if th.min is not None else f"<= {th.max:g}"
            got = "withheld (evaluation not valid)" if th.value is None else f"{th.value:.4f}"
            findings.append(Finding("campaign.threshold", "A campaign threshold does not hold",
                                    Severity.HIGH, f"{th.metric} is {got}; required {bound}",
                                    location=th.metric))  # fmt: skip
    findings.extend(
        Finding("campaign.invalid", "An evaluation is not valid", Severity.MEDIUM,
                f"attack {attack}: a validity check failed; its robust accuracy is withheld",
                location=attack)
        for attack in t.invalid
    )  # fmt: skip
    if t.failures or any(not th.passed for th in t.thresholds):
        return Verdict.FAIL, tuple(findings)
    return (Verdict.WARN if t.invalid else Verdict.PASS), tuple(findings)


def record_campaign(ws: Workspace, result: CampaignResult, *, actor: str) -> list[Evidence]:
    """One ``robustness.campaign`` evidence per target, each compared with the last run of
    the same campaign on the same subject; fills ``result.previous``."""
    out: list[Evidence] = []
    c = result.campaign
    for t in result.targets:
        prev = _previous(ws, t.name, c.name)
        before = CampaignCheck.read(prev).metrics if prev is not None else {}
        if prev is not None:
            result.previous[t.id] = dict(before)
        verdict, findings = _verdict(t)
        data = CampaignData(
            campaign=c.name,
            campaign_digest=c.digest,
            target=t.id,
            executor=result.executor,
            model_digest=t.model_digest,
            data_digest=t.data_digest,
            metrics=t.metrics,
            thresholds=tuple(th.to_dict() for th in t.thresholds),
            failures=t.failures,
            invalid=t.invalid,
            tasks=len(c.attacks),
            retried=t.retried,
            cpu_seconds=t.cpu_seconds,
            previous_evidence=prev.id if prev is not None else None,
            changes=_changes(t.metrics, dict(before)),
        )
        subject = Subject("model", t.name, t.model_digest)
        out.append(record_evidence(ws, CampaignCheck, subject, verdict=verdict, data=data,
                                   findings=findings, actor=actor))  # fmt: skip
    return out
