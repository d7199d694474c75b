"""`bastion model sign|verify|attest|hash` and `bastion pki` (being built).

Commands register on the shared ``model_app``; keep heavy imports inside commands.
"""

from __future__ import annotations

import typer

from bastion.cli._groups import model_app

__all__ = ["model_app", "pki_app"]

pki_app = typer.Typer(
    help="In-house PKI for model signing: a root and intermediate CA, short-lived signing certificates.",
    no_args_is_help=True,
)
