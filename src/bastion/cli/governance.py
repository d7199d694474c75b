"""`bastion governance ...`: RACI, people and roles, access reviews, boards, change
requests and votes, the escalation matrix. Each command calls one governance function."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import typer

from bastion.cli._common import Format, FormatOpt, out, print_json, print_table, workspace

__all__ = ["app"]

app = typer.Typer(
    help="Governance: ownership (RACI), people and roles, boards, change requests, escalation.",
    no_args_is_help=True,
)
people_app = typer.Typer(help="People, roles and grants.", no_args_is_help=True)
review_app = typer.Typer(help="Access reviews.", no_args_is_help=True)
raci_app = typer.Typer(help="Ownership per system and asset.", no_args_is_help=True)
board_app = typer.Typer(help="Governance boards.", no_args_is_help=True)
cr_app = typer.Typer(help="Change requests and votes.", no_args_is_help=True)
esc_app = typer.Typer(help="The escalation matrix.", no_args_is_help=True)
app.add_typer(people_app, name="people")
app.add_typer(review_app, name="review")
app.add_typer(raci_app, name="raci")
app.add_typer(board_app, name="board")
app.add_typer(cr_app, name="cr")
app.add_typer(esc_app, name="escalation")

ActorOpt = typer.Option(
    None,
    "--actor",
    help="Who acts (default $BASTION_ACTOR or the OS user). Self-declared: the CLI is for "
    "local administrators; over the API the actor is the token's identity.",
)


def _actor(value: str | None) -> str:
    return value or os.environ.get("BASTION_ACTOR") or getpass.getuser()


@app.command("apply")
def apply(file: Path, actor: str | None = ActorOpt, format: Format = FormatOpt) -> None:
    """Validate and apply a governance file (roles, people, RACI, boards, escalation)."""
    from bastion.governance import apply_config, load_config

    cfg = load_config(file)
    with workspace() as ws:
        summary = apply_config(ws, cfg, actor=_actor(actor))
    if format is Format.JSON:
        print_json(summary)
    else:
        out.print(
            f"Applied {file}: {summary['roles']} roles, {len(summary['people_added'])} people "
            f"added, {summary['raci']} RACI entries, boards {', '.join(summary['boards'])}, "
            f"{len(summary['access_reviews'])} access review(s) opened"
        )


@people_app.command("list")
def people_list(format: Format = FormatOpt) -> None:
    """List people with their roles and active grants."""
    from bastion.governance import list_people

    with workspace() as ws:
        people = list_people(ws)
    if format is Format.JSON:
        print_json([p.to_dict() for p in people])
        return
    print_table(
        "People",
        ["id", "name", "roles", "grants"],
        [(p.id, p.name, ", ".join(p.roles), ", ".join(g for _i, g in p.grants)) for p in people],
    )


@people_app.command("add")
def people_add(
    person_id: str,
    name: str = typer.Option(..., "--name"),
    role: list[str] = typer.Option(..., "--role", help="Role (repeatable)."),
    grant: list[str] = typer.Option([], "--grant", help="Grant (repeatable)."),
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """Add a person with roles and grants."""
    from pydantic import ValidationError

    from bastion.core.errors import InputError
    from bastion.governance import PersonSpec, add_person

    try:
        spec = PersonSpec(id=person_id, name=name, roles=tuple(role), grants=tuple(grant))
    except ValidationError as exc:
        raise InputError(f"person {person_id}: {exc.errors()[0]['msg']}") from None
    with workspace() as ws:
        p = add_person(ws, spec, actor=_actor(actor))
    print_json(p.to_dict()) if format is Format.JSON else out.print(f"Added {p.id}")


@people_app.command("grant")
def people_grant(person_id: str, grant: str, actor: str | None = ActorOpt) -> None:
    """Give a person a grant (e.g. dataset:applicants:read)."""
    from bastion.governance import grant_access

    with workspace() as ws:
        grant_access(ws, person_id, grant, actor=_actor(actor))
    out.print(f"Granted {grant} to {person_id}")


@people_app.command("transition")
def people_transition(
    person_id: str,
    role: list[str] = typer.Option(..., "--role", help="New role (repeatable)."),
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """Change roles; opens an access review listing grants the new roles should not keep."""
    from bastion.governance import transition_roles

    with workspace() as ws:
        r = transition_roles(ws, person_id, role, actor=_actor(actor))
    _print_review(r, format)


def _print_review(r: object, format: Format) -> None:
    from bastion.governance import AccessReview

    assert isinstance(r, AccessReview)
    if format is Format.JSON:
        print_json(r.to_dict())
        return
    out.print(f"Access review {r.id} of {r.person_id} ({r.trigger}): {r.status}")
    print_table(
        None,
        ["grant id", "grant", "keep", "reason"],
        [
            (i["grant_id"], i["grant"], "yes" if i["keep"] else "REVOKE", i["reason"])
            for i in r.items
        ],
    )


@review_app.command("start")
def review_start(person_id: str, actor: str | None = ActorOpt, format: Format = FormatOpt) -> None:
    """Open a periodic access review of one person."""
    from bastion.governance import start_access_review

    with workspace() as ws:
        r = start_access_review(ws, person_id, actor=_actor(actor))
    _print_review(r, format)


@review_app.command("list")
def review_list(status: str | None = typer.Option(None), format: Format = FormatOpt) -> None:
    """List access reviews."""
    from bastion.governance import list_access_reviews

    with workspace() as ws:
        items = list_access_reviews(ws, status=status)
    if format is Format.JSON:
        print_json([r.to_dict() for r in items])
        return
    print_table(
        "Access reviews",
        ["id", "person", "trigger", "status", "to revoke", "attested by"],
        [(r.id, r.person_id, r.trigger, r.status, len(r.to_revoke), r.attested_by) for r in items],
    )


@review_app.command("attest")
def review_attest(
    review_id: str,
    by: str = typer.Option(..., "--by", help="Person attesting (not the reviewed person)."),
    keep: list[int] = typer.Option([], "--keep", help="Flagged grant id to keep (repeatable)."),
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """Attest a review: revoke every flagged grant not explicitly kept."""
    from bastion.governance import complete_access_review

    with workspace() as ws:
        r = complete_access_review(ws, review_id, attested_by=by, keep=keep, actor=_actor(actor))
    _print_review(r, format)


@raci_app.command("show")
def raci_show(format: Format = FormatOpt) -> None:
    """The RACI: who owns what."""
    from bastion.governance import list_raci

    with workspace() as ws:
        rows = list_raci(ws)
    if format is Format.JSON:
        print_json(rows)
        return
    print_table(
        "RACI",
        ["scope", "ref", "duty", "RACI", "person"],
        [(r["scope"], r["ref"], r["duty"], r["letter"], r["person"]) for r in rows],
    )


@raci_app.command("set")
def raci_set(scope: str, ref: str, duty: str, person_id: str, actor: str | None = ActorOpt) -> None:
    """Assign a duty (owner, risk_owner, data_steward, security_champion)."""
    from bastion.governance import set_raci

    with workspace() as ws:
        set_raci(ws, scope, ref, duty, person_id, actor=_actor(actor))
    out.print(f"{duty} of {scope} {ref}: {person_id}")


@board_app.command("list")
def board_list(format: Format = FormatOpt) -> None:
    """The boards, their members by role and quorum."""
    from bastion.governance import list_boards

    with workspace() as ws:
        boards = list_boards(ws)
    if format is Format.JSON:
        print_json([b.to_dict() for b in boards])
        return
    print_table(
        "Boards",
        ["id", "name", "quorum", "required roles", "members"],
        [
            (
                b.id,
                b.name,
                b.quorum,
                ", ".join(b.required_roles),
                ", ".join(f"{p} ({r})" for p, r in b.members),
            )
            for b in boards
        ],
    )


@cr_app.command("open")
def cr_open(
    title: str = typer.Option(..., "--title"),
    target: str = typer.Option(..., "--target", help="What changes, e.g. credit-gbm@2."),
    board: str = typer.Option("cab", "--board"),
    digest: str | None = typer.Option(None, "--digest", help="Pin the decision to a digest."),
    kind: str = typer.Option("model_update", "--kind"),
    description: str = typer.Option("", "--description"),
    condition: list[str] = typer.Option([], "--condition", help="Condition (repeatable)."),
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """Open a change request for the board to review."""
    from bastion.governance import create_change_request

    with workspace() as ws:
        cr = create_change_request(
            ws,
            title=title,
            target=target,
            board_id=board,
            requested_by=_actor(actor),
            kind=kind,
            target_digest=digest,
            description=description,
            conditions=condition,
        )
    print_json(cr.to_dict()) if format is Format.JSON else out.print(f"Opened {cr.id}")


@cr_app.command("list")
def cr_list(status: str | None = typer.Option(None), format: Format = FormatOpt) -> None:
    """List change requests."""
    from bastion.governance import list_change_requests

    with workspace() as ws:
        items = list_change_requests(ws, status=status)
    if format is Format.JSON:
        print_json([c.to_dict() for c in items])
        return
    print_table(
        "Change requests",
        ["id", "title", "target", "board", "status", "votes", "requested by"],
        [
            (c.id, c.title, c.target, c.board_id, c.status.value, len(c.votes), c.requested_by)
            for c in items
        ],
    )


@cr_app.command("show")
def cr_show(cr_id: str, format: Format = FormatOpt) -> None:
    """Show a change request with its votes, conditions and decision."""
    from bastion.governance import get_change_request

    with workspace() as ws:
        cr = get_change_request(ws, cr_id)
    print_json(cr.to_dict()) if format is Format.JSON else out.print_json(data=cr.to_dict())


@cr_app.command("vote")
def cr_vote(
    cr_id: str,
    choice: str = typer.Argument(..., help="approve, reject or abstain"),
    comment: str | None = typer.Option(None),
    condition: str | None = typer.Option(None, help="A condition attached to the vote."),
    token: str = typer.Option(..., envvar="BASTION_TOKEN", help="Board member's API token."),
    otp: str = typer.Option(..., "--otp", help="Current TOTP code (votes need MFA)."),
    format: Format = FormatOpt,
) -> None:
    """Vote on a change request as a board member, with MFA."""
    from bastion.access import authenticate
    from bastion.governance import vote

    with workspace() as ws:
        cr = vote(
            ws, cr_id, authenticate(ws, token, otp), choice, comment=comment, condition=condition
        )
    print_json(cr.to_dict()) if format is Format.JSON else out.print(f"{cr.id}: {cr.status.value}")


@esc_app.command("show")
def esc_show(format: Format = FormatOpt) -> None:
    """The current escalation matrix."""
    from bastion.governance import get_escalation_matrix

    with workspace() as ws:
        version, matrix = get_escalation_matrix(ws)
    if format is Format.JSON:
        print_json({"version": version, **matrix.model_dump(mode="json")})
        return
    print_table(
        f"Escalation matrix v{version}",
        ["domain", "severity", "notify", "within"],
        [
            (r.domain.value, ", ".join(s.value for s in r.severity), ", ".join(r.notify), r.within)
            for r in matrix.rules
        ],
    )


@esc_app.command("query")
def esc_query(severity: str, domain: str, format: Format = FormatOpt) -> None:
    """Who is notified, and within what time, for SEVERITY x DOMAIN."""
    from bastion.governance import escalation_for

    with workspace() as ws:
        route = escalation_for(ws, severity, domain)
    if format is Format.JSON:
        print_json(route.to_dict())
    else:
        out.print(f"{severity} {domain}: notify {', '.join(route.notify)} within {route.within}")
