"""The LLM red-team part's interface: what a target answers, the target and judge
protocols, and the shapes of a probe's attempt and finding.

A *target* is an LLM application behind HTTP (``send(Conversation) -> Reply``). A *probe*
builds a conversation (user turn, and for indirect injection a retrieved document or a
tool result), sends it, and a deterministic *detector* decides from the reply alone
whether the weakness it looks for showed. A *judge* (an LLM asked for a second opinion)
is an optional adapter: its opinion is recorded beside a finding, never instead of it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from bastion.robustness.interface import RobustnessError

__all__ = [
    "Conversation",
    "Finding",
    "Judge",
    "JudgeOpinion",
    "LlmTarget",
    "Message",
    "ProbeFamily",
    "Reply",
    "RobustnessError",
    "ToolCall",
    "ToolSpec",
]


class ProbeFamily(enum.StrEnum):
    """The probe families, each mapped to OWASP LLM Top 10 (2025) and MITRE ATLAS."""

    DIRECT_INJECTION = "direct_injection"
    INDIRECT_INJECTION = "indirect_injection"
    JAILBREAK = "jailbreak"
    SYSTEM_PROMPT_LEAK = "system_prompt_leak"
    SENSITIVE_DATA = "sensitive_data"
    INSECURE_OUTPUT = "insecure_output"
    EXCESSIVE_AGENCY = "excessive_agency"
    ENCODING = "encoding"


@dataclass(frozen=True)
class ToolCall:
    """A tool call the target asked for (or, in a replayed history, made earlier).
    ``arguments``: the raw JSON text (bounded)."""

    name: str
    arguments: str = ""
    id: str = ""


@dataclass(frozen=True)
class Message:
    """One chat message. ``role``: system, user, assistant or tool (``tool_call_id``
    names the call a tool result answers)."""

    role: str
    content: str
    tool_call_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to the target (OpenAI ``tools`` entry); ``allowed``: on the
    allowlist (a call to a tool not allowed, or not offered at all, is excessive agency)."""

    name: str
    description: str
    allowed: bool = True

    def to_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": {"type": "object", "properties": {}, "additionalProperties": True},
            },
        }


@dataclass(frozen=True)
class Conversation:
    """What one attempt sends: the messages (system first when the target is ours to
    configure), the retrieved ``document`` a template target without a channel for it
    receives inline, and the tools offered."""

    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    document: str | None = None

    @property
    def user_text(self) -> str:
        return "\n".join(m.content for m in self.messages if m.role == "user")

    @property
    def sent_text(self) -> str:
        """Everything the attacker side wrote (user turns, documents, tool results): what
        an echo of the request could repeat. The system prompt and the target's own
        earlier replies are not in it."""
        parts = [m.content for m in self.messages if m.role not in ("system", "assistant")]
        if self.document:
            parts.append(self.document)
        return "\n".join(parts)


@dataclass(frozen=True)
class Reply:
    """What a target answered: its text and tool calls, the HTTP status, the time taken,
    and ``error`` when no usable answer came back (timeout, refused, too large)."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    status: int = 200
    seconds: float = 0.0
    error: str | None = None


@runtime_checkable
class LlmTarget(Protocol):
    """An LLM application under test."""

    kind: str
    #: True when the harness may set the system prompt (then it plants canaries in it).
    configurable_system_prompt: bool
    #: True when the target takes tools and returns tool calls.
    supports_tools: bool

    @property
    def location(self) -> str:
        """Where the target is, with credentials and query string removed (for evidence)."""
        ...

    def send(self, conversation: Conversation) -> Reply:
        """One request; never raises for a target-side failure (``Reply.error`` says)."""
        ...


@dataclass(frozen=True)
class JudgeOpinion:
    """A judge model's opinion of one attempt: did the weakness show, and why."""

    vulnerable: bool
    reason: str


@runtime_checkable
class Judge(Protocol):
    """An optional second opinion from a model; detectors decide, judges annotate."""

    name: str

    def judge(self, goal: str, prompt: str, reply: Reply) -> JudgeOpinion: ...


@dataclass(frozen=True)
class Finding:
    """One weakness a probe showed: which probe and detector, the taxonomy ids, and an
    excerpt of the exchange with secrets masked."""

    probe: str
    family: ProbeFamily
    detector: str
    title: str
    severity: str
    owasp: tuple[str, ...]
    atlas: tuple[str, ...]
    prompt_excerpt: str
    reply_excerpt: str
    detail: str
    judge: JudgeOpinion | None = None
    source: str = "bastion"

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "family": self.family.value,
            "detector": self.detector,
            "title": self.title,
            "severity": self.severity,
            "owasp": list(self.owasp),
            "atlas": list(self.atlas),
            "prompt_excerpt": self.prompt_excerpt,
            "reply_excerpt": self.reply_excerpt,
            "detail": self.detail,
            "judge": None
            if self.judge is None
            else {"vulnerable": self.judge.vulnerable, "reason": self.judge.reason},
            "source": self.source,
        }
