"""The LLM stages a guard configuration can name, built from their options."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bastion.core.errors import InputError
from bastion.guard.detect._common import as_ladder
from bastion.guard.interface import InputDetector, OutputFilter
from bastion.guard.llm._input import DEFAULT_PROMPT_LADDER, MAX_SCAN_CHARS, PromptInjectionDetector
from bastion.guard.llm._output import LinkFilter, PiiRedactionFilter, ToolCallFilter

__all__ = ["LLM_STAGES", "llm_stage"]


def _strings(name: str, value: object) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{name}: expected a list of strings")
    return list(value)


def _prompt(o: Mapping[str, Any]) -> PromptInjectionDetector:
    return PromptInjectionDetector(
        ladder=as_ladder(o.get("ladder", DEFAULT_PROMPT_LADDER), "prompt_injection.ladder"),
        max_chars=int(o.get("max_chars", MAX_SCAN_CHARS)),
    )


def _pii(o: Mapping[str, Any]) -> PiiRedactionFilter:
    from bastion.privacy.pii import DEFAULT_THRESHOLD, Analyzer

    entities = o.get("entities")
    analyzer = Analyzer(
        entities=None if entities is None else _strings("pii_redaction.entities", entities),
        threshold=float(o.get("threshold", DEFAULT_THRESHOLD)),
    )
    return PiiRedactionFilter(analyzer, block=_strings("pii_redaction.block", o.get("block", [])))


def _links(o: Mapping[str, Any]) -> LinkFilter:
    return LinkFilter(
        _strings("link_filter.allowed_hosts", o.get("allowed_hosts", [])),
        allow_relative=bool(o.get("allow_relative", True)),
    )


def _tools(o: Mapping[str, Any]) -> ToolCallFilter:
    cap = o.get("max_calls")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int)):
        raise InputError("tool_allowlist.max_calls: expected an integer")
    return ToolCallFilter(_strings("tool_allowlist.allowed", o.get("allowed", [])), max_calls=cap)


#: name -> (options it takes, builder); each stage's options are documented in guard-llm.md
LLM_STAGES: dict[str, tuple[frozenset[str], Callable[[Mapping[str, Any]], Any]]] = {
    "prompt_injection": (frozenset({"ladder", "max_chars"}), _prompt),
    "pii_redaction": (frozenset({"entities", "threshold", "block"}), _pii),
    "link_filter": (frozenset({"allowed_hosts", "allow_relative"}), _links),
    "tool_allowlist": (frozenset({"allowed", "max_calls"}), _tools),
}


def llm_stage(name: str, options: Mapping[str, Any] | None = None) -> InputDetector | OutputFilter:
    """The LLM stage ``name`` built from configuration ``options``; :class:`InputError`
    names an unknown stage or option. ``prompt_injection`` is an input stage,
    ``tool_allowlist`` both, the others output filters."""
    if name not in LLM_STAGES:
        raise InputError(f"unknown LLM stage {name!r}; known: {', '.join(sorted(LLM_STAGES))}")
    allowed, build = LLM_STAGES[name]
    opts = dict(options or {})
    unknown = sorted(set(opts) - allowed)
    if unknown:
        raise InputError(
            f"{name}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"
        )
    stage: InputDetector | OutputFilter = build(opts)
    return stage
