"""``bastion custody``: freeze artifacts for an investigation and keep their chain of
custody; ``custody verify`` checks a custody report independently."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

from bastion.cli._common import Format, FormatOpt, err, out, print_json, print_table, workspace
from bastion.core.errors import InputError, NotFoundError

app = typer.Typer(
    help="Chain of custody: collect, access, transfer, report and verify frozen artifacts.",
    no_args_is_help=True,
)

ActorOpt = typer.Option(None, "--actor", help="Who acts (default $BASTION_ACTOR or the OS user).")
MAX_REPORT_BYTES = 64 << 20


def _actor(value: str | None) -> str:
    return value or os.environ.get("BASTION_ACTOR") or getpass.getuser()


def _print(art: Any, format: Format) -> None:
    if format is Format.JSON:
        print_json(art.to_dict())
        return
    out.print(f"[bold]{art.name}[/] ({art.id}) {art.digest}, {art.size} bytes, held by "
              f"{art.holder}" + (f", incident {art.incident_id}" if art.incident_id else ""))  # fmt: skip
    print_table(
        "Custody",
        ["#", "action", "actor", "at", "to", "ledger"],
        [(e["seq"], e["action"], e["actor"], e["at"], e.get("to") or "", e["ledger_seq"])
         for e in art.events],
    )  # fmt: skip


@app.command("collect")
def collect(
    path: Path = typer.Argument(..., help="The file to freeze."),
    incident: str | None = typer.Option(None, help="The incident it belongs to."),
    name: str | None = typer.Option(None, help="Its name in the report (default: file name)."),
    holder: str | None = typer.Option(None, help="Who holds it (default: the collector)."),
    note: str | None = typer.Option(None, help="Why it was collected."),
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """Copy a file into the blob store, hash it and record its signed collection."""
    from bastion.incidents import collect as do

    with workspace() as ws:
        art = do(ws, path, name=name, incident_id=incident, actor=_actor(actor), holder=holder,
                 note=note)  # fmt: skip
    _print(art, format)


@app.command("list")
def list_(incident: str | None = typer.Option(None), format: Format = FormatOpt) -> None:
    """Artifacts under custody (of one incident)."""
    from bastion.incidents import list_artifacts

    with workspace() as ws:
        rows = list_artifacts(ws, incident_id=incident)
    if format is Format.JSON:
        print_json([a.to_dict() for a in rows])
    else:
        print_table(
            "Artifacts under custody",
            ["id", "name", "digest", "size", "holder", "incident", "events"],
            [(a.id, a.name, a.digest, a.size, a.holder, a.incident_id or "", len(a.events))
             for a in rows],
        )  # fmt: skip


@app.command("show")
def show(artifact_id: str, format: Format = FormatOpt) -> None:
    """One artifact and its custody events."""
    from bastion.incidents import get_artifact

    with workspace() as ws:
        art = get_artifact(ws, artifact_id)
    _print(art, format)


@app.command("access")
def access(
    artifact_id: str,
    purpose: str = typer.Option(..., help="Why it is read."),
    out_file: Path = typer.Option(..., "--out", help="Where to write a copy."),
    actor: str | None = ActorOpt,
) -> None:
    """Read a frozen artifact (checked against its digest); the access is recorded."""
    from bastion.incidents import access_artifact

    with workspace() as ws:
        data = access_artifact(ws, artifact_id, actor=_actor(actor), purpose=purpose)
    try:
        out_file.write_bytes(data)
    except OSError as exc:
        raise InputError(f"--out {out_file.name}: cannot write ({exc.strerror})") from None
    out.print(f"{len(data)} bytes written to {out_file}; the access is in the custody chain")


@app.command("transfer")
def transfer(
    artifact_id: str,
    to: str = typer.Option(..., help="Who receives it."),
    note: str = typer.Option(..., help="How (courier, sealed drive ...)."),
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """Hand the artifact over: a signed transfer statement names both holders."""
    from bastion.incidents import transfer as do

    with workspace() as ws:
        art = do(ws, artifact_id, to=to, actor=_actor(actor), note=note)
    _print(art, format)


@app.command("report")
def report(
    artifact: str | None = typer.Option(None, help="One artifact."),
    incident: str | None = typer.Option(None, help="Every artifact of an incident."),
    out_file: Path | None = typer.Option(None, "--out", help="Write the report here."),
) -> None:
    """The custody report (JSON): statements, signatures, ledger proofs and the public key,
    verifiable without Bastion's database ('bastion custody verify REPORT')."""
    from bastion.incidents import custody_report

    with workspace() as ws:
        rep = custody_report(ws, artifact_id=artifact, incident_id=incident)
    text = json.dumps(rep, indent=2, default=str)
    if out_file is None:
        sys.stdout.write(text + "\n")
        return
    try:
        out_file.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--out {out_file.name}: cannot write ({exc.strerror})") from None
    out.print(f"custody report of {len(rep['artifacts'])} artifact(s) written to {out_file}")


