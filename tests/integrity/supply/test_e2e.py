"""deps scan and bom end to end: evidence in the ledger (both backends), CLI, API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.core.errors import CheckError, InputError
from bastion.core.types import Verdict
from bastion.core.workspace import Workspace
from bastion.integrity import generate_ai_bom, scan_dependencies
from bastion.inventory import import_manifest
from bastion.manifest import load_manifest
from tests._cli import Run, start
from tests.conftest import EXAMPLE_MANIFEST

REQS = "requests==2.30.0\njinja2==3.1.2\nnumpy\n"


def _valid(text: str) -> None:
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None


def test_scan_is_ledgered_evidence(ws: Workspace, tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text(REQS, encoding="utf-8")
    before = ws.ledger.size()
    ev = scan_dependencies(ws, requirements=req, actor="tester")
    assert ev.verdict is Verdict.FAIL and ev.ledger_seq is not None
    assert ws.ledger.size() == before + 1 and ws.evidence.verify_digest(ws.evidence.get(ev.id))
    rules = [f.rule_id for f in ev.findings]
    assert rules.count("deps.vulnerable") == 2 and "deps.unpinned" in rules
    assert {"deps.stale-database", "deps.fixture-database"} <= set(rules)
    db = ev.data["database"]
    assert db["newest_modified"] == "2024-01-11T15:20:48+00:00" and db["stale"] is True
    assert db["file_mtime"] and db["fixture"] is True
    assert ev.subject.kind == "environment" and ev.subject.digest is not None
    [req_vuln] = [v for v in ev.data["vulnerabilities"] if v["package"] == "requests"]
    assert set(req_vuln["aliases"]) == {"PYSEC-2023-74", "CVE-2023-32681"}


def test_scan_errors_are_ledgered_and_raised(ws: Workspace, tmp_path: Path) -> None:
    bad = tmp_path / "osv"
    bad.mkdir()
    (bad / "X.json").write_text("{", encoding="utf-8")
    req = tmp_path / "requirements.txt"
    req.write_text(REQS, encoding="utf-8")
    before = ws.ledger.size()
    with pytest.raises(CheckError, match=r"X\.json.*not valid JSON"):
        scan_dependencies(ws, osv_db=bad, requirements=req)
    assert ws.ledger.size() == before + 1  # the failed attempt is on record too
    with pytest.raises(InputError, match="no such file"):
        scan_dependencies(ws, requirements=tmp_path / "missing.txt")


def test_bom_evidence_carries_the_bom(ws: Workspace, example_models: Path) -> None:
    import_manifest(ws, load_manifest(EXAMPLE_MANIFEST), source="test")
    ev, doc = generate_ai_bom(ws, example_models / "credit-gbm", system_id="credit-scoring")
    _valid(doc)
    assert ev.subject.ref == "credit-scoring/credit-gbm" and ev.verdict is Verdict.PASS
    assert ws.blobs.get(ev.data["attachments"]["ai-bom.cdx.json"]).decode() == doc
    assert ev.data["bom"]["services"] == 3 and ev.data["system"]["id"] == "credit-scoring"


# --- CLI -----------------------------------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    return start(tmp_path, capsys)


def test_cli_deps_scan_formats_and_exit_codes(run: Run, tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text(REQS, encoding="utf-8")
    rc, out, _ = run("deps", "scan", "--requirements", str(req))
    assert rc == 0  # worst finding is medium; the default --fail-on is high
    assert "GHSA-j8r2-6x86-q33q" in out and "PYSEC-2023-74" in out and "verdict fail" in out
    rc, out, _ = run("deps", "scan", "-r", str(req), "--fail-on", "medium", "--format", "json")
    assert rc == 1
    doc = json.loads(out)
    assert doc["verdict"] == "fail" and doc["counts"]["vulnerabilities"] == 2
    rc, out, _ = run("deps", "scan", "-r", str(req), "--format", "sarif", "--fail-on", "critical")
    assert rc == 0
    sarif = json.loads(out)
    results = sarif["runs"][0]["results"]
    loc = next(r for r in results if "requests" in r["message"]["text"])["locations"][0]
    assert sarif["version"] == "2.1.0"
    assert loc["physicalLocation"]["region"]["startLine"] == 1
    rc, out, _ = run("evidence", "list", "--check", "integrity.dependencies", "--format", "json")
    assert rc == 0 and len(json.loads(out)) == 3


def test_cli_deps_scan_sbom_installed_and_bad_input(run: Run, tmp_path: Path) -> None:
    sbom = tmp_path / "sbom.json"
    sbom.write_text(
        json.dumps(
            {
                "bomFormat": "CycloneDX",
                "specVersion": "1.6",
                "components": [{"name": "torch", "purl": "pkg:pypi/torch@1.13.0"}],
            }
        ),
        encoding="utf-8",
    )
    rc, out, _ = run("deps", "scan", "--sbom", str(sbom), "--format", "json")
    assert rc == 1 and json.loads(out)["vulnerabilities"][0]["id"] == "PYSEC-2022-43015"
    rc, out, _ = run("deps", "scan", "--format", "json", "--max-age-days", "100000")
    assert rc == 0 and json.loads(out)["input"]["kind"] == "installed"
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"bomFormat": "CycloneDX", "components": [{"name": "x", "purl": "nope"}]}),
        encoding="utf-8",
    )
    rc, _, err = run("deps", "scan", "--sbom", str(bad))
    assert rc == 2 and "invalid purl" in err and "Traceback" not in err
    rc, _, err = run("deps", "scan", "--sbom", str(bad), "-r", str(bad))
    assert rc == 2 and "not both" in err


def test_cli_bom(run: Run, tmp_path: Path, example_models: Path) -> None:
    assert run("inventory", "import", str(EXAMPLE_MANIFEST))[0] == 0
    target = tmp_path / "bom.json"
    rc, out, _ = run(
        "bom", str(example_models / "credit-gbm"), "--system", "credit-scoring", "-o", str(target)
    )
    assert rc == 0 and "credit-gbm" in out
    _valid(target.read_text(encoding="utf-8"))
    rc, out, _ = run("bom", str(example_models / "credit-mlp"), "--no-environment")
    assert rc == 0
    _valid(out)
    assert not any(c["type"] == "library" for c in json.loads(out).get("components", []))
    rc, _, err = run("bom", str(tmp_path / "nowhere"))
    assert rc == 2 and "not a directory" in err
    rc, _, err = run("bom", str(example_models / "credit-gbm"), "--system", "unknown")
    assert rc == 2 and "unknown" in err
    rc, out, _ = run("evidence", "list", "--check", "integrity.bom", "--format", "json")
    assert [e["verdict"] for e in json.loads(out)] == ["error", "pass", "pass"]


# --- API -----------------------------------------------------------------------------------


@pytest.fixture
def client(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(ws.settings, workspace=ws)) as c:
        yield c


def test_api_system_bom(client: TestClient, ws: Workspace, example_models: Path) -> None:
    import_manifest(ws, load_manifest(EXAMPLE_MANIFEST), source="test")
    generate_ai_bom(
        ws, example_models / "credit-gbm", system_id="credit-scoring", environment=False
    )
    assert client.get("/api/v1/bom/credit-scoring").status_code == 401
    token = create_token(ws, name="viewer", role=Role.VIEWER).token
    h = {"Authorization": f"Bearer {token}"}
    r = client.get("/api/v1/bom/credit-scoring", headers=h)
    assert r.status_code == 200
    _valid(json.dumps(r.json()))
    comps = {c["bom-ref"]: c for c in r.json()["components"]}
    gbm = {p["name"]: p["value"] for p in comps["model:credit-scoring/credit-gbm"]["properties"]}
    assert len(gbm["bastion:manifest-sha256"]) == 64
    assert "bastion:manifest-sha256" not in {
        p["name"] for p in comps["model:credit-scoring/credit-mlp"]["properties"]
    }
    assert comps["data:credit-scoring/training-snapshot"]["type"] == "data"
    assert len(r.json()["services"]) == 3
    missing = client.get("/api/v1/bom/nope", headers=h)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_dependency_evidence_can_be_bound_to_a_model_version(ws: Workspace, tmp_path: Path) -> None:
    from bastion.integrity import scan_dependencies, signed_manifest

    model = tmp_path / "m"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"w" * 100)
    ev = scan_dependencies(ws, model=model, name="sys/m")
    assert ev.subject.kind == "model" and ev.subject.ref == "sys/m"
    assert ev.subject.digest == "sha256:" + signed_manifest(model).digest
