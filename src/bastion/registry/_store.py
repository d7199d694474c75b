"""Models and versions: register (hash, never load), list, show, history, aliases, and the
MLflow import. A version is identified by its manifest digest."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bastion.access import Permission, Principal
from bastion.core.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from bastion.core.ledger import Event
from bastion.core.workspace import Workspace
from bastion.registry._digest import hash_model_dir
from bastion.registry._policy import Stage
from bastion.registry._rows import ModelRow, TransitionRow, VersionRow

__all__ = [
    "ModelInfo",
    "Transition",
    "VersionInfo",
    "get_model",
    "get_version",
    "history",
    "import_mlflow",
    "list_models",
    "register_model",
    "set_alias",
]

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
MAX_MLMODEL_BYTES = 256 * 1024


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


@dataclass(frozen=True)
class VersionInfo:
    id: str
    model: str
    version: str
    digest: str
    stage: Stage
    aliases: tuple[str, ...]
    files: tuple[dict[str, Any], ...]
    datasets: tuple[str, ...]
    authors: tuple[str, ...]
    provenance: dict[str, Any]
    source: str | None
    gate_passed: dict[str, Any]
    created_by: str
    created_at: datetime
    system_id: str | None = None
    asset_id: str | None = None
    tier: int | None = None

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "ref": self.ref,
            "digest": self.digest,
            "stage": self.stage.value,
            "aliases": list(self.aliases),
            "files": list(self.files),
            "datasets": list(self.datasets),
            "authors": list(self.authors),
            "provenance": self.provenance,
            "source": self.source,
            "gate_passed": self.gate_passed,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "system": self.system_id,
            "asset": self.asset_id,
            "tier": self.tier,
        }


@dataclass(frozen=True)
class ModelInfo:
    name: str
    system_id: str | None
    asset_id: str | None
    tier: int | None
    versions: tuple[VersionInfo, ...] = field(default=())

    @property
    def production(self) -> VersionInfo | None:
        return next((v for v in self.versions if v.stage is Stage.PRODUCTION), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "system": self.system_id,
            "asset": self.asset_id,
            "tier": self.tier,
            "production": self.production.version if self.production else None,
            "versions": [v.to_dict() for v in self.versions],
        }


@dataclass(frozen=True)
class Transition:
    model: str
    version: str
    digest: str
    action: str
    from_stage: str | None
    to_stage: str
    actor: str
    reason: str | None
    evidence_ids: tuple[str, ...]
    approval_ids: tuple[str, ...]
    policy_version: int | None
    created_at: datetime
    ledger_seq: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "digest": self.digest,
            "action": self.action,
            "from": self.from_stage,
            "to": self.to_stage,
            "actor": self.actor,
            "reason": self.reason,
            "evidence_ids": list(self.evidence_ids),
            "approval_ids": list(self.approval_ids),
            "policy_version": self.policy_version,
            "at": self.created_at.isoformat(),
            "ledger_seq": self.ledger_seq,
        }


def version_info(v: VersionRow, m: ModelRow | None) -> VersionInfo:
    created = _utc(v.created_at)
    assert created is not None
    return VersionInfo(
        v.id,
        v.model_name,
        v.version,
        v.digest,
        Stage(v.stage),
        tuple(v.aliases),
        tuple(v.files),
        tuple(v.datasets),
        tuple(v.authors),
        dict(v.provenance),
        v.source,
        dict(v.gate_passed),
        v.created_by,
        created,
        m.system_id if m else None,
        m.asset_id if m else None,
        m.tier if m else None,
    )


def _versions(s: Session, m: ModelRow) -> tuple[VersionInfo, ...]:
    rows = s.scalars(
        select(VersionRow).where(VersionRow.model_name == m.name).order_by(VersionRow.created_at)
    )
    return tuple(version_info(v, m) for v in rows)


def find_version(s: Session, name: str, version: str) -> tuple[ModelRow, VersionRow]:
    """A version by number or alias; a clear refusal for an unknown one."""
    m = s.get(ModelRow, name)
    if m is None:
        raise NotFoundError(f"no model {name!r} in the registry: register it first")
    row = s.scalars(
        select(VersionRow).where(VersionRow.model_name == name, VersionRow.version == version)
    ).first()
    if row is None:
        for v in s.scalars(select(VersionRow).where(VersionRow.model_name == name)):
            if version in v.aliases:
                return m, v
        known = ", ".join(
            v.version for v in s.scalars(select(VersionRow).where(VersionRow.model_name == name))
        )
        raise NotFoundError(
            f"model {name} has no version or alias {version!r} (versions: {known or 'none'})"
        )
    return m, row


def lock_model(s: Session, name: str) -> ModelRow:
    """Serialise every stage change of one model: the first statement is a write (the
    SQLite write lock; a row lock on PostgreSQL), as the ledger does for its head."""
    s.execute(update(ModelRow).where(ModelRow.name == name).values(tier=ModelRow.tier))
    m = s.get(ModelRow, name, populate_existing=True)
    if m is None:
        raise NotFoundError(f"no model {name!r} in the registry: register it first")
    return m


def record_transition(
    ws: Workspace,
    s: Session,
    v: VersionRow,
    *,
    action: str,
    to: Stage,
    actor: str,
    reason: str | None = None,
    evidence_ids: Sequence[str] = (),
    approval_ids: Sequence[str] = (),
    policy_version: int | None = None,
    extra: dict[str, Any] | None = None,
) -> Transition:
    before = v.stage if action != "register" else None
    (entry,) = ws.ledger.append(
        [
            Event(
                f"registry.{action}",
                {
                    "model": v.model_name,
                    "version": v.version,
                    "digest": v.digest,
                    "from": before,
                    "to": to.value,
                    "reason": reason,
                    "evidence_ids": list(evidence_ids),
                    "approval_ids": list(approval_ids),
                    "policy_version": policy_version,
                    **(extra or {}),
                },
                actor,
            )
        ],
        session=s,
    )
    now = _now()
    s.add(
        TransitionRow(
            model_name=v.model_name,
            version=v.version,
            digest=v.digest,
            action=action,
            from_stage=before,
            to_stage=to.value,
            actor=actor,
            reason=reason,
            evidence_ids=list(evidence_ids),
            approval_ids=list(approval_ids),
            policy_version=policy_version,
            created_at=now,
            ledger_seq=entry.seq,
        )
    )
    v.stage = to.value
    s.flush()
    return Transition(
        v.model_name,
        v.version,
        v.digest,
        action,
        before,
        to.value,
        actor,
        reason,
        tuple(evidence_ids),
        tuple(approval_ids),
        policy_version,
        now,
        entry.seq,
    )


def register_model(
    ws: Workspace,
    name: str,
    path: Path,
    *,
    version: str | None = None,
    system: str | None = None,
    asset: str | None = None,
    tier: int | None = None,
    datasets: Sequence[str] = (),
    authors: Sequence[str] = (),
    provenance: dict[str, Any] | None = None,
    alias: str | None = None,
    actor: str = "cli",
    principal: Principal | None = None,
) -> VersionInfo:
    """Hash the model's files (never load them) and register a new version in development.

    The same digest registered twice under one model is a conflict: it is the same version.
    A new version has passed no gate, so ``alias`` needs a privileged ``principal`` (an
    admin or approver with MFA), as :func:`set_alias` does.
    """
    if not _NAME.match(name):
        raise InputError(f"model name {name!r} must be lowercase letters, digits and ._- (1-100)")
    if version is not None and not _VERSION.match(version):
        raise InputError(f"version {version!r} must be 1-64 letters, digits or ._+-")
    if tier is not None and not 1 <= tier <= 4:
        raise InputError(f"tier must be 1 (highest risk) to 4, not {tier}")
    if alias is not None and not _ALIAS.match(alias):
        raise InputError(f"alias {alias!r} must be lowercase letters, digits, _ or - (1-40)")
    if alias is not None and not privileged(principal):
        raise _refuse_alias(f"the new version of {name}", alias)
    manifest = hash_model_dir(path)
    now = _now()
    with ws.db.session() as s:
        m = s.get(ModelRow, name)
        if m is None:
            m = ModelRow(
                name=name,
                system_id=system,
                asset_id=asset,
                tier=tier,
                created_by=actor,
                created_at=now,
            )
            s.add(m)
            s.flush()
        m = lock_model(s, name)
        if system is not None:
            m.system_id = system
        if asset is not None:
            m.asset_id = asset
        if tier is not None:
            m.tier = tier
        existing = list(s.scalars(select(VersionRow).where(VersionRow.model_name == name)))
        same = next((v for v in existing if v.digest == manifest.digest), None)
        if same is not None:
            raise ConflictError(
                f"{name} already has this content as version {same.version} ({manifest.digest})"
            )
        if version is None:
            nums = [int(v.version) for v in existing if v.version.isdigit()]
            version = str(max(nums, default=0) + 1)
        elif any(v.version == version for v in existing):
            raise ConflictError(f"{name} already has a version {version}")
        if alias is not None:
            for v in existing:
                if alias in v.aliases:
                    v.aliases = [a for a in v.aliases if a != alias]
        row = VersionRow(
            id=str(uuid.uuid4()),
            model_name=name,
            version=version,
            digest=manifest.digest,
            files=list(manifest.files),
            source=str(path)[:500],
            datasets=list(datasets),
            provenance=dict(provenance or {}),
            authors=sorted(set(authors) | {actor}),
            stage=Stage.DEVELOPMENT.value,
            aliases=[alias] if alias else [],
            gate_passed={},
            lock_seq=0,
            created_by=actor,
            created_at=now,
        )
        s.add(row)
        s.flush()
        record_transition(
            ws,
            s,
            row,
            action="register",
            to=Stage.DEVELOPMENT,
            actor=actor,
            extra={"files": len(manifest.files), "bytes": manifest.size, "system": m.system_id},
        )
        return version_info(row, m)


def list_models(ws: Workspace) -> list[ModelInfo]:
    with ws.db.session() as s:
        return [
            ModelInfo(m.name, m.system_id, m.asset_id, m.tier, _versions(s, m))
            for m in s.scalars(select(ModelRow).order_by(ModelRow.name))
        ]


def get_version(ws: Workspace, name: str, version: str) -> VersionInfo:
    with ws.db.session() as s:
        m, v = find_version(s, name, version)
        return version_info(v, m)


def get_model(ws: Workspace, name: str) -> ModelInfo:
    with ws.db.session() as s:
        m = s.get(ModelRow, name)
        if m is None:
            raise NotFoundError(f"no model {name!r} in the registry")
        return ModelInfo(m.name, m.system_id, m.asset_id, m.tier, _versions(s, m))


def history(ws: Workspace, name: str) -> list[Transition]:
    """Every stage transition of a model, oldest first (each one is also in the ledger)."""
    with ws.db.session() as s:
        if s.get(ModelRow, name) is None:
            raise NotFoundError(f"no model {name!r} in the registry")
        rows = s.scalars(
            select(TransitionRow).where(TransitionRow.model_name == name).order_by(TransitionRow.id)
        )
        return [
            Transition(
                r.model_name,
                r.version,
                r.digest,
                r.action,
                r.from_stage,
                r.to_stage,
                r.actor,
                r.reason,
                tuple(r.evidence_ids),
                tuple(r.approval_ids),
                r.policy_version,
                _utc(r.created_at) or _now(),
                r.ledger_seq,
            )
            for r in rows
        ]


def privileged(principal: Principal | None) -> bool:
    """An admin or approver who verified MFA: who may point an alias at an ungated version."""
    return (
        principal is not None
        and principal.mfa_verified
        and (principal.can(Permission.ADMIN) or principal.can(Permission.APPROVE))
    )


def _gated(v: VersionRow) -> bool:
    """Has the version passed a gate (staging or production) that was not revoked since?"""
    return any(k in (v.gate_passed or {}) for k in (Stage.STAGING.value, Stage.PRODUCTION.value))


def _refuse_alias(ref: str, alias: str) -> PermissionDeniedError:
    return PermissionDeniedError(
        f"{ref} has passed no gate: pointing the alias {alias!r} at it is a privileged "
        "action (an admin or approver with MFA: --token and --otp, or X-Bastion-OTP); "
        "promote it through a gate first"
    )


def set_alias(
    ws: Workspace,
    name: str,
    alias: str,
    version: str,
    *,
    actor: str = "cli",
    principal: Principal | None = None,
) -> VersionInfo:
    """Point an alias (``champion``, ``challenger``) at a version; it leaves any other.

    Only a version that passed a gate (staging or production), or as a privileged action:
    ``principal`` an admin or approver with MFA. Deployers follow aliases, so an alias on
    an ungated version would route around the gate."""
    if not _ALIAS.match(alias):
        raise InputError(f"alias {alias!r} must be lowercase letters, digits, _ or - (1-40)")
    with ws.db.session() as s:
        lock_model(s, name)
        m, v = find_version(s, name, version)
        gated = _gated(v)
        if not gated and not privileged(principal):
            raise _refuse_alias(f"{name}@{v.version}", alias)
        for other in s.scalars(select(VersionRow).where(VersionRow.model_name == name)):
            if alias in other.aliases and other.id != v.id:
                other.aliases = [a for a in other.aliases if a != alias]
        if alias not in v.aliases:
            v.aliases = [*v.aliases, alias]
        s.flush()
        ws.ledger.append(
            [
                Event(
                    "registry.alias_set",
                    {
                        "model": name,
                        "alias": alias,
                        "version": v.version,
                        "digest": v.digest,
                        "gated": gated,
                        "privileged_by": principal.actor if principal and not gated else None,
                    },
                    actor,
                )
            ],
            session=s,
        )
        return version_info(v, m)


def _read_yaml(p: Path) -> dict[str, Any]:
    try:
        if p.stat().st_size > MAX_MLMODEL_BYTES:
            raise InputError(f"{p} is larger than {MAX_MLMODEL_BYTES} bytes")
        data = yaml.safe_load(p.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{p} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InputError(f"{p} must be a YAML mapping")
    return data


def _locate_mlflow(path: Path) -> tuple[Path, Path | None]:
    """(model directory holding MLmodel, run directory holding meta.yaml or None)."""
    if (path / "MLmodel").is_file():
        run = path
        while run != run.parent and not (run / "meta.yaml").is_file():
            run = run.parent
            if run == path.parent.parent.parent.parent:
                break
        return path, run if (run / "meta.yaml").is_file() else None
    if (path / "meta.yaml").is_file():
        meta = _read_yaml(path / "meta.yaml")
        # A registry version (mlruns/models/NAME/version-N/meta.yaml) points at its run.
        src = meta.get("storage_location") or meta.get("source")
        if isinstance(src, str) and "://" not in src.replace("file://", ""):
            target = Path(src.removeprefix("file://"))
            if not target.is_absolute():
                target = (path / target).resolve()
            if (target / "MLmodel").is_file():
                return _locate_mlflow(target)
        found = sorted(p.parent for p in (path / "artifacts").rglob("MLmodel"))
        if found:
            return found[0], path
    raise InputError(
        f"{path} is not an MLflow model, run or registry version directory: "
        "expected MLmodel, or meta.yaml with artifacts/**/MLmodel"
    )


def _mlflow_aliases(reg_dir: Path, version: str | None) -> list[str]:
    """Aliases pointing at ``version`` in an MLflow file-store registry: the registered
    model's ``meta.yaml`` (``aliases: [{alias, version}]`` or ``{alias: version}``) or
    its ``aliases/`` directory (one file per alias holding the version)."""
    if version is None:
        return []
    model_dir = reg_dir.parent
    found: list[str] = []
    meta = model_dir / "meta.yaml"
    if meta.is_file():
        raw = _read_yaml(meta).get("aliases")
        items: list[tuple[Any, Any]] = []
        if isinstance(raw, dict):
            items = list(raw.items())
        elif isinstance(raw, list):
            items = [(a.get("alias"), a.get("version")) for a in raw if isinstance(a, dict)]
        found += [str(a) for a, ver in items if a and str(ver) == version]
    adir = model_dir / "aliases"
    if adir.is_dir():
        for f in sorted(adir.iterdir())[:100]:
            if (
                f.is_file()
                and f.stat().st_size <= 64
                and f.read_text(encoding="utf-8", errors="replace").strip() == version
            ):
                found.append(f.name)
    return sorted({a.lower() for a in found if _ALIAS.match(a.lower())})


def import_mlflow(
    ws: Workspace,
    path: Path,
    *,
    name: str | None = None,
    system: str | None = None,
    asset: str | None = None,
    tier: int | None = None,
    version: str | None = None,
    alias: str | None = None,
    authors: Sequence[str] = (),
    datasets: Sequence[str] = (),
    sign_key: Path | None = None,
    certificate: Path | None = None,
    chain: Sequence[Path] = (),
    actor: str = "cli",
    principal: Principal | None = None,
) -> VersionInfo:
    """Register a model from an MLflow run, model or registry-version directory on disk,
    reading MLmodel and meta.yaml as YAML (mlflow is not imported; nothing is loaded).

    With ``sign_key`` the model's files are signed first (the integrity room's
    ``record_sign``, with ``certificate``/``chain`` for a certificate signer), so the
    version carries integrity.sign evidence for its digest. MLflow aliases of the version
    become registry aliases; its MLflow stage is kept as provenance only (a stage in
    Bastion is reached through the gate, never imported). MLflow aliases are applied only
    for a privileged ``principal`` (the new version has passed no gate, see
    :func:`set_alias`); otherwise they are kept as provenance only. ``authors`` and
    ``datasets`` add to what the run records; ``tier``, ``version`` and ``alias`` are as
    for :func:`register_model`."""
    path = Path(path)
    model_dir, run_dir = _locate_mlflow(path)
    mlmodel = _read_yaml(model_dir / "MLmodel")
    meta = _read_yaml(run_dir / "meta.yaml") if run_dir else {}
    reg_meta = _read_yaml(path / "meta.yaml") if (path / "meta.yaml").is_file() else {}
    model_name = name or str(reg_meta.get("name") or model_dir.name).lower()
    params: dict[str, str] = {}
    if run_dir and (run_dir / "params").is_dir():
        for p in sorted((run_dir / "params").iterdir())[:200]:
            if p.is_file() and p.stat().st_size <= 4096:
                params[p.name] = p.read_text(encoding="utf-8", errors="replace").strip()
    tags: dict[str, str] = {}
    if run_dir and (run_dir / "tags").is_dir():
        for p in sorted((run_dir / "tags").iterdir())[:200]:
            if p.is_file() and p.stat().st_size <= 4096:
                tags[p.name] = p.read_text(encoding="utf-8", errors="replace").strip()
    flavors = mlmodel.get("flavors")
    provenance = {
        "mlflow": {
            "run_id": mlmodel.get("run_id") or meta.get("run_id"),
            "artifact_path": mlmodel.get("artifact_path"),
            "flavors": sorted(flavors) if isinstance(flavors, dict) else [],
            "utc_time_created": str(mlmodel.get("utc_time_created") or ""),
            "experiment_id": meta.get("experiment_id"),
            "params": params,
            "source": tags.get("mlflow.source.name"),
            "registry_version": reg_meta.get("version"),
            "current_stage": reg_meta.get("current_stage"),
        }
    }
    all_authors = sorted({*([str(meta["user_id"])] if meta.get("user_id") else []), *authors})
    all_datasets = [*[d for d in (tags.get("dataset"),) if d], *datasets]
    mlflow_version = str(reg_meta["version"]) if reg_meta.get("version") is not None else None
    aliases = _mlflow_aliases(path, mlflow_version) if reg_meta else []
    if alias is not None:
        aliases = [alias, *[a for a in aliases if a != alias]]
    provenance["mlflow"]["aliases"] = aliases
    if alias is not None and not privileged(principal):
        raise _refuse_alias(f"the new version of {model_name}", alias)
    if not privileged(principal):
        aliases = []  # recorded above as provenance; applying them needs a privileged caller
    if sign_key is not None:
        from bastion.integrity import record_sign

        options: dict[str, Any] = {}
        if certificate is not None:
            options["certificate"] = certificate
            options["chain"] = list(chain)
        _res, ev = record_sign(
            ws, model_dir, sign_key, name=f"{system}/{model_name}" if system else model_name,
            actor=actor, **options,
        )  # fmt: skip
        provenance["signed"] = {"evidence": ev.id, "key": str(sign_key)}
    v = register_model(
        ws,
        model_name,
        model_dir,
        version=version or mlflow_version,
        system=system,
        asset=asset,
        tier=tier,
        datasets=all_datasets,
        authors=all_authors,
        provenance=provenance,
        alias=aliases[0] if aliases else None,
        actor=actor,
        principal=principal,
    )
    for extra in aliases[1:]:
        v = set_alias(ws, model_name, extra, v.version, actor=actor, principal=principal)
    return v
