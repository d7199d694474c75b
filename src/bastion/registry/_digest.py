"""The manifest digest that identifies a model version.

One private function, so the integrity room's hashing engine can replace it without any
caller noticing: SHA-256 per file, a canonical JSON manifest of ``{path, size, digest}``
sorted by path, and the SHA-256 of that manifest. Files are read, never loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bastion.core.errors import InputError

__all__ = ["ModelManifest", "hash_model_dir"]

MAX_FILES = 10_000
MAX_TOTAL_BYTES = 64 * 1024**3


@dataclass(frozen=True)
class ModelManifest:
    digest: str
    files: tuple[dict[str, object], ...]

    @property
    def size(self) -> int:
        return sum(int(str(f["size"])) for f in self.files)


def hash_model_dir(path: Path) -> ModelManifest:
    """Hash a model directory (or file) with the integrity room's engine.

    The digest is the OpenSSF model-signing root digest that ``bastion model sign`` signs,
    so signature, scan and BOM evidence about a version all name the same digest the
    registry stores (``model.sig`` and VCS files are left out, as a signature leaves them).
    """
    from bastion.integrity import signed_manifest

    path = Path(path)
    if not path.exists():
        raise InputError(f"model path {path} does not exist: give a model directory or file")
    manifest = signed_manifest(path)
    if not manifest.entries:
        raise InputError(f"model directory {path} holds no files")
    if len(manifest.entries) > MAX_FILES:
        raise InputError(f"model directory {path} holds over {MAX_FILES} files")
    if manifest.total_size > MAX_TOTAL_BYTES:
        raise InputError(f"model {path} exceeds {MAX_TOTAL_BYTES} bytes")
    files = tuple(
        {"path": e.name, "size": e.size, "digest": f"sha256:{e.digest}"} for e in manifest.entries
    )
    return ModelManifest(f"sha256:{manifest.digest}", files)
