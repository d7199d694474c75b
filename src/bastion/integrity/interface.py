"""The scanner layer's interface: what a model-file scanner is, the data it returns, and
its error (the pattern of pip-audit's ``_service/interface.py``).

``ModelFileScanner`` is the implementation shipped here (content-detected formats, the
opcode walker, bomb limits); another scanner (a wrapper over a third-party tool, a remote
service) satisfies :class:`Scanner` and returns the same frozen report types, so the
check, the CLI, the API and the benchmarks take either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from bastion.core.errors import InputError
from bastion.integrity._containers import ArchiveLimits
from bastion.integrity._scan import FileReport, ScanFinding, ScanReport, ScanRule
from bastion.integrity._scan_policy import ScanVerdict

__all__ = [
    "ArchiveLimits",
    "FileReport",
    "ModelFileScanner",
    "ScanError",
    "ScanFinding",
    "ScanReport",
    "ScanRule",
    "ScanVerdict",
    "Scanner",
]


class ScanError(InputError):
    """A scan could not start (no such path, unreadable allowlist). Content that cannot be
    parsed is never an exception: it is a finding with verdict ``error``."""


@runtime_checkable
class Scanner(Protocol):
    """Scans model files without loading, importing or running them."""

    @property
    def name(self) -> str: ...

    def scan_path(
        self,
        path: Path,
        *,
        allow: frozenset[str] = frozenset(),
        limits: ArchiveLimits | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> ScanReport:
        """Every file under ``path`` (links reported, never followed)."""
        ...

    def scan_bytes(
        self,
        data: bytes,
        name: str = "upload",
        *,
        allow: frozenset[str] = frozenset(),
        limits: ArchiveLimits | None = None,
    ) -> ScanReport:
        """Bytes held in memory (an upload), with the same rules."""
        ...


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
        from bastion.integrity._scan import scan_path

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
        from bastion.integrity._scan import scan_bytes

        return scan_bytes(data, name, allow=allow, limits=limits)
