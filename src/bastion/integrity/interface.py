"""The scanner layer's interface: what a model-file scanner is, the data it returns, and
its error (the pattern of pip-audit's ``_service/interface.py``).

This module holds the data types (verdicts, archive limits, the rule table, the frozen
report types) and the :class:`Scanner` protocol; it imports no implementation. The
implementations import from it: :class:`bastion.integrity.scanning.ModelFileScanner` is
the one shipped here (content-detected formats, the opcode walker, bomb limits); another
scanner (a wrapper over a third-party tool, a remote service) satisfies :class:`Scanner`
and returns the same frozen report types, so the check, the CLI, the API and the
benchmarks take either.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from bastion.core.errors import InputError
from bastion.core.types import Finding, Severity

__all__ = [
    "RULES",
    "ArchiveLimits",
    "FileReport",
    "ScanError",
    "ScanFinding",
    "ScanReport",
    "ScanRule",
    "ScanVerdict",
    "Scanner",
]


class ScanVerdict(enum.StrEnum):
    """Per file and overall. ``error``: could not be parsed, so never safe."""

    SAFE = "safe"
    SUSPICIOUS = "suspicious"
    ERROR = "error"
    DANGEROUS = "dangerous"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {
    ScanVerdict.SAFE: 0,
    ScanVerdict.SUSPICIOUS: 1,
    ScanVerdict.ERROR: 2,
    ScanVerdict.DANGEROUS: 3,
}


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds against bombs: entries, bytes produced, ratio, nesting.

    Sizes are measured while inflating, never taken from headers; stored zip members and
    tar members are views of bytes already bounded, so only inflated bytes count. ``max_ratio`` bounds
    each member (output against the compressed input consumed so far) and each top-level
    file (everything inflated from it, nested archives included, against its size; at
    least ``min_expansion`` bytes are always allowed).
    """

    max_entries: int = 100_000
    max_total_bytes: int = 8 * 1024**3
    max_member_bytes: int = 4 * 1024**3
    max_ratio: int = 1_000
    max_depth: int = 4
    min_expansion: int = 256 * 1024**2


_CWE502 = "CWE-502"
_ATLAS = "AML.T0010.003"  # ML supply chain compromise: model


@dataclass(frozen=True)
class ScanRule:
    id: str
    title: str
    verdict: ScanVerdict
    description: str
    remediation: str
    references: tuple[str, ...] = (_CWE502, _ATLAS)


def _r(id_: str, title: str, v: ScanVerdict, desc: str, fix: str, *refs: str) -> ScanRule:
    return ScanRule(id_, title, v, desc, fix, refs or (_CWE502, _ATLAS))


