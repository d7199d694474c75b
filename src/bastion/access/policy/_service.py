"""The room's entry points for the edges: which directory, which resources, one engine."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bastion.access.interface import (
    Action,
    AuthMethod,
    Decision,
    Identity,
    IdentityKind,
    PolicyError,
    ResourceKind,
    ResourceRef,
)
from bastion.access.policy._engine import PolicyEngine
from bastion.access.policy._grants import GrantIndex
from bastion.access.policy._recorder import DecisionRecorder, SyncRecorder
from bastion.access.policy._review import AccessReview, least_privilege_report
from bastion.access.policy._store import (
    PolicySnapshot,
    PolicyStore,
    bundled_policy_dir,
    load_snapshot,
)
from bastion.core.errors import InputError
from bastion.core.ledger import Event
from bastion.core.workspace import Workspace

__all__ = [
    "access_review",
    "decide",
    "decide_request",
    "decision_dict",
    "default_policy_dir",
    "engine_for",
    "resources_from_inventory",
]

_INVENTORY_KINDS = {
    "inference_endpoint": ResourceKind.ENDPOINT,
    "third_party_model_api": ResourceKind.ENDPOINT,
    "agent": ResourceKind.ENDPOINT,
    "model": ResourceKind.MODEL_VERSION,
    "dataset": ResourceKind.DATASET,
    "feature_store": ResourceKind.DATASET,
    "data_store": ResourceKind.DATASET,
    "vector_store": ResourceKind.DATASET,
}


def default_policy_dir(ws: Workspace) -> Path:
    """``$BASTION_POLICY_DIR``, else ``$BASTION_HOME/policies`` when it exists, else the
    bundled example policy set."""
    env = os.environ.get("BASTION_POLICY_DIR")
    if env:
        return Path(env)
    home = ws.settings.home / "policies"
    return home if home.is_dir() else bundled_policy_dir()


def resources_from_inventory(ws: Workspace) -> list[ResourceRef]:
    """Every inventoried endpoint, model and dataset as a resource with its attributes
    (classification, owner, system, asset kind, PII, and a tier where the asset says)."""
    from bastion.inventory import list_assets

    out: list[ResourceRef] = []
    for a in list_assets(ws):
        kind = _INVENTORY_KINDS.get(a.kind)
        if kind is None:
            continue
        pii = [c for c in a.body.get("pii_categories") or [] if c != "none"]
        attrs: dict[str, str | int | bool | list[str]] = {
            "classification": a.classification,
            "owner": a.owner,
            "system": a.system_id,
            "asset_kind": a.kind,
        }
        if kind is ResourceKind.DATASET:
            attrs["has_pii"] = bool(pii)
        tier = (a.body.get("properties") or {}).get("tier")
        if isinstance(tier, int) and not isinstance(tier, bool):
            attrs["tier"] = tier
        out.append(ResourceRef(kind, a.asset_id, attrs))
    return out


#: id(workspace) -> (a weak reference to it, its engines by directory); the reference
#: guards against a new workspace reusing a dead one's id.
_ENGINES: dict[int, tuple[weakref.ref[Workspace], dict[str, PolicyEngine]]] = {}
_LOCK = threading.Lock()


def engine_for(
    ws: Workspace,
    directory: Path | str | None = None,
    *,
    recorder: DecisionRecorder | None = None,
    grant_ttl: float = 2.0,
) -> PolicyEngine:
    """The process's engine for ``directory`` (default :func:`default_policy_dir`) over
    this workspace: the inventory's resources, JIT grants from the database, decisions
    recorded to the ledger (one append each unless a batching ``recorder`` is given),
    loads and rejected reloads ledgered. Built once per workspace and directory."""
    path = Path(directory) if directory is not None else default_policy_dir(ws)
    key = str(path.resolve())
    with _LOCK:
        slot = _ENGINES.get(id(ws))
        if slot is None or slot[0]() is not ws:
            slot = (weakref.ref(ws), {})
            _ENGINES[id(ws)] = slot
        engines = slot[1]
        got = engines.get(key)
        if got is not None and (recorder is None or got.recorder is recorder):
            return got

        def loaded(snap: PolicySnapshot) -> None:
            ws.ledger.append(
                [
                    Event(
                        "access.policy_loaded",
                        {
                            "directory": str(path),
                            "digest": snap.digest,
                            "policies": list(snap.policy_ids),
                        },
                    )
                ]
            )

        def rejected(exc: PolicyError) -> None:
            ws.ledger.append(
                [Event("access.policy_rejected", {"directory": str(path), "error": str(exc)[:500]})]
            )

        store = PolicyStore(
            path, resources=resources_from_inventory(ws), on_load=loaded, on_reject=rejected
        )
        engine = PolicyEngine(
            store,
            recorder=recorder or SyncRecorder(ws.ledger),
            grants=GrantIndex(ws, ttl=grant_ttl),
        )
        engines[key] = engine
        return engine


def decide(
    ws: Workspace,
    identity: Identity,
    action: Action,
    resource: ResourceRef,
    context: Mapping[str, object] | None = None,
    *,
    directory: Path | str | None = None,
) -> Decision:
    """One decision through :func:`engine_for` (recorded)."""
    return engine_for(ws, directory).decide(identity, action, resource, context)


def decision_dict(d: Decision) -> dict[str, Any]:
    o = d.obligations
    return {
        "allowed": d.allowed,
        "policies": list(d.policies),
        "reasons": list(d.reasons),
        "grant_id": d.grant_id,
        "obligations": {
            "redact_fields": sorted(o.redact_fields),
            "coarsen_scores": o.coarsen_scores,
            "rate_class": o.rate_class,
            "log_level": o.log_level.value,
            "require_mfa": o.require_mfa,
        },
    }


def decide_request(
    ws: Workspace,
    principal: str,
    kind: str,
    action: str,
    resource: str,
    *,
    roles: Iterable[str] = (),
    attributes: Mapping[str, str | int | bool | list[str]] | None = None,
    mfa: bool = False,
    context: Mapping[str, object] | None = None,
    directory: Path | str | None = None,
) -> dict[str, Any]:
    """A what-if decision from plain values (the CLI's and API's ``decide``): the principal
    as if it had presented a bearer token, the resource by ``KIND:ID`` with the attributes
    the inventory (or the directory's entities.yaml) gives it; recorded like any other."""
    from bastion.access.policy._grants import parse_resource

    try:
        ident_kind = IdentityKind(kind)
        act = Action(action)
    except ValueError:
        raise InputError(
            f"invalid principal kind {kind[:20]!r} or action {action[:40]!r} (actions: "
            + ", ".join(a.value for a in Action)
            + ")"
        ) from None
    if not principal.startswith(ident_kind.value + ":"):
        raise InputError(f"principal {principal[:60]!r} must start with {ident_kind.value}:")
    ident = Identity(
        id=principal,
        kind=ident_kind,
        method=AuthMethod.BEARER,
        roles=frozenset(roles),
        attributes=dict(attributes or {}),
        mfa=mfa,
    )
    return decision_dict(
        decide(ws, ident, act, parse_resource(resource), context or None, directory=directory)
    )


def access_review(
    ws: Workspace, *, days: int = 30, directory: Path | str | None = None
) -> AccessReview:
    """:func:`least_privilege_report` with the baselines of the policy directory (none
    there: the baseline half of the report is left out, not every grant flagged)."""
    snap = load_snapshot(directory if directory is not None else default_policy_dir(ws))
    baselines = snap.baselines if snap.baselines.roles else None
    return least_privilege_report(ws, days=days, baselines=baselines)
