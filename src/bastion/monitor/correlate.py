"""One pass over an event log: Bastion's detection rules and the Sigma pack's native
evaluator side by side, detections ledgered (what ``bastion monitor detect`` and the API
run)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion.monitor.detections import Detection, DetectionConfig, DetectionEngine
from bastion.monitor.sigma import SigmaEvaluator, SigmaMatch, SigmaRule

if TYPE_CHECKING:
    from bastion.core.workspace import Workspace

__all__ = ["DetectionRun", "correlate"]


@dataclass(frozen=True)
class DetectionRun:
    events: int
    detections: tuple[Detection, ...]
    sigma: tuple[SigmaMatch, ...]
    ledger_seqs: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "detections": [d.to_dict() for d in self.detections],
            "sigma_matches": [m.to_dict() for m in self.sigma],
            "ledger_seqs": list(self.ledger_seqs),
        }


def correlate(
    ws: Workspace,
    events: Iterable[Mapping[str, Any]],
    *,
    config: DetectionConfig | None = None,
    sigma_rules: Sequence[SigmaRule] | None = None,
    use_sigma: bool = True,
    actor: str = "system",
    source: str | None = None,
) -> DetectionRun:
    """Feed every event to the rules and (unless ``use_sigma`` is false) to the Sigma
    rules (the shipped pack unless ``sigma_rules``); every detection becomes a
    ``monitor.detection`` ledger event, and the run a ``monitor.detection_run`` event with
    its counts (Sigma matches are counted per rule, not ledgered one by one)."""
    from bastion.core.ledger import Event

    engine = DetectionEngine(config)
    sigma = SigmaEvaluator(sigma_rules) if use_sigma else None
    found: list[Detection] = []
    matches: list[SigmaMatch] = []
    n = 0
    for e in events:
        n += 1
        found.extend(engine.process(e))
        if sigma is not None:
            matches.extend(sigma.process(e))
    per_rule: dict[str, int] = {}
    for m in matches:
        per_rule[m.rule_id] = per_rule.get(m.rule_id, 0) + 1
    extra = {"source": source[:200]} if source else {}
    ledgered = [Event("monitor.detection", {**d.to_dict(), **extra}, actor) for d in found]
    ledgered.append(
        Event(
            "monitor.detection_run",
            {"events": n, "detections": len(found), "sigma_matches": per_rule, **extra},
            actor,
        )
    )
    entries = ws.ledger.append(ledgered)
    return DetectionRun(n, tuple(found), tuple(matches), tuple(e.seq for e in entries))
