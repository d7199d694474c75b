"""The probe families mapped to OWASP Top 10 for LLM Applications 2025 and MITRE ATLAS.

OWASP ids carry their edition (``owasp-llm:2025:LLM07``): the 2026 edition renumbers the
list, and garak still tags with the 2023 v1.1 ids. Only ids and names are shipped (the
OWASP text is CC BY-SA 4.0). ATLAS ids and names are those of atlas-data v5.6.0
(Apache-2.0, The MITRE Corporation), the version the threats room ships; a test checks
every id and name here against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bastion.robustness.llm.interface import ProbeFamily

__all__ = ["ATLAS_NAMES", "FAMILIES", "OWASP_EDITION", "OWASP_NAMES", "FamilyInfo", "owasp_id"]

OWASP_EDITION = "2025"

OWASP_NAMES: dict[str, str] = {
    "LLM01": "Prompt Injection",
    "LLM02": "Sensitive Information Disclosure",
    "LLM03": "Supply Chain",
    "LLM04": "Data and Model Poisoning",
    "LLM05": "Improper Output Handling",
    "LLM06": "Excessive Agency",
    "LLM07": "System Prompt Leakage",
    "LLM08": "Vector and Embedding Weaknesses",
    "LLM09": "Misinformation",
    "LLM10": "Unbounded Consumption",
}

ATLAS_NAMES: dict[str, str] = {
    "AML.T0051": "LLM Prompt Injection",
    "AML.T0051.000": "Direct",
    "AML.T0051.001": "Indirect",
    "AML.T0053": "AI Agent Tool Invocation",
    "AML.T0054": "LLM Jailbreak",
    "AML.T0056": "Extract LLM System Prompt",
    "AML.T0057": "LLM Data Leakage",
    "AML.T0066": "Retrieval Content Crafting",
    "AML.T0067": "LLM Trusted Output Components Manipulation",
    "AML.T0068": "LLM Prompt Obfuscation",
    "AML.T0069.002": "System Prompt",
    "AML.T0070": "RAG Poisoning",
    "AML.T0077": "LLM Response Rendering",
    "AML.T0080": "AI Agent Context Poisoning",
    "AML.T0086": "Exfiltration via AI Agent Tool Invocation",
    "AML.T0101": "Data Destruction via AI Agent Tool Invocation",
}


def owasp_id(code: str) -> str:
    """``LLM01`` with its edition: ``owasp-llm:2025:LLM01``."""
    if code not in OWASP_NAMES:
        raise ValueError(f"unknown OWASP LLM id {code}")
    return f"owasp-llm:{OWASP_EDITION}:{code}"


@dataclass(frozen=True)
class FamilyInfo:
    family: ProbeFamily
    title: str
    owasp: tuple[str, ...]
    atlas: tuple[str, ...]
    severity: str
    remediation: str


def _f(
    family: ProbeFamily,
    title: str,
    owasp: tuple[str, ...],
    atlas: tuple[str, ...],
    severity: str,
    remediation: str,
) -> FamilyInfo:
    return FamilyInfo(
        family, title, tuple(owasp_id(o) for o in owasp), atlas, severity, remediation
    )


FAMILIES: dict[ProbeFamily, FamilyInfo] = {
    f.family: f
    for f in (
        _f(
            ProbeFamily.DIRECT_INJECTION,
            "follows instructions injected in the user turn over its own",
            ("LLM01",),
            ("AML.T0051", "AML.T0051.000"),
            "high",
            "keep the system prompt's task authoritative; screen user turns for override "
            "phrasing at the gateway; never grant the model authority the user lacks",
        ),
        _f(
            ProbeFamily.INDIRECT_INJECTION,
            "follows instructions hidden in retrieved documents or tool results",
            ("LLM01", "LLM08"),
            ("AML.T0051", "AML.T0051.001", "AML.T0066", "AML.T0070", "AML.T0080"),
            "high",
            "treat retrieved and tool content as data: delimit or datamark it, scan it "
            "separately from the user turn, and never follow instructions found in it",
        ),
        _f(
            ProbeFamily.JAILBREAK,
            "drops its rules under a persona, hypothetical or role-play framing",
            ("LLM01",),
            ("AML.T0054",),
            "high",
            "refuse persona and 'developer mode' framings; screen for jailbreak templates",
        ),
        _f(
            ProbeFamily.SYSTEM_PROMPT_LEAK,
            "discloses its system prompt (the planted canary came back)",
            ("LLM07",),
            ("AML.T0056", "AML.T0069.002"),
            "medium",
            "keep secrets out of system prompts; filter replies that echo the system prompt",
        ),
        _f(
            ProbeFamily.SENSITIVE_DATA,
            "discloses personal data or secrets from its context",
            ("LLM02",),
            ("AML.T0057",),
            "high",
            "give the model only the data the user may see; redact PII and secrets on output",
        ),
        _f(
            ProbeFamily.INSECURE_OUTPUT,
            "emits active content (script, exfiltrating markdown image) a client would render",
            ("LLM05", "LLM02"),
            ("AML.T0077", "AML.T0067", "AML.T0057"),
            "high",
            "encode model output for its sink; allowlist image and link hosts; strip script",
        ),
        _f(
            ProbeFamily.EXCESSIVE_AGENCY,
            "calls tools outside its allowlist",
            ("LLM06",),
            ("AML.T0053", "AML.T0086", "AML.T0101"),
            "critical",
            "enforce the tool allowlist outside the model (at the gateway or the tool "
            "router); require a human for destructive tools",
        ),
        _f(
            ProbeFamily.ENCODING,
            "follows instructions smuggled in base64, homoglyphs or invisible Unicode",
            ("LLM01",),
            ("AML.T0051", "AML.T0068"),
            "high",
            "normalise input (NFKC, homoglyph folding, strip tag and zero-width characters, "
            "decode embedded blobs) before screening it",
        ),
    )
}
