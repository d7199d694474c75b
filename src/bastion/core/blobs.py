"""Content-addressed blob store: files named by their SHA-256, written atomically."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

from bastion.core.errors import InputError, NotFoundError, StorageError

__all__ = ["BlobStore"]

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_CHUNK = 1 << 20


class BlobStore:
    """Blobs live at ``root/ab/cdef...``; a digest is ``sha256:<hex>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, digest: str) -> Path:
        if not _DIGEST.match(digest):
            raise InputError(f"not a blob digest: {digest!r} (expected sha256:<64 hex>)")
        hexd = digest[7:]
        return self.root / hexd[:2] / hexd[2:]

    def put(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if not path.exists():
            self._write(path, [data])
        return digest

    def put_stream(self, stream: BinaryIO) -> str:
        """Stream into a temporary file, hashing as we go; rename into place."""
        self.root.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = "sha256:" + h.hexdigest()
            path = self._path(digest)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)
            return digest
        except OSError as exc:
            raise StorageError(f"cannot write blob: {exc}") from exc
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _write(self, path: Path, chunks: list[bytes]) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as out:
                for c in chunks:
                    out.write(c)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise StorageError(f"cannot write blob {path.name}: {exc}") from exc

    def exists(self, digest: str) -> bool:
        return self._path(digest).is_file()

    def get(self, digest: str) -> bytes:
        """Read a blob and check it still hashes to its name."""
        path = self._path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} not found") from None
        except OSError as exc:
            raise StorageError(f"cannot read blob {digest}: {exc}") from exc
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise StorageError(f"blob {digest} is corrupted: its content no longer matches")
        return data
