"""Database access: one engine per URL, SQLite (WAL, durable) by default, PostgreSQL by URL.

Tables are created only by Alembic migrations (``bastion/core/migrations``), never by
``create_all``: a deployed database must move forward through the same history.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from bastion.core.errors import StorageError

__all__ = ["Base", "Database"]

_MIGRATIONS = Path(__file__).parent / "migrations"


class Base(DeclarativeBase):
    """Declarative base shared by every room's tables."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL for concurrent readers; FULL so an acknowledged commit survives power loss.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _describe(url: str) -> str:
    """The URL without its password, fit for an error message."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable database URL>"


class Database:
    """An engine and its session factory, plus migration helpers."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if url.startswith("sqlite"):
                self.engine: Engine = create_engine(url, connect_args={"timeout": 30})
                event.listen(self.engine, "connect", _sqlite_pragmas)
            else:
                self.engine = create_engine(url, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StorageError(f"cannot open database {_describe(url)}: {exc}") from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error."""
        s = self._sessions()
        try:
            yield s
            s.commit()
        except SQLAlchemyError as exc:
            s.rollback()
            raise StorageError(
                f"database error: {type(exc).__name__}: {exc.args[0]!s:.300}"
            ) from exc
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def _alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        return cfg

    def migrate(self) -> None:
        """Bring the schema to the newest revision of every room's branch.

        Rooms add migrations as branches off the spine (``down_revision = "0001_spine"``),
        so independent rooms never fight over one linear history; ``heads`` applies them all.
        """
        cfg = self._alembic_config()
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "heads")
        except SQLAlchemyError as exc:
            raise StorageError(
                f"cannot migrate database {_describe(self.url)}: {exc.args[0]!s:.300}"
            ) from exc

    def current_revisions(self) -> frozenset[str]:
        try:
            with self.engine.connect() as conn:
                return frozenset(MigrationContext.configure(conn).get_current_heads())
        except SQLAlchemyError as exc:
            raise StorageError(
                f"cannot read database {_describe(self.url)}: {exc.args[0]!s:.300}"
            ) from exc

    def current_revision(self) -> str | None:
        """The applied revisions as one sorted, comma-separated string (None if none)."""
        revs = self.current_revisions()
        return ",".join(sorted(revs)) if revs else None

    def head_revisions(self) -> frozenset[str]:
        return frozenset(ScriptDirectory.from_config(self._alembic_config()).get_heads())

    def head_revision(self) -> str:
        return ",".join(sorted(self.head_revisions()))

    def ensure_current(self) -> None:
        """Fail with a clear message when the database is missing or behind."""
        current = self.current_revisions()
        if not current:
            raise StorageError(
                f"database {_describe(self.url)} is not initialised: run 'bastion init'"
            )
        if current != self.head_revisions():
            raise StorageError(
                f"database {_describe(self.url)} is at revision {self.current_revision()}, "
                f"expected {self.head_revision()}: run 'bastion init' to migrate"
            )

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise StorageError(
                f"cannot reach database {_describe(self.url)}: {exc.args[0]!s:.300}"
            ) from exc

    def dispose(self) -> None:
        self.engine.dispose()
