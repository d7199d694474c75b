"""The registry part of ``bastion demo``: register, refuse, gather evidence and approvals,
promote, retrain, promote again, roll back. Every step lands in the ledger.

Evidence comes from the caller (``produce_evidence``), so the demo runs the real signing,
scanning and threat checks where they exist and this room never fakes their results.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp

from bastion.access import Role, authenticate, create_token
from bastion.core.workspace import Workspace
from bastion.governance import (
    ChangeKind,
    apply_config,
    approve_change,
    create_change_request,
    load_config,
    propose_change,
    vote,
)
from bastion.registry._gate import approve, promote, rollback
from bastion.registry._policy import Stage, load_policy
from bastion.registry._store import VersionInfo, register_model, set_alias

__all__ = ["DemoReport", "registry_demo"]

ProduceEvidence = Callable[[Workspace, VersionInfo], None]


@dataclass
class DemoReport:
    steps: list[dict[str, Any]] = field(default_factory=list)

    def add(self, step: str, **data: Any) -> None:
        self.steps.append({"step": step, **data})


def _approver(ws: Workspace, person: str) -> Any:
    """A real approver token for ``person``, authenticated with a current TOTP code."""
    new = create_token(ws, name=person, role=Role.APPROVER, actor="demo")
    assert new.totp_secret is not None
    return authenticate(ws, new.token, pyotp.TOTP(new.totp_secret).now())


def registry_demo(
    ws: Workspace,
    *,
    model_dir: Path,
    retrained_dir: Path,
    policy_file: Path,
    governance_file: Path,
    produce_evidence: ProduceEvidence,
    name: str = "credit-gbm",
    system: str = "credit-scoring",
    author: str = "dana",
    security: str = "sam",
    board_votes: Mapping[str, str] | None = None,
    tier: int | None = 1,
    other_models: Mapping[str, Path] | None = None,
) -> DemoReport:
    """Run the promotion story on one model and return what happened, step by step.

    ``produce_evidence(ws, version)`` must record the evidence the policy asks for
    (signature, scan, dependencies on the version; the threat model on the system).
    ``tier`` 1 (the default) is the credit-scoring model's EU AI Act high-risk tier, so the
    gate asks for every requirement, the change advisory board's decision included.
    ``other_models`` (name -> directory) are registered beside it, in development.
    """
    rep = DemoReport()
    # Bootstrap: the local administrator applies the governance file (break-glass path,
    # ledgered as such). The gate policy then goes through the two-person rule: one
    # approver proposes it, a second approves it, and only then is it in force.
    apply_config(ws, load_config(governance_file), actor="demo")
    proposed = propose_change(
        ws,
        ChangeKind.GATE_POLICY,
        load_policy(policy_file).model_dump(mode="json"),
        proposer=_approver(ws, "lee"),
        summary="gate policy of the demo",
    )
    applied = approve_change(ws, proposed.id, approver=_approver(ws, security))
    pversion = int(applied.result["version"])
    rep.add("policy", version=pversion, proposed_by="lee", approved_by=security)
    v1 = register_model(
        ws,
        name,
        model_dir,
        system=system,
        asset=name,
        authors=[author],
        actor=author,
        tier=tier,
    )
    rep.add("registered", model=name, version=v1.version, digest=v1.digest)
    for other, path in (other_models or {}).items():
        ov = register_model(
            ws, other, path, system=system, asset=other, authors=[author], actor=author, tier=tier
        )
        rep.add("registered", model=other, version=ov.version, digest=ov.digest)
    refused = promote(ws, name, v1.version, Stage.PRODUCTION, actor=author)
    rep.add(
        "refused",
        promoted=refused.promoted,
        unmet=[r.to_dict() for r in refused.gate.unmet] if refused.gate else [],
    )
    sec = _approver(ws, security)
    votes = dict(board_votes or {"sam": "approve", "lee": "approve", "bo": "approve"})
    voters = {p: _approver(ws, p) for p in votes if p != security} | {security: sec}

    def clear(v: VersionInfo) -> None:
        produce_evidence(ws, v)
        approve(ws, name, v.version, sec, kind="security_signoff", stage=Stage.PRODUCTION)
        cr = create_change_request(
            ws,
            title=f"Promote {v.ref} to production",
            target=v.ref,
            target_digest=v.digest,
            board_id="cab",
            requested_by=author,
        )
        for person, choice in votes.items():
            cr = vote(ws, cr.id, voters[person], choice)
        rep.add("cleared", version=v.version, change_request=cr.id, status=cr.status.value)

    clear(v1)
    ok = promote(ws, name, v1.version, Stage.PRODUCTION, actor=author)
    rep.add(
        "promoted",
        version=v1.version,
        promoted=ok.promoted,
        evidence=ok.gate.evidence_ids if ok.gate else [],
    )
    # An alias follows the gate: champion points at v1 once it passed it.
    set_alias(ws, name, "champion", v1.version, actor=author)
    v2 = register_model(
        ws, name, retrained_dir, system=system, asset=name, authors=[author], actor=author
    )
    stale = promote(ws, name, v2.version, Stage.PRODUCTION, actor=author)
    unmet = stale.gate.unmet if stale.gate else []
    rep.add(
        "retrained_refused",
        version=v2.version,
        promoted=stale.promoted,
        unmet=[r.to_dict() for r in unmet],
        stale=[r.id for r in unmet if r.reason.startswith("stale:")],
    )
    clear(v2)
    ok2 = promote(ws, name, v2.version, Stage.PRODUCTION, actor=author)
    rep.add("promoted", version=v2.version, promoted=ok2.promoted)
    back = rollback(
        ws, name, v1.version, reason="degradation seen in monitoring after v2", actor=security
    )
    rep.add("rolled_back", to=back.version, evidence=list(back.evidence_ids))
    return rep