_D, _S, _E, _I = ScanVerdict.DANGEROUS, ScanVerdict.SUSPICIOUS, ScanVerdict.ERROR, ScanVerdict.SAFE
RULES: dict[str, ScanRule] = {
    r.id: r
    for r in (
        _r("pickle.dangerous-global", "Pickle imports a code-execution gadget", _D,
           "Unpickling imports and may call a global that runs code or reaches files, processes or the network.",
           "Do not load this file. Re-export the weights as safetensors."),
        _r("pickle.suspicious-global", "Pickle imports a global that is not allowlisted", _S,
           "Importing a module runs its top-level code and the global may be called with attacker data.",
           "Review the global; if it is a data class you trust, add it to a per-model allowlist (--allow)."),
        _r("pickle.unresolved-global", "Pickle computes the name it imports", _D,
           "STACK_GLOBAL's operands are not plain strings: the import is hidden from static analysis.",
           "Do not load this file."),
        _r("pickle.extension-code", "Pickle uses the copyreg extension registry", _S,
           "EXT1/2/4 import whatever the loading process registered under a code; the registry is empty by default.",
           "Do not load this file unless you control the extension registry."),
        _r("pickle.malformed", "Pickle cannot be parsed", _E,
           "The unpickler would fail here, after running whatever came before; the file is not shown safe.",
           "Obtain the file again from its source and verify its signature."),
        _r("pickle.limit", "Pickle exceeds what the scanner follows", _E,
           "The walk stopped at a budget of its own (modelled stack, mark and memo entries, nested joblib arrays); the unpickler may read on, so nothing after it is known.",
           "Inspect the file by other means or convert it to safetensors."),
        _r("pickle.hidden-import", "Import opcodes after the point where the pickle fails", _E,
           "The pickle fails to parse before it imports anything, and import opcodes follow: an unpickler that reads it differently would run them.",
           "Do not load this file; obtain it again from its source."),
        _r("pickle.trailing-data", "Bytes after the last pickle", _I,
           "Data after the final STOP opcode (normal for the legacy PyTorch format).", "None needed."),
        _r("npy.object-array", "NumPy object array (holds a pickle)", _I,
           "numpy.load(allow_pickle=True) unpickles the array's data; it is scanned as a pickle.",
           "Prefer plain dtypes."),
        _r("npy.malformed", "NumPy file cannot be parsed", _E, "The .npy header or data is invalid.",
           "Obtain the file again."),
        _r("safetensors.malformed", "safetensors header or offsets invalid", _E,
           "Header length, JSON, dtypes, shapes and offsets must describe the data exactly.",
           "Obtain the file again.", "CWE-20"),
        _r("onnx.malformed", "ONNX model cannot be parsed", _E, "Not a valid ModelProto.",
           "Obtain the file again.", "CWE-20"),
        _r("onnx.custom-domain", "ONNX model needs custom operators", _S,
           "Operators of a non-standard domain run native code from a library loaded at session creation.",
           "Review the operator library before loading it.", "CWE-829"),
        _r("onnx.external-data-escape", "ONNX external data outside the model directory", _D,
           "External tensor data paths that are absolute or climb out read arbitrary files (CVE-2022-25882).",
           "Do not load this model.", "CWE-22", "CVE-2022-25882"),
        _r("onnx.external-data-memory", "ONNX external data read from a memory address", _D,
           "An initializer whose external-data location is onnxruntime's in-memory marker (*/_ORT_MEM_ADDR_/*) makes onnxruntime read its offset as a pointer: arbitrary process memory is read or the process crashes.",
           "Do not load this model.", "CWE-822"),
        _r("zip.differential", "Zip readers disagree on this archive", _S,
           "The archive holds structures (a second central directory) that Python's zipfile and torch's miniz read differently; both readings are scanned.",
           "Rebuild the archive.", "CWE-436"),
        _r("gguf.malformed", "GGUF file cannot be parsed", _E,
           "The GGUF header, metadata or tensor infos are invalid or exceed the scanner's limits.",
           "Obtain the file again.", "CWE-20"),
        _r("gguf.chat-template", "GGUF chat template uses Jinja beyond chat templates", _D,
           "The tokenizer.chat_template holds Jinja that reaches Python internals (dunder names, attr, cycler/joiner/lipsum/self, computed subscripts, template loading): rendered outside a sandbox it runs code (CVE-2024-34359).",
           "Do not load this model; replace the chat template.", "CWE-1336", "CVE-2024-34359"),
        _r("keras.lambda", "Keras Lambda layer (serialised Python code)", _D,
           "Lambda layers carry marshalled bytecode or source that runs on load or call.",
           "Replace the Lambda with a registered layer.", "CWE-94", "CVE-2024-3660"),
        _r("keras.dangerous-import", "Keras config imports a code-execution gadget", _D,
           "config.json names a module/function deserialisation imports and calls (CVE-2025-1550).",
           "Do not load this model.", "CWE-94", "CVE-2025-1550"),
        _r("keras.custom-object", "Keras config uses a custom object", _S,
           "Objects from non-Keras modules are imported on load.", "Review the module.", "CWE-829"),
        _r("keras.unknown-object", "Keras config names a Keras object not on the allowlist", _S,
           "A keras.* module or class that is not an ordinary layer, model, initializer, optimizer, loss or metric: Keras imports and builds it on load.",
           "Review the object; if you trust it, allow it per model (--allow).", "CWE-829"),
        _r("keras.file-reference", "Keras layer reads a file named in its config", _S,
           "Lookup and text-vectorisation layers given a vocabulary path read that file when the model is loaded.",
           "Store the vocabulary inside the model.", "CWE-73"),
        _r("keras.malformed", "Keras config cannot be parsed", _E, "config.json is not valid JSON.",
           "Obtain the file again."),
        _r("archive.path-traversal", "Archive member escapes the extraction directory", _D,
           "Absolute paths or .. in member names write outside the target on extraction.",
           "Do not extract this archive.", "CWE-22"),
        _r("archive.bomb", "Archive exceeds the scan limits", _E,
           "Too many entries, too many bytes or a compression ratio over the limit: not scanned fully.",
           "Inspect the archive by other means.", "CWE-409"),
        _r("archive.malformed", "Archive cannot be read", _E, "The archive structure is invalid.",
           "Obtain the file again."),
        _r("archive.encrypted", "Encrypted archive member", _E, "Encrypted members cannot be inspected.",
           "Provide the member unencrypted."),
        _r("archive.link", "Archive holds a link or special file", _S,
           "Links and devices in archives can redirect extraction.", "Remove links from the archive.",
           "CWE-59"),
        _r("archive.too-deep", "Archives nested too deeply", _E,
           "Nested archives beyond the depth limit are not scanned.", "Flatten the archive."),
        _r("zip.name-mismatch", "Zip local and central names differ", _S,
           "Readers that trust different headers see different files (CVE-2025-1944).",
           "Rebuild the archive.", "CVE-2025-1944"),
        _r("zip.size-mismatch", "Zip member size differs from its header", _S,
           "The header declares one size and the data inflates to another: limits that trust headers are bypassed.",
           "Rebuild the archive.", "CWE-409"),
        _r("zip.crc-mismatch", "Zip member CRC mismatch", _S,
           "The member was modified after the archive was written; torch loads it anyway (CVE-2025-10156).",
           "Obtain the file again.", "CVE-2025-10156"),
        _r("file.symlink", "Symbolic link in the model directory", _S,
           "Links are not followed: they can point outside the model.", "Replace links with files.", "CWE-59"),
        _r("file.unreadable", "File cannot be read", _E, "The file could not be opened or mapped.",
           "Check permissions."),
        _r("file.unrecognised", "File format not recognised", _S,
           "No scanner applies to this content, so nothing about it is known; a loader that accepts it is not covered.",
           "Convert the file to a format the scanner reads (safetensors, ONNX) or review it."),
        _r("file.special", "Special file in the model directory", _S,
           "FIFOs, sockets and devices are not model files; reading one can block or return unbounded data.",
           "Remove it from the model directory.", "CWE-59"),
    )
}  # fmt: skip


