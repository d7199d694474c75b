"""Deterministic, explainable LLM guardrails for the guard's pipeline (issue 11 section 6).

Input: :class:`PromptInjectionDetector` scores prompt injection, jailbreak personas,
system-prompt exfiltration and delimiter injection, after taking off disguises (invisible
Unicode, tag-character smuggling, homoglyphs, NFKC, base64/hex/ROT13/URL encodings);
every finding names its rule, weight, OWASP LLM Top 10 2025 and MITRE ATLAS ids. An
optional :class:`PromptClassifier` adapter adds a model's opinion (never required).

Output: :class:`PiiRedactionFilter` (the privacy room's recognizers and operators),
:class:`LinkFilter` (markdown images/links and HTML outside a host allowlist) and
:class:`ToolCallFilter` (the agent's tools from the system manifest). :func:`llm_stage`
builds any of them from a guard configuration's name and options.
"""

from __future__ import annotations

from bastion.guard.llm._config import LLM_STAGES, llm_stage
from bastion.guard.llm._input import (
    DEFAULT_PROMPT_LADDER,
    Finding,
    PromptClassifier,
    PromptInjectionDetector,
    PromptScan,
    scan_prompt,
)
from bastion.guard.llm._output import (
    LinkFilter,
    PiiRedactionFilter,
    ToolCallFilter,
    host_allowed,
)
from bastion.guard.llm._rules import RULES, Rule

__all__ = [
    "DEFAULT_PROMPT_LADDER",
    "LLM_STAGES",
    "RULES",
    "Finding",
    "LinkFilter",
    "PiiRedactionFilter",
    "PromptClassifier",
    "PromptInjectionDetector",
    "PromptScan",
    "Rule",
    "ToolCallFilter",
    "host_allowed",
    "llm_stage",
    "scan_prompt",
]
