"""Every CLI command, API route and console page is documented in docs/."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from fastapi.routing import APIRoute

from bastion.cli.main import app as cli_app

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _docs_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")))


def _commands(group: typer.Typer, prefix: str) -> list[str]:
    out = [
        f"{prefix} {c.name or c.callback.__name__.replace('_', '-')}"
        for c in group.registered_commands
    ]  # type: ignore[union-attr]
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        out.extend(_commands(sub.typer_instance, f"{prefix} {sub.name}"))
    return out


def test_every_cli_command_is_documented() -> None:
    text = _docs_text()
    commands = _commands(cli_app, "bastion")
    assert len(commands) > 40
    missing = [c for c in commands if c not in text]
    assert missing == []


def _routes() -> list[APIRoute]:
    from bastion.api import (
        compliance,
        console,
        console_registry,
        console_security,
        evidence,
        governance,
        integrity,
        inventory,
        ledger,
        registry,
        risk,
        threats,
        tokens,
    )
    from bastion.api.app import _api_routes
    from bastion.api.app import create_app as _create  # noqa: F401  (import check)

    routers = [
        inventory,
        evidence,
        ledger,
        tokens,
        threats,
        risk,
        integrity,
        registry,
        governance,
        compliance,
    ]
    routes = []
    for m in routers:
        routes.extend(_api_routes(m.router.routes))
    for m in (console, console_registry, console_security):
        routes.extend(_api_routes(m.router.routes))
    return routes


def _normalise(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_route_and_page_is_documented() -> None:
    text = _normalise(_docs_text())
    missing = []
    for r in _routes():
        path = r.path
        if not path.startswith("/ui") and not path.startswith("/api"):
            path = "/api/v1" + path if not path.startswith("/") else path
        candidates = {_normalise(path), _normalise(path.removeprefix("/api/v1"))}
        if not any(c in text for c in candidates if c not in ("", "/")):
            missing.append(f"{sorted(r.methods)} {path}")
    assert missing == []
