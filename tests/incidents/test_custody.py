"""Chain of custody (issue 12, section 5): collect, access, transfer; the report verifies
on its own (signatures, chain, ledger proofs, checkpoint) and every kind of tampering is
named."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bastion.core.errors import InputError, NotFoundError
from bastion.core.workspace import Workspace
from bastion.incidents import (
    access_artifact,
    collect,
    custody_report,
    get_artifact,
    list_artifacts,
    open_incident,
    transfer,
    verify_custody,
    verify_report,
)


def _case(ws: Workspace, tmp_path: Path) -> tuple[str, str, bytes]:
    inc = open_incident(ws, "leak", kind="unauthorized_export", severity="high", owner="sam",
                        actor="sam")  # fmt: skip
    f = tmp_path / "weights-download.log"
    body = b'{"op": "export_model", "who": "eve"}\n' * 100
    f.write_bytes(body)
    art = collect(ws, f, incident_id=inc.id, actor="sam", note="frozen for the investigation")
    return inc.id, art.id, body


def test_collect_access_transfer_and_verify(ws: Workspace, tmp_path: Path) -> None:
    inc, aid, body = _case(ws, tmp_path)
    art = get_artifact(ws, aid)
    assert art.digest.startswith("sha256:") and art.size == len(body) and art.holder == "sam"
    assert access_artifact(ws, aid, actor="lee", purpose="legal review") == body
    moved = transfer(ws, aid, to="forensics-lab", actor="sam", note="sealed drive #4")
    assert moved.holder == "forensics-lab"
    assert [e["action"] for e in moved.events] == ["collected", "accessed", "transferred"]
    assert [a.id for a in list_artifacts(ws, incident_id=inc)] == [aid]
    check = verify_custody(ws, incident_id=inc, actor="auditor")
    assert check.ok, check.problems
    assert check.statements == 3 and check.artifacts == 1
    # the passing verification is itself a custody statement
    assert [e["action"] for e in get_artifact(ws, aid).events][-1] == "verified"
    kinds = [e.kind for e in ws.ledger.entries(limit=10_000)]
    for k in ("custody.collected", "custody.accessed", "custody.transferred", "custody.verified"):
        assert k in kinds


def test_the_report_verifies_offline_and_names_tampering(
    sqlite_ws: Workspace, tmp_path: Path
) -> None:
    ws = sqlite_ws
    _, aid, body = _case(ws, tmp_path)
    transfer(ws, aid, to="lab", actor="sam", note="courier")
    report = json.loads(json.dumps(custody_report(ws, artifact_id=aid)))
    good = verify_report(report, artifacts={aid: body})
    assert good.ok, good.problems

    def broken(change: Any) -> list[str]:
        r = copy.deepcopy(report)
        change(r)
        return verify_report(r, artifacts={aid: body}).problems

    chain = "artifacts"

    assert "no longer match" in verify_report(report, artifacts={aid: body + b"x"}).problems[0]
    assert "bytes were not given" in verify_report(report).problems[0]

    def reword(r: dict[str, Any]) -> None:
        r[chain][0]["chain"][1]["statement"]["to"] = "someone-else"

    assert any("does not hash to its digest" in p for p in broken(reword))
    assert any("signature does not verify" in p for p in broken(reword))

    def drop_first(r: dict[str, Any]) -> None:
        del r[chain][0]["chain"][0]

    probs = broken(drop_first)
    assert any("out of sequence" in p for p in probs)
    assert any("does not link" in p for p in probs)

    def forge_ledger(r: dict[str, Any]) -> None:
        r[chain][0]["chain"][0]["ledger"]["actor"] = "mallory"

    assert any("does not hash to its leaf" in p for p in broken(forge_ledger))

    def other_key(r: dict[str, Any]) -> None:
        raw = (
            Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        r["signing_key"]["public_key"] = base64.b64encode(raw).decode()

    probs = broken(other_key)
    assert any("signature does not verify" in p for p in probs)
    assert verify_report({"format": "x"}).problems[0].startswith("not a custody report")


def test_a_corrupted_blob_fails_verify_custody(sqlite_ws: Workspace, tmp_path: Path) -> None:
    ws = sqlite_ws
    _, aid, _ = _case(ws, tmp_path)
    digest = get_artifact(ws, aid).digest
    path = ws.blobs.root / digest[7:9] / digest[9:]
    path.write_bytes(b"swapped")
    check = verify_custody(ws, artifact_id=aid)
    assert not check.ok and any("corrupted" in p for p in check.problems)
    assert [e["action"] for e in get_artifact(ws, aid).events] == ["collected"]  # no "verified"


def test_bad_custody_input(sqlite_ws: Workspace, tmp_path: Path) -> None:
    ws = sqlite_ws
    with pytest.raises(InputError, match="no such file"):
        collect(ws, tmp_path / "missing.bin", actor="sam")
    with pytest.raises(NotFoundError):
        collect(ws, b"x", incident_id="nope", actor="sam")
    with pytest.raises(NotFoundError):
        transfer(ws, "nope", to="x", actor="sam", note="n")
    aid = collect(ws, b"memory dump", name="dump.bin", actor="sam").id
    with pytest.raises(InputError, match="already holds"):
        transfer(ws, aid, to="sam", actor="sam", note="n")
    with pytest.raises(InputError, match="purpose"):
        access_artifact(ws, aid, actor="lee", purpose="")
    with pytest.raises(InputError, match="one of them"):
        custody_report(ws)
