"""The integrity room's scanning part: model files scanned without loading them.

Its public face: the operations (``scan_path``, ``scan_bytes``, ``to_sarif``,
``load_allowlist``), the ``record_*`` functions the CLI and API call (each scans and
records the result as evidence through :class:`ScanCheck`), the report types (defined in
:mod:`bastion.integrity.interface`, which imports no implementation) and the check class
other rooms read scan evidence through. :class:`ModelFileScanner`, the shipped
:class:`~bastion.integrity.interface.Scanner`, is importable from here too; it is not one
of the room's names. Everything else in this package (``_scan``, ``_pickle``,
``_formats``, ``_policy``, ``_containers``, ``_onnx``, ``_gguf``, ``_scanner``,
``_public``, ``_checks``) is private; the shipped allow- and denylists are its ``data/``.
"""

from bastion.integrity.interface import (
    RULES,
    ArchiveLimits,
    FileReport,
    ScanFinding,
    ScanReport,
    ScanRule,
    ScanVerdict,
)
from bastion.integrity.scanning._checks import ScanCheck, ScanData, ScanSummary
from bastion.integrity.scanning._public import (
    load_allowlist,
    record_scan,
    record_scan_upload,
    scan_bytes,
    scan_path,
    to_sarif,
    upload_digest,
)
from bastion.integrity.scanning._scanner import ModelFileScanner as ModelFileScanner

__all__ = [
    "RULES",
    "ArchiveLimits",
    "FileReport",
    "ScanCheck",
    "ScanData",
    "ScanFinding",
    "ScanReport",
    "ScanRule",
    "ScanSummary",
    "ScanVerdict",
    "load_allowlist",
    "record_scan",
    "record_scan_upload",
    "scan_bytes",
    "scan_path",
    "to_sarif",
    "upload_digest",
]
