"""The manifest digest that identifies a model version.

One private function, so the integrity room's hashing engine can replace it without any
caller noticing: SHA-256 per file, a canonical JSON manifest of ``{path, size, digest}``
sorted by path, and the SHA-256 of that manifest. Files are read, never loaded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from bastion.core.errors import InputError

__all__ = ["ModelManifest", "hash_model_dir"]

MAX_FILES = 10_000
MAX_TOTAL_BYTES = 64 * 1024**3
_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class ModelManifest:
    digest: str
    files: tuple[dict[str, object], ...]

    @property
    def size(self) -> int:
        return sum(int(str(f["size"])) for f in self.files)


def _hash_file(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def hash_model_dir(path: Path) -> ModelManifest:
    """Hash a model directory (or a single file) without following symlinks out of it."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"model path {path} does not exist: give a model directory or file")
    root = path if path.is_dir() else path.parent
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    if not files:
        raise InputError(f"model directory {path} holds no files")
    if len(files) > MAX_FILES:
        raise InputError(f"model directory {path} holds over {MAX_FILES} files")
    entries: list[dict[str, object]] = []
    total = 0
    resolved_root = root.resolve()
    for p in files:
        if p.is_symlink() and not p.resolve().is_relative_to(resolved_root):
            raise InputError(f"{p} is a symlink that leaves the model directory: refused")
        size = p.stat().st_size
        total += size
        if total > MAX_TOTAL_BYTES:
            raise InputError(f"model {path} exceeds {MAX_TOTAL_BYTES} bytes")
        entries.append(
            {"path": p.relative_to(root).as_posix(), "size": size, "digest": _hash_file(p)}
        )
    canon = json.dumps(entries, sort_keys=True, separators=(",", ":")).encode()
    return ModelManifest("sha256:" + hashlib.sha256(canon).hexdigest(), tuple(entries))
