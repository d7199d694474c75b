"""Checks of the integrity room's supply part; importing registers them.

``integrity.dependencies`` matches Python packages against an offline OSV database;
``integrity.bom`` writes a CycloneDX 1.6 AI-BOM of a model directory into the blob store.

Evidence is bound to what was examined: the sha256 of the requirements/SBOM file or of
the installed-package listing (or, with ``model``, that model's manifest digest), and
the model-signing manifest digest of a BOM's model directory.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from bastion.core.checks import Check, CheckContext, CheckResult, ParamKind, ParamSpec
from bastion.core.errors import InputError
from bastion.core.types import Finding, Severity, Subject, Verdict
from bastion.integrity.supply._osv import (
    PackageVersion,
    VulnerabilityMatch,
    load_osv_database,
    match_packages,
)

__all__ = ["BomCheck", "DependencyCheck", "bundled_osv_database"]

DEFAULT_MAX_AGE_DAYS = 7


def bundled_osv_database() -> Path:
    """The small fixture database shipped for tests and the demo (real advisories, CC-BY 4.0)."""
    return Path(__file__).resolve().parent / "data" / "osv"


def _packages(params: dict[str, Any]) -> tuple[list[PackageVersion], dict[str, Any]]:
    from bastion.integrity.supply import _sbom

    source = str(params.get("source", "installed"))
    path = params.get("path")
    if source == "installed":
        pkgs = _sbom.installed_packages(params.get("sys_path") or None)
        return pkgs, {"kind": "installed", "packages": len(pkgs), "sha256": listing_digest(pkgs)}
    if source not in ("requirements", "sbom") or not path:
        raise InputError("params: source must be installed, requirements or sbom (with path)")
    p = Path(str(path))
    data = _sbom.read_input(p)
    pkgs = _sbom.read_requirements(p) if source == "requirements" else _sbom.read_sbom(p)
    if _sbom.read_input(p) != data:
        raise InputError(f"{p}: the file changed while it was read")
    return pkgs, {
        "kind": source,
        "path": str(p),
        "sha256": _sbom.digest(data),
        "packages": len(pkgs),
    }


def listing_digest(packages: list[PackageVersion]) -> str:
    """The sha256 of an installed-package listing (``name==version`` lines, sorted), the
    digest ``audit_dependencies`` names an environment by."""
    listing = "".join(f"{p.canonical}=={p.version}\n" for p in packages).encode()
    return "sha256:" + hashlib.sha256(listing).hexdigest()


def _finding(m: VulnerabilityMatch) -> Finding:
    fixed = ", ".join(m.fixed_in)
    also = f" (also {', '.join(m.aliases)})" if m.aliases else ""
    unsure = (
        " The record's versions could not be compared; treated as affected." if m.uncertain else ""
    )
    return Finding(
        rule_id="deps.vulnerable",
        title=f"{m.package} {m.version}: {m.id}",
        severity=m.severity,
        message=f"{m.id}{also}: {m.summary}" + (f" Fixed in {fixed}." if fixed else "") + unsure,
        location=m.location,
        references=(m.id, *m.aliases, *m.references[:3]),
        remediation=f"upgrade {m.package} to {fixed} or later"
        if fixed
        else "no fixed version: remove or isolate the package",
    )


class DependencyCheck(Check):
    id = "integrity.dependencies"
    title = "Dependency vulnerabilities (offline OSV)"
    description = (
        "Matches installed distributions, a requirements/lock file or a CycloneDX SBOM against "
        "an OSV database on disk; unpinned requirements and a stale database are findings."
    )
    subject_kinds = ("environment", "model")
    severity = Severity.HIGH
    references = ("CWE-1395", "ATLAS:AML.T0010", "OWASP-LLM05")
    remote_params: ClassVar[Mapping[str, ParamSpec]] = {
        "source": ParamSpec(ParamKind.ENUM, "what to audit", ("installed", "requirements", "sbom")),
        "path": ParamSpec(ParamKind.PATH, "requirements/lock file or CycloneDX SBOM"),
        "osv_db": ParamSpec(ParamKind.PATH, "OSV database directory or zip export"),
        "max_age_days": ParamSpec(ParamKind.FLOAT, "database age limit", minimum=0, maximum=30),
        "model": ParamSpec(ParamKind.PATH, "the model whose environment this is"),
    }

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        params = dict(ctx.params)
        db_path = Path(str(params.get("osv_db") or bundled_osv_database()))
        max_age = float(params.get("max_age_days", DEFAULT_MAX_AGE_DAYS))
        db = load_osv_database(db_path)
        packages, source = _packages(params)
        examined: str | None = source["sha256"]
        if subject.kind == "model":
            # About a model version: the evidence names the model's digest, computed here
            # from its files; without them the check cannot vouch for one.
            examined = None
            if params.get("model"):
                from bastion.integrity.signing import signed_manifest

                examined = "sha256:" + signed_manifest(Path(str(params["model"]))).digest
                source["model_digest"] = examined
        matches = match_packages(db, packages)
        findings = [_finding(m) for m in matches]
        unpinned = [p for p in packages if p.version is None]
        findings += [
            Finding(
                rule_id="deps.unpinned",
                title=f"{p.name}: version not pinned",
                severity=Severity.MEDIUM,
                message=f"{p.name} has no exact version, so it cannot be checked for known vulnerabilities",
                location=p.location,
                remediation="pin it with == (pip-compile or uv lock writes pinned files)",
            )
            for p in unpinned
        ]
        info = db.info()
        age = db.age_days()
        stale = age is None or age > max_age
        if stale:
            findings.append(
                Finding(
                    rule_id="deps.stale-database",
                    title="OSV database is out of date",
                    severity=Severity.MEDIUM,
                    message=(
                        f"newest record modified {info['newest_modified'] or 'never'} "
                        f"({info['age_days']} days ago, limit {max_age:g}); advisories published since are missed"
                    ),
                    location=str(db_path),
                    remediation="download a fresh export: https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip",
                )
            )
        fixture = db_path.resolve() == bundled_osv_database()
        if fixture:
            findings.append(
                Finding(
                    rule_id="deps.fixture-database",
                    title="Bundled fixture database in use",
                    severity=Severity.LOW,
                    message="the bundled database holds a handful of advisories for tests and the demo; it is not a vulnerability feed",
                    location=str(db_path),
                    remediation="pass --osv-db with the PyPI export from osv.dev",
                )
            )
        verdict = Verdict.FAIL if matches else (Verdict.WARN if findings else Verdict.PASS)
        return CheckResult(
            verdict,
            tuple(findings),
            data={
                "database": info | {"stale": stale, "max_age_days": max_age, "fixture": fixture},
                "input": source,
                "vulnerabilities": [m.to_dict() for m in matches],
                "unpinned": [{"name": p.name, "location": p.location} for p in unpinned],
                "counts": {
                    "packages": len(packages),
                    "vulnerable_packages": len({m.package for m in matches}),
                    "vulnerabilities": len(matches),
                    "unpinned": len(unpinned),
                },
            },
            examined_digest=examined,
        )


BOM_ATTACHMENT = "ai-bom.cdx.json"


class BomCheck(Check):
    id = "integrity.bom"
    title = "AI bill of materials (CycloneDX 1.6)"
    description = (
        "Describes a model directory (file hashes, model card), its training data, the Python "
        "environment and the system's services as a schema-valid CycloneDX 1.6 ML-BOM."
    )
    subject_kinds = ("model",)
    severity = Severity.INFO
    references = ("CycloneDX-1.6", "NIST-AI-RMF:MAP-4.1")
    remote_params: ClassVar[Mapping[str, ParamSpec]] = {
        "model_dir": ParamSpec(ParamKind.PATH, "model directory", subject_ref=True),
        "system_id": ParamSpec(ParamKind.STR, "inventory system the model belongs to"),
        "environment": ParamSpec(ParamKind.BOOL, "describe the server's Python environment"),
    }

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        from bastion.integrity.supply._bom import ModelFile, build_ai_bom
        from bastion.integrity.supply._sbom import installed_packages

        params = dict(ctx.params)
        model_dir = Path(str(params.get("model_dir") or subject.ref))
        system = info = None
        if system_id := params.get("system_id"):
            from bastion.inventory import get_system

            rec = get_system(ctx.workspace, str(system_id))
            system = rec.manifest
            info = {"id": rec.id, "version": rec.version, "digest": rec.digest}
        env = (
            installed_packages()
            if params.get("environment", True) not in (False, "false", "0")
            else []
        )
        files = params.get("files")
        bom = build_ai_bom(
            model_dir,
            environment=env,
            system=system,
            system_info=info,
            files=[ModelFile(*f) for f in files] if files else None,
        )
        return CheckResult(
            Verdict.PASS,
            data={"bom": bom.summary(), "model_dir": os.fspath(model_dir), "system": info},
            attachments={BOM_ATTACHMENT: bom.document.encode("utf-8")},
            examined_digest="sha256:" + bom.manifest_sha256.removeprefix("sha256:"),
        )
