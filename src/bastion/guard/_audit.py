"""The guard's audit writer: OCSF events to the sinks, decisions to the ledger, in batches.

Requests hand their :class:`Outcome` to :meth:`AuditWriter.submit` (a bounded queue, never
blocking the request path); one thread builds the OCSF events (API Activity 6003 for
every request, Detection Finding 2004 for every detector or filter verdict above ALLOW)
and sends them to the configured sinks, and appends one ``guard.decision`` ledger event per
request (``audit.ledger: refusals`` keeps only refusals and detections) through the
ledger's group committer: one ``Ledger.append`` per batch, never one transaction per
request. When the queue is full, ``submit`` says so and the guard refuses the request
(503): no traffic goes unaudited.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

from bastion.core.errors import BastionError
from bastion.core.ledger import Event, Ledger
from bastion.guard._pipeline import Outcome
from bastion.guard.interface import Verdict
from bastion.monitor import (
    Actor,
    ApiActivity,
    DetectionFinding,
    Inference,
    InputPolicy,
    ModelRef,
    Severity,
    Sink,
)

__all__ = ["AuditWriter", "decision_event", "ocsf_events"]

log = logging.getLogger("bastion.guard.audit")
MAX_BATCH = 1000
_VALID_TECHNIQUES: frozenset[str] | None = None


def _techniques(ts: Sequence[str]) -> tuple[str, ...]:
    global _VALID_TECHNIQUES
    if _VALID_TECHNIQUES is None:
        from bastion.monitor import ATLAS_TECHNIQUES

        _VALID_TECHNIQUES = frozenset(ATLAS_TECHNIQUES)
    return tuple(t for t in ts if t in _VALID_TECHNIQUES)


def ocsf_events(o: Outcome, service: str, policy: InputPolicy) -> list[dict[str, Any]]:
    name, _, version = o.model.partition("@")
    actor = Actor(principal=o.principal[:1024], token_id=o.token_id, client_ip=o.client)
    model = ModelRef(name=name, version=version or None)
    ok = o.allowed
    detail = None if ok else (o.reason or f"status {o.status}")
    events = [
        ApiActivity(
            actor=actor, operation="predict", service=service, ok=ok, status_detail=detail,
            inference=Inference(
                model=model, inputs=o.inputs, latency_ms=round(o.latency_ms, 3),
                obligations=o.obligations, decision="allow" if ok else "deny",
            ),
            policy=policy,
            severity=Severity.INFORMATIONAL if ok else Severity.LOW,
            time_ms=int(o.at * 1000), request_uid=o.request_id,
            message=f"{o.endpoint}: {o.status}" + (f" {o.reason}" if o.reason else ""),
        ).to_ocsf()
    ]  # fmt: skip
    findings = [(s.detector, s.verdict, s.score, s.reasons, s.techniques) for s in o.stages]
    findings += [(f.filter, f.verdict, 0.0, f.reasons, ()) for f in o.filters]
    for det, verdict, score, reasons, techniques in findings:
        if verdict is Verdict.ALLOW:
            continue
        sev = Severity.HIGH if verdict is Verdict.BLOCK else Severity.MEDIUM
        events.append(
            DetectionFinding(
                title=f"guard {det}: {verdict.name.lower()}",
                finding_uid=f"{o.request_id}:{det}"[:128], severity=sev,
                techniques=_techniques(techniques), analytic=det, actor=actor, model=model,
                evidence={"verdict": verdict.name.lower(), "score": float(score),
                          "reasons": list(reasons)[:10], "endpoint": o.endpoint},
                time_ms=int(o.at * 1000),
            ).to_ocsf()
        )  # fmt: skip
    return events


def decision_event(o: Outcome, guard: str) -> Event:
    data: dict[str, Any] = {
        "guard": guard,
        "request_id": o.request_id,
        "endpoint": o.endpoint,
        "model": o.model,
        "principal": o.principal,
        "method": o.method,
        "action": o.action,
        "client": o.client,
        "status": o.status,
        "decision": "allow" if o.allowed else "deny",
        "reason": o.reason,
        "detail": o.detail,
        "verdict": o.verdict.name.lower(),
        "policies": list(o.policies),
        "obligations": list(o.obligations),
        "detections": [
            {"detector": s.detector, "verdict": s.verdict.name.lower(), "score": float(s.score)}
            for s in o.stages if s.verdict is not Verdict.ALLOW
        ] + [
            {"detector": f.filter, "verdict": f.verdict.name.lower(), "changes": dict(f.changes)}
            for f in o.filters if f.verdict is not Verdict.ALLOW or f.changes
        ],
        "latency_ms": round(o.latency_ms, 3),
    }  # fmt: skip
    if o.token_id is not None:
        data["token_id"] = o.token_id
    return Event("guard.decision", data, actor=o.principal[:200])


class AuditWriter:
    """A bounded queue and one thread that writes batches to the sinks and the ledger."""

    def __init__(
        self,
        *,
        guard: str,
        ledger: Ledger | None,
        sinks: Sequence[Sink],
        policy: InputPolicy,
        ledger_mode: str = "all",
        max_queue: int = 50_000,
        flush_interval_s: float = 0.05,
    ) -> None:
        self.guard = guard
        self.service = f"bastion-guard/{guard}"
        self.ledger = ledger
        self.sinks = list(sinks)
        self.policy = policy
        self.ledger_mode = ledger_mode
        self.flush_interval_s = flush_interval_s
        self._q: queue.Queue[Outcome | None] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._submitted = 0
        self._done = 0
        self.written = 0
        self.ledgered = 0
        self.batches = 0
        self.failures = 0
        self.refused = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="guard-audit", daemon=True)
            self._thread.start()

    def submit(self, outcome: Outcome) -> bool:
        try:
            self._q.put_nowait(outcome)
        except queue.Full:
            self.refused += 1
            return False
        self._submitted += 1
        return True

    def _run(self) -> None:
        stop = False
        while not stop:
            try:
                first = self._q.get(timeout=self.flush_interval_s)
            except queue.Empty:
                continue
            batch: list[Outcome] = []
            if first is None:
                stop = True
            else:
                batch.append(first)
            time.sleep(0 if stop else min(0.005, self.flush_interval_s))  # let a batch gather
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            if batch:
                self._write(batch)
                self._done += len(batch)

    def _write(self, batch: Sequence[Outcome]) -> None:
        events: list[dict[str, Any]] = []
        for o in batch:
            try:
                events.extend(ocsf_events(o, self.service, self.policy))
            except BastionError as exc:  # an event that does not build: counted, never fatal
                self.failures += 1
                log.warning("guard audit: an OCSF event did not build: %s", exc.message)
        for sink in self.sinks:
            try:
                sink.send(events)
            except BastionError as exc:
                self.failures += 1
                log.warning("guard audit: sink %s failed: %s", sink.name, exc.message)
        self.written += len(events)
        if self.ledger is not None:
            keep = [
                o for o in batch
                if self.ledger_mode == "all" or not o.allowed
                or any(s.verdict is not Verdict.ALLOW for s in o.stages)
            ]  # fmt: skip
            if keep:
                for attempt in range(5):
                    try:
                        self.ledger.append([decision_event(o, self.guard) for o in keep])
                        self.ledgered += len(keep)
                        break
                    except BastionError as exc:
                        if attempt == 4:
                            self.failures += 1
                            log.error("guard audit: ledger append failed: %s", exc.message)
                        time.sleep(0.05 * (attempt + 1))
        self.batches += 1

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything submitted so far is written."""
        target = self._submitted
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._done >= target:
                return True
            time.sleep(0.01)
        return self._done >= target

    def close(self) -> None:
        if self._thread is not None:
            self._q.put(None)
            self._thread.join(timeout=30)
            self._thread = None
        for s in self.sinks:
            with contextlib.suppress(BastionError):
                s.close()
