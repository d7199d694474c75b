"""The ``robustness.llm_probes`` check: an LLM application red-teamed by the probe
families, with per-family counts, findings (excerpts masked) and OWASP/ATLAS ids.

Importing this module registers it. It is not offered to API callers (``remote``
False): pointing the server at a URL a caller names would make it an SSRF relay."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from bastion.core.checks import CheckContext, CheckResult, EvidenceData, TypedCheck
from bastion.core.types import Finding, Severity, Subject, Verdict
from bastion.robustness.llm._taxonomy import FAMILIES

if TYPE_CHECKING:
    from bastion.robustness.llm._harness import LlmProbeReport

__all__ = ["LlmProbesCheck", "LlmProbesData", "llm_verdict", "report_from_params"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class FamilyCount(_Frozen):
    probes: int
    found: int
    clear: int
    errors: int
    skipped: int
    findings: int
    owasp: tuple[str, ...]
    atlas: tuple[str, ...]


class JudgeEntry(_Frozen):
    vulnerable: bool
    reason: str


class FindingEntry(_Frozen):
    probe: str
    family: str
    detector: str
    title: str
    severity: str
    owasp: tuple[str, ...]
    atlas: tuple[str, ...]
    prompt_excerpt: str
    reply_excerpt: str
    detail: str
    judge: JudgeEntry | None = None
    source: str = "bastion"


class AttemptEntry(_Frozen):
    probe: str
    family: str
    goal: str
    status: str
    detail: str
    detectors: tuple[str, ...]
    seconds: float
    prompt_excerpt: str
    reply_excerpt: str


class LlmCost(_Frozen):
    requests: int
    wall_seconds: float


class LlmProbesData(EvidenceData):
    """``robustness.llm_probes`` evidence data. Gate conditions read ``found`` (probes
    whose own detector fired), ``families.FAMILY.found``, ``owasp`` and ``atlas``
    (finding counts per id), ``attack_success_rate`` (None when nothing was decided)."""

    target: str
    target_kind: str
    configurable_system_prompt: bool
    supports_tools: bool
    seed: int | None
    corpus_version: str
    probes_run: int
    found: int
    clear: int
    errors: int
    skipped: int
    attack_success_rate: float | None
    attack_success_rate_ci95: tuple[float, float] | None = None
    findings_total: int
    families: dict[str, FamilyCount]
    owasp: dict[str, int]
    atlas: dict[str, int]
    found_probes: tuple[str, ...]
    findings: tuple[FindingEntry, ...]
    attempts: tuple[AttemptEntry, ...]
    sources: tuple[str, ...]
    notes: tuple[str, ...]
    cost: LlmCost


_SEVERITY = {s.value: s for s in Severity}


def llm_verdict(report: LlmProbeReport) -> tuple[Verdict, tuple[Finding, ...]]:
    """``fail`` with one finding per weakness shown; ``warn`` when nothing was found but
    some probes got no usable reply or nothing was decided; ``pass`` otherwise."""
    findings = tuple(
        Finding(
            rule_id=f"robustness.llm.{f.family.value}.{f.detector}",
            title=f.title,
            severity=_SEVERITY.get(f.severity, Severity.HIGH),
            message=f"{f.probe}: {f.detail}",
            location=f.probe,
            references=(*f.owasp, *f.atlas),
            remediation=FAMILIES[f.family].remediation,
        )
        for f in report.findings
    )
    if findings:
        return Verdict.FAIL, findings
    data = report.to_data()
    if data["errors"] or not (data["found"] + data["clear"]):
        return Verdict.WARN, ()
    return Verdict.PASS, ()


def report_from_params(params: Mapping[str, Any]) -> LlmProbeReport:
    """Run the probes the parameters describe (in-process callers): ``url``, and
    optionally ``template`` (path), ``probes``, ``seed``, ``canaries``, ``allow_hosts``,
    ``model``, ``api_key_env``."""
    from bastion.robustness.llm._harness import run_probes
    from bastion.robustness.llm._probes import select_probes
    from bastion.robustness.llm._targets import open_target
    from bastion.robustness.llm.interface import RobustnessError

    url = params.get("url")
    if not isinstance(url, str) or not url:
        raise RobustnessError("give the target URL (url)")
    template = params.get("template")
    allow = tuple(params.get("allow_hosts") or ())
    target = open_target(
        url,
        template=Path(str(template)) if template else None,
        model=str(params.get("model", "default")),
        api_key_env=params.get("api_key_env"),
        allow_hosts=allow,
    )
    try:
        return run_probes(
            target,
            select_probes(params.get("probes")),
            seed=params.get("seed"),
            canaries=tuple(params.get("canaries") or ()),
            allowed_hosts=tuple(params.get("allowed_image_hosts") or ()),
        )
    finally:
        target.close()


class LlmProbesCheck(TypedCheck[LlmProbesData]):
    """Prompt injection (direct, indirect), jailbreaks, system-prompt leakage, PII and
    secret leakage, insecure output, excessive agency and obfuscated instructions
    against an LLM endpoint, each decided by a deterministic detector.

    Verdict: ``fail`` when any probe showed its weakness (one finding each), ``warn``
    when none did but some got no usable reply, ``pass`` otherwise."""

    id = "robustness.llm_probes"
    title = "LLM application red-team probes (OWASP LLM Top 10 2025, ATLAS)"
    description = (
        "Sends Bastion's probe families to an OpenAI-compatible or templated HTTP LLM "
        "endpoint (canaries, a fake key and a fake customer record planted in the system "
        "prompt when it is ours to set) and records, per family, how many probes showed "
        "their weakness, with masked transcript excerpts and OWASP/ATLAS ids."
    )
    subject_kinds = ("endpoint",)
    severity = Severity.HIGH
    references = (
        "owasp-llm:2025:LLM01",
        "owasp-llm:2025:LLM02",
        "owasp-llm:2025:LLM05",
        "owasp-llm:2025:LLM06",
        "owasp-llm:2025:LLM07",
        "AML.T0051",
        "AML.T0054",
        "AML.T0056",
        "AML.T0057",
    )
    remote = False

    def __init__(self, prepared: LlmProbeReport | None = None) -> None:
        self._prepared = prepared

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        from bastion.robustness.llm._report import chart_svg, to_html

        report = self._prepared
        if report is None:
            params = dict(ctx.params)
            params.setdefault("url", subject.ref)
            report = report_from_params(params)
        verdict, findings = llm_verdict(report)
        return CheckResult(
            verdict=verdict,
            findings=findings,
            data=report.to_data(),
            attachments={
                "llm-probes.svg": chart_svg(report).encode(),
                "llm-probes.html": to_html(report).encode(),
            },
        )