@app.command("verify")
def verify(
    report_file: Path | None = typer.Argument(
        None, help="A custody report to check offline (else --artifact / --incident)."
    ),
    file: list[Path] = typer.Option(
        [], "--file", help="An artifact's bytes (matched by digest); repeatable."
    ),
    blobs: Path | None = typer.Option(None, help="A copy of the blob store holding them."),
    artifact: str | None = typer.Option(None, help="Verify this artifact in the workspace."),
    incident: str | None = typer.Option(None, help="Verify this incident's artifacts."),
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """Check a chain of custody: re-hash the artifacts, check every signature, the chain's
    links, each ledger event's inclusion proof and the checkpoint signature. With a report
    file it needs no workspace (an auditor's check); the artifacts' bytes come from --file
    or --blobs. Exit 0 when it holds, 1 when anything is wrong (each problem is listed)."""
    from bastion.incidents import verify_custody, verify_report

    if report_file is not None:
        try:
            raw = report_file.read_bytes()
        except OSError as exc:
            raise InputError(f"{report_file.name}: cannot read ({exc.strerror})") from None
        if len(raw) > MAX_REPORT_BYTES:
            raise InputError(f"{report_file.name}: larger than {MAX_REPORT_BYTES} bytes")
        try:
            rep = json.loads(raw)
        except ValueError:
            raise InputError(f"{report_file.name}: not valid JSON") from None
        if not isinstance(rep, dict):
            raise InputError(f"{report_file.name}: not a custody report")
        by_digest: dict[str, Path] = {}
        for f in file:
            if not f.is_file():
                raise InputError(f"--file {f.name}: no such file")
            h = hashlib.sha256()
            with f.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
            by_digest["sha256:" + h.hexdigest()] = f
        store = None
        if blobs is not None:
            from bastion.core.blobs import BlobStore

            store = BlobStore(blobs)

        def lookup(digest: str) -> bytes:
            if digest in by_digest:
                return by_digest[digest].read_bytes()
            if store is not None:
                return store.get(digest)
            raise NotFoundError(f"its bytes were not given (--file or --blobs) for {digest}")

        check = verify_report(rep, blob_lookup=lookup)
    else:
        with workspace() as ws:
            check = verify_custody(ws, artifact_id=artifact, incident_id=incident,
                                   actor=_actor(actor))  # fmt: skip
    if format is Format.JSON:
        print_json(check.to_dict())
    else:
        for p in check.problems:
            err.print(f"[bold red]problem:[/] {p}", highlight=False)
        verdict = "[green]holds[/]" if check.ok else "[red]does NOT hold[/]"
        out.print(
            f"chain of custody {verdict}: {check.artifacts} artifact(s), "
            f"{check.statements} signed statement(s), {len(check.problems)} problem(s)"
        )
    raise typer.Exit(0 if check.ok else 1)
