"""Typer's exception classes, wherever this Typer version keeps them.

Newer Typer releases vendor click as ``typer._click``; older ones use ``click`` itself.
"""

from __future__ import annotations

from typer import Abort

try:
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older Typer on top of click
    from click.exceptions import ClickException  # type: ignore[assignment]

__all__ = ["Abort", "ClickException"]
