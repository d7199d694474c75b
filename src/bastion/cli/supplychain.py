"""`bastion deps scan` and `bastion bom` (being built)."""

from __future__ import annotations

import typer

__all__ = ["deps_app", "register"]

deps_app = typer.Typer(
    help="Dependency vulnerabilities, matched offline against an OSV database.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add top-level commands (``bastion bom``) to the root app."""
