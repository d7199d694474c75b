"""The harness: plan every probe against a target, send them (bounded concurrency and
request budget), run the detectors, and gather the findings into a report."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from bastion.robustness.llm._detectors import PRIMARY, Hit, detect, mask
from bastion.robustness.llm._probes import (
    DEFAULT_TOOLS,
    PlannedAttempt,
    Plant,
    Probe,
    corpus_version,
    fresh_rng,
    load_probes,
    plan_attempt,
)
from bastion.robustness.llm._taxonomy import FAMILIES
from bastion.robustness.llm.interface import (
    Conversation,
    Finding,
    Judge,
    LlmTarget,
    Message,
    ProbeFamily,
    Reply,
    RobustnessError,
    ToolSpec,
)

__all__ = ["AttemptRecord", "LlmProbeReport", "run_probes"]

MAX_CONCURRENCY = 32
MAX_REQUESTS = 10_000

#: The family a cross-cutting detector's finding belongs to.
_NATURAL = {
    "canary": ProbeFamily.SYSTEM_PROMPT_LEAK,
    "pii": ProbeFamily.SENSITIVE_DATA,
    "secret": ProbeFamily.SENSITIVE_DATA,
    "markup": ProbeFamily.INSECURE_OUTPUT,
    "exfil": ProbeFamily.INSECURE_OUTPUT,
    "untrusted_image": ProbeFamily.INSECURE_OUTPUT,
    "tool": ProbeFamily.EXCESSIVE_AGENCY,
}


@dataclass(frozen=True)
class AttemptRecord:
    """One probe's outcome: ``found`` (its own detector fired), ``clear``, ``error`` (no
    usable reply) or ``skipped`` (cannot be decided against this target; says why)."""

    probe: str
    family: ProbeFamily
    goal: str
    status: str
    detail: str
    detectors: tuple[str, ...] = ()
    seconds: float = 0.0
    prompt_excerpt: str = ""
    reply_excerpt: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "family": self.family.value,
            "goal": self.goal,
            "status": self.status,
            "detail": self.detail,
            "detectors": list(self.detectors),
            "seconds": round(self.seconds, 4),
            "prompt_excerpt": self.prompt_excerpt,
            "reply_excerpt": self.reply_excerpt,
        }


@dataclass
class LlmProbeReport:
    """Every attempt and finding of one run against one target."""

    target: str
    target_kind: str
    configurable: bool
    supports_tools: bool
    seed: int | None
    corpus_version: str
    attempts: list[AttemptRecord] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    requests: int = 0
    wall_seconds: float = 0.0
    sources: list[str] = field(default_factory=lambda: ["bastion"])
    notes: list[str] = field(default_factory=list)

    def status_of(self, probe: str) -> str:
        return next(a.status for a in self.attempts if a.probe == probe)

    @property
    def found_probes(self) -> tuple[str, ...]:
        return tuple(a.probe for a in self.attempts if a.status == "found")

    def families(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for fam in ProbeFamily:
            rows = [a for a in self.attempts if a.family is fam]
            info = FAMILIES[fam]
            counts = Counter(a.status for a in rows)
            out[fam.value] = {
                "probes": len(rows),
                "found": counts["found"],
                "clear": counts["clear"],
                "errors": counts["error"],
                "skipped": counts["skipped"],
                "findings": sum(1 for f in self.findings if f.family is fam),
                "owasp": list(info.owasp),
                "atlas": list(info.atlas),
            }
        return out

    def to_data(self) -> dict[str, Any]:
        counts = Counter(a.status for a in self.attempts)
        decided = counts["found"] + counts["clear"]
        owasp = Counter(o for f in self.findings for o in f.owasp)
        atlas = Counter(a for f in self.findings for a in f.atlas)
        return {
            "target": self.target,
            "target_kind": self.target_kind,
            "configurable_system_prompt": self.configurable,
            "supports_tools": self.supports_tools,
            "seed": self.seed,
            "corpus_version": self.corpus_version,
            "probes_run": len(self.attempts),
            "found": counts["found"],
            "clear": counts["clear"],
            "errors": counts["error"],
            "skipped": counts["skipped"],
            "attack_success_rate": round(counts["found"] / decided, 4) if decided else None,
            "attack_success_rate_ci95": list(wilson(counts["found"], decided)) if decided else None,
            "findings_total": len(self.findings),
            "families": self.families(),
            "owasp": dict(sorted(owasp.items())),
            "atlas": dict(sorted(atlas.items())),
            "found_probes": list(self.found_probes),
            "findings": [f.to_dict() for f in self.findings],
            "attempts": [a.to_dict() for a in self.attempts],
            "sources": list(self.sources),
            "notes": list(self.notes),
            "cost": {"requests": self.requests, "wall_seconds": round(self.wall_seconds, 3)},
        }


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a rate (95% by default), rounded to 4 places."""
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def _finding(attempt: PlannedAttempt, hit: Hit, primary: bool, prompt: str, reply: str) -> Finding:
    probe = attempt.probe
    family = probe.family if primary else _NATURAL.get(hit.detector, probe.family)
    info = FAMILIES[family]
    severity = "medium" if hit.detector == "untrusted_image" else info.severity
    atlas = probe.atlas_ids if primary else info.atlas
    return Finding(
        probe=probe.id,
        family=family,
        detector=hit.detector,
        title=info.title,
        severity=severity,
        owasp=probe.owasp_ids if primary else info.owasp,
        atlas=atlas,
        prompt_excerpt=prompt,
        reply_excerpt=reply,
        detail=hit.detail,
    )


