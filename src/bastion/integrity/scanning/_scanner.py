"""Bastion's own model-file scanner, as a :class:`~bastion.integrity.interface.Scanner`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bastion.integrity.interface import ArchiveLimits, ScanError, ScanReport
from bastion.integrity.scanning._scan import scan_bytes, scan_path

__all__ = ["ModelFileScanner"]


@dataclass(frozen=True)
class ModelFileScanner:
    """Bastion's own scanner (see ``docs/integrity-scanning.md``)."""

    name: str = "bastion-model-scan"

    def scan_path(
        self,
        path: Path,
        *,
        allow: frozenset[str] = frozenset(),
        limits: ArchiveLimits | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> ScanReport:
        if not path.exists() and not path.is_symlink():
            raise ScanError(f"{path}: no such file or directory; give a model file or folder")
        return scan_path(path, allow=allow, limits=limits, progress=progress)

    def scan_bytes(
        self,
        data: bytes,
        name: str = "upload",
        *,
        allow: frozenset[str] = frozenset(),
        limits: ArchiveLimits | None = None,
    ) -> ScanReport:
        return scan_bytes(data, name, allow=allow, limits=limits)
