"""Shared CLI plumbing: workspace from options, output formats, progress, error exits."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bastion.core.settings import Settings, get_settings
from bastion.core.workspace import Workspace, open_workspace

# Wide when piped, so tables in logs and CI output do not fold words.
out = Console(soft_wrap=True)
if not out.is_terminal:
    out = Console(soft_wrap=True, width=160)
err = Console(stderr=True, soft_wrap=True)


class Format(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


FormatOpt = typer.Option(Format.TABLE, "--format", "-f", help="Output format.")


class State:
    home: Path | None = None
    debug: bool = False


state = State()


def settings() -> Settings:
    overrides: dict[str, Any] = {}
    if state.home is not None:
        overrides["home"] = state.home
    return get_settings(**overrides)


@contextmanager
def workspace() -> Iterator[Workspace]:
    ws = open_workspace(settings())
    try:
        yield ws
    finally:
        ws.close()


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, show_lines=False, header_style="bold")
    for c in columns:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*("" if v is None else str(v) for v in r))
    out.print(table)


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr; silent when stderr is not a terminal."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int, total_: int) -> None:
            bar.update(task, completed=done, total=total_)

        yield update


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)
