"""The workspace: one home directory's settings, database, blob store, keys and ledger."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from functools import cached_property

from bastion.core.blobs import BlobStore
from bastion.core.errors import ConfigError
from bastion.core.evidence import EvidenceStore
from bastion.core.keys import Keyring
from bastion.core.ledger import Event, Ledger
from bastion.core.settings import Settings, get_settings
from bastion.core.storage import Database

__all__ = ["Workspace", "init_workspace", "open_workspace", "wire_rooms"]


def wire_rooms() -> None:
    """Register every room's checks and plug the rooms' hooks into each other, once per
    process (:func:`bastion.wiring.wire`). Every :class:`Workspace` calls it when it is
    made, so every way in (CLI, API, demo, Python) is wired the same; code that asks the
    check registry for every check without a workspace calls it first.

    Core depends on no room: the composition root is the one module it reaches up to, by
    name, and only here."""
    importlib.import_module("bastion.wiring").wire()


@dataclass
class Workspace:
    settings: Settings
    db: Database

    def __post_init__(self) -> None:
        wire_rooms()

    @cached_property
    def keyring(self) -> Keyring:
        return Keyring(self.settings.key_dir)

    @cached_property
    def blobs(self) -> BlobStore:
        return BlobStore(self.settings.blob_dir)

    @cached_property
    def ledger(self) -> Ledger:
        priv = self.keyring.ledger_private_key()
        return Ledger(self.db, priv.public_key(), priv, origin=self.settings.ledger_origin)

    @cached_property
    def evidence(self) -> EvidenceStore:
        return EvidenceStore(self.db, self.ledger)

    def close(self) -> None:
        if "ledger" in self.__dict__:
            self.ledger.close()  # its group committer's connection
        self.db.dispose()


def init_workspace(
    settings: Settings | None = None, actor: str = "system"
) -> tuple[Workspace, bool]:
    """Create the home, keys and schema; idempotent. Returns the workspace and whether it was new."""
    settings = settings or get_settings()
    home = settings.home
    try:
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        settings.blob_dir.mkdir(exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create Bastion home {home}: {exc.strerror}") from None
    made_keys = Keyring(settings.key_dir).create()
    db = Database(settings.effective_database_url)
    before = db.current_revision()
    db.migrate()
    ws = Workspace(settings, db)
    new = before is None
    if new or made_keys:
        ws.ledger.append([Event("workspace.initialised", {"schema": db.head_revision()}, actor)])
    return ws, new


def open_workspace(settings: Settings | None = None) -> Workspace:
    """Open an initialised workspace; a clear error when it is missing or out of date."""
    settings = settings or get_settings()
    if settings.database_url is None and not (settings.home / "bastion.db").exists():
        raise ConfigError(f"no Bastion home at {settings.home}: run 'bastion init' first")
    db = Database(settings.effective_database_url)
    db.ensure_current()
    return Workspace(settings, db)