def _excerpt_reply(reply: Reply, plant: Plant) -> str:
    text = reply.text
    if reply.tool_calls:
        calls = "; ".join(f"{c.name}({c.arguments[:120]})" for c in reply.tool_calls)
        text = (text + "\n" if text else "") + f"[tool calls] {calls}"
    return mask(text, plant)


def _converse(target: LlmTarget, attempt: PlannedAttempt) -> tuple[Conversation, Reply]:
    """Send the setup turns one at a time (each with the replies so far), then the
    probe's own turn with the whole history; the final conversation and its reply."""
    conv = attempt.conversation
    if not attempt.setup:
        return conv, target.send(conv)
    system = [m for m in conv.messages if m.role == "system"]
    history: list[Message] = []
    for turn in attempt.setup:
        history.append(Message("user", turn))
        reply = target.send(replace(conv, messages=(*system, *history)))
        if reply.error is not None:
            return replace(conv, messages=(*system, *history)), reply
        history.append(Message("assistant", reply.text))
    rest = [m for m in conv.messages if m.role != "system"]
    final = replace(conv, messages=(*system, *history, *rest))
    return final, target.send(final)


def run_probes(
    target: LlmTarget,
    probes: Sequence[Probe] | None = None,
    *,
    seed: int | None = None,
    canaries: tuple[str, ...] = (),
    tools: tuple[ToolSpec, ...] = DEFAULT_TOOLS,
    allowed_hosts: tuple[str, ...] = (),
    concurrency: int = 4,
    max_requests: int = 1000,
    judge: Judge | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LlmProbeReport:
    """Send every probe once and decide each with its deterministic detector.

    When the target's system prompt is ours, a fresh canary, fake key and customer
    record are planted in it (``canaries`` are added to the canary list); otherwise the
    given ``canaries`` are what a leak is judged by. ``tools``: offered to targets that
    take tools; a call to a tool not ``allowed`` is excessive agency. ``allowed_hosts``:
    image and link hosts that are not exfiltration. The run is refused before any request
    when it would exceed ``max_requests``."""
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise RobustnessError(f"concurrency must lie in 1..{MAX_CONCURRENCY}")
    if not 1 <= max_requests <= MAX_REQUESTS:
        raise RobustnessError(f"max_requests must lie in 1..{MAX_REQUESTS}")
    chosen = tuple(load_probes() if probes is None else probes)
    if not chosen:
        raise RobustnessError("no probes selected")
    if seed is None:
        import secrets

        seed = secrets.randbits(31)
    rng = fresh_rng(seed)
    configurable = bool(target.configurable_system_prompt)
    if configurable:
        plant = Plant.fresh(rng, extra_canaries=canaries, tools=tools, allowed_hosts=allowed_hosts)
    else:
        plant = Plant(canaries=canaries, tools=tools, allowed_hosts=allowed_hosts)
    planned = [
        plan_attempt(
            p, plant, rng, configurable=configurable, supports_tools=bool(target.supports_tools)
        )
        for p in chosen
    ]
    needed = sum(a.requests for a in planned)
    if needed > max_requests:
        raise RobustnessError(
            f"the run needs {needed} requests, over the budget of {max_requests} "
            "(raise --max-requests or choose fewer probes)"
        )
    version = corpus_version()
    report = LlmProbeReport(
        target=target.location,
        target_kind=target.kind,
        configurable=configurable,
        supports_tools=bool(target.supports_tools),
        seed=seed,
        corpus_version=version,
    )
    start = time.monotonic()
    done = [0]
    total = len(planned)

    def one(attempt: PlannedAttempt) -> tuple[AttemptRecord, list[Finding]]:
        probe = attempt.probe
        prompt_x = mask(attempt.conversation.sent_text, plant, limit=300)
        if attempt.skipped is not None:
            return AttemptRecord(
                probe.id,
                probe.family,
                probe.goal.value,
                "skipped",
                attempt.skipped,
                prompt_excerpt=prompt_x,
            ), []
        conversation, reply = _converse(target, attempt)
        if reply.error is not None:
            return (
                AttemptRecord(
                    probe.id, probe.family, probe.goal.value, "error",
                    f"no usable reply: {reply.error}", seconds=reply.seconds,
                    prompt_excerpt=prompt_x,
                ),
                [],
            )  # fmt: skip
        hits = detect(reply, plant, conversation.sent_text, attempt.proof)
        reply_x = _excerpt_reply(reply, plant)
        primary_names = PRIMARY[probe.goal]
        seen: set[str] = set()
        findings: list[Finding] = []
        for h in hits:
            if h.detector in seen:
                continue
            seen.add(h.detector)
            findings.append(_finding(attempt, h, h.detector in primary_names, prompt_x, reply_x))
        primary = [h for h in hits if h.detector in primary_names]
        if primary and judge is not None:
            opinion = judge.judge(
                FAMILIES[probe.family].title, attempt.conversation.user_text, reply
            )
            findings = [
                replace(f, judge=opinion) if f.detector in primary_names else f for f in findings
            ]
        status = "found" if primary else "clear"
        detail = primary[0].detail if primary else "the probe's detector did not fire"
        return (
            AttemptRecord(
                probe.id, probe.family, probe.goal.value, status, detail,
                tuple(sorted(seen)), reply.seconds, prompt_x, reply_x,
            ),
            findings,
        )  # fmt: skip

    results: list[tuple[AttemptRecord, list[Finding]]] = []
    with ThreadPoolExecutor(max_workers=min(concurrency, total)) as pool:
        for res in pool.map(one, planned):
            results.append(res)
            done[0] += 1
            if progress is not None:
                progress(done[0], total)
    for rec, fnd in results:
        report.attempts.append(rec)
        report.findings.extend(fnd)
    report.requests = needed
    report.wall_seconds = time.monotonic() - start
    skipped = [a for a in report.attempts if a.status == "skipped"]
    if skipped:
        report.notes.append(
            f"{len(skipped)} probe(s) could not be decided against this target and were "
            f"skipped: {', '.join(sorted({a.detail for a in skipped}))}"
        )
    return report
