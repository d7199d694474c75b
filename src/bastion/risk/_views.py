"""What the risk room shows: recorded simulations found and re-run, and the register in the
order a risk owner reads it. The console, the CLI and the API call these, so a re-run or an
ordering is decided in one place.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass

from bastion.core.errors import BastionError, NotFoundError
from bastion.core.evidence import EvidenceQuery
from bastion.core.types import Evidence
from bastion.core.workspace import Workspace
from bastion.risk._checks import RiskSimulationCheck
from bastion.risk._engine import SimulationResult, simulate
from bastion.risk._model import parse_scenarios
from bastion.risk._register import RiskRecord, list_risks

__all__ = [
    "MAX_REPLAY_ITERATIONS",
    "Replay",
    "by_exposure",
    "count_simulations",
    "get_simulation",
    "list_simulations",
    "register_by_exposure",
    "replay_simulation",
]

#: Past this many simulated years a recorded simulation is not re-run on request (its
#: recorded percentiles stand), so one request cannot hold a worker for minutes.
MAX_REPLAY_ITERATIONS = 1_000_000
_MAX_ID = 200


@dataclass(frozen=True)
class Replay:
    """A recorded simulation re-run: the result, or why it was not re-run (fail closed)."""

    result: SimulationResult | None
    why: str | None = None


def list_simulations(ws: Workspace, *, limit: int = 200) -> list[Evidence]:
    """Recorded simulations (``risk.simulation`` evidence), newest first."""
    return ws.evidence.list(EvidenceQuery(check_id=RiskSimulationCheck.id, limit=limit))


def count_simulations(ws: Workspace) -> int:
    """How many simulations are recorded (one COUNT query)."""
    return ws.evidence.count(EvidenceQuery(check_id=RiskSimulationCheck.id))


def get_simulation(ws: Workspace, evidence_id: str) -> Evidence | None:
    """The recorded simulation with this evidence id, or None (also for other evidence)."""
    try:
        e = ws.evidence.get(evidence_id[:_MAX_ID])
    except NotFoundError:
        return None
    return e if e.check_id == RiskSimulationCheck.id else None


@functools.lru_cache(maxsize=8)
def _rerun(
    evidence_id: str, digest: str, document: str, iterations: int, seed: int
) -> SimulationResult:
    """Re-run a recorded simulation (deterministic for its document, seed and iterations).
    Cached by evidence id and digest, so charts of one page share one run."""
    ss = parse_scenarios(json.loads(document), f"evidence {evidence_id}")
    return simulate(ss, iterations=iterations, seed=seed)


def replay_simulation(
    ws: Workspace, e: Evidence, *, max_iterations: int = MAX_REPLAY_ITERATIONS
) -> Replay:
    """Re-run the simulation ``e`` records, after checking the evidence still matches its
    ledgered digest; a :class:`Replay` with the reason when it cannot be re-run."""
    try:
        sim = RiskSimulationCheck.read(e)
    except BastionError:
        return Replay(
            None, "this evidence holds no scenarios document, seed and iterations to re-run"
        )
    if not ws.evidence.verify_digest(e):
        return Replay(None, "this evidence does not match its recorded digest: it is not re-run")
    if sim.iterations > max_iterations:
        return Replay(
            None,
            f"{sim.iterations:,} iterations are more than the console re-runs "
            f"({max_iterations:,}); draw the charts with 'bastion risk simulate --chart'",
        )
    document = json.dumps(sim.document, sort_keys=True)
    try:
        return Replay(_rerun(e.id, e.digest, document, sim.iterations, sim.seed))
    except BastionError as exc:
        return Replay(None, f"the recorded scenarios no longer validate: {exc.message}")


def by_exposure(risks: Iterable[RiskRecord]) -> list[RiskRecord]:
    """Largest exposure (P90 annual loss) first: what a risk owner reads the register for.
    Unpriced risks last, in their register order."""
    return sorted(risks, key=lambda r: -float((r.summary or {}).get("p90") or -1.0))


def register_by_exposure(
    ws: Workspace, *, system: str | None = None, status: str | None = None, owner: str | None = None
) -> list[RiskRecord]:
    """The risk register filtered like :func:`list_risks`, largest exposure first."""
    return by_exposure(list_risks(ws, system=system, status=status, owner=owner))
