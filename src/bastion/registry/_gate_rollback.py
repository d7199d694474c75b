"""Rollback: put a known-good version back in production, after verifying its signature
again, now, against its files; the version rolled away from loses its approvals. Listeners
(deployers, incident response) hear of every committed rollback."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from bastion.core.errors import CheckError, ConflictError, InputError, NotFoundError
from bastion.core.evidence import EvidenceQuery
from bastion.core.ledger import Event
from bastion.core.types import Evidence, Verdict
from bastion.core.workspace import Workspace
from bastion.registry._gate_common import GATED_VALUES, _now
from bastion.registry._policy import Stage
from bastion.registry._rows import ModelRow, VersionRow
from bastion.registry._store import (
    Transition,
    VersionInfo,
    find_version,
    get_version,
    lock_model,
    record_transition,
)
from bastion.registry.interface import RollbackHook

if TYPE_CHECKING:
    from bastion.integrity import VerificationPolicy

__all__ = ["RollbackHook", "register_rollback_hook", "rollback", "rollback_to_last_good"]


_HOOKS: list[RollbackHook] = []
_HOOKS_LOCK = threading.Lock()


def register_rollback_hook(hook: RollbackHook) -> Callable[[], None]:
    """Call ``hook`` after every committed rollback (deployers, incident response).
    Returns a function that unregisters it. A failing hook does not undo the rollback."""
    with _HOOKS_LOCK:
        _HOOKS.append(hook)

    def _remove() -> None:
        with _HOOKS_LOCK:
            if hook in _HOOKS:
                _HOOKS.remove(hook)

    return _remove


def _signature_ok(ws: Workspace, digest: str) -> Evidence | None:
    from bastion.integrity import ModelSignatureCheck

    latest = ws.evidence.list(
        EvidenceQuery(check_id=ModelSignatureCheck.id, subject_digest=digest, limit=1)
    )
    if not latest or latest[0].verdict is not Verdict.PASS:
        return None
    return latest[0] if ws.evidence.verify_digest(latest[0]) else None


def _reverify(
    ws: Workspace, v: VersionInfo, policy: VerificationPolicy | None, actor: str
) -> tuple[Evidence | None, str | None]:
    """Verify the version's signature against its files again, now (when the files are
    still where they were registered). Returns (fresh integrity.signature evidence or
    None when the files are gone, a refusal reason or None).

    Without an explicit verification policy, the policy is rebuilt from the last passing
    verification: the same certificate identities, under the workspace PKI's root, at the
    signing certificate's issuance time (short-lived certificates expire by design)."""
    from bastion.integrity import TimeMode, VerificationPolicy, record_verify

    path = Path(str(v.source)) if v.source else None
    if path is None or not path.exists():
        return None, None
    if policy is None:
        last = _signature_ok(ws, v.digest)
        if last is None:
            return None, (
                f"no passing integrity.signature evidence for {v.ref} ({v.digest[:19]}…): "
                "its signature no longer verifies"
            )
        from bastion.integrity import ModelSignatureCheck

        try:
            ids = list(ModelSignatureCheck.read(last).certificate_identities)
        except CheckError:
            ids = []
        root = Path(ws.settings.key_dir) / "pki" / "root.pem"
        if not ids or not root.is_file():
            # A key-signed version (or a PKI outside this workspace): the stored evidence
            # stands, and the files are still checked against the registered digest below.
            from bastion.registry._digest import hash_model_dir

            if hash_model_dir(path).digest != v.digest:
                return None, (
                    f"the files of {v.ref} at {path} changed since registration: they no "
                    f"longer match {v.digest}"
                )
            return None, None
        policy = VerificationPolicy(
            allowed_identities=ids, trust_roots=[str(root)], time=TimeMode.ISSUANCE
        )
    res, ev = record_verify(ws, path, name=v.ref, policy=policy, actor=actor)
    if ev.verdict is not Verdict.PASS or res is None:
        why = "; ".join(f.message for f in ev.findings[:3]) or ev.verdict.value
        return ev, (
            f"the signature of {v.ref} no longer verifies against its files at {path}: {why} "
            f"(evidence {ev.id})"
        )
    if res.manifest_digest is None or f"sha256:{res.manifest_digest}" != v.digest:
        return ev, (
            f"the files of {v.ref} at {path} verify, but as digest sha256:{res.manifest_digest}, "
            f"not the registered {v.digest}"
        )
    return ev, None


