"""The entry points the CLI calls: probe an endpoint end to end, record the result."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core.checks import run_check
from bastion.core.types import Subject
from bastion.robustness.llm._checks import LlmProbesCheck
from bastion.robustness.llm._garak import garak_available, merge_garak, run_garak
from bastion.robustness.llm._harness import LlmProbeReport, run_probes
from bastion.robustness.llm._judge import ChatJudge
from bastion.robustness.llm._probes import DEFAULT_TOOLS, select_probes
from bastion.robustness.llm._targets import Limits, open_target, preview
from bastion.robustness.llm.interface import RobustnessError, ToolSpec

if TYPE_CHECKING:
    from bastion.core.types import Evidence
    from bastion.core.workspace import Workspace

__all__ = ["preview_endpoint", "probe_endpoint", "record_llm_probes"]

_REPORT_SUFFIXES = (".json", ".md", ".markdown", ".html", ".htm", ".sarif")


def probe_endpoint(
    url: str,
    *,
    template: Path | None = None,
    model: str = "default",
    api_key_env: str | None = None,
    probes: str | None = None,
    seed: int | None = None,
    canaries: tuple[str, ...] = (),
    allow_hosts: tuple[str, ...] = (),
    image_hosts: tuple[str, ...] = (),
    tools: tuple[str, ...] = (),
    concurrency: int = 4,
    max_requests: int = 1000,
    limits: Limits | None = None,
    garak_report: Path | None = None,
    garak: bool = False,
    judge_url: str | None = None,
    reports: tuple[Path, ...] = (),
    progress: Callable[[int, int], None] | None = None,
) -> LlmProbeReport:
    """Everything ``bastion redteam llm`` does before recording: every input is checked
    (URL and host allowlist, template, probe names, report names, garak presence)
    before the first request; then the probes run, and garak's findings are merged."""
    chosen = select_probes(probes)
    bad = [r for r in reports if r.suffix.lower() not in _REPORT_SUFFIXES]
    if bad:
        raise RobustnessError(f"report {bad[0].name}: expected a .json, .md, .html or .sarif name")
    if garak and not garak_available():
        run_garak(url)  # refuses with the reason and what to install
    if garak_report is not None and not garak_report.is_file():
        raise RobustnessError(f"garak report {garak_report}: no such file")
    tool_specs: tuple[ToolSpec, ...] = (
        tuple(ToolSpec(t, "an allowlisted tool of the application") for t in tools)
        if tools
        else DEFAULT_TOOLS
    )
    target = open_target(
        url,
        template=template,
        model=model,
        api_key_env=api_key_env,
        limits=limits,
        allow_hosts=allow_hosts,
    )
    judge = None
    judge_target = None
    try:
        if judge_url is not None:
            judge_target = open_target(judge_url, model=model, allow_hosts=allow_hosts)
            judge = ChatJudge(judge_target)
        report = run_probes(
            target,
            chosen,
            seed=seed,
            canaries=canaries,
            tools=tool_specs,
            allowed_hosts=image_hosts,
            concurrency=concurrency,
            max_requests=max_requests,
            judge=judge,
            progress=progress,
        )
    finally:
        target.close()
        if judge_target is not None:
            judge_target.close()
    if garak:
        merge_garak(report, run_garak(target.url))
    if garak_report is not None:
        merge_garak(report, garak_report)
    return report


def preview_endpoint(
    url: str,
    *,
    template: Path | None = None,
    model: str = "default",
    api_key_env: str | None = None,
    limits: Limits | None = None,
    allow_hosts: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One harmless request to the target, shown whole (``--dry-run``): the body sent,
    the raw response and what was extracted, to check a template before a run."""
    target = open_target(
        url, template=template, model=model, api_key_env=api_key_env, limits=limits,
        allow_hosts=allow_hosts,
    )  # fmt: skip
    try:
        return preview(target)
    finally:
        target.close()


def record_llm_probes(
    ws: Workspace, report: LlmProbeReport, *, ref: str | None = None, actor: str = "system"
) -> Evidence:
    """Record ``report`` as ``robustness.llm_probes`` evidence about endpoint ``ref``
    (default: the target's location)."""
    return run_check(
        ws, LlmProbesCheck(report), Subject("endpoint", ref or report.target), actor=actor
    )
