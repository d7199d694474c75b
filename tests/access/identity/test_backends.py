"""The identity tables on SQLite and PostgreSQL: revoked jtis, mTLS certificates, CRL."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.access.identity import (
    MemoryJtiStore,
    TokenService,
    issue_mtls_certificate,
    list_mtls_certificates,
    revoke_certificate,
    rotate_certificates,
)
from bastion.access.identity._store import _db_loader
from bastion.access.interface import CredentialError
from bastion.core.errors import ConflictError
from bastion.core.workspace import Workspace
from bastion.integrity.signing import pki_init


def test_jti_revocation_is_durable(ws: Workspace) -> None:
    a = TokenService(ws, store=MemoryJtiStore())
    t = a.issue("user:alice", audience="api")
    a.revoke(t.jti, expires_at=t.expires_at, reason="test")
    with pytest.raises(ConflictError):
        a.revoke(t.jti)
    # a fresh process's store, seeded from the database
    b = TokenService(ws, store=MemoryJtiStore(loader=_db_loader(ws)))
    with pytest.raises(CredentialError, match="revoked"):
        b.verify(t.token, "api")


def test_certificates_revocation_and_rotation(ws: Workspace, tmp_path: Path) -> None:
    pki_init(ws.settings.key_dir)
    c = issue_mtls_certificate(ws, "scorer", out_dir=tmp_path, dns_names=["localhost"])
    ((old, new),) = rotate_certificates(ws, force=True)
    assert old.serial == c.serial
    revoke_certificate(ws, new.serial, reason="superseded")
    rows = {x.serial: x for x in list_mtls_certificates(ws)}
    assert rows[c.serial].replaced_by == new.serial and rows[new.serial].revoked
    assert rows[new.serial].dns_names == ("localhost",)