def rollback(
    ws: Workspace,
    name: str,
    to_version: str,
    *,
    reason: str,
    actor: str,
    policy: VerificationPolicy | str | Path | None = None,
) -> Transition:
    """Put a known-good version back in production. Only a version that passed its
    production gate and whose signature verifies again, now, against its files (when they
    are still on disk; else its latest integrity.signature evidence must pass).

    The version rolled away from loses its production gate record and every approval and
    board decision it had: re-promoting it needs fresh approvals (it may be compromised).
    ``policy`` (a VerificationPolicy or a policy file) overrides the re-verification policy.
    """
    if not reason or not reason.strip():
        raise InputError("a rollback needs a reason (--reason)")
    target = get_version(ws, name, to_version)
    if target.stage is Stage.PRODUCTION:
        raise ConflictError(f"{name}@{target.version} is already in production")
    if Stage.PRODUCTION.value not in target.gate_passed:
        raise ConflictError(
            f"{name}@{target.version} never passed its production gate (or was rolled back "
            "from): roll back only to a version that did"
        )
    if isinstance(policy, (str, Path)):
        from bastion.integrity import load_policy as load_verification_policy

        policy = load_verification_policy(Path(policy))
    fresh, refusal = _reverify(ws, target, policy, actor)
    if refusal is not None:
        raise ConflictError(f"cannot roll back to {name}@{target.version}: {refusal}")
    now = _now()
    with ws.db.session() as s:
        lock_model(s, name)
        _m, v = find_version(s, name, to_version)
        if v.stage == Stage.PRODUCTION.value:
            raise ConflictError(f"{name}@{v.version} is already in production")
        if Stage.PRODUCTION.value not in v.gate_passed:
            raise ConflictError(
                f"{name}@{v.version} never passed its production gate: roll back only to a "
                "version that did"
            )
        sig = fresh or _signature_ok(ws, v.digest)
        if sig is None:
            raise ConflictError(
                f"the latest integrity.signature evidence for {name}@{v.version} "
                f"({v.digest[:19]}…) does not pass: its signature no longer verifies"
            )
        for other in s.scalars(
            select(VersionRow).where(
                VersionRow.model_name == name, VersionRow.stage == Stage.PRODUCTION.value
            )
        ):
            passed = {k: x for k, x in other.gate_passed.items() if k not in GATED_VALUES}
            passed["revoked"] = {
                "at": now.isoformat(),
                "by": actor,
                "reason": f"rolled back to {name}@{v.version}: {reason}",
            }
            other.gate_passed = passed
            record_transition(
                ws,
                s,
                other,
                action="archive",
                to=Stage.ARCHIVED,
                actor=actor,
                reason=f"rolled back to {name}@{v.version}: {reason}",
                extra={"approvals_revoked": True},
            )
        prior = v.gate_passed[Stage.PRODUCTION.value]
        t = record_transition(
            ws,
            s,
            v,
            action="rollback",
            to=Stage.PRODUCTION,
            actor=actor,
            reason=reason,
            evidence_ids=[sig.id, *prior.get("evidence_ids", [])],
            approval_ids=list(prior.get("approval_ids", [])),
            policy_version=prior.get("policy_version"),
            extra={"reverified": fresh is not None},
        )
    with _HOOKS_LOCK:
        hooks = list(_HOOKS)
    for hook in hooks:
        try:
            hook(t)
        except Exception:  # a listener must not undo or hide a committed rollback
            ws.ledger.append(
                [
                    Event(
                        "registry.rollback_hook_failed",
                        {"model": name, "hook": getattr(hook, "__qualname__", "hook")},
                        actor,
                    )
                ]
            )
    return t


def rollback_to_last_good(ws: Workspace, name: str, *, reason: str, actor: str) -> Transition:
    """For incident response: roll back to the newest other version that passed its
    production gate and whose signature still verifies."""
    with ws.db.session() as s:
        if s.get(ModelRow, name) is None:
            raise NotFoundError(f"no model {name!r} in the registry")
        rows = list(
            s.scalars(
                select(VersionRow)
                .where(VersionRow.model_name == name)
                .order_by(VersionRow.created_at.desc())
            )
        )
    for v in rows:
        if (
            v.stage != Stage.PRODUCTION.value
            and Stage.PRODUCTION.value in v.gate_passed
            and _signature_ok(ws, v.digest)
        ):
            return rollback(ws, name, v.version, reason=reason, actor=actor)
    raise ConflictError(f"{name} has no other version that passed its gate and is still signed")
