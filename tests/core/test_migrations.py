"""Migrations and ORM models agree; the schema moves forward only through Alembic."""

from __future__ import annotations

import importlib
import pkgutil

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import bastion
from bastion.core.storage import Base
from bastion.core.workspace import Workspace


def _import_all_tables() -> None:
    for mod in pkgutil.walk_packages(bastion.__path__, "bastion."):
        if ".cli" in mod.name or ".api" in mod.name or ".web" in mod.name:
            continue
        importlib.import_module(mod.name)


def test_models_match_migrations(ws: Workspace) -> None:
    _import_all_tables()
    with ws.db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, Base.metadata)
    # Index/unique naming differs harmlessly between backends; tables and columns must match.
    relevant = [
        d for d in diff if d[0] in ("add_table", "remove_table", "add_column", "remove_column")
    ]
    assert relevant == [], relevant


def test_database_is_at_every_head(ws: Workspace) -> None:
    assert ws.db.current_revisions() == ws.db.head_revisions()
    ws.db.ensure_current()
