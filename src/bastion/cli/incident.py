"""``bastion incident``: open, list, show, run a playbook on, and close incidents."""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Any

import typer

from bastion.cli._common import Format, FormatOpt, out, print_json, print_table, workspace
from bastion.core.errors import InputError

app = typer.Typer(
    help="Incidents: open, list, show, run playbooks (automated containment), close.",
    no_args_is_help=True,
)

ActorOpt = typer.Option(
    None,
    "--actor",
    help="Who acts (default $BASTION_ACTOR or the OS user). Self-declared: the CLI is for "
    "local operators; over the API the actor is the token's identity.",
)
MAX_DETECTION_BYTES = 1 << 20


def _actor(value: str | None) -> str:
    return value or os.environ.get("BASTION_ACTOR") or getpass.getuser()


def _params(items: list[str]) -> dict[str, Any]:
    out_: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InputError(f"--param {item[:40]!r}: expected NAME=VALUE")
        out_[name.strip()] = value
    return out_


def _links(items: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        kind, sep, ref = item.partition(":")
        if not sep:
            raise InputError(f"--link {item[:40]!r}: expected KIND:REF (event:UID, evidence:ID)")
        pairs.append((kind, ref))
    return pairs


def _show(inc: Any, format: Format) -> None:
    if format is Format.JSON:
        print_json(inc.to_dict())
        return
    out.print(
        f"[bold]{inc.title}[/] ({inc.id})\n"
        f"kind {inc.kind}, severity {inc.severity}, status {inc.status.value}, owner {inc.owner}"
    )
    if inc.params:
        out.print("parameters: " + ", ".join(f"{k}={v}" for k, v in inc.params.items()))
    if inc.links:
        out.print("linked: " + ", ".join(f"{k}:{r}" for k, r in inc.links))
    if inc.steps:
        print_table(
            "Playbook steps",
            ["playbook", "step", "owners", "deadline", "status"],
            [(s.playbook, s.step, ", ".join(s.owners),
              s.deadline.isoformat(timespec="minutes") if s.deadline else "", s.status)
             for s in inc.steps],
        )  # fmt: skip
    print_table(
        "Timeline",
        ["at", "actor", "what", "details", "ledger"],
        [(t.at.isoformat(timespec="seconds"), t.actor, t.kind,
          json.dumps(t.data, default=str)[:200], t.ledger_seq) for t in inc.timeline],
    )  # fmt: skip


@app.command("open")
def open_(
    title: str = typer.Argument(..., help="What happened, in one line."),
    kind: str = typer.Option("manual", help="A detection kind (extraction ...) or incident kind."),
    severity: str = typer.Option("high", help="info, low, medium, high or critical."),
    owner: str = typer.Option(..., help="Who owns the response."),
    param: list[str] = typer.Option([], "--param", "-p", help="NAME=VALUE for playbooks."),
    link: list[str] = typer.Option([], "--link", help="KIND:REF (event, evidence, ...)."),
    detection: Path | None = typer.Option(
        None, "--from-detection", help="A detection (JSON) from 'bastion monitor detect'."
    ),
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """Open an incident, by hand or from a detection (its kind, severity, who and the
    events it rests on are taken from it)."""
    from bastion.incidents import open_from_detection, open_incident

    with workspace() as ws:
        if detection is not None:
            try:
                raw = detection.read_bytes()
            except OSError as exc:
                raise InputError(f"{detection.name}: cannot read ({exc.strerror})") from None
            if len(raw) > MAX_DETECTION_BYTES:
                raise InputError(f"{detection.name}: larger than {MAX_DETECTION_BYTES} bytes")
            try:
                det = json.loads(raw)
            except ValueError:
                raise InputError(f"{detection.name}: not valid JSON") from None
            if not isinstance(det, dict):
                raise InputError(f"{detection.name}: expected one detection (a JSON object)")
            inc = open_from_detection(ws, det, owner=owner, actor=_actor(actor),
                                      params=_params(param))  # fmt: skip
        else:
            inc = open_incident(ws, title, kind=kind, severity=severity, owner=owner,
                                actor=_actor(actor), params=_params(param),
                                links=_links(link))  # fmt: skip
    _show(inc, format)


@app.command("list")
def list_(
    status: str | None = typer.Option(None, help="open, contained or closed."),
    limit: int = typer.Option(100, min=1, max=1000),
    format: Format = FormatOpt,
) -> None:
    """Incidents, newest first."""
    from bastion.incidents import list_incidents

    with workspace() as ws:
        rows = list_incidents(ws, status=status, limit=limit)
    if format is Format.JSON:
        print_json([i.to_dict(full=False) for i in rows])
    else:
        print_table(
            "Incidents",
            ["id", "opened", "kind", "severity", "status", "owner", "title"],
            [(i.id, i.created_at.isoformat(timespec="minutes"), i.kind, i.severity,
              i.status.value, i.owner, i.title) for i in rows],
        )  # fmt: skip


@app.command("show")
def show(
    incident_id: str,
    svg: Path | None = typer.Option(None, "--svg", help="Also write the response chart here."),
    format: Format = FormatOpt,
) -> None:
    """An incident with its links, playbook steps and timeline; --svg charts each step
    against its deadline."""
    from bastion.incidents import get_incident, timeline_svg

    with workspace() as ws:
        inc = get_incident(ws, incident_id)
    if svg is not None:
        try:
            svg.write_text(timeline_svg(inc), encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--svg {svg.name}: cannot write ({exc.strerror})") from None
    _show(inc, format)


@app.command("run-playbook")
def run_playbook(
    incident_id: str,
    playbook: str | None = typer.Argument(
        None, help="A shipped playbook id or a YAML file (default: the one its kind triggers)."
    ),
    param: list[str] = typer.Option([], "--param", "-p", help="NAME=VALUE for this run."),
    smtp: str | None = typer.Option(
        None, envvar="BASTION_SMTP", help="SMTP relay HOST:PORT for e-mail notifications."
    ),
    mail_from: str = typer.Option("bastion@localhost", help="Sender of e-mail notifications."),
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """Run a playbook on an incident: every step gets its owners and deadline, every
    action runs and is recorded (failures included). Exit 0 when every action succeeded,
    1 when one failed."""
    from bastion.incidents import RunOptions, get_incident, get_playbook, playbooks_for
    from bastion.incidents import run_playbook as run

    host, port = None, 25
    if smtp:
        h, _, p = smtp.rpartition(":")
        if not h or not p.isdigit():
            raise InputError("--smtp: expected HOST:PORT")
        host, port = h, int(p)
    with workspace() as ws:
        if playbook is None:
            kind = get_incident(ws, incident_id).kind
            books = playbooks_for(kind)
            if len(books) != 1:
                raise InputError(
                    f"incident kind {kind} triggers {len(books)} shipped playbooks: name one"
                )
            book = books[0]
        else:
            book = get_playbook(playbook)
        res = run(ws, incident_id, book, actor=_actor(actor), params=_params(param),
                  options=RunOptions(smtp_host=host, smtp_port=port, mail_from=mail_from))  # fmt: skip
    if format is Format.JSON:
        print_json(res.to_dict())
    else:
        print_table(
            f"Playbook {res.playbook} on incident {res.incident}",
            ["step", "action", "result", "detail"],
            [(r.step, r.action, "ok" if r.ok else "FAILED", r.detail) for r in res.results],
        )
        print_table(
            "Steps",
            ["step", "owners", "deadline", "status"],
            [(s["step"], ", ".join(s["owners"]), s["deadline"] or "", s["status"])
             for s in res.steps],
        )  # fmt: skip
    raise typer.Exit(0 if res.ok else 1)


@app.command("complete-step")
def complete_step(
    incident_id: str,
    step: str,
    note: str = typer.Option(..., help="What was done."),
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """Complete a pending (manual) playbook step; a late completion is recorded as late."""
    from bastion.incidents import complete_step as complete

    with workspace() as ws:
        inc = complete(ws, incident_id, step, actor=_actor(actor), note=note)
    _show(inc, format)


@app.command("note")
def note(incident_id: str, text: str, actor: str | None = ActorOpt) -> None:
    """Add a note to the incident's timeline."""
    from bastion.incidents import add_note

    with workspace() as ws:
        add_note(ws, incident_id, text, actor=_actor(actor))
    out.print("noted")


@app.command("close")
def close(
    incident_id: str,
    resolution: str = typer.Option(..., help="How it ended."),
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """Close an incident (steps still pending are named in the closing event)."""
    from bastion.incidents import close_incident

    with workspace() as ws:
        inc = close_incident(ws, incident_id, resolution=resolution, actor=_actor(actor))
    _show(inc, format)


@app.command("playbooks")
def playbooks(format: Format = FormatOpt) -> None:
    """The shipped playbooks, their triggers and steps."""
    from bastion.incidents import shipped_playbooks

    books = shipped_playbooks()
    if format is Format.JSON:
        print_json([b.model_dump(mode="json", by_alias=True) for b in books])
    else:
        print_table(
            "Shipped playbooks",
            ["id", "triggers", "severity", "steps", "title"],
            [(b.id, ", ".join(b.triggers), b.severity.value, ", ".join(s.id for s in b.steps),
              b.title) for b in books],
        )  # fmt: skip
