"""`bastion deps scan` and `bastion bom`: thin wrappers over the integrity room's supply part."""

from __future__ import annotations

import enum
import sys
from pathlib import Path

import typer

from bastion.cli._common import err, out, print_json, print_table, progress, workspace
from bastion.core.errors import InputError
from bastion.core.types import Severity

__all__ = ["deps_app", "register"]

deps_app = typer.Typer(
    help="Dependency vulnerabilities, matched offline against an OSV database.",
    no_args_is_help=True,
)


class FindingFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"


class BomFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


@deps_app.command("scan")
def deps_scan(
    osv_db: Path | None = typer.Option(
        None,
        "--osv-db",
        envvar="BASTION_OSV_DB",
        help="OSV database: a directory of JSON records or osv.dev's PyPI zip export "
        "(default: the small bundled fixture).",
    ),
    requirements: Path | None = typer.Option(
        None,
        "--requirements",
        "-r",
        help="A requirements file or lock file (uv.lock, poetry.lock).",
    ),
    sbom: Path | None = typer.Option(None, "--sbom", help="A CycloneDX JSON SBOM (pypi purls)."),
    max_age_days: float = typer.Option(
        7, "--max-age-days", min=0, help="Warn when the database's newest record is older."
    ),
    model: Path | None = typer.Option(
        None,
        "--model",
        help="Bind the evidence to this model version (its signed-manifest digest).",
    ),
    name: str | None = typer.Option(None, "--name", help="Subject reference with --model."),
    format: FindingFormat = typer.Option(FindingFormat.TABLE, "--format", "-f"),
    fail_on: Severity = typer.Option(
        Severity.HIGH, "--fail-on", help="Exit 1 on a finding at or above this severity."
    ),
    source_root: Path | None = typer.Option(
        None,
        "--source-root",
        exists=True,
        file_okay=False,
        dir_okay=True,
        help="With --format sarif: the directory %SRCROOT% stands for (default: the scanned "
        "file's git top level, else its directory).",
    ),
) -> None:
    """Check installed packages (default), a requirements/lock file or an SBOM for known
    vulnerabilities. The result is evidence in the ledger."""
    from bastion.integrity import dependencies_sarif, scan_dependencies

    if requirements is not None and sbom is not None:
        raise InputError("give --requirements or --sbom, not both")
    with workspace() as ws, progress("Matching against OSV") as bar:
        ev = scan_dependencies(
            ws,
            osv_db=osv_db,
            requirements=requirements,
            sbom=sbom,
            max_age_days=max_age_days,
            model=model,
            name=name,
            actor="cli",
        )
        bar(1, 1)
    if format is FindingFormat.SARIF:
        print_json(dependencies_sarif(ev, source_root=source_root))
    elif format is FindingFormat.JSON:
        print_json(
            {
                "evidence": ev.id,
                "ledger_seq": ev.ledger_seq,
                "verdict": ev.verdict.value,
                "subject": str(ev.subject),
                "findings": [f.to_dict() for f in ev.findings],
                **ev.data,
            }
        )
    else:
        db = ev.data["database"]
        counts = ev.data["counts"]
        out.print(
            f"{counts['packages']} packages checked against {db['records']} OSV records "
            f"(newest {db['newest_modified']}, {db['age_days']} days old): "
            f"[bold]{counts['vulnerabilities']}[/] vulnerabilities in "
            f"{counts['vulnerable_packages']} packages, {counts['unpinned']} unpinned",
            highlight=False,
        )
        vulns = ev.data["vulnerabilities"]
        if vulns:
            print_table(
                "Vulnerabilities",
                ["package", "version", "id", "aliases", "severity", "fixed in"],
                [
                    (
                        v["package"],
                        v["version"],
                        v["id"],
                        ", ".join(v["aliases"]),
                        v["severity"] + (" ?" if v["uncertain"] else ""),
                        ", ".join(v["fixed_in"]),
                    )
                    for v in vulns
                ],
            )
        for f in ev.findings:
            if f.rule_id != "deps.vulnerable":
                out.print(f"  [{f.severity.value}] {f.rule_id}: {f.message}", highlight=False)
        out.print(f"verdict {ev.verdict.value}, evidence {ev.id} at ledger #{ev.ledger_seq}")
    worst = ev.max_severity
    raise typer.Exit(1 if worst is not None and worst.at_least(fail_on) else 0)


def bom(
    model_dir: Path = typer.Argument(..., help="The model's directory."),
    system: str | None = typer.Option(
        None, "--system", help="Add the services of this inventoried system."
    ),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write the CycloneDX JSON here (default: stdout)."
    ),
    environment: bool = typer.Option(
        True, "--environment/--no-environment", help="List this Python environment's packages."
    ),
    format: BomFormat = typer.Option(
        BomFormat.JSON, "--format", "-f", help="json: the BOM itself; table: a summary."
    ),
    attest_key: str | None = typer.Option(
        None,
        "--attest",
        help="Sign the BOM as an in-toto attestation over the model's manifest digest with "
        "this EC private key (PEM) or pkcs11: URI.",
    ),
    certificate: Path | None = typer.Option(
        None, "--certificate", help="With --attest: the signing certificate (PEM)."
    ),
    chain: list[Path] = typer.Option([], "--chain", help="With --attest: intermediates (PEM)."),
    attestation: Path | None = typer.Option(
        None,
        "--attestation",
        help="With --attest: where to write it (default: MODEL_DIR.bom.sigstore.json).",
    ),
) -> None:
    """Write the CycloneDX 1.6 AI bill of materials of a model directory (evidence in the
    ledger). A key password for --attest is read from $BASTION_SIGNING_KEY_PASSWORD."""
    import os

    from bastion.integrity import generate_ai_bom, record_attest_bom

    if attest_key is None and (certificate or chain or attestation):
        raise InputError("--certificate, --chain and --attestation need --attest KEY")
    attested: dict[str, object] | None = None
    with workspace() as ws, progress("Building AI-BOM") as bar:
        ev, document = generate_ai_bom(
            ws, model_dir, system_id=system, environment=environment, actor="cli"
        )
        if attest_key is not None:
            signed, aev = record_attest_bom(
                ws,
                model_dir,
                document,
                attest_key,
                name=ev.subject.ref,
                out=attestation,
                certificate=certificate,
                chain=chain,
                password=os.environ.get("BASTION_SIGNING_KEY_PASSWORD"),
                actor="cli",
            )
            attested = signed.to_dict() | {"evidence": aev.id}
        bar(1, 1)
    if output is not None:
        output.write_text(document, encoding="utf-8")
    summary = ev.data["bom"]
    if attested is not None:  # stderr: stdout may be the BOM itself
        err.print(
            f"Attested the AI-BOM over {attested['subject']} → {attested['attestation']}; "
            f"evidence {attested['evidence']}",
            highlight=False,
        )
    if format is BomFormat.TABLE or output is not None:
        print_table(
            "AI-BOM (CycloneDX 1.6)",
            ["model", "files", "datasets", "libraries", "services", "sha256", "evidence"],
            [
                (
                    summary["model"],
                    summary["files"],
                    summary["datasets"],
                    summary["libraries"],
                    summary["services"],
                    summary["sha256"][:16],
                    f"{ev.id} (ledger #{ev.ledger_seq})",
                )
            ],
        )
    else:
        sys.stdout.write(document)


def register(app: typer.Typer) -> None:
    """Add top-level commands (``bastion bom``) to the root app."""
    app.command("bom")(bom)
