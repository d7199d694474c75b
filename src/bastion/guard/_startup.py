"""The start-up check: the guard refuses to front a model version it cannot vouch for.

For each endpoint's ``name@version``: the version is registered; its latest
``integrity.signature`` evidence about the registered digest passed and still matches
its ledgered digest (it was not edited afterwards); the incidents room has not
quarantined it; the version is in the stage the endpoint requires, its gate passed for
that stage (a rollback away from it revokes that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bastion.core.errors import ConfigError, NotFoundError
from bastion.core.types import Verdict
from bastion.core.workspace import Workspace
from bastion.guard._config import EndpointConfig

__all__ = ["ModelCheck", "UnverifiedModelError", "check_model"]


class UnverifiedModelError(ConfigError):
    """A model version whose signature or gate status does not verify: the guard will not
    front it."""


@dataclass(frozen=True)
class ModelCheck:
    endpoint: str
    model: str
    ok: bool
    digest: str | None
    reasons: tuple[str, ...]
    signature_evidence: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint, "model": self.model, "ok": self.ok,
            "digest": self.digest, "reasons": list(self.reasons),
            "signature_evidence": self.signature_evidence,
        }  # fmt: skip


def check_model(ws: Workspace, endpoint: EndpointConfig) -> ModelCheck:
    """Whether ``endpoint``'s model version may be fronted, with every reason it may not."""
    from bastion.integrity import model_integrity
    from bastion.registry import get_version

    name, ref = endpoint.name, endpoint.model
    try:
        v = get_version(ws, endpoint.model_name, endpoint.model_version)
    except NotFoundError:
        return ModelCheck(name, ref, False, None, (f"{ref} is not registered",))
    reasons: list[str] = []
    sig = model_integrity(ws, v.digest).signature
    sig_id = sig.id if sig is not None else None
    if sig is None:
        reasons.append(f"{ref} has no integrity.signature evidence about {v.digest[:19]}…")
    elif sig.verdict is not Verdict.PASS:
        reasons.append(f"the latest signature verification of {ref} is {sig.verdict.value}")
    elif not ws.evidence.verify_digest(sig):
        reasons.append(f"the signature evidence {sig.id} of {ref} does not match the ledger")
    from bastion.incidents import is_quarantined

    if is_quarantined(ws, endpoint.model_name, endpoint.model_version):
        reasons.append(f"{ref} is quarantined by an incident (bastion incident quarantine)")
    stage = endpoint.require_stage
    if v.stage.value != stage:
        reasons.append(f"{ref} is in stage {v.stage.value}, not {stage}")
    # A rollback away from a version removes its gate records (and notes "revoked").
    if not v.gate_passed.get(stage):
        revoked = v.gate_passed.get("revoked")
        why = " (its approvals were revoked by a rollback)" if isinstance(revoked, dict) else ""
        reasons.append(f"{ref} has not passed the {stage} gate{why}")
    return ModelCheck(name, ref, not reasons, v.digest, tuple(reasons), sig_id)


def require_verified(ws: Workspace, endpoints: tuple[EndpointConfig, ...]) -> dict[str, str]:
    """Endpoint name -> verified digest; :class:`UnverifiedModelError` naming the first that
    does not verify."""
    out: dict[str, str] = {}
    for e in endpoints:
        res = check_model(ws, e)
        if not res.ok:
            raise UnverifiedModelError(f"endpoint {e.name}: refusing to front {e.model}: "
                                       f"{res.reasons[0]}")  # fmt: skip
        assert res.digest is not None
        out[e.name] = res.digest
    return out
