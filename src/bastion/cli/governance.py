"""`bastion governance ...` commands (being built)."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    help="Governance: ownership (RACI), people and roles, boards, change requests, escalation.",
    no_args_is_help=True,
)
