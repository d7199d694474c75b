"""``bastion demo``: everything Bastion can do so far, on the bundled credit-scoring example.

Runs in a fresh temporary home (or a kept one) so it never touches the user's own state.
Later rooms add their steps here; each step prints one readable line and the summary
shows what landed in the ledger.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from bastion._plugins import load_checks
from bastion.access import Role, authenticate, create_token
from bastion.core.checks import run_check
from bastion.core.errors import ConfigError
from bastion.core.ledger import Event
from bastion.core.settings import get_settings
from bastion.core.types import Subject
from bastion.core.workspace import Workspace, init_workspace
from bastion.inventory import import_manifest, list_assets
from bastion.manifest import load_manifest

__all__ = ["find_example", "run_demo"]


def find_example() -> Path:
    """The bundled example: beside the source tree, or under the current directory."""
    candidates = [
        Path(__file__).resolve().parents[2] / "examples" / "credit-scoring",
        Path.cwd() / "examples" / "credit-scoring",
    ]
    for c in candidates:
        if (c / "system.yaml").is_file():
            return c
    raise ConfigError(
        "the bundled example (examples/credit-scoring) was not found; run from the repository"
    )


def _load_trainer(example: Path) -> Any:
    spec = importlib.util.spec_from_file_location("bastion_example_train", example / "train.py")
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load {example / 'train.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_demo(keep: Path | None = None, console: Console | None = None, rows: int = 5000) -> int:
    console = console or Console()
    example = find_example()
    tmp = None
    if keep is None:
        tmp = Path(tempfile.mkdtemp(prefix="bastion-demo-"))
        home = tmp / "home"
    else:
        home = keep
    console.print(
        Panel.fit(f"Bastion demo on [bold]{example.name}[/]\nhome: {home}", title="bastion demo")
    )
    steps: list[tuple[str, str]] = []

    def step(title: str, fn: Callable[[], str]) -> None:
        t0 = time.perf_counter()
        with console.status(title):
            detail = fn()
        steps.append((title, detail))
        console.print(f"[green]✓[/] {title}: {detail} [dim]({time.perf_counter() - t0:.1f}s)[/]")

    try:
        ws, _ = init_workspace(get_settings(home=home), actor="demo")
        try:
            _run_steps(ws, example, home, step, rows)
            _summary(ws, console)
        finally:
            ws.close()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _run_steps(
    ws: Workspace,
    example: Path,
    home: Path,
    step: Callable[[str, Callable[[], str]], None],
    rows: int,
) -> None:
    out_dir = home / "example"
    generated: dict[str, Any] = {}

    def train() -> str:
        trainer = _load_trainer(example)
        generated.update(trainer.build(out_dir, n_applicants=rows))
        m = generated["metrics"]
        ws.ledger.append(
            [
                Event(
                    "example.artifacts_generated",
                    {"example": example.name, "files": generated["files"], "metrics": m},
                    "demo",
                )
            ]
        )
        return (
            f"{generated['rows']['applicants']} applicants, credit-gbm AUC {m['credit-gbm']['auc']:.3f}, "
            f"credit-mlp AUC {m['credit-mlp']['auc']:.3f}, {len(generated['files'])} files digested"
        )

    step("Generate the example's data and models", train)

    manifest = load_manifest(example / "system.yaml")

    def validate() -> str:
        return (
            f"{manifest.system.id}: {len(manifest.assets)} assets, {len(manifest.flows)} flows, "
            f"{len(manifest.boundaries)} trust boundaries"
        )

    step("Validate the system manifest", validate)

    def inventory() -> str:
        res = import_manifest(ws, manifest, source=str(example / "system.yaml"), actor="demo")
        kinds = sorted({a.kind for a in list_assets(ws, system=res.system_id)})
        return f"version {res.version}, {len(res.added)} assets ({', '.join(kinds)})"

    step("Import it into the inventory", inventory)

    def hygiene() -> str:
        load_checks()
        rec = import_manifest(ws, manifest, actor="demo")
        ev = run_check(
            ws, "inventory.hygiene", Subject("system", rec.system_id, rec.digest), actor="demo"
        )
        return f"verdict {ev.verdict.value}, {len(ev.findings)} findings, evidence {ev.id[:8]} at ledger #{ev.ledger_seq}"

    step("Run the inventory hygiene check", hygiene)

    def access() -> str:
        viewer = create_token(ws, name="demo-viewer", role=Role.VIEWER, actor="demo")
        admin = create_token(ws, name="demo-admin", role=Role.ADMIN, actor="demo")
        p = authenticate(ws, viewer.token)
        import pyotp

        assert admin.totp_secret is not None
        a = authenticate(ws, admin.token, pyotp.TOTP(admin.totp_secret).now())
        return f"viewer '{p.name}' signed in; admin '{a.name}' signed in with TOTP (mfa={a.mfa_verified})"

    step("Create API tokens with roles and MFA", access)

    def verify() -> str:
        rep = ws.ledger.verify()
        if not rep.ok:
            raise ConfigError(
                "ledger verification failed: " + "; ".join(p.message for p in rep.problems)
            )
        last = ws.ledger.entries(limit=1, newest_first=True)[0]
        proof = ws.ledger.inclusion_proof(last.event_id)
        proof.verify()
        return (
            f"{rep.size} events, {rep.checkpoints} signed checkpoints intact; inclusion proof of "
            f"#{last.seq} ({len(proof.path)} hashes) verifies"
        )

    step("Verify the ledger and prove an event", verify)


def _summary(ws: Workspace, console: Console) -> None:
    table = Table(title="Ledger (newest first)", header_style="bold")
    for col in ("seq", "kind", "actor"):
        table.add_column(col)
    for e in ws.ledger.entries(limit=12, newest_first=True):
        table.add_row(str(e.seq), e.kind, e.actor)
    console.print(table)
    note = ws.ledger.latest_checkpoint() or ""
    console.print(Panel(note.rstrip(), title="Latest signed checkpoint (C2SP)", expand=False))
    console.print(
        "Next: [bold]bastion init[/], [bold]bastion inventory import examples/credit-scoring/system.yaml[/], "
        "[bold]bastion serve[/] and open http://127.0.0.1:8700/ui/"
    )
