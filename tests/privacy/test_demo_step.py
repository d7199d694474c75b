"""The privacy step of ``bastion demo`` on the example's generated applicants: a PII scan,
a masked copy drawn from it (no e-mail survives), one DP release under a budget, each as
evidence; and a clear error when the data was never generated."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bastion.core.errors import InputError
from bastion.core.evidence import EvidenceQuery
from bastion.core.workspace import Workspace
from bastion.demo import _load_trainer, find_example
from bastion.privacy import demo_step
from bastion.privacy.dp import budget_status
from bastion.privacy.lineage import lineage_graph


def test_demo_step_scans_masks_and_releases(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "example"
    _load_trainer(find_example()).build(out, n_applicants=300)
    line = demo_step(ws, out)
    assert "300 rows x 7 columns masked" in line and "EMAIL_ADDRESS" in line
    assert "DP mean income" in line
    for check in ("privacy.pii_scan", "privacy.masking", "privacy.dp_release"):
        assert ws.evidence.count(EvidenceQuery(check_id=check)) == 1, check
    with (out / "applicants.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    masked = (out / "applicants.masked.csv").read_text()
    for col in ("email", "national_id", "name"):  # national IDs: by the example's own list
        values = {r[col] for r in rows}
        assert values and not any(v in masked for v in values), col
    b = budget_status(ws, "credit-scoring/applicants")
    assert len(b.spends) == 1 and 0 < b.spent_epsilon <= b.epsilon == 1.0
    assert lineage_graph(ws, "applicants.masked.csv").edges  # the masking's lineage


def test_demo_step_without_data_says_so(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="has not been generated"):
        demo_step(ws, tmp_path)
