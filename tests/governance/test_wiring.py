"""Issue 13 section 4: hooks are interfaces, wired once (bastion.wiring), never registered
by importing a room, and no room imports the composition root."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

SRC = ROOT / "src" / "bastion"
# The edges (translate argv/HTTP, or run the demo) may load every room; rooms may not.
EDGES = {"api", "cli", "web"}

_CONFLICT_SCRIPT = r"""
import sys
from pathlib import Path

from bastion import governance, registry  # the two rooms, and nothing that loads the rest
from bastion.governance import _boards, _proposals

# Importing the rooms registered nothing: no hook is an import side effect.
assert _boards._CONFLICT_CHECKS == [], _boards._CONFLICT_CHECKS
assert _proposals._APPLIERS == {}, _proposals._APPLIERS
assert "bastion._plugins" not in sys.modules
assert "bastion.wiring" not in sys.modules
assert not any(m.startswith(("bastion.api", "bastion.cli")) for m in sys.modules)

from bastion.access import Principal, Role
from bastion.core.errors import PermissionDeniedError
from bastion.core.settings import get_settings
from bastion.core.workspace import init_workspace

home, governance_file = Path(sys.argv[1]), Path(sys.argv[2])
ws, _ = init_workspace(get_settings(home=home / "home"))  # the one place hooks are wired
governance.apply_config(ws, governance.load_config(governance_file), actor="test")
model = home / "model"
model.mkdir()
(model / "weights.bin").write_bytes(b"weights-v1")
v = registry.register_model(ws, "credit-gbm", model, authors=["dana", "bo"], actor="dana")
cr = governance.create_change_request(
    ws, title="promote", target=v.ref, target_digest=v.digest, board_id="cab",
    requested_by="dana",
)
bo = Principal("tbo", "bo", Role.APPROVER, mfa_verified=True)
try:
    governance.vote(ws, cr.id, bo, "approve")
except PermissionDeniedError as exc:
    assert "bo authored credit-gbm@1 and cannot vote" in str(exc), str(exc)
else:
    raise SystemExit("an author voted on a change request about their own model")
assert governance.conflicted_voters(ws, v.ref, v.digest) == {"dana", "bo"}
print("conflict rule holds")
"""


def test_finding_4_conflict_rule_holds_with_only_governance_and_registry(tmp_path: Path) -> None:
    """A fresh process that imports just governance and registry: importing them registers
    no hook, opening the workspace wires the rule, and an author's vote is refused."""
    governance_file = ROOT / "examples" / "credit-scoring" / "governance.yaml"
    proc = subprocess.run(
        [sys.executable, "-c", _CONFLICT_SCRIPT, str(tmp_path), str(governance_file)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "conflict rule holds" in proc.stdout


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_finding_4_no_room_imports_the_composition_root() -> None:
    """Rooms (every sub-package but the edges) never import bastion._plugins or
    bastion.wiring: hooks are wired in one place, not pulled in by a room."""
    offenders = []
    for room in sorted(p for p in SRC.iterdir() if p.is_dir() and p.name not in EDGES):
        for path in room.rglob("*.py"):
            bad = {"bastion._plugins", "bastion.wiring"} & _imports(path)
            if bad:
                offenders.append(f"{path.relative_to(SRC)}: {sorted(bad)}")
    assert offenders == []


def test_finding_4_hooks_are_protocols_of_their_rooms() -> None:
    """The hooks are Protocols in the owning room's interface.py, and the wired functions
    are public names of the rooms that offer them."""
    from typing import Protocol

    from bastion import governance, registry
    from bastion.governance.interface import ChangeApplier, ConflictCheck
    from bastion.registry.interface import RollbackHook

    for hook in (ChangeApplier, ConflictCheck, RollbackHook):
        assert Protocol in hook.__mro__
    assert governance.ConflictCheck is ConflictCheck
    assert registry.RollbackHook is RollbackHook
    assert "version_authors" in registry.__all__
    assert "apply_policy_proposal" in registry.__all__
    assert "apply_proposed_config" in governance.__all__
