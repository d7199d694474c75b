"""Command groups shared by several rooms' CLI modules (``bastion model ...``)."""

from __future__ import annotations

import typer

__all__ = ["model_app"]

model_app = typer.Typer(
    help="Models: hash, sign, verify, attest, scan (and, later, register and promote).",
    no_args_is_help=True,
)
