"""The guard's demo story on the example's real trained model and the vulnerable chat
server: every step happens (allowed, denied with its reason, JIT grant, extraction
detected and throttled, injection blocked) and is in the ledger."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from bastion.core.workspace import Workspace
from bastion.guard import demo_story

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-scoring"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.spec_from_file_location("guard_demo_train", EXAMPLE / "train.py")
    assert spec is not None and spec.loader is not None
    trainer = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = trainer
    spec.loader.exec_module(trainer)
    out = tmp_path_factory.mktemp("example")
    trainer.build(out, n_applicants=800)
    return out


def test_demo_story_tells_every_step_and_ledgers_it(sqlite_ws: Workspace, built: Path) -> None:
    lines: list[tuple[str, str]] = []
    out = demo_story(sqlite_ws, built, lambda title, detail: lines.append((title, detail)))
    assert 5 <= len(lines) <= 7
    text = "\n".join(f"{t}: {d}" for t, d in lines)
    assert out["allowed_label"] in (0, 1)
    assert out["denied"].startswith("403 denied") and "no policy permits user:max" in text
    assert out["jit"] == ("403 denied", "allowed", "403 denied")
    ext = out["extraction"]
    assert out["prada_flags"] > 0 and ext["first"] > 0  # detected, then rate-limited
    assert out["detections"] >= 1
    assert out["llm_direct_leaked"] is True  # the vulnerable server obeys the injection
    assert out["llm_guarded"] == (403, "detector:prompt_injection")
    kinds = {e.kind for e in sqlite_ws.ledger.entries(limit=10_000)}
    assert {"guard.config", "guard.decision", "access.grant_requested", "access.grant_approved",
            "monitor.detection"} <= kinds  # fmt: skip
    assert "access.grant_revoked" not in kinds  # nobody ended the grant: it expired on its own
    assert "expired on its own" in text
    (grant,) = [e.data for e in sqlite_ws.ledger.entries(kind="access.grant_approved", limit=5)]
    assert (grant["grant_id"], grant["principal"]) == (out["grant"], "vendor:acme")
    # the allowed JIT call names its grant in the guard's decision
    used = [e.data for e in sqlite_ws.ledger.entries(kind="guard.decision", limit=10_000)
            if e.data["principal"] == "vendor:acme" and e.data["decision"] == "allow"]  # fmt: skip
    assert len(used) == 1


def test_demo_story_needs_the_built_example(sqlite_ws: Workspace, tmp_path: Path) -> None:
    from bastion.core.errors import BastionError

    with pytest.raises(BastionError):
        demo_story(sqlite_ws, tmp_path, lambda title, detail: None)
