"""Commands of the spine: init, ledger, evidence, checks, token."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import typer

from bastion._plugins import load_checks
from bastion.access import Role, create_token, list_tokens, revoke_token
from bastion.cli._common import (
    Format,
    FormatOpt,
    out,
    print_json,
    print_table,
    progress,
    settings,
    workspace,
)
from bastion.core.checks import all_checks, run_check
from bastion.core.errors import InputError
from bastion.core.evidence import EvidenceQuery
from bastion.core.types import Subject, Verdict
from bastion.core.workspace import init_workspace

ledger_app = typer.Typer(
    help="The tamper-evident ledger: verify, prove, inspect.", no_args_is_help=True
)
evidence_app = typer.Typer(help="Evidence recorded by checks.", no_args_is_help=True)
checks_app = typer.Typer(help="The registered checks.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for the REST API and console.", no_args_is_help=True)


def init(format: Format = FormatOpt) -> None:
    """Create the Bastion home: database, blob store and the Ed25519 ledger key (mode 0600)."""
    s = settings()
    ws, new = init_workspace(s, actor="cli")
    try:
        info = {
            "home": str(s.home.resolve()),
            "database": ws.db.url if not ws.db.url.startswith("postgresql") else "postgresql",
            "schema": ws.db.current_revision(),
            "new": new,
            "ledger_size": ws.ledger.size(),
        }
    finally:
        ws.close()
    if format is Format.JSON:
        print_json(info)
    else:
        out.print(
            ("Initialised" if new else "Already initialised") + f" Bastion home at {info['home']}"
        )


@ledger_app.command("verify")
def ledger_verify(
    witness: Path | None = typer.Option(
        None, help="A checkpoint saved earlier; the log must extend it."
    ),
    deep: bool = typer.Option(
        False,
        help="Also re-parse every event and check its canonical form, and cross-check the "
        "evidence table against the ledger (every row's digest, every ledgered row present).",
    ),
    since_checkpoint: int | None = typer.Option(
        None,
        "--since-checkpoint",
        min=0,
        help="Check only what was appended after the signed checkpoint of this size (one a "
        "previous verify ended at), plus the consistency proof to the latest checkpoint.",
    ),
    workers: int | None = typer.Option(
        None,
        min=1,
        max=64,
        help="Processes for a full verify (default: one per core from 200,000 events on).",
    ),
    format: Format = FormatOpt,
) -> None:
    """Recompute the Merkle tree from storage and check every signed checkpoint.

    Exit 0 when intact, 1 when tampering was found (each problem is named).
    """
    if since_checkpoint is not None and (deep or witness is not None):
        raise InputError("--since-checkpoint cannot be combined with --deep or --witness")
    wit = witness.read_text(encoding="utf-8") if witness else None
    with workspace() as ws, progress("Verifying ledger") as bar:
        if deep:
            rep = ws.evidence.deep_verify(bar, witness=wit)
        elif since_checkpoint is not None:
            rep = ws.ledger.verify(bar, since=since_checkpoint)
        else:
            rep = ws.ledger.verify(bar, witness=wit, workers=workers)
    if format is Format.JSON:
        print_json(rep.to_dict())
    else:
        status = "[green]OK[/]" if rep.ok else f"[red]{len(rep.problems)} problem(s)[/]"
        scope = f" (checked {rep.since}..{rep.size - 1})" if rep.since else ""
        out.print(
            f"Ledger: {rep.size} events{scope}, {rep.checkpoints} signed checkpoints, "
            f"root {rep.root_hash.hex() if rep.root_hash else '-'}: {status} "
            f"({rep.seconds:.2f}s)"
        )
        for p in rep.problems:
            out.print(f"  [red]{p.kind}[/]: {p.message}", highlight=False)
    raise typer.Exit(0 if rep.ok else 1)


@ledger_app.command("proof")
def ledger_proof(
    event_id: str = typer.Argument(..., help="Event id (UUID) or position."),
    size: int | None = typer.Option(None, help="Prove against the checkpoint of this size."),
    format: Format = FormatOpt,
) -> None:
    """Print an RFC 9162 inclusion proof of an event against the latest signed checkpoint."""
    with workspace() as ws:
        proof = ws.ledger.inclusion_proof(event_id, size)
    if format is Format.JSON:
        print_json(proof.to_dict())
        return
    d = proof.to_dict()
    out.print(f"event {d['event_id']} at index {d['leaf_index']} of tree size {d['tree_size']}")
    out.print(f"leaf hash  {d['leaf_hash']}\nroot hash  {d['root_hash']}\npath:")
    for h in d["inclusion_path"]:
        out.print(f"  {h}")
    out.print("checkpoint:\n" + d["checkpoint"], highlight=False, markup=False)


@ledger_app.command("checkpoint")
def ledger_checkpoint() -> None:
    """Print the latest signed checkpoint (save it elsewhere as a witness)."""
    with workspace() as ws:
        note = ws.ledger.latest_checkpoint()
    if note is None:
        typer.echo("no checkpoint yet", err=True)
        raise typer.Exit(1)
    sys.stdout.write(note)


@ledger_app.command("key")
def ledger_key_cmd(
    as_json: bool = typer.Option(
        False, "--json", help="Origin, key name, key hash, verifier key and PEM public key."
    ),
    format: Format = FormatOpt,
) -> None:
    """Print the ledger's public verifier key (C2SP name+hash+key): what a witness needs
    to check checkpoints without Bastion (docs/ledger.md shows how)."""
    from bastion.core.ledger import ledger_key

    with workspace() as ws:
        key = ledger_key(ws.ledger)
    if as_json or format is Format.JSON:
        print_json(key.to_dict())
    else:
        sys.stdout.write(key.vkey + "\n")


@ledger_app.command("list")
def ledger_list(
    limit: int = typer.Option(20, min=1, max=10_000),
    kind: str | None = typer.Option(None, help="Only events of this kind."),
    format: Format = FormatOpt,
) -> None:
    """List the newest ledger events."""
    with workspace() as ws:
        entries = ws.ledger.entries(limit=limit, kind=kind, newest_first=True)
    if format is Format.JSON:
        print_json([e.to_dict() for e in entries])
        return
    print_table(
        "Ledger",
        ["seq", "id", "time", "kind", "actor"],
        [
            (e.seq, e.event_id, e.recorded_at.isoformat(timespec="seconds"), e.kind, e.actor)
            for e in entries
        ],
    )


@ledger_app.command("show")
def ledger_show(event_id: str, format: Format = FormatOpt) -> None:
    """Show one ledger event."""
    with workspace() as ws:
        e = ws.ledger.get(event_id)
    print_json(e.to_dict()) if format is Format.JSON else out.print_json(data=e.to_dict())


@evidence_app.command("list")
def evidence_list(
    check: str | None = typer.Option(None, help="Only evidence of this check id."),
    subject: str | None = typer.Option(None, help="Only evidence about this subject reference."),
    verdict: Verdict | None = typer.Option(None, help="Only this verdict."),
    limit: int = typer.Option(50, min=1, max=1000),
    format: Format = FormatOpt,
) -> None:
    """List evidence, newest first."""
    with workspace() as ws:
        items = ws.evidence.list(
            EvidenceQuery(check_id=check, subject_ref=subject, verdict=verdict, limit=limit)
        )
    if format is Format.JSON:
        print_json([_evidence_dict(e) for e in items])
        return
    print_table(
        "Evidence",
        ["id", "time", "check", "subject", "verdict", "findings"],
        [
            (
                e.id,
                e.created_at.isoformat(timespec="seconds"),
                e.check_id,
                str(e.subject),
                e.verdict.value,
                len(e.findings),
            )
            for e in items
        ],
    )


@evidence_app.command("show")
def evidence_show(evidence_id: str, format: Format = FormatOpt) -> None:
    """Show one piece of evidence, its findings, and whether it still matches the ledger."""
    with workspace() as ws:
        e = ws.evidence.get(evidence_id)
        intact = ws.evidence.verify_digest(e)
    d = _evidence_dict(e) | {"intact": intact}
    if format is Format.JSON:
        print_json(d)
        return
    out.print(f"[bold]{e.id}[/]  {e.check_id} on {e.subject}: [bold]{e.verdict.value}[/]")
    out.print(
        f"digest {e.digest}  ledger #{e.ledger_seq}  "
        + ("[green]matches the ledger[/]" if intact else "[red]DOES NOT match the ledger[/]")
    )
    for f in e.findings:
        out.print(f"  [{f.severity.value}] {f.rule_id}: {f.title} — {f.message}", highlight=False)
    if e.data:
        out.print_json(data=e.data)


def _evidence_dict(e: object) -> dict[str, object]:
    from bastion.core.types import Evidence

    assert isinstance(e, Evidence)
    return e.to_dict()


@checks_app.command("list")
def checks_list(format: Format = FormatOpt) -> None:
    """List every registered check with its metadata."""
    load_checks()

    meta = [c.metadata() for c in all_checks()]
    if format is Format.JSON:
        print_json(meta)
        return
    print_table(
        "Checks",
        ["id", "title", "subjects", "severity"],
        [(m["id"], m["title"], ", ".join(m["subject_kinds"]), m["severity"]) for m in meta],
    )


@checks_app.command("run")
def checks_run(
    check_id: str,
    subject: str = typer.Option(..., help="KIND:REF[@DIGEST], e.g. system:credit-scoring"),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="KEY=VALUE parameters for the check."
    ),
    format: Format = FormatOpt,
) -> None:
    """Run a check; its evidence is stored and its digest appended to the ledger.

    Exit 1 when the verdict is fail or error.
    """
    load_checks()
    subj = parse_subject(subject)
    params = {}
    for p in param:
        key, sep, value = p.partition("=")
        if not sep or not key:
            raise InputError(f"--param {p!r}: expected KEY=VALUE")
        params[key] = value
    with workspace() as ws:
        ev = run_check(ws, check_id, subj, actor="cli", params=params)
    if format is Format.JSON:
        print_json(_evidence_dict(ev))
    else:
        out.print(
            f"{ev.check_id} on {ev.subject}: [bold]{ev.verdict.value}[/] "
            f"({len(ev.findings)} findings), evidence {ev.id} at ledger #{ev.ledger_seq}"
        )
        for f in ev.findings:
            out.print(f"  [{f.severity.value}] {f.rule_id}: {f.message}", highlight=False)
    raise typer.Exit(1 if ev.verdict in (Verdict.FAIL, Verdict.ERROR) else 0)


def parse_subject(text: str) -> Subject:
    kind, sep, rest = text.partition(":")
    ref, _, digest = rest.partition("@")
    if not sep or not kind or not ref:
        raise InputError(f"subject {text!r}: expected KIND:REF[@DIGEST]")
    return Subject(kind, ref, digest or None)


@token_app.command("create")
def token_create(
    role: Role = typer.Option(..., help="Role of the token."),
    name: str = typer.Option("cli", help="Who or what the token is for."),
    ttl_hours: float | None = typer.Option(
        None, "--ttl-hours", help="Lifetime in hours (default: no expiry)."
    ),
    format: Format = FormatOpt,
) -> None:
    """Create an API token. It is shown once; only its hash is stored."""
    ttl = timedelta(hours=ttl_hours) if ttl_hours is not None else None
    with workspace() as ws:
        new = create_token(ws, name=name, role=role, ttl=ttl, actor="cli")
    d = new.info.to_dict() | {
        "token": new.token,
        "totp_secret": new.totp_secret,
        "totp_uri": new.totp_uri,
    }
    if format is Format.JSON:
        print_json(d)
        return
    out.print(
        f"Token for {name} ({role.value}); shown once, store it now:\n{new.token}", highlight=False
    )
    if new.totp_secret:
        out.print(
            f"TOTP secret (add it to your authenticator; required for {role.value} actions):\n"
            f"{new.totp_secret}\n{new.totp_uri}",
            highlight=False,
        )


@token_app.command("list")
def token_list(format: Format = FormatOpt) -> None:
    """List tokens (never their secrets)."""
    with workspace() as ws:
        items = list_tokens(ws)
    if format is Format.JSON:
        print_json([t.to_dict() for t in items])
        return
    print_table(
        "Tokens",
        ["id", "name", "role", "mfa", "expires", "revoked"],
        [(t.id, t.name, t.role.value, t.has_mfa, t.expires_at, t.revoked) for t in items],
    )


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    """Revoke a token at once."""
    with workspace() as ws:
        t = revoke_token(ws, token_id, actor="cli")
    out.print(f"Token {t.id} ({t.name}) revoked")
