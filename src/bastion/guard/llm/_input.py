"""The LLM input stage: prompt injection, jailbreak and obfuscation, scored and explained."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from bastion.core.errors import InputError
from bastion.guard.detect._common import as_ladder
from bastion.guard.detect._ladder import ResponseLadder
from bastion.guard.interface import GuardRequest, StageResult, Verdict
from bastion.guard.llm._normalize import Invisible, find_invisible, views
from bastion.guard.llm._rules import (
    ATLAS_DIRECT,
    ATLAS_INDIRECT,
    ATLAS_OBFUSCATION,
    ATLAS_PROMPT_INJECTION,
    OWASP_PROMPT_INJECTION,
    RULES,
    Rule,
)

__all__ = [
    "DEFAULT_PROMPT_LADDER",
    "Finding",
    "PromptClassifier",
    "PromptInjectionDetector",
    "PromptScan",
    "scan_prompt",
]

#: a score of 0.5 or more (one rule of weight 0.5+, or two weaker ones together) blocks
DEFAULT_PROMPT_LADDER = ResponseLadder(block=0.5)
MAX_SCAN_CHARS = 100_000
_SNIPPET = 48
_OBFUSCATION_WEIGHT = 0.4
_WORDS = re.compile(r"[a-z]+")


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule that fired: where (which view, which message), what it matched."""

    rule: str
    category: str
    weight: float
    view: str
    message: int  # index in the request's messages
    role: str
    snippet: str
    owasp: tuple[str, ...]
    atlas: tuple[str, ...]

    def reason(self) -> str:
        where = "" if self.view == "text" else f" (in the {self.view} view)"
        return (
            f"[{', '.join(self.owasp)}] {self.rule} (w={self.weight:g}) in message "
            f"{self.message} ({self.role}){where}: {self.snippet!r}"
        )