@dataclass(frozen=True)
class ScanFinding:
    rule_id: str
    verdict: ScanVerdict
    message: str
    path: str
    offset: int | None = None
    global_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "verdict": self.verdict.value,
            "message": self.message,
            "path": self.path,
            "offset": self.offset,
            "global": self.global_name,
        }


@dataclass(frozen=True)
class FileReport:
    path: str
    format: str
    size: int
    verdict: ScanVerdict
    findings: tuple[ScanFinding, ...]
    globals: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "size": self.size,
            "verdict": self.verdict.value,
            "globals": list(self.globals),
            "findings": [f.to_dict() for f in self.findings],
        }


_SEVERITY = {
    ScanVerdict.DANGEROUS: Severity.CRITICAL,
    ScanVerdict.ERROR: Severity.HIGH,
    ScanVerdict.SUSPICIOUS: Severity.MEDIUM,
    ScanVerdict.SAFE: Severity.INFO,
}


@dataclass(frozen=True)
class ScanReport:
    """The scan of one path: a verdict per file (archive members included) and overall."""

    target: str
    verdict: ScanVerdict
    files: tuple[FileReport, ...]
    bytes_scanned: int
    seconds: float

    @property
    def findings(self) -> list[ScanFinding]:
        return [f for r in self.files for f in r.findings]

    def fails(self, fail_on: ScanVerdict) -> bool:
        """Errors always fail (unparseable is never safe); else compare with ``fail_on``."""
        if self.verdict in (ScanVerdict.ERROR, ScanVerdict.DANGEROUS):
            return True
        return fail_on is ScanVerdict.SUSPICIOUS and self.verdict is ScanVerdict.SUSPICIOUS

    def core_findings(self) -> tuple[Finding, ...]:
        out = []
        for f in self.findings:
            if f.verdict is ScanVerdict.SAFE:
                continue
            rule = RULES[f.rule_id]
            loc = f.path + (f"@{f.offset}" if f.offset is not None else "")
            out.append(
                Finding(
                    rule_id=f"integrity.scan/{f.rule_id}",
                    title=rule.title,
                    severity=_SEVERITY[f.verdict],
                    message=f.message,
                    location=loc,
                    references=rule.references,
                    remediation=rule.remediation,
                )
            )
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "verdict": self.verdict.value,
            "files": [r.to_dict() for r in self.files],
            "counts": {v.value: sum(1 for r in self.files if r.verdict is v) for v in ScanVerdict},
            "bytes_scanned": self.bytes_scanned,
            "seconds": round(self.seconds, 4),
        }


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
