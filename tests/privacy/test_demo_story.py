"""The privacy room's demo story on the example's own generated data: a DP model under a
recorded budget, a synthetic copy that passes its gate, a poisoned batch refused, the
lineage, and the PIA, each as evidence."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from bastion.core.workspace import Workspace
from bastion.privacy import demo_step, demo_story

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-scoring"


def test_privacy_demo_story(sqlite_ws: Workspace, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("credit_train", EXAMPLE / "train.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.build(tmp_path / "ex", 300, 7)
    demo_step(sqlite_ws, tmp_path / "ex")
    lines: list[tuple[str, str]] = []
    ids = demo_story(sqlite_ws, tmp_path / "ex", EXAMPLE / "system.yaml",
                     lambda t, d: lines.append((t, d)))  # fmt: skip
    assert set(ids) == {"dp_training", "synthetic", "validation", "pia"}
    text = {t: d for t, d in lines}
    assert "data.validation fail: refused" in text["Validate a poisoned training batch"]
    assert (
        "privacy.synthetic pass" in text["Generate a synthetic copy and check it (Gaussian copula)"]
    )
    assert sqlite_ws.evidence.get(ids["validation"]).verdict.value == "fail"
    assert sqlite_ws.evidence.get(ids["pia"]).check_id == "privacy.pia"
    assert "dp_training" in text["Lineage from the applicant data (OpenLineage)"]
    assert (tmp_path / "ex" / "lineage.svg").read_text().startswith("<?xml")
