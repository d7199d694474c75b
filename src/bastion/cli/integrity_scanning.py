"""`bastion model scan`: the model-file scanner. Registers on the shared ``model_app``."""

from __future__ import annotations

import enum
from pathlib import Path

import typer

from bastion.cli._common import out, print_json, print_table, progress, workspace
from bastion.cli._groups import model_app

__all__ = ["model_app"]


class ScanFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"


class FailOn(enum.StrEnum):
    SUSPICIOUS = "suspicious"
    DANGEROUS = "dangerous"


@model_app.command("scan")
def scan(
    path: Path = typer.Argument(..., help="A model file or directory (archives are opened)."),
    format: ScanFormat = typer.Option(ScanFormat.TABLE, "--format", "-f", help="Output format."),
    fail_on: FailOn = typer.Option(
        FailOn.SUSPICIOUS, "--fail-on", help="Exit 1 at this verdict or worse (errors always)."
    ),
    allow: Path | None = typer.Option(
        None, "--allow", help="YAML allowlist of extra globals (exact module.name)."
    ),
    record: bool = typer.Option(
        True, "--record/--no-record", help="Store evidence and ledger it (needs `bastion init`)."
    ),
    name: str | None = typer.Option(
        None,
        "--name",
        help="Subject reference for the evidence, e.g. SYSTEM/ASSET (default: the path's name).",
    ),
    attest_key: str | None = typer.Option(
        None,
        "--attest",
        help="Sign the verdict as an in-toto attestation over the model's manifest digest "
        "with this EC private key (PEM) or pkcs11: URI.",
    ),
    certificate: Path | None = typer.Option(
        None, "--certificate", help="With --attest: the signing certificate (PEM)."
    ),
    chain: list[Path] = typer.Option([], "--chain", help="With --attest: intermediates (PEM)."),
    attestation: Path | None = typer.Option(
        None,
        "--attestation",
        help="With --attest: where to write it (default: PATH.scan.sigstore.json).",
    ),
) -> None:
    """Scan model files by content; nothing scanned is loaded or run.

    Exit 0 safe, 1 at or above --fail-on (or unparseable), 2 bad input. A key password
    for --attest is read from $BASTION_SIGNING_KEY_PASSWORD.
    """
    import os

    from bastion.core.errors import InputError
    from bastion.integrity import (
        ScanVerdict,
        load_allowlist,
        record_attest_scan,
        record_scan,
        scan_path,
        to_sarif,
    )

    if attest_key is None and (certificate or chain or attestation):
        raise InputError("--certificate, --chain and --attestation need --attest KEY")
    if attest_key is not None and not record:
        raise InputError("--attest records evidence: drop --no-record")
    extra = load_allowlist(allow) if allow else frozenset()
    with progress(f"Scanning {path}") as bar:
        report = scan_path(path, allow=extra, progress=bar)
    evidence_id = None
    attested: dict[str, object] | None = None
    if record:
        with workspace() as ws:
            ev = record_scan(ws, report, name=name, actor="cli")
            if attest_key is not None:
                summary, aev = record_attest_scan(
                    ws,
                    report,
                    attest_key,
                    name=name,
                    out=attestation,
                    certificate=certificate,
                    chain=chain,
                    password=os.environ.get("BASTION_SIGNING_KEY_PASSWORD"),
                    actor="cli",
                )
                attested = summary.to_dict() | {"evidence": aev.id}
        evidence_id = ev.id
    if format is ScanFormat.SARIF:
        print_json(to_sarif(report))
    elif format is ScanFormat.JSON:
        print_json(report.to_dict() | {"evidence": evidence_id, "attestation": attested})
    else:
        print_table(
            f"Scan of {path}: {report.verdict.value}",
            ["file", "format", "verdict", "finding", "offset", "global"],
            [
                (
                    r.path,
                    r.format,
                    r.verdict.value,
                    f.message if f else "",
                    f.offset if f else "",
                    f.global_name if f else "",
                )
                for r in report.files
                for f in (r.findings or (None,))
            ],
        )
        out.print(
            f"{len(report.files)} files, {report.bytes_scanned} bytes in {report.seconds:.2f}s"
            + (f"; evidence {evidence_id}" if evidence_id else ""),
            highlight=False,
        )
        if attested:
            out.print(
                f"Attested verdict {report.verdict.value} over {attested['subject']} "
                f"→ {attested['attestation']}; evidence {attested['evidence']}",
                highlight=False,
            )
    raise typer.Exit(1 if report.fails(ScanVerdict(fail_on.value)) else 0)
