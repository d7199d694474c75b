"""End-to-end tests: the console over a real workspace, through TestClient and Chromium."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bastion._plugins import load_checks
from bastion.access import create_token
from bastion.core.checks import run_check
from bastion.core.settings import get_settings
from bastion.core.types import Evidence, Subject
from bastion.core.workspace import Workspace, init_workspace
from bastion.inventory import import_manifest
from bastion.manifest import load_manifest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-scoring" / "system.yaml"
SYSTEM = "credit-scoring"


@dataclass(frozen=True)
class Demo:
    """A workspace holding the credit-scoring example, its hygiene evidence and a viewer token."""

    ws: Workspace
    viewer_token: str
    evidence: Evidence


def build_demo(home: Path) -> Demo:
    ws, _ = init_workspace(get_settings(home=home))
    import_manifest(ws, load_manifest(EXAMPLE), source=str(EXAMPLE), actor="test")
    load_checks()
    evidence = run_check(ws, "inventory.hygiene", Subject("system", SYSTEM), actor="test")
    viewer = create_token(ws, name="Vera Viewer", role="viewer", actor="test")
    return Demo(ws, viewer.token, evidence)
