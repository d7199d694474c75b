"""Audit of artifact access (issue 11, section 4): a download through the API and the CLI is
decided by the policies, ledgered with principal, purpose and digest; a refused one is a
``monitor.detection`` at once and a 403, and reads nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bastion.access import (
    Artifact,
    ArtifactKind,
    Role,
    audit_artifact_read,
    create_token,
    identity_for_principal,
)
from bastion.access.interface import ResourceKind, ResourceRef
from bastion.api import create_app
from bastion.core.errors import InputError, PermissionDeniedError
from bastion.core.workspace import Workspace, open_workspace
from bastion.registry import register_model
from tests._cli import start
from tests.conftest import make_settings

POLICY = """
@id("engineers-download-scorer")
@reason("engineers download the scorer's weights to evaluate it")
permit (
  principal is User,
  action == Action::"download-weights",
  resource == ModelVersion::"scorer@1"
) when { principal.roles.contains("engineer") && context has purpose };

@id("engineers-read-config")
@reason("engineers read configuration")
permit (principal is User, action == Action::"read-config", resource)
when { principal.roles.contains("engineer") };
"""
WEIGHTS = b"\x00weights of the scorer\x01" * 64
DIGEST = "sha256:" + hashlib.sha256(WEIGHTS).hexdigest()


@pytest.fixture
def policy_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "policies"
    d.mkdir()
    (d / "policies.cedar").write_text(POLICY)
    monkeypatch.setenv("BASTION_POLICY_DIR", str(d))
    return d


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    d = tmp_path / "scorer"
    d.mkdir()
    (d / "model.bin").write_bytes(WEIGHTS)
    (d / "config.json").write_text('{"layers": 2}')
    return d


@pytest.fixture
def client(sqlite_ws: Workspace, policy_dir: Path, model_dir: Path) -> Iterator[TestClient]:
    register_model(sqlite_ws, "scorer", model_dir, version="1")
    with TestClient(create_app(sqlite_ws.settings, workspace=sqlite_ws)) as c:
        yield c


def _bearer(ws: Workspace, role: Role, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ws, name=name, role=role).token}"}


def _events(ws: Workspace, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in ws.ledger.entries(kind=kind, limit=1000)]


URL = "/api/v1/models/scorer/versions/1/files/model.bin"


def test_allowed_download_is_ledgered_with_digest_and_purpose(
    client: TestClient, sqlite_ws: Workspace
) -> None:
    eng = _bearer(sqlite_ws, Role.ENGINEER, "erin")
    r = client.get(URL, headers=eng | {"X-Bastion-Purpose": "evaluate robustness, TICKET-7"})
    assert r.status_code == 200, r.text
    assert r.content == WEIGHTS and r.headers["x-bastion-digest"] == DIGEST
    (read,) = _events(sqlite_ws, "access.artifact_read")
    assert read["principal"] == "user:erin" and read["action"] == "download-weights"
    assert read["purpose"] == "evaluate robustness, TICKET-7" and read["digest"] == DIGEST
    assert read["artifact"] == "scorer@1/model.bin" and read["bytes"] == len(WEIGHTS)
    assert read["policies"] == ["engineers-download-scorer"]
    decisions = _events(sqlite_ws, "access.decision")
    assert decisions[-1]["allowed"] and decisions[-1]["resource"] == "model_version:scorer@1"
    assert _events(sqlite_ws, "monitor.detection") == []


def test_purpose_is_required(client: TestClient, sqlite_ws: Workspace) -> None:
    eng = _bearer(sqlite_ws, Role.ENGINEER, "erin")
    for headers in (eng, eng | {"X-Bastion-Purpose": "  "}, eng | {"X-Bastion-Purpose": "x"}):
        r = client.get(URL, headers=headers)
        assert r.status_code == 422 and "purpose" in r.text.lower()
    assert client.get(URL, headers={"X-Bastion-Purpose": "just looking"}).status_code == 401
    assert _events(sqlite_ws, "access.artifact_read") == []


def test_denied_download_raises_a_detection_and_reads_nothing(
    client: TestClient, sqlite_ws: Workspace
) -> None:
    viewer = _bearer(sqlite_ws, Role.VIEWER, "vic")
    r = client.get(URL, headers=viewer | {"X-Bastion-Purpose": "curious about the model"})
    assert r.status_code == 403 and WEIGHTS not in r.content
    assert "denied by default" in r.json()["detail"]
    (denied,) = _events(sqlite_ws, "access.artifact_denied")
    assert denied["principal"] == "user:vic" and denied["digest"] == DIGEST
    assert denied["purpose"] == "curious about the model" and not denied["allowed"]
    (det,) = _events(sqlite_ws, "monitor.detection")
    assert det["kind"] == "weight_export" and det["rule"] == "access-artifact-denied"
    assert det["principal"] == "user:vic" and det["severity"] == "high"
    assert det["details"]["digest"] == DIGEST and det["model"] == "scorer@1"
    assert _events(sqlite_ws, "access.artifact_read") == []


def test_unknown_file_and_tampered_file(
    client: TestClient, sqlite_ws: Workspace, model_dir: Path
) -> None:
    eng = _bearer(sqlite_ws, Role.ENGINEER, "erin") | {"X-Bastion-Purpose": "evaluation run"}
    assert client.get(URL.replace("model.bin", "../etc/passwd"), headers=eng).status_code == 404
    (model_dir / "model.bin").write_bytes(WEIGHTS + b"backdoor")
    r = client.get(URL, headers=eng)
    assert r.status_code == 500 and b"backdoor" not in r.content
    assert "changed since it was registered" in r.json()["detail"]


def test_detection_is_a_valid_ocsf_finding_and_config_read_needs_no_detection(
    sqlite_ws: Workspace, policy_dir: Path
) -> None:
    from bastion.access import Principal
    from bastion.monitor.detections import Detection, DetectionKind
    from bastion.monitor.interface import Severity

    vic = Principal("t1", "vic", Role.VIEWER)
    cfg = Artifact(
        ArtifactKind.CONFIG, ResourceRef(ResourceKind.ENDPOINT, "scoring-api"), "guard.yaml"
    )
    with pytest.raises(PermissionDeniedError):
        audit_artifact_read(sqlite_ws, vic, cfg, "debugging latency", DIGEST)
    assert _events(sqlite_ws, "monitor.detection") == []  # a config read is not an export
    erin = identity_for_principal(Principal("t2", "erin", Role.ENGINEER))
    d = audit_artifact_read(sqlite_ws, erin, cfg, "debugging latency", DIGEST)
    assert d.allowed and d.policies == ("engineers-read-config",)
    with pytest.raises(InputError):
        audit_artifact_read(sqlite_ws, erin, cfg, "debugging latency", "md5:abc")
    exp = Artifact(ArtifactKind.EXPORT, ResourceRef(ResourceKind.DATASET, "loans"), "loans.csv")
    sent: list[Mapping[str, Any]] = []

    class Collect:
        name = "test"

        def send(self, events: Sequence[Mapping[str, Any]]) -> None:
            sent.extend(events)

        def close(self) -> None:
            return None

    with pytest.raises(PermissionDeniedError, match="export"):
        audit_artifact_read(sqlite_ws, erin, exp, "share with a partner", DIGEST, sink=Collect())
    (ocsf,) = sent  # the OCSF Detection Finding went to the monitor sink as well
    assert ocsf["class_uid"] == 2004 and ocsf["finding_info"]["title"].startswith(
        "unauthorized export of loans.csv by user:erin"
    )
    (det,) = _events(sqlite_ws, "monitor.detection")
    found = Detection(
        kind=DetectionKind(det["kind"]),
        rule=det["rule"],
        title=det["title"],
        severity=Severity[det["severity"].upper()],
        time_ms=det["time_ms"],
        principal=det["principal"],
        techniques=tuple(det["techniques"]),
        details=det["details"],
    ).to_ocsf()
    assert found["class_uid"] == 2004 and found["finding_info"]["analytic"]["name"] == (
        "bastion.detect.weight_export"
    )


def test_cli_download_with_purpose(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    policy_dir: Path,
    model_dir: Path,
) -> None:
    run = start(tmp_path, capsys)
    assert run("model", "register", "scorer", str(model_dir), "--version", "1")[0] == 0
    ws = open_workspace(make_settings(run.home))
    try:
        eng = create_token(ws, name="erin", role=Role.ENGINEER).token
        vic = create_token(ws, name="vic", role=Role.VIEWER).token
    finally:
        ws.close()
    dest = tmp_path / "out.bin"
    got = run.json(
        "model",
        "download",
        "scorer",
        "1",
        "model.bin",
        "--purpose",
        "offline evaluation",
        "--out",
        str(dest),
        "--token",
        eng,
    )
    assert got["digest"] == DIGEST and dest.read_bytes() == WEIGHTS
    rc, out, err = run(
        "model",
        "download",
        "scorer",
        "1",
        "model.bin",
        "--purpose",
        "offline evaluation",
        "--out",
        str(tmp_path / "no.bin"),
        "--token",
        vic,
    )
    assert rc != 0 and "refused" in out + err and not (tmp_path / "no.bin").exists()
    rc, out, err = run(
        "model", "download", "scorer", "1", "model.bin", "--out", str(dest), "--token", eng
    )
    assert rc != 0 and "--purpose" in out + err
    ws = open_workspace(make_settings(run.home))
    try:
        kinds = [e.kind for e in ws.ledger.entries(limit=1000)]
    finally:
        ws.close()
    assert kinds.count("access.artifact_read") == 1 and kinds.count("monitor.detection") == 1
