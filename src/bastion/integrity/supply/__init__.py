"""The integrity room's supply part: offline OSV dependency matching and the AI-BOM.

Its public face: ``scan_dependencies`` and ``generate_ai_bom`` / ``system_ai_bom`` (each
runs a registered check, so every scan and every BOM is evidence in the ledger), the
readers and builders for Python users who only want the data, and the check classes.
Everything else in this package (``_osv``, ``_sbom``, ``_bom``, ``_checks``, and the
advisories bundled under ``data/osv``) is private.
"""

from bastion.integrity.supply._checks import (
    BomCheck,
    DependencyCheck,
)
from bastion.integrity.supply._public import (
    AiBom,
    OsvDatabase,
    OsvRecord,
    PackageVersion,
    VulnerabilityMatch,
    build_ai_bom,
    bundled_osv_database,
    cvss3_base_score,
    dependencies_sarif,
    generate_ai_bom,
    installed_packages,
    load_osv_database,
    match_packages,
    read_requirements,
    read_sbom,
    scan_dependencies,
    system_ai_bom,
)

__all__ = [
    "AiBom",
    "BomCheck",
    "DependencyCheck",
    "OsvDatabase",
    "OsvRecord",
    "PackageVersion",
    "VulnerabilityMatch",
    "build_ai_bom",
    "bundled_osv_database",
    "cvss3_base_score",
    "dependencies_sarif",
    "generate_ai_bom",
    "installed_packages",
    "load_osv_database",
    "match_packages",
    "read_requirements",
    "read_sbom",
    "scan_dependencies",
    "system_ai_bom",
]
