"""Workspace set-up, keys at 0600, the blob store, and clear storage errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bastion.core.blobs import BlobStore
from bastion.core.errors import ConfigError, InputError, KeyringError, NotFoundError, StorageError
from bastion.core.keys import LEDGER_KEY, Keyring
from bastion.core.settings import get_settings
from bastion.core.storage import Database
from bastion.core.workspace import init_workspace, open_workspace


def test_init_creates_keys_at_0600_and_is_idempotent(tmp_path: Path) -> None:
    s = get_settings(home=tmp_path / "h")
    ws, new = init_workspace(s)
    assert new
    key = s.key_dir / LEDGER_KEY
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(s.key_dir.stat().st_mode) == 0o700
    pem = key.read_bytes()
    size = ws.ledger.size()
    ws.close()
    ws2, new2 = init_workspace(s)
    assert not new2 and key.read_bytes() == pem and ws2.ledger.size() == size
    ws2.close()


def test_group_readable_key_is_refused(tmp_path: Path) -> None:
    s = get_settings(home=tmp_path / "h")
    init_workspace(s)[0].close()
    os.chmod(s.key_dir / LEDGER_KEY, 0o644)
    with pytest.raises(KeyringError, match="chmod 600"):
        Keyring(s.key_dir).ledger_private_key()


def test_open_uninitialised_home_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bastion init"):
        open_workspace(get_settings(home=tmp_path / "nothing"))


def test_unreadable_database_is_a_storage_error(tmp_path: Path) -> None:
    s = get_settings(home=tmp_path / "h")
    s.home.mkdir()
    (s.home / "bastion.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError):
        open_workspace(s)


def test_unreachable_postgres_is_a_storage_error() -> None:
    db = Database("postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(StorageError) as exc:
        db.ping()
    assert "secret" not in exc.value.message  # passwords never reach messages


def test_blob_store_roundtrip_and_corruption(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    d = store.put(b"evidence")
    assert d.startswith("sha256:") and store.get(d) == b"evidence" and store.exists(d)
    assert store.put(b"evidence") == d
    import io

    assert store.put_stream(io.BytesIO(b"x" * 3_000_000)) == store.put(b"x" * 3_000_000)
    path = tmp_path / "blobs" / d[7:9] / d[9:]
    path.write_bytes(b"tampered")
    with pytest.raises(StorageError, match="corrupted"):
        store.get(d)
    with pytest.raises(NotFoundError):
        store.get("sha256:" + "0" * 64)
    with pytest.raises(InputError):
        store.get("../../etc/passwd")
