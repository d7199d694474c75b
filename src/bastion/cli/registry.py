"""`bastion model register|list|show|history|promote|rollback` and `bastion gate` (being built).

Model commands register on the shared ``model_app``; keep heavy imports inside commands.
"""

from __future__ import annotations

import typer

from bastion.cli._groups import model_app

__all__ = ["gate_app", "model_app"]

gate_app = typer.Typer(
    help="Promotion gates: evaluate a model version against its tier's policy.",
    no_args_is_help=True,
)
