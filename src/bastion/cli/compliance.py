"""`bastion control list|show|evaluate|attest`: the compliance room's controls.

Each command calls one public function of bastion.compliance. ``attest`` records a dated
attestation as the local administrator (``--actor`` is a self-declared name, recorded).
"""

from __future__ import annotations

import getpass
import os

import typer

from bastion.cli._common import Format, FormatOpt, out, print_json, print_table, workspace

__all__ = ["control_app"]

control_app = typer.Typer(
    help="Controls between evidence and gates: list, show, evaluate, attest.",
    no_args_is_help=True,
)
SubjectOpt = typer.Option(..., "--subject", help="model:NAME@VERSION or system:ID")


@control_app.command("list")
def control_list(format: Format = FormatOpt) -> None:
    """List the controls of the catalog."""
    from bastion.compliance import list_controls

    controls = list_controls()
    if format is Format.JSON:
        print_json([c.to_dict() for c in controls])
        return
    print_table(
        "Controls",
        ["id", "coverage", "evidence", "scope", "title"],
        [(c.id, c.coverage.value, c.check or "-", c.scope.value, c.describe()) for c in controls],
    )


@control_app.command("show")
def control_show(control_id: str, format: Format = FormatOpt) -> None:
    """Show one control: its evidence, conditions, age, producers and coverage."""
    from bastion.compliance import get_control

    c = get_control(control_id)
    if format is Format.JSON:
        print_json(c.to_dict())
        return
    out.print(f"[bold]{c.id}[/]  {c.describe()}  (coverage {c.coverage.value})", highlight=False)
    if c.description:
        out.print(c.description, highlight=False)
    out.print_json(data=c.model_dump(mode="json"))


@control_app.command("evaluate")
def control_evaluate(
    control_id: str, subject: str = SubjectOpt, format: Format = FormatOpt
) -> None:
    """Evaluate a control on a subject, now. Exit 1 when it is not met (fail closed)."""
    from bastion.compliance import evaluate_control_for

    with workspace() as ws:
        subj, res = evaluate_control_for(ws, control_id, subject)
    if format is Format.JSON:
        print_json(res.to_dict() | {"subject": subj.to_dict()})
    else:
        mark = "[green]met[/]" if res.satisfied else "[red]NOT met[/]"
        out.print(f"{res.control} on {subj.ref}: {mark} — {res.reason}", highlight=False)
        if res.remedy:
            out.print(f"  fix: {res.remedy}", highlight=False)
    raise typer.Exit(0 if res.satisfied else 1)


@control_app.command("attest")
def control_attest(
    control_id: str,
    subject: str = SubjectOpt,
    statement: str = typer.Option(..., help="What you attest, in words (1-4000 characters)."),
    valid_for: str | None = typer.Option(
        None, help="How long it holds, e.g. 90d (at most the control's attestation_max_age)."
    ),
    actor: str | None = typer.Option(
        None, "--actor", help="Who attests (default $BASTION_ACTOR or the OS user)."
    ),
    format: Format = FormatOpt,
) -> None:
    """Record a dated attestation of a control (coverage partial or attestation)."""
    from bastion.compliance import attest, resolve_subject

    who = actor or os.environ.get("BASTION_ACTOR") or getpass.getuser()
    with workspace() as ws:
        ev = attest(
            ws,
            control_id,
            resolve_subject(ws, subject),
            statement=statement,
            actor=who,
            valid_for=valid_for,
        )
    if format is Format.JSON:
        print_json(ev.to_dict())
    else:
        out.print(
            f"attested {control_id} on {ev.subject}: evidence {ev.id} at ledger #{ev.ledger_seq}"
        )