@dataclass(frozen=True, slots=True)
class PromptScan:
    """Every finding in a request's messages and their combined score in [0, 1]."""

    score: float
    findings: tuple[Finding, ...] = ()
    invisible: tuple[Invisible, ...] = field(default_factory=tuple)

    @property
    def techniques(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for f in self.findings:
            for t in f.atlas:
                seen[t] = None
        return tuple(seen)

    @property
    def owasp(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(o for f in self.findings for o in f.owasp))


def _snippet(text: str, start: int, end: int) -> str:
    s = text[start:end]
    return s if len(s) <= _SNIPPET else s[: _SNIPPET - 3] + "..."


def _scan_one(text: str, index: int, role: str, rules: Sequence[Rule]) -> list[Finding]:
    inv = find_invisible(text)
    found: dict[str, Finding] = {}
    direct = ATLAS_DIRECT if role == "user" else ATLAS_INDIRECT
    for view in views(text, inv.hidden_text):
        lowered = view.text.lower()
        words = frozenset(_WORDS.findall(lowered))
        for rule in rules:
            if rule.id in found and found[rule.id].view == "text":
                continue
            if not rule.may_match(lowered, words):
                continue
            m = rule.pattern.search(view.text)
            if m is None:
                continue
            atlas = rule.atlas + ((direct,) if ATLAS_PROMPT_INJECTION in rule.atlas else ())
            f = Finding(
                rule.id, rule.category, rule.weight, view.how, index, role,
                _snippet(view.text, m.start(), m.end()), rule.owasp, atlas,
            )  # fmt: skip
            if rule.id not in found or not view.obfuscated:
                found[rule.id] = f
    out = list(found.values())
    hidden_hits = [f for f in out if f.view != "text"]
    if hidden_hits:
        views_used = sorted({f.view for f in hidden_hits})
        out.append(_meta("obfuscation.decoded_payload", _OBFUSCATION_WEIGHT, index, role,
                         f"rules fired inside {', '.join(views_used)} text"))  # fmt: skip
    if inv.tags:
        out.append(_meta("invisible.tag_characters", 0.6, index, role,
                         f"{inv.tags} Unicode tag characters (U+E0000 block)"))  # fmt: skip
    if inv.bidi:
        out.append(_meta("invisible.bidi_controls", 0.35, index, role,
                         f"{inv.bidi} bidirectional control characters"))  # fmt: skip
    if inv.zero_width >= 2:
        out.append(_meta("invisible.zero_width", 0.25 if inv.zero_width < 8 else 0.55, index, role,
                         f"{inv.zero_width} zero-width characters"))  # fmt: skip
    if inv.mixed_script_words:
        w = 0.5 if inv.mixed_script_words >= 3 else (0.3 if out else 0.15)
        out.append(_meta("obfuscation.homoglyphs", w, index, role,
                         f"{inv.mixed_script_words} words mix Latin with look-alike letters"))  # fmt: skip
    return out


def _meta(rule: str, weight: float, index: int, role: str, what: str) -> Finding:
    return Finding(rule, "obfuscation", weight, "text", index, role, what,
                   (OWASP_PROMPT_INJECTION,), (ATLAS_OBFUSCATION,))  # fmt: skip


def scan_prompt(
    messages: Sequence[tuple[str, str]] | str,
    *,
    rules: Sequence[Rule] = RULES,
    max_chars: int = MAX_SCAN_CHARS,
) -> PromptScan:
    """Scan chat messages (role, content) or one text; :class:`InputError` when the text is
    longer than ``max_chars`` in all."""
    msgs = [("user", messages)] if isinstance(messages, str) else list(messages)
    total = 0
    for role, content in msgs:
        if not isinstance(role, str) or not isinstance(content, str):
            raise InputError("messages: expected (role, content) pairs of strings")
        total += len(content)
    if total > max_chars:
        raise InputError(f"messages: {total} characters, more than the {max_chars} scanned")
    findings: list[Finding] = []
    invisible: list[Invisible] = []
    for i, (role, content) in enumerate(msgs):
        findings.extend(_scan_one(content, i, role, rules))
    best: dict[str, float] = {}
    for f in findings:
        best[f.rule] = max(best.get(f.rule, 0.0), f.weight)
    score = 1.0 - math.prod(1.0 - w for w in best.values())
    findings.sort(key=lambda f: -f.weight)
    return PromptScan(round(score, 6), tuple(findings), tuple(invisible))


@runtime_checkable
class PromptClassifier(Protocol):
    """An optional model-based injection classifier (never required, never downloaded:
    the caller loads its own model). ``score``: probability the text is an injection."""

    name: str

    def score(self, text: str) -> float: ...


class PromptInjectionDetector:
    """The LLM input stage (an InputDetector): deterministic rules over every message, an
    optional classifier on top. Score: the rules' noisy-or, or the classifier's score when
    higher. A request longer than ``max_chars`` or a classifier that fails is refused with
    ``on_error`` (fail closed)."""

    def __init__(
        self,
        *,
        ladder: ResponseLadder | Mapping[str, object] = DEFAULT_PROMPT_LADDER,
        rules: Sequence[Rule] = RULES,
        classifier: PromptClassifier | None = None,
        max_chars: int = MAX_SCAN_CHARS,
        on_error: Verdict = Verdict.BLOCK,
        name: str = "prompt_injection",
    ) -> None:
        if classifier is not None and not isinstance(classifier, PromptClassifier):
            raise InputError("classifier: expected an object with name and score(text)")
        if not 1 <= max_chars <= 10_000_000:
            raise InputError("max_chars: expected 1..10,000,000")
        self.ladder = as_ladder(ladder, "prompt_injection.ladder")
        self.rules = tuple(rules)
        self.classifier = classifier
        self.max_chars = max_chars
        self.on_error = on_error
        self.name = name

    def scan(self, request: GuardRequest) -> PromptScan:
        return scan_prompt(request.messages, rules=self.rules, max_chars=self.max_chars)

    def inspect(self, request: GuardRequest) -> StageResult:
        if not request.messages:
            return StageResult(self.name, reasons=("no messages: not applicable",))
        try:
            scan = self.scan(request)
        except InputError as exc:
            return StageResult(self.name, self.on_error, 1.0, (f"refused: {exc.message}",),
                               (ATLAS_PROMPT_INJECTION,))  # fmt: skip
        score = scan.score
        reasons = [f.reason() for f in scan.findings]
        techniques = scan.techniques
        if self.classifier is not None:
            try:
                text = "\n".join(c for _, c in request.messages)
                p = float(self.classifier.score(text))
                if not 0.0 <= p <= 1.0:
                    raise ValueError(f"score {p} outside [0, 1]")
            except Exception as exc:  # an adapter: any failure fails closed
                return StageResult(
                    self.name, self.on_error, 1.0,
                    (f"refused: classifier {self.classifier.name} failed: {type(exc).__name__}",),
                    techniques,
                )  # fmt: skip
            reasons.append(f"classifier {self.classifier.name}: {p:.3f}")
            if p > score:
                score = p
                techniques = techniques or (ATLAS_PROMPT_INJECTION,)
        verdict = self.ladder.verdict(score)
        if not reasons:
            reasons = ["no injection rule fired"]
        return StageResult(
            self.name, verdict, score, tuple(reasons),
            techniques if scan.findings or score > 0 else (),
        )  # fmt: skip
