"""Synthetic data: the copula, the fidelity and privacy reports, the privacy.synthetic gate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bastion.core.checks import run_check
from bastion.core.errors import InputError
from bastion.core.types import Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.privacy import synthetic as sy


def _csv(n: int = 1200, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n)
    income = age * 1000 + rng.normal(0, 5000, n)
    band = np.where(income > 40000, "high", "low")
    region = rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2])
    lines = ["age,income,band,region"]
    lines += [
        f"{a:.0f},{i:.2f},{b},{r}" for a, i, b, r in zip(age, income, band, region, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


def test_copula_keeps_shapes_and_correlation() -> None:
    t = sy.parse_csv(_csv())
    assert [c.kind.value for c in t.columns] == [
        "numerical",
        "numerical",
        "categorical",
        "categorical",
    ]
    s = sy.fit_copula(t, rng=np.random.default_rng(1)).sample(2000, rng=np.random.default_rng(2))
    f = sy.fidelity_report(t, s)
    assert f.score > 0.85 and f.column_shapes > 0.9
    r_real = np.corrcoef(t.column("age").values, t.column("income").values)[0, 1]
    r_syn = np.corrcoef(s.column("age").values, s.column("income").values)[0, 1]
    assert r_syn == pytest.approx(r_real, abs=0.08)
    assert set(s.column("region").values) <= {"north", "south", "east"}
    assert np.all(s.column("age").values == np.round(s.column("age").values))


def test_verbatim_copy_scores_one_on_fidelity_and_fails_the_gate() -> None:
    t = sy.parse_csv(_csv())
    verdict, findings, f, p = sy.evaluate_synthetic(t, t, t)
    assert f.score == pytest.approx(1.0)
    assert p.exact_copy_rate == 1.0
    assert verdict is Verdict.FAIL
    assert {x.rule_id for x in findings} >= {"privacy.synthetic.copies"}


def test_low_fidelity_fails() -> None:
    t = sy.parse_csv(_csv())
    noise = sy.parse_csv(_csv(seed=5).replace(b"north", b"west"))
    verdict, findings, _f, _p = sy.evaluate_synthetic(
        t, noise, None, sy.Thresholds(min_quality=0.99)
    )
    assert verdict is Verdict.FAIL
    assert "privacy.synthetic.fidelity" in {x.rule_id for x in findings}


def test_synthesize_passes_with_holdout_and_records_digests(ws: Workspace) -> None:
    t = sy.parse_csv(_csv())
    s = sy.synthesize(ws, t, seed=3)
    assert s.evidence.verdict is Verdict.PASS, [f.message for f in s.evidence.findings]
    data = sy.SyntheticCheck.read(s.evidence)
    assert data.holdout and data.mia_auc is not None and abs(data.mia_auc - 0.5) < 0.1
    assert data.synthetic_digest == s.table.digest() == s.evidence.subject.digest
    assert data.generation is not None and data.generation["source_digest"] == t.digest()


def test_check_from_paths_fails_a_copy(ws: Workspace, tmp_path: Path) -> None:
    real = tmp_path / "real.csv"
    real.write_bytes(_csv())
    copy = tmp_path / "copy.csv"
    copy.write_bytes(_csv())
    ev = run_check(
        ws,
        sy.SyntheticCheck,
        Subject("dataset", "copy"),
        params={"real": str(real), "synthetic": str(copy)},
    )
    assert ev.verdict is Verdict.FAIL
    assert ev.data["exact_copy_rate"] == 1.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"a,b\n1,2\n3\n", "row 3 has 1 fields"),
        (b"a,a\n1,2\n", "duplicate column"),
        (b"", "empty file"),
        (b"a,b\n", "no data rows"),
        (b"a,\n1,2\n", "empty column name"),
        (b"\xff\xfe\x00a", "not UTF-8"),
    ],
)
def test_bad_csv_is_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        sy.parse_csv(data, "t.csv")
