"""`bastion threats` commands (being built). Keep imports of heavy libraries inside commands."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Threat modeling: data-flow graph, STRIDE and ATLAS rules, diagrams, CI gates.",
    no_args_is_help=True,
)
