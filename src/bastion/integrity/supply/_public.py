"""Public names of the integrity room's supply part: offline OSV matching and the AI-BOM.

``scan_dependencies`` and ``generate_ai_bom`` run the registered checks through
``run_check``, so every scan and every BOM is evidence in the ledger; the lower-level
readers and builders are public for Python users who only want the data.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core.checks import run_check
from bastion.core.errors import CheckError, InputError
from bastion.core.sarif import SarifRoot, default_source_root
from bastion.core.types import Evidence, Finding, Severity, Subject, Verdict
from bastion.integrity.supply._bom import (
    AiBom,
    build_ai_bom,
    build_system_bom,
    hash_model_dir,
    manifest_digest,
)
from bastion.integrity.supply._checks import BOM_ATTACHMENT, bundled_osv_database
from bastion.integrity.supply._osv import (
    OsvDatabase,
    OsvRecord,
    PackageVersion,
    VulnerabilityMatch,
    cvss3_base_score,
    load_osv_database,
    match_packages,
)
from bastion.integrity.supply._sbom import (
    installed_packages,
    read_input,
    read_requirements,
    read_sbom,
)

if TYPE_CHECKING:
    from bastion.core.workspace import Workspace

__all__ = [
    "AiBom",
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


def _raise_on_error(ev: Evidence) -> Evidence:
    # The failed attempt is already evidence in the ledger; the caller still gets one line.
    if ev.verdict is Verdict.ERROR:
        raise CheckError(f"{ev.data.get('error', 'check failed')} (evidence {ev.id})")
    return ev


def scan_dependencies(
    ws: Workspace,
    *,
    osv_db: Path | str | None = None,
    requirements: Path | str | None = None,
    sbom: Path | str | None = None,
    max_age_days: float = 7,
    model: Path | str | None = None,
    name: str | None = None,
    actor: str = "system",
) -> Evidence:
    """Match installed packages, a requirements/lock file or an SBOM against an OSV database.

    Runs ``integrity.dependencies``; the evidence's findings are the vulnerabilities
    (aliases merged), unpinned requirements and a stale-database warning. With ``model``
    the evidence is about that model version (subject kind ``model``, its signed-manifest
    digest): the environment it ships with, which is what a promotion gate asks about.
    """
    if requirements is not None and sbom is not None:
        raise InputError("give --requirements or --sbom, not both")
    params: dict[str, Any] = {"max_age_days": max_age_days}
    if osv_db is not None:
        params["osv_db"] = str(Path(osv_db).resolve())
    if requirements is not None or sbom is not None:
        kind = "requirements" if requirements is not None else "sbom"
        path = Path(str(requirements if requirements is not None else sbom)).resolve()
        if not path.is_file():
            raise InputError(f"{path}: no such file; pass an existing {kind} file")
        data = read_input(path)
        subject = Subject(
            "environment", f"{kind}:{path}", "sha256:" + hashlib.sha256(data).hexdigest()
        )
        params |= {"source": kind, "path": str(path)}
    else:
        pkgs = installed_packages()
        listing = "".join(f"{p.canonical}=={p.version}\n" for p in pkgs).encode()
        subject = Subject(
            "environment",
            f"installed:{sys.prefix}",
            "sha256:" + hashlib.sha256(listing).hexdigest(),
        )
        params["source"] = "installed"
    if model is not None:
        from bastion.integrity.signing import signed_manifest

        mpath = Path(model).resolve()
        if not mpath.exists():
            raise InputError(f"{mpath}: no such model; pass the model's directory or file")
        subject = Subject("model", name or mpath.name, "sha256:" + signed_manifest(mpath).digest)
    return _raise_on_error(
        run_check(ws, "integrity.dependencies", subject, actor=actor, params=params)
    )


def generate_ai_bom(
    ws: Workspace,
    model_dir: Path | str,
    *,
    system_id: str | None = None,
    environment: bool = True,
    actor: str = "system",
) -> tuple[Evidence, str]:
    """Build the CycloneDX 1.6 AI-BOM of a model directory as ``integrity.bom`` evidence.

    Returns the evidence and the BOM JSON (also stored as the evidence's attachment).
    """
    path = Path(model_dir).resolve()
    files = hash_model_dir(path)
    name = path.name
    meta = path / "metadata.json"
    if meta.is_file():
        from bastion.integrity.supply._bom import _read_metadata

        name = str(_read_metadata(path).get("name") or name)[:200]
    ref = f"{system_id}/{name}" if system_id else name
    subject = Subject("model", ref, "sha256:" + manifest_digest(files))
    params = {
        "model_dir": str(path),
        "system_id": system_id,
        "environment": environment,
        "files": [(f.path, f.size, f.sha256) for f in files],
    }
    ev = _raise_on_error(run_check(ws, "integrity.bom", subject, actor=actor, params=params))
    blob = ev.data["attachments"][BOM_ATTACHMENT]
    return ev, ws.blobs.get(blob).decode("utf-8")


def system_ai_bom(ws: Workspace, system_id: str) -> str:
    """The CycloneDX 1.6 BOM of a stored system, from its manifest and latest model BOMs."""
    from bastion.core.evidence import EvidenceQuery
    from bastion.inventory import get_system

    rec = get_system(ws, system_id)
    latest: dict[str, dict[str, Any]] = {}
    for ev in ws.evidence.list(EvidenceQuery(check_id="integrity.bom", limit=1000)):
        sid, _, model = ev.subject.ref.partition("/")
        if sid == system_id and model and model not in latest and ev.verdict is Verdict.PASS:
            latest[model] = dict(ev.data.get("bom") or {})
    return build_system_bom(
        rec.manifest, {"id": rec.id, "version": rec.version, "digest": rec.digest}, latest
    )


_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}


_LINE = re.compile(r":(\d{1,9})(?: \(not followed\))?")


def _dependency_location(location: str, scanned: str | None, root: SarifRoot) -> dict[str, Any]:
    """A finding's ``path[:line|:package]`` location as a SARIF location object."""
    if scanned and (location == scanned or location.startswith(scanned + ":")):
        rest = location[len(scanned) :]
        phys: dict[str, Any] = {"artifactLocation": root.artifact_location(scanned)}
        line = _LINE.fullmatch(rest)
        if line:
            phys["region"] = {"startLine": max(1, int(line[1]))}
        loc: dict[str, Any] = {"physicalLocation": phys}
        if rest and not line:  # a lock-file package or an SBOM component
            loc["logicalLocations"] = [{"name": rest[1:][:200]}]
        return loc
    p = Path(location) if location.startswith("/") else None
    try:
        on_disk = p is not None and p.exists()
    except (OSError, ValueError):
        on_disk = False
    if p is not None and on_disk:  # the OSV database, an installed distribution's metadata
        return {"physicalLocation": {"artifactLocation": root.artifact_location(p)}}
    return {"logicalLocations": [{"name": (location or "environment")[:200]}]}


def dependencies_sarif(ev: Evidence, *, source_root: Path | str | None = None) -> dict[str, Any]:
    """SARIF 2.1.0 of a dependency scan's findings, for code-scanning dashboards.

    The scanned requirements, lock or SBOM file is named relative to ``%SRCROOT%``:
    ``source_root``, else the file's git top level, else its directory; the run's
    ``originalUriBaseIds`` says where that is. Files outside the root (the OSV database,
    installed distributions) keep absolute ``file://`` URIs.
    """
    from bastion import __version__

    inp = ev.data.get("input") or {}
    scanned = str(inp["path"]) if isinstance(inp, dict) and inp.get("path") else None
    if source_root is not None:
        root = SarifRoot(source_root)
    else:
        root = SarifRoot(default_source_root(Path(scanned)) if scanned else None)
    rules: dict[str, Finding] = {}
    results = []
    for f in ev.findings:
        rules.setdefault(f.rule_id, f)
        results.append(
            {
                "ruleId": f.rule_id,
                "level": _LEVEL[f.severity],
                "message": {"text": f"{f.title}: {f.message}"},
                "locations": [_dependency_location(f.location or "", scanned, root)],
                "properties": {"severity": f.severity.value, "references": list(f.references)},
            }
        )
    base = root.original_uri_base_ids()
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "bastion",
                        "version": __version__,
                        "informationUri": "https://osv.dev",
                        "rules": [
                            {
                                "id": rid,
                                "shortDescription": {
                                    "text": rid.replace("deps.", "").replace("-", " ")
                                },
                                "help": {"text": f.remediation or ""},
                            }
                            for rid, f in sorted(rules.items())
                        ],
                    }
                },
                **({"originalUriBaseIds": base} if base else {}),
                "results": results,
                "properties": {"evidence": ev.id, "ledger_seq": ev.ledger_seq},
            }
        ],
    }
