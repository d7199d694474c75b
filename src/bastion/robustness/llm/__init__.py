"""LLM application red-teaming (issue 10 section 7): targets, probes, detectors, reports.

:func:`open_target` gives an OpenAI-compatible chat target or a templated HTTP one
(:class:`RequestTemplate`, JSONPath-lite response paths), bounded by :class:`Limits` and a
host allowlist. :func:`run_probes` sends the probe families (:func:`load_probes`, mapped
to OWASP LLM Top 10 2025 and ATLAS in :data:`FAMILIES`) and decides each with a
deterministic detector; :class:`LlmProbesCheck` (``robustness.llm_probes``) records the
:class:`LlmProbeReport` as evidence. :mod:`~bastion.robustness.llm.testservers` holds a
deliberately vulnerable and a hardened chat server. :class:`ChatJudge` is the optional
judge adapter; :func:`run_garak` / :func:`merge_garak` the optional garak adapter.
"""

from __future__ import annotations

from bastion.robustness.llm._checks import (
    LlmProbesCheck,
    LlmProbesData,
    llm_verdict,
    report_from_params,
)
from bastion.robustness.llm._garak import garak_available, merge_garak, read_garak, run_garak
from bastion.robustness.llm._harness import AttemptRecord, LlmProbeReport, run_probes
from bastion.robustness.llm._judge import ChatJudge
from bastion.robustness.llm._probes import (
    DEFAULT_TOOLS,
    Goal,
    PlannedAttempt,
    Plant,
    Probe,
    corpus_version,
    load_probes,
    parse_corpus,
    plan_attempt,
    render_probes,
    select_probes,
)
from bastion.robustness.llm._public import preview_endpoint, probe_endpoint, record_llm_probes
from bastion.robustness.llm._report import (
    chart_svg,
    to_html,
    to_markdown,
    to_sarif,
    write_report,
)
from bastion.robustness.llm._targets import (
    Limits,
    OpenAIChatTarget,
    RequestTemplate,
    TemplateTarget,
    check_url,
    json_path,
    load_template,
    open_target,
    preview,
)
from bastion.robustness.llm._taxonomy import (
    ATLAS_NAMES,
    FAMILIES,
    OWASP_EDITION,
    OWASP_NAMES,
    FamilyInfo,
)
from bastion.robustness.llm.interface import (
    Conversation,
    Finding,
    Judge,
    JudgeOpinion,
    LlmTarget,
    Message,
    ProbeFamily,
    Reply,
    ToolCall,
    ToolSpec,
)

__all__ = [
    "ATLAS_NAMES",
    "DEFAULT_TOOLS",
    "FAMILIES",
    "OWASP_EDITION",
    "OWASP_NAMES",
    "AttemptRecord",
    "ChatJudge",
    "Conversation",
    "FamilyInfo",
    "Finding",
    "Goal",
    "Judge",
    "JudgeOpinion",
    "Limits",
    "LlmProbeReport",
    "LlmProbesCheck",
    "LlmProbesData",
    "LlmTarget",
    "Message",
    "OpenAIChatTarget",
    "PlannedAttempt",
    "Plant",
    "Probe",
    "ProbeFamily",
    "Reply",
    "RequestTemplate",
    "TemplateTarget",
    "ToolCall",
    "ToolSpec",
    "chart_svg",
    "check_url",
    "corpus_version",
    "garak_available",
    "json_path",
    "llm_verdict",
    "load_probes",
    "load_template",
    "merge_garak",
    "open_target",
    "parse_corpus",
    "plan_attempt",
    "preview",
    "preview_endpoint",
    "probe_endpoint",
    "read_garak",
    "record_llm_probes",
    "render_probes",
    "report_from_params",
    "run_garak",
    "run_probes",
    "select_probes",
    "to_html",
    "to_markdown",
    "to_sarif",
    "write_report",
]
