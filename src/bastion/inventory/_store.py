"""The inventory: systems and their assets, versioned on every change, changes ledgered."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bastion.core.canonical import canonical_json
from bastion.core.errors import InputError, NotFoundError
from bastion.core.ledger import Event
from bastion.core.storage import Base
from bastion.core.workspace import Workspace
from bastion.manifest import SystemManifest

__all__ = [
    "AssetRecord",
    "AssetVersion",
    "ImportResult",
    "SystemRecord",
    "get_asset",
    "get_system",
    "import_manifest",
    "list_assets",
    "list_systems",
]


class SystemRow(Base):
    __tablename__ = "systems"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(200))
    current_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SystemVersionRow(Base):
    __tablename__ = "system_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system_id: Mapped[str] = mapped_column(String(64), ForeignKey("systems.id"))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(80))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(String(500), nullable=True)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AssetRow(Base):
    __tablename__ = "assets"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system_id: Mapped[str] = mapped_column(String(64), ForeignKey("systems.id"))
    asset_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(200), index=True)
    classification: Mapped[str] = mapped_column(String(40), index=True)
    current_version: Mapped[int] = mapped_column(Integer)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AssetVersionRow(Base):
    __tablename__ = "asset_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    asset_pk: Mapped[int] = mapped_column(Integer, ForeignKey("assets.pk"))
    version: Mapped[int] = mapped_column(Integer)
    system_version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(80))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    change: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _digest(obj: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(obj)).hexdigest()


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


@dataclass(frozen=True)
class ImportResult:
    system_id: str
    version: int
    digest: str
    created: bool
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def no_change(self) -> bool:
        return not (self.created or self.added or self.changed or self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system_id,
            "version": self.version,
            "digest": self.digest,
            "created": self.created,
            "added": list(self.added),
            "changed": list(self.changed),
            "removed": list(self.removed),
            "unchanged": list(self.unchanged),
        }


@dataclass(frozen=True)
class AssetVersion:
    version: int
    system_version: int
    digest: str
    change: str
    created_at: datetime
    body: dict[str, Any]


@dataclass(frozen=True)
class AssetRecord:
    system_id: str
    asset_id: str
    kind: str
    name: str
    owner: str
    classification: str
    version: int
    removed: bool
    updated_at: datetime
    body: dict[str, Any]
    history: tuple[AssetVersion, ...] = field(default=())

    @property
    def ref(self) -> str:
        return f"{self.system_id}/{self.asset_id}"

    def to_dict(self, with_history: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "ref": self.ref,
            "system": self.system_id,
            "id": self.asset_id,
            "kind": self.kind,
            "name": self.name,
            "owner": self.owner,
            "classification": self.classification,
            "version": self.version,
            "removed": self.removed,
            "updated_at": self.updated_at.isoformat(),
            "body": self.body,
        }
        if with_history:
            d["history"] = [
                {
                    "version": v.version,
                    "system_version": v.system_version,
                    "digest": v.digest,
                    "change": v.change,
                    "created_at": v.created_at.isoformat(),
                }
                for v in self.history
            ]
        return d


@dataclass(frozen=True)
class SystemRecord:
    id: str
    name: str
    owner: str
    version: int
    digest: str
    updated_at: datetime
    manifest: dict[str, Any]
    versions: tuple[tuple[int, str, datetime, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "owner": self.owner,
            "version": self.version,
            "digest": self.digest,
            "updated_at": self.updated_at.isoformat(),
            "manifest": self.manifest,
            "versions": [
                {"version": v, "digest": d, "created_at": t.isoformat(), "actor": a}
                for v, d, t, a in self.versions
            ],
        }


def import_manifest(
    ws: Workspace, manifest: SystemManifest, *, source: str | None = None, actor: str = "cli"
) -> ImportResult:
    """Store a manifest; a re-import versions only what changed and ledgers the change."""
    doc = manifest.model_dump(mode="json", exclude_none=True)
    digest = _digest(doc)
    sys_meta = manifest.system
    now = datetime.now(UTC)
    with ws.db.session() as s:
        row = s.get(SystemRow, sys_meta.id, with_for_update=not ws.db.is_sqlite)
        created = row is None
        if row is None:
            row = SystemRow(
                id=sys_meta.id,
                name=sys_meta.name,
                owner=sys_meta.owner,
                current_version=0,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
        else:
            current = s.scalars(
                select(SystemVersionRow).where(
                    SystemVersionRow.system_id == row.id,
                    SystemVersionRow.version == row.current_version,
                )
            ).one()
            if current.digest == digest:
                ids = tuple(a.id for a in manifest.assets)
                return ImportResult(row.id, row.current_version, digest, False, unchanged=ids)
        version = row.current_version + 1
        row.current_version = version
        row.name, row.owner, row.updated_at = sys_meta.name, sys_meta.owner, now
        s.add(
            SystemVersionRow(
                system_id=row.id,
                version=version,
                digest=digest,
                manifest=doc,
                source=source,
                actor=actor,
                created_at=now,
            )
        )
        added, changed, unchanged, removed = _sync_assets(s, row.id, manifest, version, now)
        result = ImportResult(
            row.id,
            version,
            digest,
            created,
            tuple(added),
            tuple(changed),
            tuple(removed),
            tuple(unchanged),
        )
        ws.ledger.append(
            [
                Event(
                    "inventory.imported",
                    {
                        "system": row.id,
                        "version": version,
                        "digest": digest,
                        "source": source,
                        "added": list(added),
                        "changed": list(changed),
                        "removed": list(removed),
                    },
                    actor,
                )
            ],
            session=s,
        )
        return result


def _sync_assets(
    s: Session, system_id: str, manifest: SystemManifest, version: int, now: datetime
) -> tuple[list[str], list[str], list[str], list[str]]:
    existing = {
        a.asset_id: a for a in s.scalars(select(AssetRow).where(AssetRow.system_id == system_id))
    }
    added: list[str] = []
    changed: list[str] = []
    unchanged: list[str] = []
    for asset in manifest.assets:
        body = asset.model_dump(mode="json", exclude_none=True)
        digest = _digest(body)
        kind = str(body.get("kind"))
        classification = str(body.get("classification", "internal"))
        row = existing.pop(asset.id, None)
        if row is None:
            row = AssetRow(
                system_id=system_id,
                asset_id=asset.id,
                kind=kind,
                name=asset.name,
                owner=asset.owner,
                classification=classification,
                current_version=1,
                removed=False,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            change = "added"
            added.append(asset.id)
        else:
            last = s.scalars(
                select(AssetVersionRow).where(
                    AssetVersionRow.asset_pk == row.pk,
                    AssetVersionRow.version == row.current_version,
                )
            ).one()
            if last.digest == digest and not row.removed:
                unchanged.append(asset.id)
                continue
            change = "restored" if row.removed else "changed"
            changed.append(asset.id)
            row.current_version += 1
            row.kind, row.name, row.owner = kind, asset.name, asset.owner
            row.classification, row.removed, row.updated_at = classification, False, now
        s.add(
            AssetVersionRow(
                asset_pk=row.pk,
                version=row.current_version,
                system_version=version,
                digest=digest,
                body=body,
                change=change,
                created_at=now,
            )
        )
    removed: list[str] = []
    for asset_id, row in existing.items():
        if row.removed:
            continue
        row.removed = True
        row.current_version += 1
        row.updated_at = now
        s.add(
            AssetVersionRow(
                asset_pk=row.pk,
                version=row.current_version,
                system_version=version,
                digest=_digest({}),
                body={},
                change="removed",
                created_at=now,
            )
        )
        removed.append(asset_id)
    return added, changed, unchanged, removed


def _record(s: Session, row: AssetRow, history: bool) -> AssetRecord:
    versions = list(
        s.scalars(
            select(AssetVersionRow)
            .where(AssetVersionRow.asset_pk == row.pk)
            .order_by(AssetVersionRow.version)
        )
    )
    body = next((v.body for v in reversed(versions) if v.change != "removed"), {})
    hist = (
        tuple(
            AssetVersion(
                v.version, v.system_version, v.digest, v.change, _utc(v.created_at), v.body
            )
            for v in versions
        )
        if history
        else ()
    )
    return AssetRecord(
        row.system_id,
        row.asset_id,
        row.kind,
        row.name,
        row.owner,
        row.classification,
        row.current_version,
        row.removed,
        _utc(row.updated_at),
        body,
        hist,
    )


def list_assets(
    ws: Workspace,
    *,
    system: str | None = None,
    kind: str | None = None,
    owner: str | None = None,
    classification: str | None = None,
    include_removed: bool = False,
) -> list[AssetRecord]:
    q = select(AssetRow)
    if system:
        q = q.where(AssetRow.system_id == system)
    if kind:
        q = q.where(AssetRow.kind == kind)
    if owner:
        q = q.where(AssetRow.owner == owner)
    if classification:
        q = q.where(AssetRow.classification == classification)
    if not include_removed:
        q = q.where(AssetRow.removed.is_(False))
    q = q.order_by(AssetRow.system_id, AssetRow.asset_id)
    with ws.db.session() as s:
        return [_record(s, r, history=False) for r in s.scalars(q)]


def get_asset(ws: Workspace, ref: str) -> AssetRecord:
    """``ref`` is ``SYSTEM/ASSET``, or just ``ASSET`` when that id is unique."""
    system, _, asset_id = ref.rpartition("/")
    if not asset_id:
        raise InputError(f"invalid asset reference {ref!r} (expected SYSTEM/ASSET)")
    with ws.db.session() as s:
        q = select(AssetRow).where(AssetRow.asset_id == asset_id)
        if system:
            q = q.where(AssetRow.system_id == system)
        rows = list(s.scalars(q))
        if not rows:
            raise NotFoundError(f"asset {ref} not found")
        if len(rows) > 1:
            systems = ", ".join(sorted(r.system_id for r in rows))
            raise InputError(
                f"asset id {asset_id} exists in several systems ({systems}): use SYSTEM/ASSET"
            )
        return _record(s, rows[0], history=True)


def _system_record(s: Session, row: SystemRow) -> SystemRecord:
    vers = list(
        s.scalars(
            select(SystemVersionRow)
            .where(SystemVersionRow.system_id == row.id)
            .order_by(SystemVersionRow.version)
        )
    )
    cur = vers[-1]
    return SystemRecord(
        row.id,
        row.name,
        row.owner,
        row.current_version,
        cur.digest,
        _utc(row.updated_at),
        cur.manifest,
        tuple((v.version, v.digest, _utc(v.created_at), v.actor) for v in vers),
    )


def list_systems(ws: Workspace) -> list[SystemRecord]:
    with ws.db.session() as s:
        return [_system_record(s, r) for r in s.scalars(select(SystemRow).order_by(SystemRow.id))]


def get_system(ws: Workspace, system_id: str) -> SystemRecord:
    with ws.db.session() as s:
        row = s.get(SystemRow, system_id)
        if row is None:
            raise NotFoundError(f"system {system_id} not found")
        return _system_record(s, row)
