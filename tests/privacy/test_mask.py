"""Masking non-production copies: CSV/Parquet, refusals, no partial output, CLI and API."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.cli.main import main
from bastion.core.errors import InputError
from bastion.core.workspace import Workspace
from bastion.privacy.deid import MaskingCheck, TokenVault, mask_file, parse_policy
from tests._otp import fresh

CSV = (
    "id,email,phone,ssn,zip,notes\n"
    "1,ana@example.com,415-555-2671,123-45-6780,02134,hello\n"
    "2,bo@example.org,(212)555-0199,234-56-7891,10001,call 415-555-2671\n"
)
POLICY = """
columns:
  email: {operator: hash}
  phone: {operator: mask, keep_last: 4}
  ssn: {operator: fpe}
  zip: {operator: generalize, keep: 3}
  notes: {operator: redact}
"""


@pytest.fixture
def src(tmp_path: Path) -> Path:
    p = tmp_path / "applicants.csv"
    p.write_text(CSV, encoding="utf-8")
    return p


def _read(p: Path) -> dict[str, list[str]]:
    t = pacsv.read_csv(p, convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(
        ["id", "email", "phone", "ssn", "zip", "notes"], pa.string())))  # fmt: skip
    return {n: t.column(n).to_pylist() for n in t.column_names}


def test_mask_csv_records_a_transformation(ws: Workspace, src: Path, tmp_path: Path) -> None:
    out = tmp_path / "masked.csv"
    r = mask_file(src, parse_policy(POLICY), out, ws=ws)
    got = _read(out)
    assert got["id"] == ["1", "2"]
    assert got["phone"] == ["***-***-2671", "(***)***-0199"]
    assert got["zip"] == ["021**", "100**"] and got["notes"] == ["", ""]
    assert got["ssn"][0] != "123-45-6780" and got["ssn"][0][3] == "-"
    assert "ana@example.com" not in out.read_text()
    assert r.rows == 2 and {c.column: c.changed for c in r.columns}["email"] == 2
    assert r.evidence is not None
    data = MaskingCheck.read(r.evidence)
    assert data.input_digest == "sha256:" + hashlib.sha256(src.read_bytes()).hexdigest()
    assert data.output_digest == "sha256:" + hashlib.sha256(out.read_bytes()).hexdigest()
    # deterministic: a second run gives the same output (joins across copies survive)
    out2 = tmp_path / "masked2.csv"
    mask_file(src, parse_policy(POLICY), out2, ws=ws, record=False)
    assert out2.read_bytes() == out.read_bytes()


def test_mask_parquet_with_tokens_keeps_referential_integrity(
    ws: Workspace, tmp_path: Path
) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"customer": ["c1", "c2", "c1"], "v": [1, 2, 3]}), a)
    pq.write_table(pa.table({"customer": ["c2", "c1"], "w": [9.0, 8.0]}), b)
    pol = parse_policy("columns:\n  customer: {operator: tokenize, namespace: customers}\n")
    mask_file(a, pol, tmp_path / "ma.parquet", ws=ws)
    mask_file(b, pol, tmp_path / "mb.parquet", ws=ws)
    ta, tb = pq.read_table(tmp_path / "ma.parquet"), pq.read_table(tmp_path / "mb.parquet")
    ca, cb = ta.column("customer").to_pylist(), tb.column("customer").to_pylist()
    assert ca[0] == ca[2] == cb[1] and ca[1] == cb[0] and ca[0] != "c1"
    assert ta.column("v").to_pylist() == [1, 2, 3]  # unmasked columns keep their type
    back = TokenVault(ws).detokenize([ca[0]], "customers", actor="t", reason="verify join")
    assert back.values == {ca[0]: "c1"}


def test_finding_03_unmasked_pii_column_is_refused(
    ws: Workspace, src: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.csv"
    pol = parse_policy("columns:\n  ssn: {operator: redact}\n  notes: {operator: redact}\n")
    with pytest.raises(InputError) as ei:
        mask_file(src, pol, out, ws=ws)
    assert "email (EMAIL_ADDRESS)" in ei.value.message and "--allow-unmasked" in ei.value.message
    assert not out.exists() and list(tmp_path.glob(".o.csv*")) == []
    r = mask_file(src, pol, out, ws=ws, allow_unmasked=["email", "phone", "zip"])
    assert out.exists() and r.allowed_unmasked == ("email", "phone", "zip")


def test_finding_04_unknown_policy_column(ws: Workspace, src: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError) as ei:
        mask_file(
            src, parse_policy("columns:\n  nope: {operator: redact}\n"), tmp_path / "o.csv", ws=ws
        )
    assert "'nope'" in ei.value.message and "not in applicants.csv" in ei.value.message


def test_finding_05_ragged_csv_leaves_no_partial_output(ws: Workspace, tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    good = "".join(f"{i},x{i}@example.com\n" for i in range(200_000))
    p.write_text("id,email\n" + good + "1,a@example.com,EXTRA-SECRET\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    with pytest.raises(InputError) as ei:
        mask_file(p, parse_policy("columns:\n  email: {operator: hash}\n"), out, ws=ws)
    assert "ragged" in ei.value.message and "EXTRA-SECRET" not in ei.value.message
    assert not out.exists() and sorted(q.name for q in tmp_path.iterdir()) == ["home", "r.csv"]


def test_finding_06_unsupported_parquet_type(ws: Workspace, tmp_path: Path) -> None:
    p = tmp_path / "n.parquet"
    pq.write_table(pa.table({"tags": [["a"], ["b"]], "k": ["x", "y"]}), p)
    with pytest.raises(InputError) as ei:
        mask_file(
            p, parse_policy("columns:\n  tags: {operator: redact}\n"), tmp_path / "o.parquet", ws=ws
        )
    assert "type list<" in ei.value.message
    # an unmasked column that cannot be classified is refused too (fail closed)
    with pytest.raises(InputError) as ei2:
        mask_file(
            p, parse_policy("columns:\n  k: {operator: redact}\n"), tmp_path / "o.parquet", ws=ws
        )
    assert "cannot be classified" in ei2.value.message
    assert not (tmp_path / "o.parquet").exists()


def test_policy_errors_name_the_field() -> None:
    with pytest.raises(InputError, match=r"columns\.a: operator hash does not take keep"):
        parse_policy("columns:\n  a: {operator: hash, keep: 3}\n")
    with pytest.raises(InputError, match=r"columns\.a\.operator"):
        parse_policy("columns:\n  a: {operator: rot13}\n")
    with pytest.raises(InputError, match="tokenize needs a namespace"):
        parse_policy("columns:\n  a: {operator: tokenize}\n")


def test_cli_data_scan_mask_tokenize(
    sqlite_ws: Workspace, src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(sqlite_ws.settings.home)  # the CLI opens the home's own database
    assert main(["--home", home, "data", "scan", str(src), "--format", "json"]) == 0
    assert '"EMAIL_ADDRESS"' in capsys.readouterr().out
    pol = tmp_path / "p.yaml"
    pol.write_text(POLICY, encoding="utf-8")
    out = tmp_path / "m.parquet"
    assert (
        main(["--home", home, "data", "mask", str(src), "--policy", str(pol), "--out", str(out)])
        == 0
    )
    assert pq.read_table(out).num_rows == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns:\n  ssn: {operator: redact}\n", encoding="utf-8")
    assert (
        main(
            [
                "--home",
                home,
                "data",
                "mask",
                str(src),
                "-p",
                str(bad),
                "-o",
                str(tmp_path / "x.csv"),
            ]
        )
        == 2
    )
    assert not (tmp_path / "x.csv").exists()
    capsys.readouterr()
    assert (
        main(["--home", home, "data", "tokenize", "-n", "people", "ana", "--format", "json"]) == 0
    )
    import json

    (tok,) = json.loads(capsys.readouterr().out)["tokens"]
    assert (
        main(["--home", home, "data", "detokenize", "-n", "people", "--reason", "cli test", tok])
        == 0
    )
    assert "ana" in capsys.readouterr().out
    assert main(["--home", home, "data", "rotate-key", "-n", "people"]) == 0


@pytest.fixture
def client(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(ws.settings, workspace=ws)) as c:
        yield c


def test_api_data_routes(ws: Workspace, client: TestClient) -> None:
    eng = create_token(ws, name="eng", role=Role.ENGINEER)
    view = create_token(ws, name="view", role=Role.VIEWER)
    adm = create_token(ws, name="adm", role=Role.ADMIN)
    e = {"Authorization": f"Bearer {eng.token}"}
    assert client.post("/api/v1/data/scan", content=CSV.encode()).status_code == 401
    r = client.post("/api/v1/data/scan?name=a.csv", content=CSV.encode(),
                    headers={"Authorization": f"Bearer {view.token}"})  # fmt: skip
    assert r.status_code == 403
    r = client.post("/api/v1/data/scan?name=a.csv&record=true", content=CSV.encode(), headers=e)
    assert r.status_code == 200 and r.json()["evidence"]["check_id"] == "privacy.pii_scan"
    r = client.post("/api/v1/data/scan?name=..%2Fetc", content=b"x", headers=e)
    assert r.status_code == 422
    body = {"policy": POLICY, "data_base64": base64.b64encode(CSV.encode()).decode()}
    r = client.post("/api/v1/data/mask", json=body, headers=e)
    assert r.status_code == 200, r.text
    assert b"ana@example.com" not in base64.b64decode(r.json()["data_base64"])
    assert r.json()["report"]["evidence_id"]
    r = client.post(
        "/api/v1/data/mask",
        json=body | {"policy": "columns:\n  ssn: {operator: redact}\n"},
        headers=e,
    )
    assert r.status_code == 422 and "refusing" in r.json()["detail"]
    r = client.post("/api/v1/data/tokenize", json={"namespace": "api", "values": ["v1"]}, headers=e)
    (tok,) = r.json()["tokens"]
    det = {"namespace": "api", "tokens": [tok], "reason": "api test"}
    assert client.post("/api/v1/data/detokenize", json=det, headers=e).status_code == 403
    a = {"Authorization": f"Bearer {adm.token}", "X-Bastion-OTP": fresh(adm.totp_secret)}
    r = client.post("/api/v1/data/detokenize", json=det, headers=a)
    assert r.status_code == 200 and r.json()["values"] == {tok: "v1"}
