"""`bastion risk` commands (being built). Keep imports of heavy libraries inside commands."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Risk: FAIR Monte Carlo quantification, risk tiers and the risk register.",
    no_args_is_help=True,
)
