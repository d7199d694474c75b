"""`bastion model scan`, POST /api/v1/models/scan and the integrity.scan check, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.cli.main import main
from bastion.core.checks import run_check
from bastion.core.types import Subject, Verdict
from bastion.core.workspace import Workspace
from tests.integrity.scanning.corpus import call_global


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    o = capsys.readouterr()
    return rc, o.out, o.err


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    h = tmp_path / "home"
    assert main(["--home", str(h), "init"]) == 0
    capsys.readouterr()
    return h


def test_cli_scan_formats_and_exit_codes(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    safe = tmp_path / "safe.bin"
    safe.write_bytes(b"\x80\x04N.")
    sus = tmp_path / "sus.bin"
    sus.write_bytes(call_global("mypkg", "Thing", "x"))
    evil = tmp_path / "evil.bin"
    evil.write_bytes(call_global("os", "system", "touch /tmp/never"))
    h = ["--home", str(home)]
    rc, out, _ = _cli(capsys, *h, "model", "scan", str(safe), "--format", "json")
    assert rc == 0 and json.loads(out)["verdict"] == "safe" and json.loads(out)["evidence"]
    rc, out, _ = _cli(capsys, *h, "model", "scan", str(sus))
    assert rc == 1 and "mypkg.Thing" in out
    rc, _, _ = _cli(capsys, *h, "model", "scan", str(sus), "--fail-on", "dangerous")
    assert rc == 0
    rc, out, _ = _cli(capsys, *h, "model", "scan", str(evil), "--format", "sarif")
    assert (
        rc == 1 and json.loads(out)["runs"][0]["results"][0]["properties"]["global"] == "os.system"
    )
    allow = tmp_path / "allow.yaml"
    allow.write_text("globals: [mypkg.Thing]\n")
    rc, _, _ = _cli(capsys, *h, "model", "scan", str(sus), "--allow", str(allow))
    assert rc == 0
    rc, _, err = _cli(capsys, *h, "model", "scan", str(tmp_path / "missing"))
    assert rc == 2 and "missing" in err
    allow.write_text("globals: [os.system]\n")
    rc, _, err = _cli(capsys, *h, "model", "scan", str(sus), "--allow", str(allow))
    assert rc == 2 and "dangerous" in err
    rc, out, _ = _cli(
        capsys, *h, "evidence", "list", "--check", "integrity.scan", "--format", "json"
    )
    assert len(json.loads(out)) == 5


def test_cli_scan_without_recording_needs_no_home(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "x.pkl"
    f.write_bytes(b"\x80\x04N.")
    rc, out, _ = _cli(
        capsys, "--home", str(tmp_path / "nohome"), "model", "scan", str(f), "--no-record"
    )
    assert rc == 0 and "safe" in out


def test_check_records_evidence_with_sarif(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "w.bin").write_bytes(call_global("builtins", "eval", "1"))
    ev = run_check(ws, "integrity.scan", Subject("model", str(tmp_path / "m")), actor="t")
    assert ev.verdict is Verdict.FAIL
    assert ev.findings[0].rule_id == "integrity.scan/pickle.dangerous-global"
    assert ev.data["scan"]["verdict"] == "dangerous" and "scan.sarif.json" in ev.data["attachments"]
    assert ws.evidence.verify_digest(ev)
    missing = run_check(ws, "integrity.scan", Subject("model", str(tmp_path / "nope")))
    assert missing.verdict is Verdict.ERROR


def test_api_scan_upload(ws: Workspace) -> None:
    client = TestClient(create_app(ws.settings, workspace=ws))
    writer = create_token(ws, name="w", role=Role.ENGINEER).token
    reader = create_token(ws, name="r", role=Role.VIEWER).token
    body = call_global("subprocess", "getoutput", "id")
    r = client.post("/api/v1/models/scan?name=model.bin", content=body)
    assert r.status_code == 401
    r = client.post(
        "/api/v1/models/scan", content=body, headers={"Authorization": f"Bearer {reader}"}
    )
    assert r.status_code == 403
    r = client.post(
        "/api/v1/models/scan?name=model.bin",
        content=body,
        headers={"Authorization": f"Bearer {writer}"},
    )
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["verdict"] == "dangerous" and d["digest"].startswith("sha256:")
    assert ws.evidence.get(d["evidence"]).subject.ref == "model.bin"
    r = client.post(
        "/api/v1/models/scan",
        content=b"x",
        headers={"Authorization": f"Bearer {writer}", "Content-Length": str(300 * 1024**2)},
    )
    assert r.status_code == 413
