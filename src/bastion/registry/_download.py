"""Downloading a registered version's file: audited by the access room, verified by digest.

The registry stores digests, not bytes; a download reads the file from the version's
source, but only a file the version's manifest lists, only after
:func:`bastion.access.audit_artifact_read` allowed it (principal, purpose and the file's
digest ledgered; a refusal is a detection), and only when the bytes still hash to the
manifest's digest (a file changed since registration is refused, not served).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from bastion.access import Artifact, Principal, audit_artifact_read
from bastion.access.interface import Identity
from bastion.core.errors import InputError, LedgerIntegrityError, NotFoundError
from bastion.core.ledger import Event
from bastion.core.workspace import Workspace
from bastion.registry._store import get_version

__all__ = ["MAX_DOWNLOAD_BYTES", "VersionFile", "download_file"]

#: One file served in memory at most (the API and CLI hold it once).
MAX_DOWNLOAD_BYTES = 512 * 1024**2


@dataclass(frozen=True)
class VersionFile:
    ref: str
    path: str
    digest: str
    data: bytes


def download_file(
    ws: Workspace,
    name: str,
    version: str,
    path: str,
    *,
    principal: Principal | Identity,
    purpose: str | None,
) -> VersionFile:
    """The bytes of one file of ``name@version`` for ``principal``, stating ``purpose``."""
    v = get_version(ws, name, version)
    entry = next((f for f in v.files if f.get("path") == path), None)
    if entry is None:
        raise NotFoundError(f"{v.ref} has no file {path[:200]!r} in its manifest")
    digest, size = str(entry["digest"]), int(str(entry["size"]))
    if size > MAX_DOWNLOAD_BYTES:
        raise InputError(
            f"{path[:200]} is {size} bytes, over the {MAX_DOWNLOAD_BYTES} download limit"
        )
    if not v.source:
        raise NotFoundError(f"{v.ref} has no source location to read from")
    src = Path(v.source)
    root = src if src.is_dir() else src.parent
    target = (root / path).resolve()
    if not target.is_relative_to(root.resolve()) or not target.is_file():
        raise NotFoundError(f"{v.ref}/{path[:200]} is no longer at its source")
    audit_artifact_read(  # decided and ledgered before a byte is read; refused: a detection
        ws,
        principal,
        Artifact.model_file(v.asset_id or v.ref, f"{v.ref}/{path}"),
        purpose,
        digest,
        size=size,
    )
    with target.open("rb") as fh:
        data = fh.read(MAX_DOWNLOAD_BYTES + 1)
    got = "sha256:" + hashlib.sha256(data).hexdigest()
    if got != digest:
        ws.ledger.append(
            [
                Event(
                    "registry.download_refused",
                    {"model": v.model, "version": v.version, "path": path, "expected": digest},
                )
            ]
        )
        raise LedgerIntegrityError(
            f"{v.ref}/{path[:200]} changed since it was registered (digest {got} != {digest})"
        )
    return VersionFile(v.ref, path, digest, data)
