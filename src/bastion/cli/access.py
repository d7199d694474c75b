"""`bastion access ...`: just-in-time grants and the least-privilege review.
Each command calls one function of ``bastion.access.policy``."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from bastion.cli._common import Format, FormatOpt, out, print_json, print_table, workspace

__all__ = ["app"]

app = typer.Typer(
    help="Access: just-in-time grants (request, approve with MFA, revoke) and reviews.",
    no_args_is_help=True,
)
TokenOpt = typer.Option(..., envvar="BASTION_TOKEN", help="Approver's API token.")
OtpOpt = typer.Option(..., "--otp", help="Current TOTP code of the token (MFA).")


def _show(g: dict[str, object], format: Format) -> None:
    if format is Format.JSON:
        print_json(g)
    else:
        out.print(
            f"{g['id']}  {g['state']}  {g['principal']} {g['action']} {g['resource']}"
            + (f"  until {g['expires_at']}" if g.get("expires_at") else "")
        )


@app.command("request")
def request(
    principal: str = typer.Option(..., help="Who gets the grant: user:ID, workload:ID, vendor:ID."),
    action: str = typer.Option(..., help="The one action granted."),
    resource: str = typer.Option(..., help="endpoint:ID, model_version:ID or dataset:ID."),
    reason: str = typer.Option(..., help="Why (10 to 1000 characters; audited)."),
    duration: str = typer.Option("4h", help="How long once approved: 30m, 4h, 2d (max 7d)."),
    role: list[str] = typer.Option([], "--role", help="The principal's roles (for the review)."),
    actor: str | None = typer.Option(None, "--actor", help="Who asks (default $BASTION_ACTOR)."),
    format: Format = FormatOpt,
) -> None:
    """Request a scoped, time-limited grant; it waits for an approver."""
    from bastion.access.policy import request_grant

    who = actor or os.environ.get("BASTION_ACTOR") or getpass.getuser()
    with workspace() as ws:
        g = request_grant(ws, principal, action, resource, reason, duration, roles=role, actor=who)
    _show(g.to_dict(), format)


def _act_on_grant(
    act: Callable[..., Any], grant_id: str, token: str, otp: str, note: str | None, format: Format
) -> None:
    """Approve, deny or revoke as the token's person (with its one-time code)."""
    from bastion.access import authenticate

    with workspace() as ws:
        g = act(ws, grant_id, authenticate(ws, token, otp), note=note)
    _show(g.to_dict(), format)


@app.command("approve")
def approve(
    grant_id: str,
    token: str = TokenOpt,
    otp: str = OtpOpt,
    note: str | None = typer.Option(None, help="A note for the audit trail."),
    format: Format = FormatOpt,
) -> None:
    """Approve a pending grant as the token's person, with MFA (not your own request)."""
    from bastion.access.policy import approve_grant

    _act_on_grant(approve_grant, grant_id, token, otp, note, format)


@app.command("deny")
def deny(
    grant_id: str,
    token: str = TokenOpt,
    otp: str = OtpOpt,
    note: str | None = typer.Option(None),
    format: Format = FormatOpt,
) -> None:
    """Deny a pending grant."""
    from bastion.access.policy import deny_grant

    _act_on_grant(deny_grant, grant_id, token, otp, note, format)


@app.command("revoke")
def revoke(
    grant_id: str,
    token: str = TokenOpt,
    otp: str = OtpOpt,
    note: str | None = typer.Option(None),
    format: Format = FormatOpt,
) -> None:
    """End a grant now (every replica's next decision sees it)."""
    from bastion.access.policy import revoke_grant

    _act_on_grant(revoke_grant, grant_id, token, otp, note, format)


@app.command("grants")
def grants(
    state: str | None = typer.Option(None, help="pending, active, expired, denied, revoked."),
    principal: str | None = typer.Option(None),
    format: Format = FormatOpt,
) -> None:
    """List grants, newest first."""
    from bastion.access.policy import list_grants

    with workspace() as ws:
        got = [g.to_dict() for g in list_grants(ws, state=state, principal=principal)]
    if format is Format.JSON:
        print_json(got)
        return
    print_table(
        f"{len(got)} grants",
        ["id", "state", "principal", "action", "resource", "expires", "uses"],
        [
            (
                g["id"],
                g["state"],
                g["principal"],
                g["action"],
                g["resource"],
                g["expires_at"],
                g["use_count"],
            )
            for g in got
        ],
    )


@app.command("review")
def review(
    days: int = typer.Option(30, "--days", help="Unused for this many days counts as unused."),
    directory: Path | None = typer.Option(
        None, "--dir", help="Policy directory whose baselines.yaml to use."
    ),
    format: Format = FormatOpt,
) -> None:
    """Least privilege: grants unused in N days and grants beyond a role's baseline."""
    from bastion.access.policy import access_review

    with workspace() as ws:
        rep = access_review(ws, days=days, directory=directory)
    if format is Format.JSON:
        print_json(rep.to_dict())
        return
    rows = rep.rows()
    print_table(
        f"least privilege: {len(rep.unused)} unused grants, "
        f"{len(rep.beyond_baseline)} principals beyond baseline",
        ["finding", "principal", "grant", "access", "detail"],
        rows,
    )
