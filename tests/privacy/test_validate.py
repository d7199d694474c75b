"""Training-data validation: pandera schema from a constraint file, distribution limits
against a reference (monitor drift statistics), label balance, near duplicates; the
evidence, the CLI and the API route."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.core.errors import InputError
from bastion.core.workspace import Workspace
from bastion.privacy.validate import DataValidationCheck, parse_constraints, validate_file
from tests._cli import start

CONSTRAINTS = """\
name: applicants-training
columns:
  applicant_id: {type: str, unique: true, pattern: "^A[0-9]{6}$"}
  age: {type: int, min: 18, max: 100}
  income: {type: float, min: 0}
  region: {type: str, categories: [north, south, east, west]}
  label: {type: int, categories: [0, 1]}
distribution:
  columns: [age, income, region]
  psi_max: 0.2
  alpha: 0.01
  label: label
  label_shift_max: 0.08
  near_duplicates: {max_rate: 0.02, decimals: 1, columns: [age, income, region, label]}
"""


def _rows(seed: int, n: int, start: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    income = rng.lognormal(10.5, 0.4, n)
    region = rng.choice(["north", "south", "east", "west"], n)
    label = (rng.random(n) < 0.3).astype(int)
    return [
        [f"A{start + i:06d}", str(a), f"{inc:.2f}", r, str(lab)]
        for i, (a, inc, r, lab) in enumerate(zip(age, income, region, label, strict=True))
    ]


def _write(path: Path, rows: list[list[str]]) -> Path:
    path.write_text(
        "applicant_id,age,income,region,label\n" + "\n".join(",".join(r) for r in rows) + "\n"
    )
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    c = tmp_path / "constraints.yaml"
    c.write_text(CONSTRAINTS)
    return (
        c,
        _write(tmp_path / "ref.csv", _rows(0, 3000)),
        _write(tmp_path / "batch.csv", _rows(1, 1500, start=500_000)),
    )


def _poisoned(tmp_path: Path) -> Path:
    rows = _rows(2, 1500, start=700_000)
    for r in rows[:600]:  # label flipping: defaulters marked as repaid
        r[4] = "0"
    for r in rows[600:1000]:  # income inflated
        r[2] = f"{float(r[2]) * 3:.2f}"
    target = rows[0]
    for i in range(60):  # injected near copies of one crafted record
        rows[1000 + i] = [f"A{800_000 + i:06d}", target[1], f"{float(target[2]) + 0.01:.2f}",
                         target[3], target[4]]  # fmt: skip
    return _write(tmp_path / "poisoned.csv", rows)


def test_a_clean_batch_passes_and_is_recorded(
    ws: Workspace, files: tuple[Path, Path, Path]
) -> None:
    c, ref, batch = files
    rep = validate_file(ws, batch, c, reference=ref, ref="applicants@2")
    assert rep.data.passed and rep.data.schema_ok and rep.data.drifted == ()
    assert rep.data.label_shift is not None and rep.data.label_shift < 0.05
    assert rep.data.near_duplicate_rate is not None and rep.data.near_duplicate_rate < 0.02
    assert {x["column"] for x in rep.data.distribution} == {"age", "income", "region"}
    ev = rep.evidence
    assert (
        ev is not None and ev.verdict.value == "pass" and ev.subject.digest == rep.data.data_digest
    )
    assert DataValidationCheck.read(ev).reference_digest is not None


def test_a_poisoned_batch_is_refused(
    ws: Workspace, files: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    c, ref, _ = files
    rep = validate_file(ws, _poisoned(tmp_path), c, reference=ref)
    assert not rep.data.passed and rep.data.schema_ok
    assert "income" in rep.data.drifted and "age" not in rep.data.drifted
    assert rep.data.label_shift is not None and rep.data.label_shift > 0.08
    assert rep.data.near_duplicate_rate is not None and rep.data.near_duplicate_rate > 0.03
    assert rep.evidence is not None and rep.evidence.verdict.value == "fail"
    rules = {f.rule_id for f in rep.evidence.findings}
    assert rules == {"data.validation.drift", "data.validation.label_balance",
                     "data.validation.near_duplicates"}  # fmt: skip


def test_schema_failures_name_column_check_and_rows_never_values(
    files: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    c, ref, _ = files
    rows = _rows(3, 50)
    rows[3][1] = "150"  # age above max
    rows[4][3] = "mars"  # unknown region
    rows[5][0] = rows[6][0]  # duplicate id
    rows[7][1] = "forty"  # not a number
    rows[8][0] = "B123"  # pattern
    bad = _write(tmp_path / "bad.csv", rows)
    rep = validate_file(None, bad, c, reference=ref)
    got = {(f["column"], f["check"]): f["rows"] for f in rep.data.schema_failures}
    assert got[("age", "less_than_or_equal_to(100)")] == [3]
    assert got[("region", "isin(['north', 'south', 'east', 'west'])")] == [4]
    assert got[("applicant_id", "field_uniqueness")] == [5, 6]
    assert got[("age", "type(int)")] == [7]
    assert ("age", "not_nullable") not in got  # the unparsed cell is named once
    assert ("applicant_id", "str_matches('^A[0-9]{6}$')") in got
    assert not rep.data.passed and not rep.data.schema_ok
    assert "mars" not in str(rep.to_dict()) and "forty" not in str(rep.to_dict())
    extra = tmp_path / "extra.csv"
    extra.write_text("applicant_id,age,income,region,label,ssn\nA000001,30,1.0,north,0,x\n")
    c2 = tmp_path / "c2.yaml"
    c2.write_text(CONSTRAINTS.split("distribution:")[0])
    rep = validate_file(None, extra, c2)
    assert [(f["column"], f["check"]) for f in rep.data.schema_failures] == [
        ("ssn", "column_in_schema")
    ]


def test_bad_constraints_and_data_are_clear(files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    c, ref, batch = files
    with pytest.raises(InputError, match="bounds reversed"):
        parse_constraints("columns: {age: {type: int, min: 9, max: 1}}")
    with pytest.raises(InputError, match=r"columns\.age"):
        parse_constraints("columns: {age: {type: int, minimum: 1}}")
    with pytest.raises(InputError, match="not in columns"):
        parse_constraints("columns: {age: {type: int}}\ndistribution: {columns: [wage]}")
    with pytest.raises(InputError, match="not a regular expression"):
        parse_constraints("columns: {id: {type: str, pattern: '(['}}")
    with pytest.raises(InputError, match="give a reference"):
        validate_file(None, batch, c)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("applicant_id,age\nA000001,30\nA000002\n")
    with pytest.raises(InputError, match="line 3 has 1 fields, not 2"):
        validate_file(None, ragged, c, reference=ref)
    pq.write_table(pa.table({"age": pa.array([[1, 2]])}), tmp_path / "nested.parquet")
    with pytest.raises(InputError, match="column 'age' has type list"):
        validate_file(None, tmp_path / "nested.parquet", c, reference=ref)


def test_parquet_batches_validate(files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    c, ref, _ = files
    rows = _rows(4, 1200, start=900_000)
    t = pa.table({
        "applicant_id": [r[0] for r in rows], "age": [int(r[1]) for r in rows],
        "income": [float(r[2]) for r in rows], "region": [r[3] for r in rows],
        "label": [int(r[4]) for r in rows],
    })  # fmt: skip
    pq.write_table(t, tmp_path / "batch.parquet")
    rep = validate_file(None, tmp_path / "batch.parquet", c, reference=ref)
    assert rep.data.passed, rep.to_dict()


def test_cli_validate_refuses_the_poisoned_batch(
    files: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = start(tmp_path, capsys)
    c, ref, batch = files
    doc = run.json("data", "validate", str(batch), "--schema", str(c), "--reference", str(ref))
    assert doc["verdict"] == "pass" and doc["evidence_id"]
    rc, out, _ = run("data", "validate", str(_poisoned(tmp_path)), "-s", str(c), "-r", str(ref))
    assert rc == 1 and "fail" in out and "income" in out and "label balance shift" in out
    rc, _, err = run("data", "validate", str(batch), "-s", str(c))
    assert rc == 2 and "give a reference" in err


def test_api_validate(ws: Workspace, files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    client = TestClient(create_app(ws.settings, workspace=ws))
    c, ref, _ = files
    body = {"data_csv": _poisoned(tmp_path).read_text(), "constraints": c.read_text(),
            "reference_csv": ref.read_text()}  # fmt: skip
    assert client.post("/api/v1/data/validate", json=body).status_code == 401
    viewer = {"Authorization": f"Bearer {create_token(ws, name='v', role=Role.VIEWER).token}"}
    assert client.post("/api/v1/data/validate", json=body, headers=viewer).status_code == 403
    eng = {"Authorization": f"Bearer {create_token(ws, name='e', role=Role.ENGINEER).token}"}
    r = client.post("/api/v1/data/validate", json=body, headers=eng)
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "fail" and "income" in r.json()["drifted"]
    r = client.post(
        "/api/v1/data/validate", json={**body, "constraints": "columns: [1]"}, headers=eng
    )
    assert r.status_code == 422
