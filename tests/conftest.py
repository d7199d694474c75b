"""Shared fixtures: a fresh workspace on SQLite and on a real PostgreSQL.

PostgreSQL tests use their own schema (``search_path``) in the database named by
``BASTION_TEST_PG_URL``; when that server is unreachable the tests FAIL: ``make test``
starts it, and a missing service must never pass silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bastion.core.settings import Settings, get_settings
from bastion.core.workspace import Workspace, init_workspace

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_MANIFEST = ROOT / "examples" / "credit-scoring" / "system.yaml"
PG_URL = os.environ.get("BASTION_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# The console answers only to its allowed host names; Starlette's TestClient sends
# "Host: testserver", so the tests' settings allow it beside the localhost defaults.
os.environ.setdefault("BASTION_ALLOWED_HOSTS", "localhost,127.0.0.1,::1,testserver")


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    schema = "t_" + uuid.uuid4().hex[:16]
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # the service is required: fail, do not skip
        admin.dispose()
        pytest.fail(f"PostgreSQL is required for this test and is unreachable at {PG_URL}: {exc}")
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def make_settings(home: Path, database_url: str | None = None) -> Settings:
    return get_settings(home=home, database_url=database_url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if backend == "postgres":
        url = request.getfixturevalue("pg_schema_url")
        return make_settings(tmp_path / "home", url)
    return make_settings(tmp_path / "home")


@pytest.fixture
def ws(settings: Settings) -> Iterator[Workspace]:
    """An initialised workspace on each backend."""
    workspace, _ = init_workspace(settings)
    try:
        yield workspace
    finally:
        workspace.close()


@pytest.fixture
def sqlite_ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace, _ = init_workspace(make_settings(tmp_path / "home"))
    try:
        yield workspace
    finally:
        workspace.close()
